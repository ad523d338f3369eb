// The translator's F and D extensions (called from cpu/jit/emit.ts): FP loads
// and stores through the same software TLB as the integer ones, moves,
// sign-injection, min/max, compares, conversions, and add/sub/mul/div/sqrt/fma
// in round-to-nearest-even on wasm doubles. The arithmetic fast paths are the
// interpreter's (cpu/fpu.ts "Fast paths"), transcribed: each helper returns
// the result and ORs NX/OF into the fflags word when it can prove the result
// and the flags exact (TwoSum, Dekker's TwoProduct, the same guards), and
// returns NaN otherwise — then, and for every other rounding mode, NaN
// operand or rare instruction, the page function calls `fpx(insn)`, which is
// Fpu.execute itself (exact flags, NaN-boxing, softfloat). So fflags and every
// result bit come out exactly as in the interpreter.
//
// State in the shared memory: f0..f31 (HART_STATE.F, the Fpu's own registers)
// and four scratch words the driver (cpu/jit/tier.ts) fills before each call
// and reads after it: fflags, frm, "FS is Off" and "FS became dirty".
// Read next: cpu/jit/emit_amo.ts.

import { type Code, I32, I64, VOID, W } from "./wasm.ts";

/** Scratch word offsets (from the scratch base, see emit.ts). */
export const SCRATCH_FFLAGS = 24, SCRATCH_FRM = 28, SCRATCH_FSOFF = 32, SCRATCH_DIRTY = 36;

const NX = 1, OF = 4;
const SPLIT = 134217729; // 2^27 + 1
const LO_GUARD = 2 ** -400, HI_GUARD = 2 ** 400;
const FMA_LO = 2 ** -960, FMA_HI = 2 ** 1000;
const MIN_NORMAL_S = 1.1754943508222875e-38;
const BOX = -4294967296; // 0xffffffff00000000 as i64
const F64T = 0x7c;

/** What emit.ts gives the FP and AMO emitters for the instruction being translated. */
export interface InsnEmitter {
  c: Code;
  /** Byte offsets of x0 and f0 in memory; of the scratch words. */
  X: number;
  F: number;
  SC: number;
  /** Function indices of the call-out and of the first FP helper. */
  fnFpx: number;
  fnFp0: number;
  /** Locals free for an instruction's use: two f64, two i64 (besides L_OFF, the access's result). */
  lF: number;
  lG: number;
  lQ: number;
  lP: number;
  lOff: number;
  getX(r: number): void;
  /**
   * Push this hart's base: X, F and SC are hart 0's offsets, and every access
   * to them adds it (emit.ts L_HB), so a page's module serves every hart.
   */
  base(): Code;
  setXStart(): void;
  setXEnd(r: number): void;
  /** Leave to the interpreter at this instruction (it has not executed). */
  exit(): void;
  /** RAM offset of x[rs1] + imm into lOff, or leave (page crossing, misaligned when `aligned`, miss, fault). */
  access(store: boolean, size: number, rs1: number, imm: number, aligned?: boolean): void;
  /** Leave if mstatus.FS is Off (once per run). */
  fpGate(): void;
  /** This instruction wrote an f register: FS becomes Dirty (once per run). */
  fpDirty(): void;
}

// Helper order (function index = fnFp0 + h).
const H_PERR = 0, H_ADD_D = 1, H_MUL_D = 2, H_DIV_D = 3, H_SQRT_D = 4, H_FMA_D = 5;
const H_ADD_S = 6, H_FMA_S = 10; // then mulS 7, divS 8, sqrtS 9: the D order

export interface HelperFunc {
  type: number;
  locals: number[];
  body: Code;
}

/**
 * The FP helpers, in H_* order. `types`: indices of (f64)->f64,
 * (f64,f64)->f64, (f64,f64,f64)->f64. `make` builds an empty Code.
 */
