// The harts' shared translations (cpu/jit/code_store.ts): a page one hart
// translated is taken by another without translating it again — the same
// module bytes, which V8 compiles once — and only while the page still holds
// the bytes it was translated from. Both harts' results must be what the
// interpreter computes. Read next: cpu/jit/code_store.ts, docs/smp.md.

import assert from "../../../testing/assert.ts";
import { RUN_WFI } from "../../../cpu/hart.ts";
import { encB, encI, OP } from "../../../cpu/decode.ts";
import { createJitHart, createJitMemory, Jit, openJitMemory } from "../../../cpu/jit/tier.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";

const RAM = 1 << 20;

/** a2 += step, 50 times, then wfi: the code at RAM page 1. */
function loop(step: number): Uint8Array {
  const words = [
    encI(OP.OP_IMM, 9, 0, 0, 50), //     li x9, 50
    encI(OP.OP_IMM, 12, 0, 12, step), // loop: addi a2, a2, step
    encI(OP.OP_IMM, 9, 0, 9, -1), //     addi x9, x9, -1
    encB(1, 9, 0, -8), //                bne x9, x0, loop
    0x10500073, //                       wfi
  ];
  return new Uint8Array(new Int32Array(words).buffer);
}

function twoHarts() {
  const mem0 = createJitMemory(RAM, 2, true);
  const mem1 = openJitMemory(mem0.memory, RAM, 1, 2, true);
  assert.ok(mem0.store !== null && mem1.store !== null, "two harts share a code store");
  assert.equal(createJitMemory(RAM, 2).store, null, "only when asked (the machine does not, yet)");
  const hart0 = createJitHart(mem0, { ramBase: RAM_BASE, hartId: 0 });
  const hart1 = createJitHart(mem1, { ramBase: RAM_BASE, hartId: 1 });
  // Hart 0 translates at once; hart 1 would need 1000 visits of its own.
  const jit0 = new Jit(hart0, mem0, { threshold: 1 });
  const jit1 = new Jit(hart1, mem1, { threshold: 1000 });
  const run = (jit: Jit) => {
    const h = jit.hart;
    h.pc = BigInt(RAM_BASE + 0x1000);
    h.x[12] = 0n;
    for (let i = 0; i < 100; i++) if (jit.run(1000) === RUN_WFI) return h.x[12];
    throw new Error("no wfi");
  };
  return { mem0, jit0, jit1, run };
}

Deno.test("code store: a page hart 0 translated is taken by hart 1, and runs there on hart 1's registers", () => {
  const { mem0, jit0, jit1, run } = twoHarts();
  new Uint8Array(mem0.buffer).set(loop(3), 0x1000);
  assert.equal(run(jit0), 150n);
  assert.equal(jit0.stats.compiles, 1);
  jit0.hart.x[12] = 7n;
  assert.equal(run(jit1), 150n);
  assert.equal(jit1.stats.compiles, 0, "hart 1 translated nothing");
  assert.equal(jit1.stats.adopted, 1);
  assert.ok(jit1.stats.entries > 0, "hart 1 ran the page translated");
  // Each hart's registers are its own: hart 1's run left hart 0's a2 alone.
  assert.equal(jit0.hart.x[12], 7n);
});

Deno.test("code store: a page whose bytes changed since is not taken", () => {
  const { mem0, jit0, jit1, run } = twoHarts();
  new Uint8Array(mem0.buffer).set(loop(3), 0x1000);
  assert.equal(run(jit0), 150n);
  // Another writer changes the code (not through hart 1, whose translator
  // would see its own store): hart 1 must not take hart 0's stale module.
  new Uint8Array(mem0.buffer).set(loop(5), 0x1000);
  assert.equal(run(jit1), 250n, "the new code ran");
  assert.equal(jit1.stats.adopted, 0);
});

Deno.test("code store: a hart's worker finds the store from the memory's size (as the machine opens it)", () => {
  const ram = 1 << 20;
  const shared = createJitMemory(ram, 2, true), alone = createJitMemory(ram, 2, false);
  assert.ok(openJitMemory(shared.memory, ram, 1, 2).store !== null, "made with shareCode");
  assert.equal(openJitMemory(alone.memory, ram, 1, 2).store, null, "made without");
  assert.equal(createJitMemory(ram, 1, true).store, null, "one hart has nothing to share");
});
