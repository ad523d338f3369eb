// A crash of the cpu actor stops the machine: no restart (the hart's
// registers died with its worker), the fate is an emulator failure naming
// the actor and the error, and the exit status is 1. The cpu is a swapped-in
// module that starts and then throws (testing/actors/crashing_cpu.worker.ts),
// so no guest boots: this takes a second.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const CPU = fileURLToPath(new URL("../../testing/actors/crashing_cpu.worker.ts", import.meta.url));

Deno.test("supervision: a crashing cpu stops the machine with status 1 and says why", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--actor", `cpu=${CPU}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.deepEqual(out.code, 1, err);
  assert.match(
    err,
    /cpu actor crashed: uncaught Error: crashing_cpu: the hart fell over on purpose/,
  );
  assert.match(
    err,
    /guest emulator failure: the cpu actor failed: .*past its policy \(no restarts\)/,
  );
});