export function fpHelpers(
  fp0: number,
  sc: number,
  types: { f1: number; f2: number; f3: number },
  make: () => Code,
  hbGlobal: number,
): HelperFunc[] {
  const out: HelperFunc[] = [];
  // (the hart base is the module's imported global here: helpers have no locals for it)
  const flags = (c: Code, bits: number) =>
    c.op(W.global_get).u32(hbGlobal).op(W.global_get).u32(hbGlobal)
      .mem(W.i32_load, 2, sc + SCRATCH_FFLAGS).i32(bits).op(W.i32_or)
      .mem(W.i32_store, 2, sc + SCRATCH_FFLAGS);
  const guard = (c: Code, l: number) =>
    c.get(l).op(W.f64_abs).f64(LO_GUARD).op(W.f64_gt)
      .get(l).op(W.f64_abs).f64(HI_GUARD).op(W.f64_lt).op(W.i32_and);
  const nan = (c: Code) => c.f64(NaN).op(W.return);
  const finite = (c: Code, l: number) => c.get(l).get(l).op(W.f64_sub).f64(0).op(W.f64_eq);
  const perr = (c: Code) => c.op(W.call).u32(fp0 + H_PERR);

  // perr(a, b, p): the error of p = a×b (Dekker). Locals t ah al bh bl.
  {
    const c = make();
    c.f64(SPLIT).get(0).op(W.f64_mul).set(3);
    c.get(3).get(3).get(0).op(W.f64_sub).op(W.f64_sub).set(4);
    c.get(0).get(4).op(W.f64_sub).set(5);
    c.f64(SPLIT).get(1).op(W.f64_mul).set(3);
    c.get(3).get(3).get(1).op(W.f64_sub).op(W.f64_sub).set(6);
    c.get(1).get(6).op(W.f64_sub).set(7);
    c.get(4).get(6).op(W.f64_mul).get(2).op(W.f64_sub);
    c.get(4).get(7).op(W.f64_mul).op(W.f64_add);
    c.get(5).get(6).op(W.f64_mul).op(W.f64_add);
    c.get(5).get(7).op(W.f64_mul).op(W.f64_add);
    out.push({ type: types.f3, locals: [F64T, F64T, F64T, F64T, F64T], body: c });
  }
  // addD(a, b) (sub: b negated by the caller). Locals r v.
  {
    const c = make();
    c.get(0).get(1).op(W.f64_add).set(2);
    finite(c, 2).op(W.i32_eqz).op(W.if).byte(VOID);
    c.get(2).get(2).op(W.f64_ne);
    finite(c, 0).op(W.i32_eqz).op(W.i32_or);
    finite(c, 1).op(W.i32_eqz).op(W.i32_or);
    c.op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    flags(c, OF | NX); // finite + finite overflowed: ±inf in RNE
    c.get(2).op(W.return);
    c.op(W.end);
    c.get(2).get(0).op(W.f64_sub).set(3);
    c.get(0).get(2).get(3).op(W.f64_sub).op(W.f64_sub).get(1).get(3).op(W.f64_sub).op(W.f64_add);
    c.f64(0).op(W.f64_ne).op(W.if).byte(VOID);
    flags(c, NX);
    c.op(W.end);
    c.get(2);
    out.push({ type: types.f2, locals: [F64T, F64T], body: c });
  }
  // mulD(a, b). Local r.
  {
    const c = make();
    guard(c, 0);
    guard(c, 1).op(W.i32_and).op(W.i32_eqz).op(W.if).byte(VOID);
    c.get(0).f64(0).op(W.f64_eq);
    finite(c, 1).op(W.i32_and);
    c.get(1).f64(0).op(W.f64_eq);
    finite(c, 0).op(W.i32_and).op(W.i32_or);
    c.op(W.if).byte(VOID).get(0).get(1).op(W.f64_mul).op(W.return).op(W.end);
    nan(c);
    c.op(W.end);
    c.get(0).get(1).op(W.f64_mul).set(2);
    c.get(0).get(1).get(2);
    perr(c).f64(0).op(W.f64_ne).op(W.if).byte(VOID);
    flags(c, NX);
    c.op(W.end);
    c.get(2);
    out.push({ type: types.f2, locals: [F64T], body: c });
  }
  // divD(a, b). Local r.
  {
    const c = make();
    guard(c, 0);
    guard(c, 1).op(W.i32_and).op(W.i32_eqz).op(W.if).byte(VOID);
    c.get(0).f64(0).op(W.f64_eq);
    finite(c, 1).op(W.i32_and);
    c.get(1).f64(0).op(W.f64_ne).op(W.i32_and);
    c.op(W.if).byte(VOID).get(0).get(1).op(W.f64_div).op(W.return).op(W.end);
    nan(c);
    c.op(W.end);
    c.get(0).get(1).op(W.f64_div).set(2);
    // inexact iff a - r×b differs from the exact error of r×b
    c.get(0).get(2).get(1).op(W.f64_mul).op(W.f64_sub);
    c.get(2).get(1).get(2).get(1).op(W.f64_mul);
    perr(c).op(W.f64_ne).op(W.if).byte(VOID);
    flags(c, NX);
    c.op(W.end);
    c.get(2);
    out.push({ type: types.f2, locals: [F64T], body: c });
  }
  // sqrtD(a). Local r.
  {
    const c = make();
    c.get(0).f64(LO_GUARD).op(W.f64_gt).get(0).f64(HI_GUARD).op(W.f64_lt).op(W.i32_and);
    c.op(W.i32_eqz).op(W.if).byte(VOID);
    c.get(0).f64(0).op(W.f64_eq).op(W.if).byte(VOID).get(0).op(W.return).op(W.end);
    nan(c);
    c.op(W.end);
    c.get(0).op(W.f64_sqrt).set(1);
    c.get(1).get(1).op(W.f64_mul).get(0).op(W.f64_ne);
    c.get(1).get(1).get(1).get(1).op(W.f64_mul);
    perr(c).f64(0).op(W.f64_ne).op(W.i32_or).op(W.if).byte(VOID);
    flags(c, NX);
    c.op(W.end);
    c.get(1);
    out.push({ type: types.f1, locals: [F64T], body: c });
  }
  // fmaD(a, b, c) (negations applied by the caller): cpu/fpu.ts fastFma.
  // Locals 3 p, 4 e, 5 s1, 6 v, 7 t1, 8 u, 9 u2, 10 r, 11 rErr, 12 d, 13 half, 14 bits(i64).
  {
    const c = make();
    guard(c, 0);
    guard(c, 1).op(W.i32_and);
    c.get(2).op(W.f64_abs).f64(FMA_HI).op(W.f64_lt).op(W.i32_and);
    c.op(W.i32_eqz).op(W.if).byte(VOID);
    c.get(0).f64(0).op(W.f64_eq).get(1).f64(0).op(W.f64_eq).op(W.i32_or);
    finite(c, 0).op(W.i32_and);
    finite(c, 1).op(W.i32_and);
    finite(c, 2).op(W.i32_and);
    c.op(W.if).byte(VOID);
    c.get(0).get(1).op(W.f64_mul).get(2).op(W.f64_add).op(W.return);
    c.op(W.end);
    nan(c);
    c.op(W.end);
    const sub = () => c.op(W.f64_sub), add = () => c.op(W.f64_add);
    c.get(0).get(1).op(W.f64_mul).set(3);
    c.get(0).get(1).get(3);
    perr(c).set(4);
    c.get(3).get(2);
    add();
    c.set(5);
    c.get(5).get(3);
    sub();
    c.set(6);
    c.get(3).get(5).get(6);
    sub();
    sub();
    c.get(2).get(6);
    sub();
    add();
    c.set(7); // t1
    c.get(7).get(4);
    add();
    c.set(8); // u
    c.get(8).get(7);
    sub();
    c.set(6);
    c.get(7).get(8).get(6);
    sub();
    sub();
    c.get(4).get(6);
    sub();
    add();
    c.set(9); // u2
    c.get(5).get(8);
    add();
    c.set(10); // r
    c.get(10).get(5);
    sub();
    c.set(6);
    c.get(5).get(10).get(6);
    sub();
    sub();
    c.get(8).get(6);
    sub();
    add();
    c.set(11); // rErr
    c.get(10).op(W.f64_abs).f64(FMA_LO).op(W.f64_gt);
    c.get(10).op(W.f64_abs).f64(FMA_HI).op(W.f64_lt).op(W.i32_and).op(W.i32_eqz);
    c.op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    c.get(11).get(9);
    add();
    c.set(12); // d
    c.get(12).f64(0).op(W.f64_ne).op(W.if).byte(VOID);
    c.get(10).op(W.i64_reinterpret_f64).set(14);
    // half an ulp of r: exponent - 53, mantissa 0
    c.get(14).i64(52).op(W.i64_shr_u).i64(0x7ff).op(W.i64_and).i64(53).op(W.i64_sub);
    c.i64(52).op(W.i64_shl).op(W.f64_reinterpret_i64).set(13);
    // below a power of two the spacing halves
    c.get(14).byte(W.i64_const).sBig(0xfffffffffffffn).op(W.i64_and).op(W.i64_eqz);
    c.get(12).f64(0).op(W.f64_lt).get(10).f64(0).op(W.f64_lt).op(W.i32_xor).op(W.i32_and);
    c.op(W.if).byte(VOID).get(13).f64(2).op(W.f64_div).set(13).op(W.end);
    c.get(12).op(W.f64_abs).get(13).op(W.f64_lt).op(W.i32_eqz).op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    flags(c, NX);
    c.op(W.end);
    c.get(10);
    const L = [];
    for (let i = 0; i < 11; i++) L.push(F64T);
    L.push(I64);
    out.push({ type: types.f3, locals: L, body: c });
  }
  // Singles (operands are the singles as doubles): compute in binary64, round
  // once more with f32.demote (innocuous double rounding for these five, as
  // Math.fround in fastS); inexact results only above the smallest normal.
  const tailS = (c: Code, r: number, inexact: number) => {
    c.get(inexact).op(W.if).byte(VOID);
    c.get(r).op(W.f64_abs).f64(MIN_NORMAL_S).op(W.f64_gt).op(W.i32_eqz).op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    flags(c, NX);
    c.op(W.end);
    c.get(r);
  };
  const roundS = (c: Code, s: number, r: number) => {
    c.get(s).op(W.f32_demote_f64).op(W.f64_promote_f32).set(r);
    finite(c, r).op(W.i32_eqz).op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
  };
  // addS(a, b): locals 2 s, 3 r, 4 v, 5 inexact(i32)
  {
    const c = make();
    c.get(0).get(1).op(W.f64_add).set(2);
    roundS(c, 2, 3);
    c.get(2).get(0).op(W.f64_sub).set(4);
    c.get(3).get(2).op(W.f64_ne);
    c.get(0).get(2).get(4).op(W.f64_sub).op(W.f64_sub).get(1).get(4).op(W.f64_sub).op(W.f64_add);
    c.f64(0).op(W.f64_ne).op(W.i32_or).set(5);
    tailS(c, 3, 5);
    out.push({ type: types.f2, locals: [F64T, F64T, F64T, I32], body: c });
  }
  // mulS, divS: locals 2 s, 3 r, 4 inexact
  for (const div of [false, true]) {
    const c = make();
    c.get(0).get(1).op(div ? W.f64_div : W.f64_mul).set(2);
    roundS(c, 2, 3);
    if (div) c.get(3).get(1).op(W.f64_mul).get(0).op(W.f64_ne).set(4);
    else c.get(3).get(2).op(W.f64_ne).set(4);
    tailS(c, 3, 4);
    out.push({ type: types.f2, locals: [F64T, F64T, I32], body: c });
  }
  // sqrtS(a): locals 1 s, 2 r, 3 inexact
  {
    const c = make();
    c.get(0).op(W.f64_sqrt).set(1);
    roundS(c, 1, 2);
    c.get(2).get(2).op(W.f64_mul).get(0).op(W.f64_ne).set(3);
    tailS(c, 2, 3);
    out.push({ type: types.f1, locals: [F64T, F64T, I32], body: c });
  }
  // fmaS(a, b, c): a×b is exact in binary64; p + c = s + t (TwoSum); the final
  // rounding is right unless s is a binary32 midpoint and t ≠ 0.
  // Locals 3 p, 4 s, 5 v, 6 t, 7 r, 8 inexact(i32)
  {
    const c = make();
    c.get(0).get(1).op(W.f64_mul).set(3);
    c.get(3).get(2).op(W.f64_add).set(4);
    finite(c, 4).op(W.i32_eqz).op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    c.get(4).get(3).op(W.f64_sub).set(5);
    c.get(3).get(4).get(5).op(W.f64_sub).op(W.f64_sub).get(2).get(5).op(W.f64_sub).op(W.f64_add);
    c.set(6);
    c.get(6).f64(0).op(W.f64_ne);
    c.get(4).op(W.i64_reinterpret_f64).op(W.i32_wrap_i64).i32(0x1fffffff).op(W.i32_and);
    c.i32(0x10000000).op(W.i32_eq).op(W.i32_and).op(W.if).byte(VOID);
    nan(c);
    c.op(W.end);
    roundS(c, 4, 7);
    c.get(7).get(4).op(W.f64_ne).get(6).f64(0).op(W.f64_ne).op(W.i32_or).set(8);
    tailS(c, 7, 8);
    out.push({ type: types.f3, locals: [F64T, F64T, F64T, F64T, F64T, I32], body: c });
  }
  return out;
}

