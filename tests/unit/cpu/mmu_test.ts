// Sv39/Sv48 paging: translation through 4 KiB pages and superpages, the three
// page-fault causes with stval, A/D updates, U/SUM/MXR permissions, misaligned
// superpages, accesses across pages, satp WARL, access faults and MMIO.
// Each test builds page tables in RAM, drops from M to S or U with mret, and
// exits with the harness ecall (a7 = 93). Read next: tests/unit/cpu/priv_test.ts.

import assert from "../../../testing/assert.ts";
import {
  A,
  BASE,
  li,
  load,
  makeHart,
  recordingBus,
  runToExit,
} from "../../../testing/cpu_harness.ts";
import type { Hart } from "../../../cpu/hart.ts";

const V = 1, R = 2, W = 4, X = 8, U = 16, G = 32, AB = 64, D = 128;
const ROOT = BASE + 0x10000; // root table
const L1 = BASE + 0x11000;
const L0 = BASE + 0x12000;
const DATA = BASE + 0x20000; // data pages
const MTVEC = BASE + 0x800;
const SV39 = 8n << 60n;

function setPte(h: Hart, table: number, idx: number, pa: number, flags: number): void {
  h.ram64[(table - BASE + idx * 8) / 8] = (BigInt(pa / 4096) << 10n) | BigInt(flags);
}
function getPte(h: Hart, table: number, idx: number): number {
  return Number(h.ram64[(table - BASE + idx * 8) / 8] & 0x3ffn);
}

/**
 * A machine whose S-mode code runs at its physical address through a 1 GiB
 * identity superpage (root[2]), with a small window at VA 0x4000_0000:
 * root[1] -> L1[0] -> L0[i] (4 KiB pages, set per test).
 * `body` is S-mode (or U-mode) code placed at BASE+0x1000; traps go to M at
 * MTVEC, which exits.
 */
function machine(body: number[], opts: { priv?: number; mstatus?: bigint } = {}): Hart {
  const h = makeHart();
  setPte(h, ROOT, 2, BASE - (BASE % (1 << 30)), V | R | W | X | AB | D | (opts.priv === 0 ? U : 0));
  setPte(h, ROOT, 1, L1, V);
  setPte(h, L1, 0, L0, V);
  const entry = BASE + 0x1000;
  const mpp = BigInt(opts.priv ?? 1) << 11n;
  load(h, BASE, [
    ...li(5, SV39 | BigInt(ROOT / 4096)),
    A.csrrw(0, 0x180, 5), // satp
    ...li(5, mpp | (opts.mstatus ?? 0n)),
    A.csrrw(0, 0x300, 5), // mstatus
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

const VA = 0x4000_0000;

Deno.test("mmu: Sv39 4K page load/store, A and D set by hardware", () => {
  const h = machine([
    ...li(6, BigInt(VA)),
    A.ld(7, 8, 6), // load from page 0 -> A
    ...li(8, 0x1122334455667788n),
    A.sd(8, 16, 6), // store into page 0 -> A and D
    ...li(9, BigInt(VA + 0x1000)),
    A.lw(10, 0, 9), // page 1: load only -> A but no D
  ]);
  h.ram64[(DATA - BASE + 8) / 8] = -42n;
  setPte(h, L0, 0, DATA, V | R | W);
  setPte(h, L0, 1, DATA + 0x1000, V | R | W);
  new DataView(h.ram8.buffer).setInt32(DATA + 0x1000 - BASE, -7, true);
  runToExit(h);
  assert.equal(h.priv, 1);
  assert.equal(h.x[7], -42n);
  assert.equal(h.x[10], -7n);
  assert.equal(h.ram64[(DATA - BASE + 16) / 8], 0x1122334455667788n);
  assert.equal(getPte(h, L0, 0) & (AB | D), AB | D);
  assert.equal(getPte(h, L0, 1) & (AB | D), AB);
  assert.equal(h.lastTrap, null, "no trap: the exit ecall is handled by the hook");
});

Deno.test("mmu: load, store and fetch page faults carry the faulting address", () => {
  // load from an invalid PTE
  let h = machine([...li(6, BigInt(VA + 0x3000)), A.ld(7, 0x10, 6)]);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  assert.equal(h.csrRead(0x343), BigInt(VA + 0x3010));
  assert.equal(h.csrRead(0x341), BigInt(BASE + 0x1000 + 4 * li(6, BigInt(VA + 0x3000)).length));
  // store to a read-only page
  h = machine([...li(6, BigInt(VA)), A.sw(0, 4, 6)]);
  setPte(h, L0, 0, DATA, V | R | AB);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 15n);
  assert.equal(h.csrRead(0x343), BigInt(VA + 4));
  assert.equal(getPte(h, L0, 0) & D, 0, "no D bit on a failed store");
  // fetch from a non-executable page
  h = machine([...li(6, BigInt(VA + 0x2000 + 8)), A.jalr(1, 6, 0)]);
  setPte(h, L0, 2, DATA, V | R | W | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 12n);
  assert.equal(h.csrRead(0x343), BigInt(VA + 0x2008));
  assert.equal(h.csrRead(0x341), BigInt(VA + 0x2008));
  // non-canonical address (bit 38 not sign-extended)
  h = machine([...li(6, 1n << 40n), A.ld(7, 0, 6)]);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  assert.equal(h.csrRead(0x343), 1n << 40n);
  // W without R is reserved
  h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)]);
  setPte(h, L0, 0, DATA, V | W | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
});

