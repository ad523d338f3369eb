// Lockstep: random RV64IMC programs run on two harts with the same start
// state — one interpreted (tier 0, the reference), one through the translator
// (cpu/jit/, threshold 1) — in batches of random size; after every batch the
// registers, pc and instret must agree, and at the end also the data memory and
// the trap (cause, epc, tval). The programs mix every translated instruction
// class with loads/stores (some crossing a page, some faulting), forward
// branches, counted loops (back-edges), jal/jalr, untranslated instructions
// (CSR reads), budget exits and code across two pages; once more in S-mode
// under Sv57 with the data at 0xff60… (beyond 2^53: cpu/mmu.ts's wide
// addresses, which the interpreter's slow path fills and translated code
// then uses). A second test
// rewrites code the translator has already translated; a third stops a
// translated endless loop from another thread. Read next: cpu/jit/tier.ts.

import assert from "../../../testing/assert.ts";
import { Hart, RUN_BUDGET, RUN_WFI } from "../../../cpu/hart.ts";
import { encB, encI, encJ, encR, encS, encU, OP } from "../../../cpu/decode.ts";
import { compressedTable } from "../../../cpu/compressed.ts";
import { createJitHart, createJitMemory, Jit } from "../../../cpu/jit/tier.ts";

const BASE = 0x8000_0000;
const RAM = 64 << 10;
// Code: two pages (programs may straddle them); data: two pages.
const TRAP = BASE, CODE = BASE + 0x1000, DATA = BASE + 0x3000;
const DPTR = 10, LOOPR = 9, TMP = 11; // x10 points into the data, x9 counts loops, x11 scratch

