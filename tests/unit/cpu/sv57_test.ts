// Sv57 paging (HartOptions.sv57): the five-level walk with 4 KiB, 2 MiB,
// 1 GiB, 512 GiB and 256 TiB leaves; loads, stores, FP, AMOs and LR/SC at
// addresses beyond 2^53 (Linux's linear map at 0xff60…), where a double is no
// longer exact, reaching exactly the bytes they name; page faults with an
// exact stval (non-canonical, a missing level-4 entry, a read-only page); A/D
// bits; sfence.vma of a wide page; and the refusal to fetch there. The slow
// path that makes this work: cpu/mmu.ts, "Wide addresses". The same tests run
// translated in tests/unit/cpu/jit_harness_test.ts. Read next: tests/unit/cpu/mmu_test.ts.

import assert from "../../../testing/assert.ts";
import { A, BASE, li, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";
import type { Hart } from "../../../cpu/hart.ts";

const V = 1, R = 2, W = 4, X = 8, AB = 64, D = 128;
const ROOT5 = BASE + 0x10000; // level-4 table
const L3T = BASE + 0x11000;
const L2T = BASE + 0x12000;
const L1T = BASE + 0x13000;
const L0T = BASE + 0x14000;
const DATA = BASE + 0x20000; // two 4 KiB data pages
const MTVEC = BASE + 0x800;
const SV57 = 10n << 60n;
/** Linux's Sv57 linear map starts here (-2^55.3 as a signed value: ulp 8 as a double). */
const VA_HI = 0xff60_0000_0000_0000n;

function setPte(h: Hart, table: number, idx: number, pa: number, flags: number): void {
  h.ram64[(table - BASE + idx * 8) / 8] = (BigInt(pa / 4096) << 10n) | BigInt(flags);
}
function pteFlags(h: Hart, table: number, idx: number): number {
  return Number(h.ram64[(table - BASE + idx * 8) / 8] & 0x3ffn);
}
/** The byte the data pages hold at offset i (distinct for neighbours). */
const pattern = (i: number) => (i * 7 + 3) & 0xff;

/**
 * An Sv57 machine: S-mode code at its physical address through a 256 TiB
 * identity leaf (ROOT5[0]), and VA_HI → L3T[0] → L2T[0] → L1T[0] → L0T[0..1]
 * → the two data pages, filled with pattern(). Traps go to M, which exits.
 */
function machine57(body: number[], mstatus = 0n): Hart {
  const h = makeHart({ sv57: true });
  setPte(h, ROOT5, 0, 0, V | R | W | X | AB | D);
  setPte(h, ROOT5, 0x160, L3T, V); // VA bits 56..48 of 0xff60… = 0x160
  setPte(h, L3T, 0, L2T, V);
  setPte(h, L2T, 0, L1T, V);
  setPte(h, L1T, 0, L0T, V);
  setPte(h, L0T, 0, DATA, V | R | W);
  setPte(h, L0T, 1, DATA + 0x1000, V | R | W);
  for (let i = 0; i < 8192; i++) h.ram8[DATA - BASE + i] = pattern(i);
  const entry = BASE + 0x1000;
  load(h, BASE, [
    ...li(5, SV57 | BigInt(ROOT5 / 4096)),
    A.csrrw(0, 0x180, 5), // satp
    ...li(5, (1n << 11n) | mstatus), // MPP = S
    A.csrrw(0, 0x300, 5),
    ...li(5, BigInt(entry)),
    A.csrrw(0, 0x341, 5), // mepc
    ...li(5, BigInt(MTVEC)),
    A.csrrw(0, 0x305, 5), // mtvec
    A.mret(),
  ]);
  load(h, MTVEC, A.exit());
  load(h, entry, [...body, ...A.exit()]);
  return h;
}

const u64 = (h: Hart, r: number) => BigInt.asUintN(64, h.x[r]);
const ramU64 = (h: Hart, pa: number) => BigInt.asUintN(64, h.ram64[(pa - BASE) / 8]);
/** The little-endian value of `n` pattern bytes from offset `off`. */
function patternValue(off: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(pattern(off + i));
  return v;
}

Deno.test("sv57: satp takes mode 10 only on an Sv57 hart (which has Sv48 too)", () => {
  const ppn = BigInt(ROOT5 / 4096);
  const h = makeHart();
  h.csrWrite(0x180, SV57 | ppn);
  assert.equal(h.csrRead(0x180), 0n, "Sv57 is opt-in");
  const g = makeHart({ sv57: true, sv48: false });
  g.csrWrite(0x180, SV57 | (5n << 44n) | ppn);
  assert.equal(g.csrRead(0x180), SV57 | (5n << 44n) | ppn);
  g.csrWrite(0x180, (9n << 60n) | ppn);
  assert.equal(g.csrRead(0x180), (9n << 60n) | ppn, "Sv57 implies Sv48");
});

Deno.test("sv57: loads above 2^53 that differ in their low bits read different bytes", () => {
  const body: number[] = [...li(6, VA_HI)];
  // lbu at +0..+7 into x7..x14: a double va would round these to one or two addresses.
  for (let i = 0; i < 8; i++) body.push(A.lbu(7 + i, i, 6));
  body.push(
    ...li(15, VA_HI + 5n), // a register that is itself not exact as a double
    A.lbu(16, 0, 15),
    A.lh(24, 2, 15), // +7: misaligned, inside the page
    ...li(18, VA_HI + 0x1003n),
    A.lbu(19, -4, 18), // the last byte of page 0, from a negative immediate
    A.ld(20, 0x7f8, 6),
    A.lw(21, -0x7fc, 18), // +0x807
    ...li(22, VA_HI + 0xffdn),
    A.ld(23, 0, 22), // across into page 1
    A.lb(25, 18, 6), // sign-extended: pattern(18) = 0x81
    A.lw(26, 16, 6), // pattern(19) = 0x88: a negative word
    A.lwu(27, 16, 6),
    A.lhu(28, 18, 6),
  );
  const h = machine57(body);
  runToExit(h);
  assert.equal(h.priv, 1);
  for (let i = 0; i < 8; i++) assert.equal(h.x[7 + i], BigInt(pattern(i)), `lbu +${i}`);
  assert.equal(h.x[16], BigInt(pattern(5)));
  assert.equal(h.x[24], BigInt.asIntN(16, patternValue(7, 2)));
  assert.equal(h.x[19], BigInt(pattern(0xfff)));
  assert.equal(u64(h, 20), patternValue(0x7f8, 8));
  assert.equal(h.x[21], BigInt.asIntN(32, patternValue(0x807, 4)));
  assert.equal(u64(h, 23), patternValue(0xffd, 8));
  assert.equal(h.x[25], -127n);
  assert.equal(h.x[26], BigInt.asIntN(32, patternValue(16, 4)));
  assert.ok(h.x[26] < 0n);
  assert.equal(h.x[27], patternValue(16, 4));
  assert.equal(h.x[28], patternValue(18, 2));
  // A set on both leaves, D on neither.
  assert.equal(pteFlags(h, L0T, 0) & (AB | D), AB);
  assert.equal(pteFlags(h, L0T, 1) & (AB | D), AB);
});

Deno.test("sv57: stores, FP, AMOs and LR/SC above 2^53 reach the exact bytes", () => {
  const h = machine57([
    ...li(6, VA_HI),
    ...li(7, 0x1122334455667788n),
    A.sb(7, 1, 6), // 0x88 at +1
    A.sh(7, 3, 6), // misaligned, 0x7788 at +3
    A.sw(7, 0x10, 6),
    A.sd(7, 0x18, 6),
    ...li(8, VA_HI + 0xffcn),
    A.sd(7, 0, 8), // across pages: 4 bytes on each
    A.fld(1, 0x18, 6), // f1 = the doubleword just stored
    A.fsd(1, 0x20, 6),
    ...li(9, VA_HI + 0x30n),
    ...li(10, 5n),
    A.amoaddd(11, 10, 9), // x11 = old, memory += 5
    A.lrd(12, 9),
    A.scd(13, 10, 9), // x13 = 0: stored 5
    ...li(14, VA_HI + 0x38n),
    A.amoswapw(15, 10, 14),
  ], 1n << 13n); // FS = Initial
  const before = patternValue(0x30, 8);
  runToExit(h);
  const b = (off: number) => h.ram8[DATA - BASE + off];
  assert.equal(b(0), pattern(0));
  assert.equal(b(1), 0x88);
  assert.equal(b(2), pattern(2));
  assert.equal(b(3) | (b(4) << 8), 0x7788);
  assert.equal(b(5), pattern(5));
  assert.equal(
    BigInt(new DataView(h.ram8.buffer).getUint32(DATA - BASE + 0x10, true)),
    0x55667788n,
  );
  assert.equal(ramU64(h, DATA + 0x18), 0x1122334455667788n);
  assert.equal(ramU64(h, DATA + 0x20), 0x1122334455667788n, "fld/fsd");
  assert.equal(
    new DataView(h.ram8.buffer).getBigUint64(DATA - BASE + 0xffc, true),
    0x1122334455667788n,
  );
  assert.equal(u64(h, 11), before, "amoadd.d returns the old value");
  assert.equal(u64(h, 12), before + 5n, "lr.d sees the AMO's result");
  assert.equal(h.x[13], 0n, "sc.d succeeded");
  assert.equal(ramU64(h, DATA + 0x30), 5n);
  assert.equal(h.x[15], BigInt.asIntN(32, patternValue(0x38, 4)));
  assert.equal(new DataView(h.ram8.buffer).getUint32(DATA - BASE + 0x38, true), 5);
  assert.equal(pteFlags(h, L0T, 0) & (AB | D), AB | D);
  assert.equal(pteFlags(h, L0T, 1) & (AB | D), AB | D);
});

Deno.test("sv57: 2 MiB, 1 GiB, 512 GiB and 256 TiB leaves above 2^53", () => {
  const M2 = 1n << 21n, G1 = 1n << 30n, G512 = 1n << 39n;
  const cases: [bigint, number][] = [ // (virtual address, the physical address it must reach)
    [VA_HI + M2 + 0x20003n, BASE + 0x200000 + 0x20003], // L1T[1]: 2 MiB at BASE + 2 MiB
    [VA_HI + G1 + BigInt(DATA - BASE + 0x13), DATA + 0x13], // L2T[1]: 1 GiB at BASE
    [VA_HI + G512 + BigInt(DATA + 0x25), DATA + 0x25], // L3T[1]: 512 GiB at 0
    [0xff61_0000_0000_0000n + BigInt(DATA + 0x36), DATA + 0x36], // ROOT5[0x161]: 256 TiB at 0
  ];
  const body: number[] = [];
  cases.forEach(([va], i) =>
    body.push(...li(6, va), A.lbu(7 + 2 * i, 0, 6), A.lbu(8 + 2 * i, 1, 6))
  );
  const h = machine57(body);
  setPte(h, L1T, 1, BASE + 0x200000, V | R);
  setPte(h, L2T, 1, BASE, V | R);
  setPte(h, L3T, 1, 0, V | R);
  setPte(h, ROOT5, 0x161, 0, V | R);
  for (let i = 0; i < 64; i++) h.ram8[0x220000 + i] = 0x40 + i; // BASE + 2 MiB + 0x20000
  runToExit(h);
  cases.forEach(([, pa], i) => {
    for (const k of [0, 1]) {
      assert.equal(Number(h.x[7 + 2 * i + k]), h.ram8[pa - BASE + k], `case ${i} byte ${k}`);
    }
  });
  assert.notEqual(h.x[7], h.x[8]);
  for (const [t, i] of [[L1T, 1], [L2T, 1], [L3T, 1], [ROOT5, 0x161]]) {
    assert.equal(pteFlags(h, t, i) & AB, AB, "A set on the superpage leaf");
  }
});

Deno.test("sv57: a misaligned 512 GiB leaf faults", () => {
  const h = machine57([...li(6, VA_HI + (1n << 39n) + 0x123n), A.lbu(7, 0, 6)]);
  setPte(h, L3T, 1, 1 << 30, V | R); // ppn not a multiple of 2^27
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  assert.equal(h.csrRead(0x343), VA_HI + (1n << 39n) + 0x123n);
});

function faultOf(body: number[], setup?: (h: Hart) => void): [bigint, bigint] {
  const h = machine57(body);
  setup?.(h);
  runToExit(h);
  return [h.csrRead(0x342), h.csrRead(0x343)]; // mcause, mtval
}

Deno.test("sv57: faults carry the exact address (non-canonical, missing level 4, read-only)", () => {
  // Bit 56 set, 63..57 clear: not canonical (and its page is exact only to 16 bytes).
  assert.deepEqual(faultOf([...li(6, 0x0100_0000_0000_0000n), A.ld(7, 9, 6)]), [
    13n,
    0x0100_0000_0000_0009n,
  ]);
  assert.deepEqual(faultOf([...li(6, 0xfe00_0000_0000_0008n), A.sw(0, -1, 6)]), [
    15n,
    0xfe00_0000_0000_0007n,
  ]);
  // ROOT5[0x170] is empty: the walk stops at level 4.
  assert.deepEqual(faultOf([...li(6, 0xff70_0000_0000_0abcn), A.lbu(7, 1, 6)]), [
    13n,
    0xff70_0000_0000_0abdn,
  ]);
  // A store to a read-only wide page: cause 15, nothing written, no D bit.
  const ro = (h: Hart) => setPte(h, L0T, 0, DATA, V | R | AB);
  assert.deepEqual(faultOf([...li(6, VA_HI + 0x7n), A.sb(6, 0, 6)], ro), [15n, VA_HI + 0x7n]);
  // An AMO on a missing page reports the exact address too.
  assert.deepEqual(faultOf([...li(6, VA_HI + 0x2008n), A.amoaddd(7, 0, 6)]), [
    15n,
    VA_HI + 0x2008n,
  ]);
  // A misaligned load whose second page is missing: tval is the first byte there.
  assert.deepEqual(faultOf([...li(6, VA_HI + 0x1ffen), A.lw(7, 0, 6)]), [13n, VA_HI + 0x2000n]);
});

Deno.test("sv57: sfence.vma of a wide page drops its cached translation", () => {
  const h = machine57([
    ...li(6, VA_HI + 0x40n),
    A.ld(7, 0, 6), // cached
    A.ld(7, 0, 6),
    ...li(8, BigInt(L0T)), // remap page 0 to DATA + 0x1000 (the PTE through the identity leaf)
    ...li(9, BigInt(((DATA + 0x1000) / 4096) * 1024 + (V | R | W | AB))),
    A.sd(9, 0, 8),
    A.sfence(6, 0),
    A.ld(10, 0, 6),
  ]);
  runToExit(h);
  assert.equal(u64(h, 7), patternValue(0x40, 8));
  assert.equal(u64(h, 10), patternValue(0x1040, 8));
});

Deno.test("sv57: code is never fetched beyond 2^53: an instruction access fault says so", () => {
  const h = machine57([...li(6, VA_HI + 0x100n), A.jalr(0, 6, 0)]);
  setPte(h, L0T, 0, DATA, V | R | X | AB);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 1n, "instruction access fault");
  assert.equal(h.csrRead(0x343), VA_HI + 0x100n);
  assert.equal(h.csrRead(0x341), VA_HI + 0x100n);
});