Deno.test("mmu: execute through a 4K page, then fetch fault across a page boundary", () => {
  // Code page at VA 0x4000_0000 maps DATA; a 32-bit instruction straddles into an unmapped page.
  const h = machine([...li(6, BigInt(VA)), A.jalr(0, 6, 0)]);
  setPte(h, L0, 0, DATA, V | X | AB);
  const code: (number | { h: number })[] = [];
  // fill the page with c.nop up to offset 4094, then a 32-bit addi at 4094
  for (let i = 0; i < 2047; i++) code.push({ h: 0x0001 });
  code.push({ h: 0x0513 }); // low half of addi a0,zero,... ; the high half would be on the next page
  load(h, DATA, code);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 12n);
  assert.equal(h.csrRead(0x341), BigInt(VA + 4094));
  assert.equal(h.csrRead(0x343), BigInt(VA + 4096), "tval = the address of the missing half");
});

Deno.test("mmu: a 32-bit instruction straddling two mapped pages executes", () => {
  const h = machine([...li(6, BigInt(VA + 4094)), A.jalr(0, 6, 0)]);
  setPte(h, L0, 0, DATA + 0x1000, V | X | AB); // deliberately not physically contiguous
  setPte(h, L0, 1, DATA, V | X | AB);
  const insn = A.addi(10, 0, 123);
  new DataView(h.ram8.buffer).setUint16(DATA + 0x1000 + 4094 - BASE, insn & 0xffff, true);
  new DataView(h.ram8.buffer).setUint16(DATA - BASE, insn >>> 16, true);
  load(h, DATA + 2, A.exit());
  runToExit(h);
  assert.equal(h.x[10], 123n);
});

Deno.test("mmu: U/S permissions, SUM and MXR", () => {
  // S reads a U page: fault without SUM...
  let h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)]);
  setPte(h, L0, 0, DATA, V | R | W | U | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  // ... allowed with SUM
  h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6), A.sd(7, 8, 6)], { mstatus: 1n << 18n });
  setPte(h, L0, 0, DATA, V | R | W | U | AB | D);
  h.ram64[(DATA - BASE) / 8] = 99n;
  runToExit(h);
  assert.equal(h.x[7], 99n);
  assert.equal(h.ram64[(DATA - BASE + 8) / 8], 99n);
  // ... but S never executes a U page, even with SUM
  h = machine([...li(6, BigInt(VA)), A.jalr(0, 6, 0)], { mstatus: 1n << 18n });
  setPte(h, L0, 0, DATA, V | R | X | U | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 12n);
  // U cannot touch an S page
  h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)], { priv: 0 });
  setPte(h, L0, 0, DATA, V | R | W | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  assert.equal(h.csrRead(0x300) >> 11n & 3n, 0n, "MPP = U");
  // Execute-only page: load faults without MXR, succeeds with it
  h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)]);
  setPte(h, L0, 0, DATA, V | X | AB | D);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)], { mstatus: 1n << 19n });
  setPte(h, L0, 0, DATA, V | X | AB | D);
  h.ram64[(DATA - BASE) / 8] = 5n;
  runToExit(h);
  assert.equal(h.x[7], 5n);
  assert.equal(h.lastTrap, null);
});