/** xorshift32: reproducible from the seed in the test name. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    u32: next,
    int: (n: number) => next() % n,
    pick: <T>(a: readonly T[]): T => a[next() % a.length],
  };
}

type Slot =
  | { w: number } // a 32-bit instruction
  | { h: number } // a 16-bit one
  | { br: number; f3: number; rs1: number; rs2: number; to: number } // to: slot index
  | { jal: number; to: number }
  | { auipcJalr: number; rd: number; to: number }; // auipc x11; jalr rd, off(x11)

const size = (s: Slot) => ("h" in s ? 2 : "auipcJalr" in s ? 8 : 4);

function freeReg(r: ReturnType<typeof rng>): number {
  for (;;) {
    const x = 1 + r.int(31);
    if (x !== DPTR && x !== LOOPR && x !== TMP) return x;
  }
}

function aluSlot(r: ReturnType<typeof rng>): Slot {
  const rd = freeReg(r), rs1 = r.int(32), rs2 = r.int(32);
  const imm = r.int(4096) - 2048;
  switch (r.int(9)) {
    case 0: {
      const [f3, f7] = r.pick([
        [0, 0],
        [0, 32],
        [1, 0],
        [2, 0],
        [3, 0],
        [4, 0],
        [5, 0],
        [5, 32],
        [
          6,
          0,
        ],
        [7, 0],
        [0, 1],
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
        [5, 1],
        [6, 1],
        [7, 1],
      ]);
      return { w: encR(OP.OP, rd, f3, rs1, rs2, f7) };
    }
    case 1: {
      const [f3, f7] = r.pick([[0, 0], [0, 32], [1, 0], [5, 0], [5, 32], [0, 1], [4, 1], [5, 1], [
        6,
        1,
      ], [7, 1]]);
      return { w: encR(OP.OP_32, rd, f3, rs1, rs2, f7) };
    }
    case 2: {
      const f3 = r.pick([0, 2, 3, 4, 6, 7]);
      return { w: encI(OP.OP_IMM, rd, f3, rs1, imm) };
    }
    case 3: {
      const f3 = r.pick([1, 5]);
      const sh = r.int(64) | (f3 === 5 && r.int(2) ? 0x400 : 0);
      return { w: encI(OP.OP_IMM, rd, f3, rs1, sh) };
    }
    case 4: {
      const f3 = r.pick([0, 1, 5]);
      const v = f3 === 0 ? imm : r.int(32) | (f3 === 5 && r.int(2) ? 0x400 : 0);
      return { w: encI(OP.OP_IMM_32, rd, f3, rs1, v) };
    }
    case 5:
      return { w: encU(r.int(2) ? OP.LUI : OP.AUIPC, rd, r.u32() & ~0xfff) };
    case 6: { // a load through x10 (or, rarely, through any register: usually a fault)
      const f3 = r.pick([0, 1, 2, 3, 4, 5, 6]);
      const base = r.int(40) === 0 ? r.int(32) : DPTR;
      return { w: encI(OP.LOAD, rd, f3, base, r.int(8) === 0 ? 2047 - r.int(8) : imm) };
    }
    case 7: {
      const f3 = r.int(4);
      const base = r.int(60) === 0 ? r.int(32) : DPTR;
      return { w: encS(OP.STORE, f3, base, rs2, r.int(8) === 0 ? 2047 - r.int(8) : imm) };
    }
    default: { // a compressed ALU, load or store form (loads/stores based on x10 only)
      const tab = compressedTable();
      for (;;) {
        const hw = r.u32() & 0xffff;
        const e = tab[hw];
        if (e === 0 || (hw & 3) === 3) continue;
        const op = e & 0x7f, erd = (e >>> 7) & 31, ers1 = (e >>> 15) & 31;
        const alu = op === 0x13 || op === 0x1b || op === 0x33 || op === 0x3b || op === 0x37;
        const mem = (op === 0x03 || op === 0x23) && ers1 === DPTR;
        if (!alu && !mem) continue;
        if (op !== 0x23 && (erd === DPTR || erd === LOOPR || erd === TMP || erd === 2)) continue;
        if (alu && erd === 2) continue; // c.addi16sp: sp is just another register, keep it simple
        return { h: hw };
      }
    }
  }
}

/** An F/D instruction on f0..f7 (so values meet), any rounding mode, now and then a reserved one. */
function fpSlot(r: ReturnType<typeof rng>): Slot {
  const fr = () => r.int(8);
  const fmt = r.int(2);
  const rm = r.int(150) === 0 ? 5 + r.int(2) : r.pick([0, 1, 2, 3, 4, 7, 7, 7, 7, 0]);
  const fp = (f5: number, rd: number, f3: number, rs1: number, rs2: number) =>
    encR(0x53, rd, f3, rs1, rs2, (f5 << 2) | fmt);
  switch (r.int(14)) {
    case 0:
    case 1:
    case 2: // add sub mul div
      return { w: fp(r.int(4), fr(), rm, fr(), fr()) };
    case 3:
      return { w: fp(0x0b, fr(), rm, fr(), 0) }; // sqrt
    case 4: { // fused
      const op = r.pick([0x43, 0x47, 0x4b, 0x4f]);
      return {
        w: (fr() << 27) | (fmt << 25) | (fr() << 20) | (fr() << 15) | (rm << 12) | (fr() << 7) | op,
      };
    }
    case 5:
      return { w: fp(4, fr(), r.int(3), fr(), fr()) }; // sign injection
    case 6:
      return { w: fp(5, fr(), r.int(2), fr(), fr()) }; // min max
    case 7:
      return { w: fp(0x14, freeReg(r), r.int(3), fr(), fr()) }; // fle flt feq
    case 8:
      return { w: fp(0x18, freeReg(r), rm, fr(), r.int(4)) }; // fcvt.int.fp
    case 9:
      return { w: fp(0x1a, fr(), rm, r.int(32), r.int(4)) }; // fcvt.fp.int
    case 10:
      return { w: fp(8, fr(), rm, fr(), fmt ? 0 : 1) }; // fcvt.s.d / fcvt.d.s
    case 11:
      return { w: fp(0x1c, freeReg(r), r.int(2), fr(), 0) }; // fmv.x, fclass
    case 12:
      return { w: fp(0x1e, fr(), 0, r.int(32), 0) }; // fmv.w.x / fmv.d.x
    default: { // flw fld fsw fsd through x10
      const f3 = 2 + fmt, imm = r.int(8) === 0 ? r.int(4096) - 2048 : (r.int(512) - 256) * 8;
      return r.int(2)
        ? { w: encI(0x07, fr(), f3, DPTR, imm) }
        : { w: encS(0x27, f3, DPTR, fr(), imm) };
    }
  }
}

