// The hart's debugger support (cpu/debug.ts): breakpoints stop run() before
// the instruction (RUN_BREAK), a resume passes over the one under the pc,
// an empty list is no list; memory through the current translation without
// side effects (no A bit set, user pages readable from S); registers by
// GDB's numbers. Read next: tests/unit/gdb/rsp_test.ts.

import assert from "../../../testing/assert.ts";
import { A, BASE, li, load, makeHart } from "../../../testing/cpu_harness.ts";
import { RUN_BREAK, RUN_BUDGET } from "../../../cpu/hart.ts";
import {
  debugTranslate,
  GDB_REG,
  readRegister,
  readVirtual,
  setBreakpoints,
  setWatchpoints,
  writeRegister,
  writeVirtual,
} from "../../../cpu/debug.ts";

/** A counting loop: x5 += 1 forever (addi; jal back). */
function loopHart() {
  const h = makeHart();
  load(h, BASE, [A.addi(5, 5, 1), A.addi(6, 6, 2), A.jal(0, -8)]);
  return h;
}

Deno.test("debug: a breakpoint stops run() before its instruction; resuming passes over it", () => {
  const h = loopHart();
  setBreakpoints(h, [BigInt(BASE + 4)]);
  assert.equal(h.run(1000), RUN_BREAK);
  assert.equal(h.pc, BigInt(BASE + 4));
  assert.equal(h.x[5], 1n); // the addi before it ran, the one at the breakpoint did not
  assert.equal(h.x[6], 0n);
  assert.equal(h.instret, 1n);
  // Resume: the instruction under the pc runs once, then the loop comes round again.
  h.breakSkip = h.pcN;
  assert.equal(h.run(1000), RUN_BREAK);
  assert.equal(h.pc, BigInt(BASE + 4));
  assert.equal(h.x[5], 2n);
  assert.equal(h.x[6], 2n);
  assert.equal(h.instret, 4n);
  // Without breakpoints the list is gone (null: the loop tests nothing) and the batch runs out.
  setBreakpoints(h, []);
  assert.equal(h.breakPcs, null);
  assert.equal(h.run(300), RUN_BUDGET);
  assert.equal(h.instret, 304n);
});

Deno.test("debug: several breakpoints, and kernel-style addresses above 2^63", () => {
  const h = loopHart();
  setBreakpoints(h, [0xffffffff8027830cn, BigInt(BASE + 8)]);
  assert.equal(h.breakPcs!.length, 2);
  assert.equal(h.breakPcs![0], Number(BigInt.asIntN(64, 0xffffffff8027830cn)));
  assert.equal(h.run(1000), RUN_BREAK);
  assert.equal(h.pc, BigInt(BASE + 8));
});

Deno.test("debug: registers by GDB's numbers (x, pc, f, CSRs, priv)", () => {
  const h = makeHart();
  assert.ok(writeRegister(h, 10, 0xdeadbeefn));
  assert.equal(readRegister(h, 10), 0xdeadbeefn);
  assert.ok(writeRegister(h, 0, 5n)); // x0 takes the write and stays 0
  assert.equal(readRegister(h, 0), 0n);
  assert.ok(writeRegister(h, GDB_REG.PC, BigInt(BASE + 0x40)));
  assert.equal(readRegister(h, GDB_REG.PC), BigInt(BASE + 0x40));
  assert.ok(writeRegister(h, GDB_REG.F0 + 3, 0x4000000000000000n));
  assert.equal(readRegister(h, GDB_REG.F0 + 3), 0x4000000000000000n);
  assert.equal(readRegister(h, GDB_REG.FIRST_CSR + 0x301)! >> 62n, 2n); // misa: rv64
  assert.equal(readRegister(h, GDB_REG.PRIV), 3n);
  assert.ok(writeRegister(h, GDB_REG.PRIV, 1n));
  assert.equal(h.priv, 1);
  assert.equal(writeRegister(h, GDB_REG.PRIV, 2n), false);
  assert.equal(readRegister(h, GDB_REG.FIRST_CSR + 0x7ff), null); // no such CSR
  assert.equal(readRegister(h, 5000), null);
});