Deno.test("mmu: toggling SUM in S-mode takes effect immediately", () => {
  const h = machine([
    ...li(6, BigInt(VA)),
    ...li(5, 1n << 18n),
    A.csrrs(0, 0x100, 5), // set sstatus.SUM
    A.ld(7, 0, 6),
    A.csrrc(0, 0x100, 5), // clear it
    A.ld(8, 0, 6), // faults now
  ]);
  setPte(h, L0, 0, DATA, V | R | W | U | AB | D);
  h.ram64[(DATA - BASE) / 8] = 77n;
  runToExit(h);
  assert.equal(h.x[7], 77n);
  assert.equal(h.csrRead(0x342), 13n);
});

Deno.test("mmu: superpages, and a misaligned superpage faults", () => {
  // A 2 MiB megapage at VA 0x4020_0000 -> physical BASE (aligned): reads code bytes.
  let h = machine([...li(6, BigInt(VA + 0x20_0000 + 0x1000)), A.lw(7, 0, 6)]);
  setPte(h, L1, 1, BASE, V | R | AB);
  runToExit(h);
  assert.equal(Number(h.x[7]) | 0, h.ram32[0x1000 / 4]);
  // Misaligned megapage (ppn not a multiple of 512)
  h = machine([...li(6, BigInt(VA + 0x20_0000)), A.lw(7, 0, 6)]);
  setPte(h, L1, 1, BASE + 0x1000, V | R | AB);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 13n);
  assert.equal(h.csrRead(0x343), BigInt(VA + 0x20_0000));
});

Deno.test("mmu: misaligned load and store across two non-contiguous pages", () => {
  const h = machine([
    ...li(6, BigInt(VA + 4093)),
    A.ld(7, 0, 6), // bytes 4093..4095 of page 0, 0..4 of page 1
    ...li(8, 0x0102030405060708n),
    A.sd(8, 0, 6),
    A.lw(9, 1, 6), // 4094..4095, 0..1
  ]);
  setPte(h, L0, 0, DATA + 0x2000, V | R | W | AB | D);
  setPte(h, L0, 1, DATA, V | R | W | AB | D);
  const b = h.ram8;
  const p0 = DATA + 0x2000 - BASE, p1 = DATA - BASE;
  b.set([0xa1, 0xa2, 0xa3], p0 + 4093);
  b.set([0xb1, 0xb2, 0xb3, 0xb4, 0xb5], p1);
  runToExit(h);
  assert.equal(BigInt.asUintN(64, h.x[7]), 0xb5b4b3b2b1a3a2a1n);
  assert.deepEqual([...b.subarray(p0 + 4093, p0 + 4096)], [0x08, 0x07, 0x06]);
  assert.deepEqual([...b.subarray(p1, p1 + 5)], [0x05, 0x04, 0x03, 0x02, 0x01]);
  assert.equal(h.x[9], 0x04050607n);
});

Deno.test("mmu: a misaligned store whose second page faults writes nothing", () => {
  const h = machine([...li(6, BigInt(VA + 4094)), ...li(8, -1n), A.sw(8, 0, 6)]);
  setPte(h, L0, 0, DATA, V | R | W | AB | D);
  setPte(h, L0, 1, DATA + 0x1000, V | R | AB); // read-only
  runToExit(h);
  assert.equal(h.csrRead(0x342), 15n);
  assert.equal(h.csrRead(0x343), BigInt(VA + 4096));
  assert.equal(h.ram8[DATA - BASE + 4094], 0);
  assert.equal(h.ram8[DATA - BASE + 4095], 0);
});