/** An AMO, LR or SC at x11 = x10 + a small offset (now and then misaligned). */
function amoSlots(r: ReturnType<typeof rng>): Slot[] {
  const wide = r.int(2);
  const off = (r.int(64) - 32) * 8 + (r.int(60) === 0 ? r.pick([1, 2, 4]) : 0);
  const f5 = r.pick([0, 1, 4, 8, 12, 16, 20, 24, 28, 2, 3, 2, 3]);
  const rs2 = f5 === 2 ? 0 : r.int(32);
  return [
    { w: encI(OP.OP_IMM, TMP, 0, DPTR, off) },
    { w: encR(0x2f, freeReg(r), 2 + wide, TMP, rs2, f5 << 2) },
  ];
}

/** frm/fflags/fcsr: a write of an immediate, or a read (untranslated: the interpreter runs them). */
function fcsrSlot(r: ReturnType<typeof rng>): Slot {
  const csr = r.pick([1, 2, 3]);
  // Mostly fflags = 0, so that a flag a translated instruction got wrong is seen before it is masked.
  if (r.int(2) === 0) return { w: encI(OP.SYSTEM, 0, 5, 0, 1) };
  return r.int(2)
    ? { w: encI(OP.SYSTEM, freeReg(r), 5, r.int(8), csr) } // csrrwi rd, csr, imm
    : { w: encI(OP.SYSTEM, freeReg(r), 2, 0, csr) }; // csrr rd, csr
}

/**
 * An sstatus access in S-mode: csrrw/s/c with a mask built in x11 (SUM, FS
 * and MXR need lui) or the immediate forms (SIE, SPIE and bit 0 only reach
 * there); FS only now and then (Off makes the FP instructions after it trap).
 */
function sstatusSlots(r: ReturnType<typeof rng>): Slot[] {
  const rd = r.int(3) === 0 ? 0 : freeReg(r);
  const f3 = r.pick([1, 2, 3, 5, 6, 7]);
  if (f3 >= 5) return [{ w: encI(OP.SYSTEM, rd, f3, r.pick([0, 2, 2, 2, 0x1f]), 0x100) }];
  const hi = (r.int(2) ? 1 << 18 : 0) | (r.int(8) === 0 ? r.int(4) << 13 : 0) |
    (r.int(10) === 0 ? 1 << 19 : 0);
  const lo = r.pick([0, 2, 2, 0x20, 0x100, 0x122]);
  return [
    { w: encU(OP.LUI, TMP, hi) },
    { w: encI(OP.OP_IMM, TMP, 0, TMP, lo) },
    { w: encI(OP.SYSTEM, rd, f3, f3 === 1 && r.int(2) ? 0 : TMP, 0x100) },
  ];
}

/** A program of about `n` slots ending in ebreak (with `sstatus`, some sstatus accesses). */
function program(r: ReturnType<typeof rng>, n: number, fpAmo = false, sstatus = false): Slot[] {
  const slots: Slot[] = [];
  const pending: number[] = []; // slots whose target is fixed up at the end
  while (slots.length < n) {
    const k = r.int(20);
    if (k === 0) { // counted loop: li x9, c; body; addi x9, x9, -1; bne x9, x0, body
      slots.push({ w: encI(OP.OP_IMM, LOOPR, 0, 0, 1 + r.int(6)) });
      const top = slots.length;
      for (let i = 0, m = 1 + r.int(6); i < m; i++) {
        if (fpAmo && r.int(2) === 0) slots.push(fpSlot(r));
        else slots.push(aluSlot(r));
      }
      slots.push({ w: encI(OP.OP_IMM, LOOPR, 0, LOOPR, -1) });
      slots.push({ br: 0, f3: 1, rs1: LOOPR, rs2: 0, to: top });
    } else if (k === 1) {
      slots.push({ br: 0, f3: r.pick([0, 1, 4, 5, 6, 7]), rs1: r.int(32), rs2: r.int(32), to: -1 });
      pending.push(slots.length - 1);
    } else if (k === 2) {
      slots.push({ jal: r.pick([0, 1, freeReg(r)]), to: -1 });
      pending.push(slots.length - 1);
    } else if (k === 3) {
      slots.push({ auipcJalr: 0, rd: r.pick([0, 1, freeReg(r)]), to: -1 });
      pending.push(slots.length - 1);
    } else if (k === 4) { // untranslated: csrr rd, mhartid / minstret
      slots.push({
        w: encI(
          OP.SYSTEM,
          freeReg(r),
          r.pick([2, 3]),
          0,
          r.pick([0xf14, 0xb02, 0xc00, 0xc01, 0xc02]),
        ),
      });
    } else if (fpAmo && k >= 5 && k <= 9) slots.push(fpSlot(r));
    else if (fpAmo && k === 10) slots.push(...amoSlots(r));
    else if (fpAmo && k === 11) slots.push(fcsrSlot(r));
    else if (sstatus && k >= 12 && k <= 13) slots.push(...sstatusSlots(r));
    else slots.push(aluSlot(r));
  }
  const end = slots.length;
  slots.push({ w: 0x00100073 }); // ebreak
  for (const i of pending) {
    const s = slots[i] as { to: number };
    s.to = i + 1 + r.int(Math.min(12, end - i));
  }
  return slots;
}

