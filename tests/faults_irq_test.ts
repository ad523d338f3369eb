// Interrupt faults against the real guest, with the answers scripts/chaos.ts
// found (docs/faults.md, the chaos table), asserted exactly. Losing every
// interrupt of the disk hangs the boot: virtio-blk has no timeout and the
// level line, never acknowledged, is never raised again — the bounded wait
// reports it as a hang, it is not left to time out CI. Losing every console
// interrupt, delaying every interrupt by 20 ms and duplicating every one are
// all survived: the console is polled by hvc, and a spurious interrupt finds
// an empty status. Two boots.

import { assert, assertEquals } from "./assert.ts";
import { chaosDisk, runCase } from "../scripts/chaos.ts";

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
    assertEquals(r.verdict, "guest hang", JSON.stringify(r));
    assert(r.detail.startsWith("boot:"), r.detail);
    assertEquals(r.injected, 1, "one assertion, never acknowledged, so never raised again");
  },
});

Deno.test({
  name: "irq faults e2e: console interrupts lost, all delayed 20 ms, all duplicated: survived",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await withDir((dir) =>
      runCase(
        {
          name: "irq noise",
          plan: {
            rules: [
              { layer: "irq", effect: "drop", when: { sources: [1] } },
              { layer: "irq", effect: "delay", ms: 20, when: { sources: [2], every: 2 } },
              { layer: "irq", effect: "duplicate", ms: 1, when: { sources: [2] } },
            ],
          },
        },
        dir,
      )
    );
    assertEquals(r.verdict, "recovered", JSON.stringify(r));
    assert(r.injected >= 3, `injected ${r.injected}`);
  },
});
