// The JIT warm-up program (cpu/warmup.ts) must stay a valid program as the
// hart changes: it runs to its end, passing through every trap it means to
// take (illegal, ebreak, ecalls from S and U, all delegated to S). And the
// warm-up only trains the JIT: after it, the same program ends in the same
// architectural state, bit for bit, as it did before.
// Read next: cpu/warmup.ts.

import assert from "../../../testing/assert.ts";
import { warmupHart, warmUpJit } from "../../../cpu/warmup.ts";
import type { Hart } from "../../../cpu/hart.ts";

/** Run the warm-up program to its end in big batches, as warmUpJit does; return what it left. */
function runToEnd(h: Hart): Record<string, unknown> {
  for (let i = 0; i < 1000 && !h.stopRequested; i++) h.run(500);
  assert.ok(h.stopRequested, `stopped at pc ${h.pc.toString(16)}`);
  // FNV-1a over RAM: the program stores through every width and both mappings.
  let ramHash = 0x811c9dc5;
  for (const w of h.ram32) ramHash = Math.imul(ramHash ^ w, 0x01000193) >>> 0;
  const csrs = [0x100, 0x105, 0x141, 0x142, 0x143, 0x180, 0x300, 0x341, 0x342, 0x343, 0xb02];
  return {
    x: [...h.x],
    f: [...h.fw],
    pc: h.pc,
    priv: h.priv,
    csrs: csrs.map((c) => h.csrRead(c)),
    ramHash,
  };
}

// First in this file, so the first run is as cold as the process allows.
Deno.test("warm-up: the program ends in the same state before and after the JIT is trained", () => {
  const cold = runToEnd(warmupHart(3));
  warmUpJit();
  warmUpJit(); // once per process: the second call returns at once
  const warm = runToEnd(warmupHart(3));
  assert.deepEqual(warm, cold);
  assert.equal((cold.x as bigint[])[20], 0n, "all laps done");
});

Deno.test("warm-up: the synthetic program runs to its end through its traps", () => {
  const h = warmupHart(3);
  const causes = new Set<bigint>();
  let steps = 0;
  while (!h.stopRequested && steps < 10_000) {
    const before = h.lastTrap;
    h.run(1);
    steps++;
    if (h.lastTrap !== before && h.lastTrap !== null) causes.add(h.lastTrap.cause);
  }
  assert.ok(h.stopRequested, `stopped at pc ${h.pc.toString(16)}`);
  // 2^63 + 1: the S software interrupt, taken after the write that enables it.
  assert.deepEqual([...causes].sort(), [2n, 3n, 6n, 8n, 9n, (1n << 63n) + 1n]);
  assert.equal(h.priv, 1);
  assert.equal(h.csrRead(0x180) >> 60n, 9n, "still in Sv48");
  assert.equal(h.x[20], 0n, "all laps done");
});

Deno.test("warm-up: with the translator on, the optimized loop is not thrown away for an untrained path", async () => {
  // A child with V8's deopt trace: warm up, let V8 optimize the loop, then run
  // as a machine with the translator does (Hart.stopAtCode). Before the
  // warm-up walked those checks, this deoptimized the loop once per boot.
  const probe = new URL("../../../testing/warmup_deopt_probe.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--trace-deopt", probe.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success && /^PROBE: done$/m.test(text), text.slice(-2000));
  const after = text.slice(text.indexOf("PROBE: optimized phase over"));
  const deopts = after.split("\n").filter((l) => /deoptimizing .*<JSFunction runBatch/.test(l));
  assert.deepEqual(deopts, [], "runBatch deoptimized after the warm-up");
});