function assemble(slots: Slot[]): Uint8Array {
  const at: number[] = [];
  let off = 0;
  for (const s of slots) {
    at.push(off);
    off += size(s);
  }
  if (off > 4096) throw new Error("program does not fit a page");
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  slots.forEach((s, i) => {
    const o = at[i];
    if ("h" in s) dv.setUint16(o, s.h, true);
    else if ("w" in s) dv.setInt32(o, s.w, true);
    else if ("br" in s) dv.setInt32(o, encB(s.f3, s.rs1, s.rs2, at[s.to] - o), true);
    else if ("jal" in s) dv.setInt32(o, encJ(s.jal, at[s.to] - o), true);
    else {
      dv.setInt32(o, encU(OP.AUIPC, TMP, 0), true);
      dv.setInt32(o + 4, encI(OP.JALR, s.rd, 0, TMP, at[s.to] - o), true);
    }
  });
  return out;
}

function setup(h: Hart, code: Uint8Array, regs: bigint[], data: Uint8Array, at: number): void {
  const dv = new DataView(h.ram8.buffer);
  dv.setUint32(TRAP - BASE, 0x10500073, true); // wfi: a trap ends the run (RUN_WFI)
  dv.setUint32(TRAP - BASE + 4, 0xffdff06f, true);
  h.ram8.set(code, at - BASE);
  h.ram8.set(data, DATA - BASE);
  for (let i = 1; i < 32; i++) h.x[i] = regs[i];
  h.x[DPTR] = BigInt(DATA + 0x800);
  h.csrWrite(0x305, BigInt(TRAP)); // mtvec
  h.pc = BigInt(at);
}

/** The architectural state as named fields, in the order a difference is reported. */
function fields(h: Hart): [string, string][] {
  const out: [string, string][] = [["pc", h.pc.toString(16)], ["instret", String(h.instretN)]];
  for (let i = 0; i < 32; i++) out.push([`x${i}`, h.x[i].toString(16)]);
  for (let i = 0; i < 32; i++) out.push([`f${i}`, BigInt.asUintN(64, h.fpu.bits[i]).toString(16)]);
  out.push(["fflags", String(h.fpu.fflags)], ["frm", String(h.fpu.frm)]);
  out.push(["mstatus", h.mstatus.toString(16)], [
    "reservation",
    h.resValid ? String(h.resAddr) : "-",
  ]);
  return out;
}

/** "" when the two harts agree, else the first field that differs (jit first, then the interpreter). */
function snapshot(h: Hart, ref?: Hart): string {
  const a = fields(h);
  if (ref === undefined) return a.map(([k, v]) => `${k}=${v}`).join(" ");
  const b = fields(ref);
  for (let i = 0; i < a.length; i++) {
    if (a[i][1] !== b[i][1]) {
      return `first difference: ${a[i][0]} translated ${a[i][1]}, interpreter ${b[i][1]} ` +
        `(pc ${b[0][1]})`;
    }
  }
  return "";
}