Deno.test("mmu: sfence.vma makes a changed PTE visible", () => {
  const h = machine([
    ...li(6, BigInt(VA)),
    A.ld(7, 0, 6),
    // remap VA page 0 to DATA+0x1000 by writing the PTE through the identity map
    ...li(9, BigInt(L0)),
    ...li(10, (BigInt((DATA + 0x1000) / 4096) << 10n) | BigInt(V | R | AB)),
    A.sd(10, 0, 9),
    A.sfence(0, 0),
    A.ld(8, 0, 6),
  ]);
  setPte(h, L0, 0, DATA, V | R | AB);
  h.ram64[(DATA - BASE) / 8] = 1n;
  h.ram64[(DATA + 0x1000 - BASE) / 8] = 2n;
  runToExit(h);
  assert.equal(h.x[7], 1n);
  assert.equal(h.x[8], 2n);
});

Deno.test("mmu: satp is WARL (unsupported modes ignored, 16 ASID bits kept)", () => {
  const h = makeHart();
  const ppn = BigInt(ROOT / 4096);
  h.csrWrite(0x180, (10n << 60n) | ppn); // Sv57: unsupported
  assert.equal(h.csrRead(0x180), 0n);
  h.csrWrite(0x180, (9n << 60n) | ppn); // Sv48
  assert.equal(h.csrRead(0x180), (9n << 60n) | ppn);
  h.csrWrite(0x180, (8n << 60n) | (0xffffn << 44n) | ppn); // Sv39 with all ASID bits
  assert.equal(h.csrRead(0x180), (8n << 60n) | (0xffffn << 44n) | ppn, "ASIDLEN = 16, as QEMU");
  h.csrWrite(0x180, (1n << 60n) | ppn); // reserved mode: ignored
  assert.equal(h.csrRead(0x180), (8n << 60n) | (0xffffn << 44n) | ppn);
  const g = makeHart({ sv48: false });
  g.csrWrite(0x180, (9n << 60n) | ppn);
  assert.equal(g.csrRead(0x180), 0n);
});

Deno.test("mmu: Sv48 four-level walk", () => {
  const h = makeHart();
  // root4[0] -> ROOT (an Sv39-shaped 3-level tree below it)
  const ROOT4 = BASE + 0x13000;
  setPte(h, ROOT4, 0, ROOT, V);
  // Below it the same tree as machine(): identity gigapage for the code, VA window.
  setPte(h, ROOT, 2, BASE - (BASE % (1 << 30)), V | R | W | X | AB | D);
  setPte(h, ROOT, 1, L1, V);
  setPte(h, L1, 0, L0, V);
  setPte(h, L0, 0, DATA, V | R | AB);
  h.ram64[(DATA - BASE) / 8] = 4242n;
  load(h, BASE, [
    ...li(5, (9n << 60n) | BigInt(ROOT4 / 4096)),
    A.csrrw(0, 0x180, 5),
    ...li(5, 1n << 11n),
    A.csrrw(0, 0x300, 5),
    ...li(5, BigInt(BASE + 0x1000)),
    A.csrrw(0, 0x341, 5),
    A.mret(),
  ]);
  load(h, BASE + 0x1000, [...li(6, BigInt(VA)), A.ld(7, 0, 6), ...A.exit()]);
  runToExit(h);
  assert.equal(h.x[7], 4242n);
});

Deno.test("mmu: access faults for non-RAM physical addresses; MMIO through the bus", () => {
  const IO = 0x1000_0000;
  const bus = recordingBus(IO);
  const h = makeHart({ bus });
  h.csrWrite(0x305, BigInt(MTVEC));
  load(h, MTVEC, A.exit());
  load(h, BASE, [
    ...li(6, BigInt(IO)),
    ...li(7, 0x1111222233334444n),
    A.sd(7, 8, 6), // 8-byte MMIO store: two 4-byte writes, low first
    A.ld(8, 8, 6),
    A.lbu(9, 9, 6),
    A.sh(7, 2, 6),
    ...li(10, 0x2000_0000n),
    A.lw(11, 0, 10), // nothing there: load access fault
  ]);
  runToExit(h);
  assert.deepEqual(bus.log, [
    "w4@8=33334444",
    "w4@c=11112222",
    "r4@8",
    "r4@c",
    "r1@9",
    "w2@2=4444",
  ]);
  assert.equal(h.x[8], 0x1111222233334444n);
  assert.equal(h.x[9], 0x44n);
  assert.equal(h.csrRead(0x342), 5n);
  assert.equal(h.csrRead(0x343), 0x2000_0000n);
  // store and fetch access faults
  const g = makeHart();
  g.csrWrite(0x305, BigInt(MTVEC));
  load(g, MTVEC, A.exit());
  load(g, BASE, [...li(6, 0x100n), A.sb(0, 0, 6)]);
  runToExit(g);
  assert.equal(g.csrRead(0x342), 7n);
  const f = makeHart();
  f.csrWrite(0x305, BigInt(MTVEC));
  load(f, MTVEC, A.exit());
  load(f, BASE, [...li(6, 0x1000n), A.jalr(0, 6, 0)]);
  runToExit(f);
  assert.equal(f.csrRead(0x342), 1n);
  assert.equal(f.csrRead(0x343), 0x1000n);
});

