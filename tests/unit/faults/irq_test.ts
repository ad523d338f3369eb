// Interrupt faults against the real guest, with the answers scripts/chaos.ts
// found (docs/faults.md, the chaos table), asserted exactly. Losing every
// interrupt of the disk hangs the boot: virtio-blk has no timeout and the
// level line, never acknowledged, is never raised again — the bounded wait
// reports it as a hang, it is not left to time out CI. Delaying interrupts by
// 20 ms and duplicating every one are survived: a spurious interrupt finds an
// empty status. (Losing every console interrupt is survived too — hvc polls —
// but slowly, up to 2 s a poll: that one is in the chaos table, not in CI.)
// Two boots.

import assert from "../../../testing/assert.ts";
import { chaosDisk, runCase } from "../../../scripts/chaos.ts";

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "actorvm-irqf-" });
  try {
    await Deno.writeFile(`${dir}/disk.raw`, chaosDisk());
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "irq faults e2e: every disk interrupt dropped hangs the guest at boot (bounded wait)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await withDir((dir) =>
      runCase(
        {
          name: "drop disk irqs",
          plan: { rules: [{ layer: "irq", effect: "drop", when: { sources: [2] } }] },
        },
        dir,
        1,
        { boot: 8_000, command: 15_000, poweroff: 15_000 },
      )
    );
    assert.deepEqual(r.verdict, "guest hang", JSON.stringify(r));
    assert.ok(r.detail.startsWith("boot:"), r.detail);
    assert.deepEqual(r.injected, 1, "one assertion, never acknowledged, so never raised again");
  },
});

Deno.test({
  name: "irq faults e2e: every 2nd interrupt delayed 20 ms, every one duplicated: survived",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await withDir((dir) =>
      runCase(
        {
          name: "irq noise",
          plan: {
            rules: [
              { layer: "irq", effect: "delay", ms: 20, when: { every: 2 } },
              { layer: "irq", effect: "duplicate", ms: 1 },
            ],
          },
        },
        dir,
      )
    );
    assert.deepEqual(r.verdict, "recovered", JSON.stringify(r));
    assert.ok(r.injected >= 3, `injected ${r.injected}`);
  },
});
