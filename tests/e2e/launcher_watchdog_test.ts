// The launcher's watchdog: a cpu actor that stops making progress (here a
// swapped-in one that spins forever) ends the run with exit status 1 and a
// reason, instead of a silent hang. Read next: launcher/fate.ts (watchCpu).
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";

Deno.test("watchdog: a hung cpu actor ends the run with status 1 and a reason", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL("../../mod.ts", import.meta.url)),
      "--actor",
      `cpu=${fileURLToPath(new URL("../../testing/actors/hung_cpu.worker.ts", import.meta.url))}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.deepEqual(out.code, 1, stderr);
  assert.match(stderr, /the cpu actor stopped making progress/);
});