Deno.test("mmu: a page-table entry outside RAM is an access fault", () => {
  const h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)]);
  setPte(h, L1, 0, 0x1000_0000, V); // next-level table in non-RAM space
  runToExit(h);
  assert.equal(h.csrRead(0x342), 5n);
});

Deno.test("mmu: global bit and G-flagged pages still translate", () => {
  const h = machine([...li(6, BigInt(VA)), A.ld(7, 0, 6)]);
  setPte(h, L0, 0, DATA, V | R | G | AB);
  h.ram64[(DATA - BASE) / 8] = 3n;
  runToExit(h);
  assert.equal(h.x[7], 3n);
});

Deno.test("mmu: setting MXR after a failed load lets the same page be read (no stale TLB)", () => {
  const h = machine([
    ...li(6, BigInt(VA)),
    ...li(5, 1n << 19n),
    A.csrrs(0, 0x100, 5), // MXR on
    A.ld(7, 0, 6), // X-only page readable now
    A.csrrc(0, 0x100, 5), // MXR off
    A.ld(8, 0, 6), // faults again (the entry filled under MXR must be gone)
  ]);
  setPte(h, L0, 0, DATA, V | X | AB | D);
  h.ram64[(DATA - BASE) / 8] = 6n;
  runToExit(h);
  assert.equal(h.x[7], 6n);
  assert.equal(h.x[8], 0n);
  assert.equal(h.csrRead(0x342), 13n);
});

Deno.test("mmu: sfence.vma by address drops that page's translation", () => {
  const h = machine([
    ...li(6, BigInt(VA + 0x1000)),
    A.ld(7, 0, 6),
    ...li(9, BigInt(L0 + 8)),
    ...li(10, (BigInt((DATA + 0x2000) / 4096) << 10n) | BigInt(V | R | AB)),
    A.sd(10, 0, 9), // L0[1] now points elsewhere
    A.sfence(6, 0), // fence that address only
    A.ld(8, 0, 6),
  ]);
  setPte(h, L0, 1, DATA, V | R | AB);
  h.ram64[(DATA - BASE) / 8] = 1n;
  h.ram64[(DATA + 0x2000 - BASE) / 8] = 2n;
  runToExit(h);
  assert.equal(h.x[7], 1n);
  assert.equal(h.x[8], 2n);
});

Deno.test("mmu: sfence.vma by an address inside a superpage drops the whole superpage", () => {
  // A 2 MiB page at VA 0x4020_0000; use its page at +0x5000, then remap the
  // megapage and fence a *different* address inside it.
  const h = machine([
    ...li(6, BigInt(VA + 0x20_0000 + 0x5000)),
    A.ld(7, 0, 6),
    ...li(9, BigInt(L1 + 8)),
    ...li(10, (BigInt((BASE + 0x20_0000) / 4096) << 10n) | BigInt(V | R | AB)),
    A.sd(10, 0, 9),
    ...li(11, BigInt(VA + 0x20_0000 + 0x1_0000)),
    A.sfence(11, 0),
    A.ld(8, 0, 6),
  ]);
  setPte(h, L1, 1, BASE, V | R | AB);
  h.ram64[0x5000 / 8] = 0x1111n;
  h.ram64[(0x20_0000 + 0x5000) / 8] = 0x2222n;
  runToExit(h);
  assert.equal(h.x[7], 0x1111n);
  assert.equal(h.x[8], 0x2222n);
});