/** FP register values that reach every path: specials, subnormals, boxed and badly boxed singles. */
const F_SPECIAL = [
  0n,
  1n << 63n,
  0x3ff0000000000000n, // 1
  0xbff8000000000000n, // -1.5
  0x7ff0000000000000n, // inf
  0xfff0000000000000n,
  0x7ff8000000000000n, // qNaN
  0x7ff0000000000001n, // sNaN
  1n, // smallest subnormal
  0x000fffffffffffffn,
  0x7fefffffffffffffn, // max
  0x7fe0000000000000n, // 2^1023: sums and products of these overflow
  0xffe8000000000000n, // -1.5 * 2^1023
  0x7fd8000000000000n,
  0xffffffff7f000000n, // boxed 2^127
  0x0010000000000000n, // min normal
  0x3fb999999999999an, // 0.1
  0x4330000000000001n, // 2^52 + 1
  0xffffffff3fc00000n, // boxed 1.5f
  0xffffffff80000000n, // boxed -0f
  0xffffffff7f800001n, // boxed sNaN
  0xffffffff00000001n, // boxed subnormal
  0xffffffff7f7fffffn, // boxed max single
  0xffffffff00800000n, // boxed min normal single
  0xffffffff4b800001n, // boxed 2^24 + 2
  0x000000003fc00000n, // an invalid box
];

/** Linux's Sv57 linear map: where the sv57 variant puts the data (a wide address). */
const HI = 0xff60_0000_0000_0000n;

/**
 * S-mode under Sv57: a 256 TiB identity leaf (code, trap page, tables) and
 * HI → root[0x160] → … → the two data pages; x10 points there.
 */
function enterSv57(h: Hart): void {
  const root = BASE + 0x8000;
  const pte = (table: number, idx: number, pa: number, flags: number) =>
    h.ram64[(table - BASE) / 8 + idx] = (BigInt(Math.floor(pa / 4096)) << 10n) | BigInt(flags);
  pte(root, 0, 0, 0xcf); // V R W X A D
  pte(root, 0x160, root + 0x1000, 1);
  pte(root + 0x1000, 0, root + 0x2000, 1);
  pte(root + 0x2000, 0, root + 0x3000, 1);
  pte(root + 0x3000, 0, root + 0x4000, 1);
  pte(root + 0x4000, 0, DATA, 0x07); // V R W: A and D set by the walks
  pte(root + 0x4000, 1, DATA + 0x1000, 0x07);
  h.csrWrite(0x180, (10n << 60n) | BigInt(root / 4096));
  h.priv = 1;
  h.x[DPTR] = BigInt.asIntN(64, HI + 0x800n);
}

/**
 * For the sstatus test: the first data page (where x10 points) becomes a user
 * page, reached in S-mode only while SUM is set (it is at the start), and on
 * every other seed a supervisor software interrupt is pending and enabled,
 * waiting for SIE (stvec: the trap page).
 */
function sstatusSetup(h: Hart, seed: number): void {
  const leaf = BASE + 0x8000 + 0x4000;
  h.ram64[(leaf - BASE) / 8] = (BigInt(DATA / 4096) << 10n) | 0x17n; // V R W U
  h.mstatus |= 1 << 18; // SUM
  h.csrWrite(0x105, BigInt(TRAP)); // stvec
  if (seed % 2 === 0) {
    h.csrWrite(0x303, 2n); // mideleg: SSI
    h.csrWrite(0x304, 2n); // mie: SSIE
    h.csrWrite(0x344, 2n); // mip: SSIP
  }
}

function pair(
  code: Uint8Array,
  seed: number,
  at = CODE,
  fp = false,
  sv57 = false,
  sstatus = false,
) {
  const r = rng(seed * 7919);
  const regs = [0n];
  for (let i = 1; i < 32; i++) {
    regs.push(BigInt.asIntN(64, (BigInt(r.u32()) << 32n) | BigInt(r.u32())) >> BigInt(r.int(64)));
  }
  const data = new Uint8Array(0x2000).map(() => r.int(256));
  const ref = new Hart({ ram: new SharedArrayBuffer(RAM), ramBase: BASE, sv57 });
  const mem = createJitMemory(RAM);
  const hj = createJitHart(mem, { ramBase: BASE, sv57 });
  const jit = new Jit(hj, mem, { threshold: 1 });
  setup(ref, code, regs, data, at);
  setup(hj, code, regs, data, at);
  if (sv57) { for (const h of [ref, hj]) enterSv57(h); }
  if (sstatus) { for (const h of [ref, hj]) sstatusSetup(h, seed); }
  if (fp) {
    const f: bigint[] = [];
    for (let i = 0; i < 32; i++) {
      f.push(
        r.int(3)
          ? r.pick(F_SPECIAL)
          : BigInt.asIntN(64, (BigInt(r.u32()) << 32n) | BigInt(r.u32())),
      );
    }
    // FS Initial (it must turn Dirty exactly when the interpreter makes it so); Off now and then.
    const fs = seed % 13 === 0 ? 0 : 1 << 13;
    const frm = r.pick([0, 0, 0, 1, 2, 3, 4]), fflags = r.int(4) === 0 ? 1 : 0;
    for (const h of [ref, hj]) {
      for (let i = 0; i < 32; i++) h.fpu.bits[i] = BigInt.asIntN(64, f[i]);
      h.mstatus |= fs;
      h.fpu.frm = frm;
      h.fpu.fflags = fflags;
    }
  }
  return { ref, hj, jit };
}