/** Does the translator handle this LOAD-FP/STORE-FP/OP-FP/FMADD.. instruction (else: interpreter)? */
export function fpTranslatable(x: number): boolean {
  const op = x & 0x7f, f3 = (x >>> 12) & 7;
  if (op === 0x07 || op === 0x27) return f3 === 2 || f3 === 3;
  // Every OP-FP and fused encoding of S or D: what the emitter does not do
  // in wasm it calls Fpu.execute for, which also finds the illegal ones.
  if (op === 0x53 || op === 0x43 || op === 0x47 || op === 0x4b || op === 0x4f) {
    return ((x >>> 25) & 3) <= 1;
  }
  return false;
}

/** Emit one FP instruction (fpTranslatable). */
export function emitFp(e: InsnEmitter, x: number): void {
  const c = e.c;
  const rd = (x >>> 7) & 31, rs1 = (x >>> 15) & 31, rs2 = (x >>> 20) & 31;
  const f3 = (x >>> 12) & 7, op = x & 0x7f;
  const dbl = ((x >>> 25) & 3) === 1;
  const fAddr = (r: number) => e.F + 8 * r;
  e.fpGate();

  if (op === 0x07) { // FLW / FLD
    e.access(false, f3 === 2 ? 4 : 8, rs1, x >> 20);
    e.base().get(e.lOff);
    if (f3 === 2) c.mem(W.i64_load32_u, 0, 0).i64(BOX).op(W.i64_or);
    else c.mem(W.i64_load, 0, 0);
    c.mem(W.i64_store, 3, fAddr(rd));
    e.fpDirty();
    return;
  }
  if (op === 0x27) { // FSW / FSD: the raw bits, no unboxing
    e.access(true, f3 === 2 ? 4 : 8, rs1, ((x >> 20) & ~31) | ((x >>> 7) & 31));
    c.get(e.lOff);
    if (f3 === 2) e.base().mem(W.i32_load, 2, fAddr(rs2)).mem(W.i32_store, 0, 0);
    else e.base().mem(W.i64_load, 3, fAddr(rs2)).mem(W.i64_store, 0, 0);
    return;
  }

  /** The call-out: Fpu.execute; non-zero = illegal, leave (nothing was changed). */
  const callout = () => {
    c.i32(x).op(W.call).u32(e.fnFpx).op(W.if).byte(VOID);
    e.exit();
    c.op(W.end);
  };
  /**
   * A fast path inside `block $done { block $slow { … } callout }`: `body`
   * runs at depth 0 = $slow (br_if 0 to give up); false = no fast path for
   * this encoding (rounding mode), decided before it emits anything.
   */
  const withSlow = (body: () => boolean) => {
    c.op(W.block).byte(VOID).op(W.block).byte(VOID);
    if (!body()) c.op(W.br).u32(0); // (decided before emitting anything)
    c.op(W.br).u32(1);
    c.op(W.end);
    callout();
    c.op(W.end);
  };
  /** Give up unless the rounding mode is RNE (static 0, or dynamic with frm 0). */
  const needRne = (rm: number): boolean => {
    if (rm === 7) {
      e.base().mem(W.i32_load, 2, e.SC + SCRATCH_FRM).op(W.br_if).u32(0);
      return true;
    }
    return rm === 0;
  };
  /** Give up on a reserved rounding mode (the instruction is illegal then). */
  const needValidRm = (rm: number): boolean => {
    if (rm === 7) {
      e.base().mem(W.i32_load, 2, e.SC + SCRATCH_FRM).i32(4).op(W.i32_gt_u).op(W.br_if).u32(0);
      return true;
    }
    return rm <= 4;
  };
  /** Push f_r as a double (a single is widened; an invalid box gives up: it reads as NaN). */
  const operand = (r: number, d = dbl) => {
    if (d) {
      e.base().mem(W.f64_load, 3, fAddr(r));
      return;
    }
    e.base().mem(W.i64_load, 3, fAddr(r)).set(e.lQ);
    c.get(e.lQ).i64(32).op(W.i64_shr_u).i64(0xffffffff).op(W.i64_ne).op(W.br_if).u32(0);
    c.get(e.lQ).op(W.i32_wrap_i64).op(W.f32_reinterpret_i32).op(W.f64_promote_f32);
  };
  /** Give up if the double on the stack is NaN; it stays on the stack. */
  const nanGivesUp = () => {
    c.tee(e.lF).get(e.lF).get(e.lF).op(W.f64_ne).op(W.br_if).u32(0);
  };
  /** Store the double on the stack (address pushed before) into f_rd, boxing a single. */
  const storeF = () => {
    if (dbl) c.mem(W.f64_store, 3, fAddr(rd));
    else {
      c.op(W.f32_demote_f64).op(W.i32_reinterpret_f32).op(W.i64_extend_i32_u);
      c.i64(BOX).op(W.i64_or).mem(W.i64_store, 3, fAddr(rd));
    }
  };

  if (op !== 0x53) { // FMADD FMSUB FNMSUB FNMADD
    const rs3 = x >>> 27;
    const negProd = op === 0x4b || op === 0x4f, negC = op === 0x47 || op === 0x4f;
    withSlow(() => {
      if (!needRne(f3)) return false;
      e.base();
      operand(rs1);
      if (negProd) c.op(W.f64_neg);
      operand(rs2);
      operand(rs3);
      if (negC) c.op(W.f64_neg);
      c.op(W.call).u32(e.fnFp0 + (dbl ? H_FMA_D : H_FMA_S));
      nanGivesUp();
      storeF();
      e.fpDirty();
      return true;
    });
    return;
  }

  switch (x >>> 27) {
    case 0x00: // FADD
    case 0x01: // FSUB
    case 0x02: // FMUL
    case 0x03: // FDIV
    case 0x0b: { // FSQRT
      const f5 = x >>> 27;
      if (f5 === 0x0b && rs2 !== 0) break;
      withSlow(() => {
        if (!needRne(f3)) return false;
        e.base();
        operand(rs1);
        if (f5 !== 0x0b) {
          operand(rs2);
          if (f5 === 1) c.op(W.f64_neg);
        }
        const h = f5 <= 1 ? H_ADD_D : f5 === 2 ? H_MUL_D : f5 === 3 ? H_DIV_D : H_SQRT_D;
        c.op(W.call).u32(e.fnFp0 + h + (dbl ? 0 : H_ADD_S - H_ADD_D));
        nanGivesUp();
        storeF();
        e.fpDirty();
        return true;
      });
      return;
    }
    case 0x04: { // FSGNJ / FSGNJN / FSGNJX: bit operations on the raw (unboxed) values
      if (f3 > 2) break;
      const raw = (r: number) => {
        e.base().mem(W.i64_load, 3, fAddr(r));
        if (!dbl) { // an invalid box reads as the canonical NaN
          c.set(e.lQ).get(e.lQ).i64(0xffffffff).op(W.i64_and).i64(0x7fc00000);
          c.get(e.lQ).i64(32).op(W.i64_shr_u).i64(0xffffffff).op(W.i64_eq).op(W.select);
        }
      };
      const signBit = dbl ? -(2 ** 63) : 0x80000000;
      e.base();
      raw(rs1);
      c.set(e.lP);
      c.get(e.lP).byte(W.i64_const).sBig(dbl ? (1n << 63n) - 1n : 0x7fffffffn).op(W.i64_and);
      if (f3 === 2) {
        c.get(e.lP);
        raw(rs2);
        c.op(W.i64_xor);
      } else {
        raw(rs2);
        if (f3 === 1) c.i64(-1).op(W.i64_xor);
      }
      if (dbl) c.byte(W.i64_const).sBig(-(1n << 63n));
      else c.i64(signBit);
      c.op(W.i64_and).op(W.i64_or);
      if (!dbl) c.i64(BOX).op(W.i64_or);
      c.mem(W.i64_store, 3, fAddr(rd));
      e.fpDirty();
      return;
    }
    case 0x05: // FMIN / FMAX: wasm's min/max order -0 < +0 and return an operand
      if (f3 > 1) break;
      withSlow(() => {
        e.base();
        operand(rs1);
        nanGivesUp();
        operand(rs2);
        nanGivesUp();
        c.op(f3 ? 0xa5 : 0xa4); // f64.max / f64.min
        storeF();
        e.fpDirty();
        return true;
      });
      return;
    case 0x08: // FCVT.S.D (fmt S, rs2 1) / FCVT.D.S (fmt D, rs2 0)
      if (rs2 !== (dbl ? 0 : 1)) break;
      withSlow(() => {
        if (dbl) {
          if (!needValidRm(f3)) return false;
          e.base();
          operand(rs1, false);
          nanGivesUp();
          storeF();
        } else {
          if (!needRne(f3)) return false;
          e.base();
          e.base().mem(W.f64_load, 3, fAddr(rs1)).set(e.lG); // a
          c.get(e.lG).op(W.f32_demote_f64).op(W.f64_promote_f32).set(e.lF); // r
          // normal (or a == 0) and finite, else the softfloat (underflow, overflow, NaN)
          c.get(e.lF).op(W.f64_abs).f64(MIN_NORMAL_S).op(W.f64_gt);
          c.get(e.lG).f64(0).op(W.f64_eq).op(W.i32_or);
          c.get(e.lF).get(e.lF).op(W.f64_sub).f64(0).op(W.f64_eq).op(W.i32_and);
          c.op(W.i32_eqz).op(W.br_if).u32(0);
          c.get(e.lF).get(e.lG).op(W.f64_ne).op(W.if).byte(VOID);
          orFlags(e, NX);
          c.op(W.end);
          c.get(e.lF);
          storeF();
        }
        e.fpDirty();
        return true;
      });
      return;
    case 0x14: // FLE FLT FEQ: ordered operands in wasm, NaNs (flags) in Fpu
      if (f3 > 2) break;
      withSlow(() => {
        if (rd !== 0) e.setXStart();
        operand(rs1);
        nanGivesUp();
        operand(rs2);
        nanGivesUp();
        c.op([W.f64_le, W.f64_lt, W.f64_eq][f3]);
        if (rd !== 0) {
          c.op(W.i64_extend_i32_u);
          e.setXEnd(rd);
        } else c.op(W.drop);
        return true;
      });
      return;
    case 0x18: { // FCVT.W/WU/L/LU from S or D
      if (rs2 > 3) break;
      const round = [W.f64_nearest, W.f64_trunc, W.f64_floor, W.f64_ceil][f3 === 7 ? 0 : f3];
      withSlow(() => {
        if (f3 === 7) needRne(7);
        else if (f3 > 3) return false;
        operand(rs1);
        c.set(e.lG);
        c.get(e.lG).op(W.f64_abs).f64(4503599627370496).op(W.f64_lt).op(W.i32_eqz);
        c.op(W.br_if).u32(0); // |a| < 2^52 (not NaN): the rounding is exact on doubles
        c.get(e.lG).op(round).set(e.lF);
        const lo = rs2 === 0 ? -2147483648 : rs2 === 2 ? -Infinity : 0;
        const hi = rs2 === 0 ? 2147483647 : rs2 === 1 ? 4294967295 : Infinity;
        if (lo !== -Infinity) c.get(e.lF).f64(lo).op(W.f64_lt).op(W.br_if).u32(0);
        if (hi !== Infinity) c.get(e.lF).f64(hi).op(W.f64_gt).op(W.br_if).u32(0);
        c.get(e.lF).get(e.lG).op(W.f64_ne).op(W.if).byte(VOID);
        orFlags(e, NX);
        c.op(W.end);
        if (rd !== 0) {
          e.setXStart();
          c.get(e.lF).op(W.i64_trunc_f64_s);
          if (rs2 === 1) c.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
          e.setXEnd(rd);
        }
        return true;
      });
      return;
    }
    case 0x1a: { // FCVT.S/D from W/WU/L/LU: exact when the value fits the significand
      if (rs2 > 3) break;
      withSlow(() => {
        if (!needValidRm(f3)) return false;
        e.getX(rs1);
        if (rs2 === 0) c.op(W.i32_wrap_i64).op(W.i64_extend_i32_s);
        if (rs2 === 1) c.op(W.i32_wrap_i64).op(W.i64_extend_i32_u);
        c.set(e.lQ);
        const limit = dbl ? 2 ** 53 : 2 ** 24;
        if (!(dbl && rs2 < 2)) {
          c.get(e.lQ);
          if (rs2 === 0 || rs2 === 2) c.i64(limit).op(W.i64_add).i64(2 * limit);
          else c.i64(limit);
          c.op(W.i64_gt_u).op(W.br_if).u32(0);
        }
        e.base().get(e.lQ).op(W.f64_convert_i64_s);
        storeF();
        e.fpDirty();
        return true;
      });
      return;
    }
    case 0x1c: // FMV.X.W / FMV.X.D (funct3 0); FCLASS (funct3 1) in Fpu
      if (rs2 !== 0 || f3 !== 0) break;
      if (rd !== 0) {
        e.setXStart();
        e.base().mem(dbl ? W.i64_load : W.i64_load32_s, dbl ? 3 : 2, fAddr(rs1));
        e.setXEnd(rd);
      }
      return;
    case 0x1e: // FMV.W.X / FMV.D.X
      if (rs2 !== 0 || f3 !== 0) break;
      e.base();
      e.getX(rs1);
      if (!dbl) c.i64(0xffffffff).op(W.i64_and).i64(BOX).op(W.i64_or);
      c.mem(W.i64_store, 3, fAddr(rd));
      e.fpDirty();
      return;
  }
  callout(); // FCLASS, and what is illegal: Fpu decides
}

