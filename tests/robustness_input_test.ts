// Bad inputs a user can name on the command line that are not regular files:
// a device such as /dev/zero as the kernel or the initrd was read forever (the
// emulator hung, growing). Each must be a clear error, status 2, nothing started.
// Read next: launcher/machine.ts (readInput).
import { assert, assertEquals } from "./assert.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const GUEST = new URL("../guest/", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Without the check this never ends on its own.
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(timer);
  return { code: status.code, err };
}

Deno.test("robustness: /dev/zero as the kernel or the initrd is bad input (2), not a hang", async () => {
  const k = await run(["64", "/dev/zero"]);
  assertEquals(k.code, 2, k.err);
  assert(k.err.includes(`kernel "/dev/zero" is not a regular file`), k.err);
  const i = await run(["--initrd=/dev/zero", "64", `${GUEST}Image`]);
  assertEquals(i.code, 2, i.err);
  assert(i.err.includes(`"/dev/zero" is not a regular file`), i.err);
});