function lockstep(
  code: Uint8Array,
  seed: number,
  at: number,
  maxSteps = 20_000,
  fp = false,
  sv57 = false,
  sstatus = false,
): Jit {
  const { ref, hj, jit } = pair(code, seed, at, fp, sv57, sstatus);
  const r = rng(seed);
  for (let steps = 0; steps < maxSteps;) {
    const b = 1 + r.int(r.int(4) === 0 ? 400 : 12);
    const inCode = ref.pcN >= CODE && ref.pcN < CODE + 0x2000;
    const s1 = ref.run(b);
    const s2 = jit.run(b);
    steps += b;
    if (inCode && ref.pcN >= CODE && ref.pcN < CODE + 0x2000) {
      // No trap in this batch: the two tiers retired the same instructions.
      assert.equal(snapshot(hj, ref), "", `seed ${seed}: after ${steps} instructions`);
    }
    if (s1 === RUN_WFI || s2 === RUN_WFI) {
      assert.equal(s2, s1, `seed ${seed}: run() results`);
      break;
    }
    assert.equal(s1, RUN_BUDGET);
  }
  assert.equal(snapshot(hj, ref), "", `seed ${seed}: at the end`);
  for (const c of [0x342, 0x341, 0x343]) {
    assert.equal(hj.csrRead(c), ref.csrRead(c), `seed ${seed}: CSR 0x${c.toString(16)}`);
  }
  const d = DATA - BASE;
  assert.deepEqual(
    hj.ram8.slice(d, d + 0x2000),
    ref.ram8.slice(d, d + 0x2000),
    `seed ${seed}: data`,
  );
  return jit;
}

Deno.test("cpu jit lockstep: random RV64IMC programs agree with the interpreter", () => {
  let compiled = 0, entries = 0, chains = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const r = rng(seed);
    const code = assemble(program(r, 60 + r.int(300)));
    // Every other program starts near the end of the first code page, so it
    // runs across the page boundary (an instruction may straddle it).
    const at = seed % 2 ? CODE : CODE + 0x1000 - 2 * (1 + r.int(code.length / 2));
    const jit = lockstep(code, seed, at);
    compiled += jit.stats.compiles;
    entries += jit.stats.entries;
    chains += jit.stats.chains;
  }
  // The comparison means something only if translated code ran, and went
  // from one code page to the other inside wasm.
  assert.ok(compiled >= 100 && entries >= 1500, `compiles ${compiled}, entries ${entries}`);
  assert.ok(chains >= 1, `only ${chains} chained jumps`);
});

Deno.test("cpu jit lockstep: random RV64GC programs with F, D and A agree with the interpreter", () => {
  let compiled = 0, entries = 0, callouts = 0;
  for (let seed = 1; seed <= 120; seed++) {
    const r = rng(seed + 100_000);
    const code = assemble(program(r, 60 + r.int(250), true));
    const at = seed % 2 ? CODE : CODE + 0x1000 - 2 * (1 + r.int(code.length / 2));
    const jit = lockstep(code, seed + 100_000, at, 20_000, true);
    compiled += jit.stats.compiles;
    entries += jit.stats.entries;
    callouts += jit.stats.fpCallouts;
  }
  assert.ok(compiled >= 100 && entries >= 1500, `compiles ${compiled}, entries ${entries}`);
  assert.ok(callouts >= 100, `only ${callouts} FP call-outs: the slow paths were not reached`);
});

