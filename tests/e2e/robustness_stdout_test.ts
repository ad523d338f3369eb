// A closed standard output (`deno run -A mod.ts | head -1`) must not kill the
// machine: the guest's output is discarded with one clear line (once, though
// two writers — the console actor and the cpu's SBI console — find it), the
// guest keeps running and powers off when told, and the exit status is its fate.
// Read next: actors/output.ts (the shared writer).
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { bundledBoot } from "../../testing/guest_session.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

Deno.test("robustness: stdout closed after the first bytes; the guest still powers off", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...bundledBoot()],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read the first chunk of the boot log, then close the pipe, as `head -1` does.
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.ok(!first.done && first.value.length > 0, "no output at all");
  await reader.cancel();
  // Typed before the guest is ready: held and delivered (README).
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("poweroff\n"));
  await w.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [status, err] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  assert.deepEqual(status.code, 0, `stderr:\n${err}`);
  assert.ok(err.includes("standard output is closed"), `stderr:\n${err}`);
  assert.deepEqual(err.split("output is discarded").length - 1, 1, `said once; stderr:\n${err}`);
  assert.ok(!err.includes("crashed"), `stderr:\n${err}`);
});

Deno.test("robustness: stdout on a full disk (/dev/full); the guest still powers off", async () => {
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$0" run -A "$@" >/dev/full', Deno.execPath(), MOD, ...bundledBoot()],
    stdin: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("poweroff\n"));
  await w.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(timer);
  assert.deepEqual(status.code, 0, `stderr:\n${err}`);
  assert.ok(err.includes("standard output failed (No space left on device"), `stderr:\n${err}`);
  assert.deepEqual(err.split("output is discarded").length - 1, 1, `said once; stderr:\n${err}`);
  assert.ok(!err.includes("crashed"), `stderr:\n${err}`);
});

Deno.test("robustness: --help to a full disk is one clear line and status 1", async () => {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'exec "$0" run -A "$1" --help >/dev/full', Deno.execPath(), MOD],
    stdin: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.deepEqual(out.code, 1, err);
  assert.deepEqual(err, "actorvm: cannot write the usage: No space left on device (os error 28)\n");
});