Deno.test("debug: memory through Sv39 without side effects; unmapped is null", () => {
  const h = makeHart();
  const ROOT = BASE + 0x10000, L1 = BASE + 0x11000, L0 = BASE + 0x12000, PAGE = BASE + 0x20000;
  const pte = (table: number, i: number, pa: number, flags: number) =>
    h.ram64[(table - BASE + i * 8) / 8] = (BigInt(pa / 4096) << 10n) | BigInt(flags);
  pte(ROOT, 1, L1, 1);
  pte(L1, 0, L0, 1);
  pte(L0, 0, PAGE, 1 | 2 | 16); // V R U: a user page, not accessed yet
  load(h, BASE, [...li(5, (8n << 60n) | BigInt(ROOT / 4096)), A.csrrw(0, 0x180, 5)]);
  h.run(li(5, 0n).length + 10);
  h.priv = 1; // S-mode with SUM clear: the hart itself could not read this page
  h.ram8.set([1, 2, 3, 4], PAGE - BASE + 0xffe);
  assert.equal(debugTranslate(h, 0x4000_0ffen), PAGE + 0xffe);
  assert.deepEqual([...readVirtual(h, 0x4000_0ffen, 2)!], [1, 2]);
  assert.equal(readVirtual(h, 0x4000_0ffen, 4), null); // the next page is unmapped
  assert.equal(debugTranslate(h, 0xffff_ffff_8000_0000n), -1);
  assert.equal(Number(h.ram64[(L0 - BASE) / 8] & 64n), 0, "no A bit set by a debugger read");
  assert.ok(writeVirtual(h, 0x4000_0010n, new Uint8Array([9, 8])));
  assert.deepEqual([...h.ram8.subarray(PAGE - BASE + 0x10, PAGE - BASE + 0x12)], [9, 8]);
  assert.equal(writeVirtual(h, 0x4000_0fffn, new Uint8Array([7, 7])), false);
  assert.equal(h.ram8[PAGE - BASE + 0xfff], 2, "a write that does not fit changes nothing");
});

Deno.test("debug: watchpoints stop before the access (write, read), resume passes it, TLB kept out", () => {
  const h = makeHart();
  const DATA = BASE + 0x3000;
  load(h, BASE, [
    ...li(6, BigInt(DATA)),
    A.ld(7, 0, 6), // a read of the watched word
    A.addi(8, 0, 77),
    A.sd(8, 8, 6), // a write next to it: not watched
    A.sd(8, 0, 6), // a write of the watched word
    A.addi(9, 0, 1),
    A.jal(0, 0), // spin
  ]);
  const prologue = li(6, BigInt(DATA)).length;
  setWatchpoints(h, [{ addr: BigInt(DATA), len: 8, kind: 1 }]); // write
  assert.ok(h.breakPcs !== null, "watchpoints keep the loop's debug test on");
  assert.equal(h.run(1000), RUN_BREAK);
  assert.equal(h.pc, BigInt(BASE + 4 * (prologue + 3)), "stopped at the watched store");
  assert.equal(h.instret, BigInt(prologue + 3), "the store is not counted");
  assert.equal(h.ram64[(DATA - BASE) / 8], 0n, "and did not happen");
  assert.equal(h.ram64[(DATA - BASE) / 8 + 1], 77n, "the store next to it did");
  assert.equal(h.watchHitIndex, 0);
  h.watchHitIndex = -1;
  h.breakSkip = h.pcN; // resume: the store goes through once
  assert.equal(h.run(3), 0);
  assert.equal(h.ram64[(DATA - BASE) / 8], 77n);
  assert.equal(h.x[9], 1n);
  // A read watchpoint stops the load; the watched page never enters the data TLB.
  const g = makeHart({ ram: h.ram8.buffer as SharedArrayBuffer });
  load(g, BASE + 4 * (prologue + 3), [A.addi(0, 0, 0)]); // the write is a nop now
  setWatchpoints(g, [{ addr: BigInt(DATA + 4), len: 2, kind: 2 }]);
  assert.equal(g.run(1000), RUN_BREAK);
  assert.equal(g.pc, BigInt(BASE + 4 * prologue));
  assert.ok(!g.rTag.includes(DATA / 4096), "no TLB entry for the watched page");
  setWatchpoints(g, []);
  setBreakpoints(g, []);
  assert.equal(g.breakPcs, null, "no watchpoints, no breakpoints: no debug test at all");
  g.watchHitIndex = -1;
  assert.equal(g.run(50), RUN_BUDGET);
  assert.equal(g.x[7], 77n);
});