Deno.test("cpu jit lockstep: random programs in S-mode with Sv57 data beyond 2^53 agree", () => {
  let compiled = 0, exits = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed + 200_000);
    const code = assemble(program(r, 60 + r.int(250), seed % 2 === 0));
    const at = seed % 3 ? CODE : CODE + 0x1000 - 2 * (1 + r.int(code.length / 2));
    const jit = lockstep(code, seed + 200_000, at, 20_000, seed % 2 === 0, true);
    compiled += jit.stats.compiles;
    exits += jit.stats.interpExits;
  }
  // Translated code ran; its first access to each wide page left to the interpreter.
  assert.ok(compiled >= 40 && exits >= 200, `compiles ${compiled}, exits ${exits}`);
});

Deno.test("cpu jit lockstep: S-mode programs that write sstatus (SIE, SUM, FS, MXR) agree", () => {
  let compiled = 0, traps = 0;
  for (let seed = 1; seed <= 80; seed++) {
    const r = rng(seed + 300_000);
    const code = assemble(program(r, 60 + r.int(250), seed % 3 === 0, true));
    const at = seed % 3 ? CODE : CODE + 0x1000 - 2 * (1 + r.int(code.length / 2));
    const jit = lockstep(code, seed + 300_000, at, 20_000, seed % 3 === 0, true, true);
    compiled += jit.stats.compiles;
    if (jit.hart.csrRead(0x142) === (1n << 63n) + 1n) traps++; // scause: SSI taken
  }
  // Translated code ran, and the pending interrupt was taken where SIE was set.
  assert.ok(compiled >= 40, `compiles ${compiled}`);
  assert.ok(traps >= 10, `the software interrupt was taken in only ${traps} programs`);
});

/** loop: addi x9, x9, -1; addi x5, x5, 1; csrr x6, instret; bne x9, x0, loop; ebreak. */
function countedLoop(): Uint8Array {
  const words = [
    encI(OP.OP_IMM, LOOPR, 0, LOOPR, -1),
    encI(OP.OP_IMM, 5, 0, 5, 1),
    encI(OP.SYSTEM, 6, 2, 0, 0xc02),
    encB(1, LOOPR, 0, -12),
    0x00100073,
  ];
  return new Uint8Array(new Int32Array(words).buffer);
}

Deno.test("cpu jit lockstep: a loop across a page boundary chains both ways inside wasm", () => {
  // x9 = 1000; loop: addi x9, x9, -1; addi x5, x5, 1 | (next page) csrr x6, instret;
  // bne x9, x0, loop; ebreak — a fall-through into the second page and a back-edge into the first.
  const code = countedLoop();
  const at = CODE + 0x1000 - 8;
  const { ref, hj, jit } = pair(code, 3, at);
  for (const h of [ref, hj]) {
    h.x[LOOPR] = 1000n;
    h.x[5] = 0n;
  }
  for (let i = 0; i < 40; i++) {
    ref.run(111);
    jit.run(111);
    assert.equal(snapshot(hj, ref), "", `after batch ${i}`);
  }
  assert.equal(ref.x[5], 1000n);
  assert.ok(jit.stats.chains >= 1500, `only ${jit.stats.chains} chained jumps`);
});

Deno.test("cpu jit lockstep: an instruction across the page end runs translated, checked each time", () => {
  // loop: addi x9, x9, -1 | addi x5, x5, 1 across the page end | csrr x6, instret;
  // bne x9, x0, loop; ebreak. Before, every pass left wasm for the interpreter
  // at the straddling instruction (in-guest md5sum: 1.7 M exits).
  const code = countedLoop();
  const at = CODE + 0x1000 - 6; // the second word at offset 0xffe
  const { ref, hj, jit } = pair(code, 5, at);
  for (const h of [ref, hj]) {
    h.x[LOOPR] = 2000n;
    h.x[5] = 0n;
  }
  for (let i = 0; i < 10; i++) {
    ref.run(111);
    jit.run(111);
    assert.equal(snapshot(hj, ref), "", `after batch ${i}`);
  }
  const exits = jit.stats.interpExits;
  assert.ok(exits <= 2, `${exits} exits to the interpreter`);
  // Its upper half (the immediate) changes in the next page, behind the
  // hart's back: the translated first page must see it (addi x5, x5, 2).
  const hi = encI(OP.OP_IMM, 5, 0, 5, 2) >>> 16;
  for (const h of [ref, hj]) new DataView(h.ram8.buffer).setUint16(CODE + 0x1000 - BASE, hi, true);
  const before = ref.x[5], left = ref.x[LOOPR];
  for (let i = 0; i < 70; i++) {
    ref.run(111);
    jit.run(111);
    assert.equal(snapshot(hj, ref), "", `after the change, batch ${i}`);
  }
  assert.equal(ref.x[LOOPR], 0n);
  assert.equal(ref.x[5], before + 2n * left, "the new immediate ran");
});

