// The JIT warm-up program (cpu/warmup.ts) must stay a valid program as the
// hart changes: it runs to its end, passing through every trap it means to
// take (illegal, ebreak, ecalls from S and U, all delegated to S).
// Read next: cpu/warmup.ts.

import assert from "../../../testing/assert.ts";
import { warmupHart, warmUpJit } from "../../../cpu/warmup.ts";

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
  assert.deepEqual([...causes].sort(), [2n, 3n, 8n, 9n]);
  assert.equal(h.priv, 1);
  assert.equal(h.csrRead(0x180) >> 60n, 8n, "still in Sv39");
  assert.equal(h.x[20], 0n, "all laps done");
});

Deno.test("warm-up: warmUpJit runs once and is quiet", () => {
  warmUpJit();
  warmUpJit();
});
