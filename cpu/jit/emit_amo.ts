// The translator's A extension (called from cpu/jit/emit.ts): LR/SC and the
// AMOs as wasm atomic instructions on the shared memory (i32/i64
// `atomic.rmw.*`, a `cmpxchg` loop for min/max), so they stay atomic when
// more harts run on the same RAM. The address goes through the same software
// TLB as a store (LR: a load); misaligned, a miss that faults, MMIO or a code
// page leaves to the interpreter, which raises exactly what it always does.
// The reservation (Hart.resValid/resAddr/resValue) lives in scratch words that
// the driver (cpu/jit/tier.ts) fills before each call and reads back after it:
// valid, the reserved RAM offset (-1: none in RAM), and the value LR read. SC
// is a cmpxchg against that value, so another hart's store in between fails
// it (docs/smp.md), as in the interpreter.
// Read next: cpu/jit/tier.ts.

import { type InsnEmitter } from "./emit_fp.ts";
import { A, I64, VOID, W } from "./wasm.ts";

export const SCRATCH_RES_VALID = 40, SCRATCH_RES_OFF = 44;
/** The value LR read, sign-extended (i64); after the counters in emit.ts's scratch. */
export const SCRATCH_RES_VALUE = 88;

/** funct5 → [i32 rmw, i64 rmw] for the AMOs wasm has an instruction for. */
const RMW: Record<number, [number, number]> = {
  0: [A.i32_add, A.i64_add],
  1: [A.i32_xchg, A.i64_xchg],
  4: [A.i32_xor, A.i64_xor],
  8: [A.i32_or, A.i64_or],
  12: [A.i32_and, A.i64_and],
};

/** LR, SC, or an AMO of a legal width and funct5 (else: the interpreter, which raises illegal). */
export function amoTranslatable(x: number): boolean {
  const f3 = (x >>> 12) & 7, f5 = x >>> 27;
  if ((x & 0x7f) !== 0x2f || (f3 !== 2 && f3 !== 3)) return false;
  if (f5 === 2) return ((x >>> 20) & 31) === 0;
  return [0, 1, 3, 4, 8, 12, 16, 20, 24, 28].includes(f5);
}

export function emitAmo(e: InsnEmitter, x: number): void {
  const c = e.c;
  const rd = (x >>> 7) & 31, rs1 = (x >>> 15) & 31, rs2 = (x >>> 20) & 31;
  const wide = ((x >>> 12) & 7) === 3, f5 = x >>> 27;
  const size = wide ? 8 : 4, align = wide ? 3 : 2;
  const resValid = e.SC + SCRATCH_RES_VALID, resOff = e.SC + SCRATCH_RES_OFF;
  const resValue = e.SC + SCRATCH_RES_VALUE;
  const setRd = () => { // value (i32 or i64) on the stack → x[rd], a word sign-extended
    if (!wide) c.op(W.i64_extend_i32_s);
    c.set(e.lQ);
    if (rd !== 0) {
      e.setXStart();
      c.get(e.lQ);
      e.setXEnd(rd);
    }
  };
  const rs2Value = () => {
    e.getX(rs2);
    if (!wide) c.op(W.i32_wrap_i64);
  };

  if (f5 === 2) { // LR: load, reserve
    e.access(false, size, rs1, 0, true);
    c.get(e.lOff).atomic(wide ? A.i64_load : A.i32_load, align, 0);
    setRd();
    e.base().get(e.lQ).mem(W.i64_store, 3, resValue);
    e.base().i32(1).mem(W.i32_store, 2, resValid);
    e.base().get(e.lOff).mem(W.i32_store, 2, resOff);
    return;
  }
  e.access(true, size, rs1, 0, true);
  if (f5 === 3) { // SC: store if the reservation is this address; it is gone either way
    e.base().mem(W.i32_load, 2, resValid);
    e.base().mem(W.i32_load, 2, resOff).get(e.lOff).op(W.i32_eq).op(W.i32_and);
    c.op(W.if).byte(I64);
    // cmpxchg(addr, what LR read, rs2) returns what was there: success iff it was LR's value.
    c.get(e.lOff);
    e.base().mem(wide ? W.i64_load : W.i32_load, wide ? 3 : 2, resValue);
    rs2Value();
    c.atomic(wide ? A.i64_cmpxchg : A.i32_cmpxchg, align, 0);
    e.base().mem(wide ? W.i64_load : W.i32_load, wide ? 3 : 2, resValue);
    c.op(wide ? W.i64_ne : W.i32_ne);
    c.op(W.i64_extend_i32_u);
    c.op(W.else);
    c.i64(1);
    c.op(W.end);
    c.set(e.lQ);
    e.base().i32(0).mem(W.i32_store, 2, resValid);
    if (rd !== 0) {
      e.setXStart();
      c.get(e.lQ);
      e.setXEnd(rd);
    }
    return;
  }
  const rmw = RMW[f5];
  if (rmw !== undefined) {
    c.get(e.lOff);
    rs2Value();
    c.atomic(rmw[wide ? 1 : 0], align, 0);
    setRd();
    return;
  }
  // min max minu maxu: old = load; new = pick(old, b); retry until cmpxchg sees old.
  const lt = wide
    ? (f5 === 16 || f5 === 20 ? W.i64_lt_s : W.i64_lt_u)
    : (f5 === 16 || f5 === 20 ? W.i32_lt_s : W.i32_lt_u);
  const isMin = f5 === 16 || f5 === 24;
  // lP = b (as i64; a word is compared on its low 32 bits)
  e.getX(rs2);
  c.set(e.lP);
  c.op(W.loop).byte(VOID);
  c.get(e.lOff).atomic(wide ? A.i64_load : A.i32_load, align, 0);
  if (!wide) c.op(W.i64_extend_i32_u);
  c.set(e.lQ); // old (a word zero-extended in lQ while looping)
  c.get(e.lOff);
  c.get(e.lQ);
  if (!wide) c.op(W.i32_wrap_i64);
  // new = (old < b) === isMin ? old : b
  const old = () => {
    c.get(e.lQ);
    if (!wide) c.op(W.i32_wrap_i64);
  };
  const b = () => {
    c.get(e.lP);
    if (!wide) c.op(W.i32_wrap_i64);
  };
  if (isMin) {
    old();
    b();
    old();
    b();
  } else {
    old();
    b();
    b();
    old();
  }
  // min: select(old, b, old < b); max: select(old, b, b < old)
  c.op(lt).op(W.select);
  c.atomic(wide ? A.i64_cmpxchg : A.i32_cmpxchg, align, 0);
  if (!wide) c.op(W.i64_extend_i32_u);
  c.get(e.lQ).op(W.i64_ne).op(W.br_if).u32(0);
  c.op(W.end);
  c.get(e.lQ);
  if (!wide) c.op(W.i32_wrap_i64);
  setRd();
}