/** csrrw/s/c(i) of fflags, frm or fcsr (the others stay with the interpreter). */
export function fcsrTranslatable(x: number): boolean {
  const f3 = (x >>> 12) & 7, csr = x >>> 20;
  return (x & 0x7f) === 0x73 && f3 !== 0 && f3 !== 4 && csr >= 1 && csr <= 3;
}

/** Emit an fflags/frm/fcsr access (fcsrTranslatable) on the scratch words, as cpu/csr.ts does it. */
export function emitFcsr(e: InsnEmitter, x: number): void {
  const c = e.c;
  const f3 = (x >>> 12) & 7, rd = (x >>> 7) & 31, rs1 = (x >>> 15) & 31, csr = x >>> 20;
  const isWrite = (f3 & 3) === 1 || rs1 !== 0;
  e.fpGate(); // FS Off: illegal
  const ff = e.SC + SCRATCH_FFLAGS, rm = e.SC + SCRATCH_FRM;
  // old value → lP
  if (csr === 1) e.base().mem(W.i32_load, 2, ff);
  else if (csr === 2) e.base().mem(W.i32_load, 2, rm);
  else {
    e.base().mem(W.i32_load, 2, rm).i32(5).op(W.i32_shl);
    e.base().mem(W.i32_load, 2, ff).op(W.i32_or);
  }
  c.op(W.i64_extend_i32_u).set(e.lP);
  if (isWrite) {
    // new value → lQ
    if ((f3 & 3) !== 1) c.get(e.lP);
    if (f3 >= 5) c.i64(rs1);
    else e.getX(rs1);
    if ((f3 & 3) === 2) c.op(W.i64_or);
    else if ((f3 & 3) === 3) c.i64(-1).op(W.i64_xor).op(W.i64_and);
    c.set(e.lQ);
    if (csr === 1 || csr === 3) {
      e.base().get(e.lQ).op(W.i32_wrap_i64).i32(31).op(W.i32_and).mem(W.i32_store, 2, ff);
    }
    if (csr === 2) e.base().get(e.lQ).op(W.i32_wrap_i64).i32(7).op(W.i32_and);
    if (csr === 3) {
      e.base().get(e.lQ).op(W.i32_wrap_i64).i32(5).op(W.i32_shr_u).i32(7).op(W.i32_and);
    }
    if (csr !== 1) c.mem(W.i32_store, 2, rm);
    e.fpDirty();
  }
  if (rd !== 0) {
    e.setXStart();
    c.get(e.lP);
    e.setXEnd(rd);
  }
}

function orFlags(e: InsnEmitter, bits: number): void {
  e.base();
  e.base().mem(W.i32_load, 2, e.SC + SCRATCH_FFLAGS).i32(bits).op(W.i32_or);
  e.c.mem(W.i32_store, 2, e.SC + SCRATCH_FFLAGS);
}