Deno.test("cpu jit lockstep: a store over translated code is seen at once", () => {
  // x5 = the word of `addi a1, a1, 100`; loop twice: run the slot, then overwrite it.
  const slot = encI(OP.OP_IMM, 12, 0, 12, 1); // addi a2, a2, 1 (replaced by ...100)
  const words = [
    encI(OP.OP_IMM, LOOPR, 0, 0, 3), //          li x9, 3
    encU(OP.AUIPC, TMP, 0), //                   auipc x11, 0
    slot, //                                     the slot (offset 8)
    encS(OP.STORE, 2, TMP, 5, 4), //             sw x5, 4(x11)
    encI(OP.OP_IMM, LOOPR, 0, LOOPR, -1), //     addi x9, x9, -1
    encB(1, LOOPR, 0, -16), //                   bne x9, x0, slot
    0x00100073, //                               ebreak
  ];
  const code = new Uint8Array(new Int32Array(words).buffer);
  const { ref, hj, jit } = pair(code, 1);
  for (const h of [ref, hj]) {
    h.x[5] = BigInt(encI(OP.OP_IMM, 12, 0, 12, 100));
    h.x[12] = 0n;
  }
  assert.equal(ref.run(1000), RUN_WFI);
  assert.equal(jit.run(1000), RUN_WFI);
  assert.equal(ref.x[12], 201n); // 1 + 100 + 100
  assert.equal(snapshot(hj), snapshot(ref));
  assert.ok(jit.stats.invalidations >= 1, "the store dropped the translation");
});

Deno.test("cpu jit: another thread's stop word ends a translated loop that never ends by itself", async () => {
  // addi x5, x5, 1; j -4 — a run whose back-edge goes through the dispatcher forever.
  const code = new Uint8Array(new Int32Array([encI(OP.OP_IMM, 5, 0, 5, 1), encJ(0, -4)]).buffer);
  const { hj, jit } = pair(code, 2);
  hj.x[5] = 0n;
  // The worker waits until x5 (in the shared memory) shows the loop running
  // translated, then sets the stop word.
  const worker = new Worker(
    URL.createObjectURL(
      new Blob([
        `self.onmessage = (e) => { const { buf, idx, x5 } = e.data; const m = new Int32Array(buf);
           while (Atomics.load(m, x5) < 100000) {}
           Atomics.store(m, idx, 1); self.postMessage(0); };`,
      ], { type: "application/javascript" }),
    ),
    { type: "module" },
  );
  const stored = new Promise((res) => worker.onmessage = res);
  worker.postMessage({ buf: hj.ram8.buffer, idx: jit.stopIndex, x5: hj.x.byteOffset / 4 + 10 });
  const t0 = performance.now();
  assert.equal(jit.run(6e9), RUN_BUDGET); // without the stop word: seconds
  const ms = performance.now() - t0;
  await stored;
  worker.terminate();
  // One wasm call alone may run 2^31 instructions (seconds): this returned at the stop word.
  assert.ok(ms < 800, `took ${ms} ms`);
  assert.ok(hj.x[5] >= 100000n && hj.pcN >= CODE && hj.pcN < CODE + 8, `x5 ${hj.x[5]}`);
  assert.equal(BigInt(hj.instretN), hj.x[5] * 2n - (hj.pcN === CODE ? 0n : 1n));
  // The word was cleared: the next run goes on as asked.
  assert.equal(jit.run(5000), RUN_BUDGET);
});
