// Bad inputs a user can name on the command line that are not regular files:
// a device such as /dev/zero as the kernel, the initrd or the fault plan was
// read forever (the emulator hung, growing). Each must be a clear error, status
// 2, nothing started; a --system-map that is a device is ignored, not read at exit.
// Read next: launcher/prepare.ts (readInput), faults/layers/plan_run.ts.
import { fileURLToPath } from "node:url";
import { runMod } from "../../testing/guest_session.ts";
import assert from "../../testing/assert.ts";
import { SymbolMap } from "../../launcher/symbols.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const GUEST = fileURLToPath(new URL("../../guest/", import.meta.url));

// Without the check this never ends on its own.
const run = (args: string[]) => runMod(args, 20_000);

Deno.test("robustness: /dev/zero as the kernel or the initrd is bad input (2), not a hang", async () => {
  const k = await run(["64", "/dev/zero"]);
  assert.deepEqual(k.code, 2, k.err);
  assert.ok(k.err.includes(`kernel "/dev/zero" is not a regular file`), k.err);
  const i = await run(["--initrd=/dev/zero", "64", `${GUEST}Image`]);
  assert.deepEqual(i.code, 2, i.err);
  assert.ok(i.err.includes(`"/dev/zero" is not a regular file`), i.err);
});

Deno.test("robustness: /dev/zero as the fault plan is bad input (2), not a hang", async () => {
  const f = await run(["--faults=/dev/zero", "64", `${GUEST}Image`]);
  assert.deepEqual(f.code, 2, f.err);
  assert.ok(f.err.includes("fault plan /dev/zero: not a regular file"), f.err);
});

Deno.test("robustness: a System.map that is a device is no map (it was read forever at exit)", () => {
  assert.deepEqual(SymbolMap.load("/dev/zero"), null);
  assert.deepEqual(SymbolMap.load("/nonexistent/System.map"), null);
  assert.ok((SymbolMap.load(`${GUEST}System.map`)?.size ?? 0) > 1000);
});

Deno.test("robustness: an initrd larger than RAM is refused before it is read", async () => {
  // Sparse: no disk used. Before the check, 3 GiB took 18 s and 6 GB of host memory to refuse.
  const big = Deno.makeTempFileSync({ suffix: ".cpio" });
  try {
    Deno.truncateSync(big, 256 * 2 ** 20);
    const r = await run([`--initrd=${big}`, "64", `${GUEST}Image`]);
    assert.deepEqual(r.code, 2, r.err);
    assert.ok(r.err.includes("is 256.0 MiB, more than the 64 MB of guest RAM"), r.err);
  } finally {
    Deno.removeSync(big);
  }
});

Deno.test("robustness: a signal while a swapped module's handshake is awaited exits 130", async () => {
  // This module never answers the handshake, so the launcher waits on it for
  // up to 20 s before the terminal (and its signal handlers) are set up.
  const silent = fileURLToPath(
    new URL("../../testing/actors/not_an_actor.worker.ts", import.meta.url),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--actor", `irq=${silent}`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await new Promise((r) => setTimeout(r, 1500));
  child.kill("SIGTERM");
  const status = await child.status;
  clearTimeout(timer);
  assert.deepEqual(status.code, 130);
});
