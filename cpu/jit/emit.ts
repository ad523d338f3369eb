// The translator's back end: one physical page's runs (cpu/jit/frontend.ts)
// become one wasm function `run(hw, limit) -> exit code`. Shape:
//
//   loop $L                       ;; back-edges and in-page jalr come here
//     block $dflt  block $b(K-1) … block $b0
//       br_table hw → the leader's block (non-leaders → $dflt)
//     end $b0  run 0 …  end $b1  run 1 …  end $b(K-1)  run K-1
//     end $dflt  exit NOENTRY
//   end
//
// Forward branches in the page are a `br` to the target's block end; backward
// ones set hw and `br $L` (the dispatcher). Registers stay in memory (the
// hart's `x` array), so any exit is a `return` that copies nothing. Loads and
// stores go through the hart's own TLB arrays, also in that memory: tag compare
// (vpn as a double, as cpu/mmu.ts stores it), then add. A miss calls the host
// `fill` (the page walker); anything else leaves to the interpreter.
// Read next: cpu/jit/tier.ts.

import { TLB_MASK, TLB_SETS, TLB_SIZE } from "../mmu.ts";
import { HART_STATE } from "../hart.ts";
import { directTarget, type Insn, K_BRANCH, K_EXIT, K_JAL, K_JALR, type Run } from "./frontend.ts";
import { buildModule, Code, F64, I32, I64, VOID, W } from "./wasm.ts";

/** Exit codes of a page function. */
export const EXIT_JUMP = 0; // pc left the page (or a jalr target outside it)
export const EXIT_INTERP = 1; // the interpreter must execute the instruction at pc
export const EXIT_NOENTRY = 2; // pc is not a leader of this translation
export const EXIT_BUDGET = 3; // the instruction budget is used up

/**
 * Scratch words after the hart state: the exit pc (f64), instructions run
 * (i32), dBase*8 (i32, set by the caller), for EXIT_INTERP how many
 * instructions the interpreter should run (i32), and the stop word (i32):
 * non-zero asks translated code to leave at its next dispatch (any thread may
 * set it; Jit.requestExit).
 */
export const SCRATCH_PC = 0, SCRATCH_N = 8, SCRATCH_DBASE = 12, SCRATCH_STRETCH = 16;
export const SCRATCH_STOP = 20;
export const SCRATCH_BYTES = 64;

export interface Layout {
  /** Byte offset of the hart state (HART_STATE) in memory. */
  state: number;
  /** Byte offset of the scratch words. */
  scratch: number;
  /** Memory size in 64 KiB pages. */
  pages: number;
}

// Locals of the page function (0, 1 are the parameters).
const L_HW = 0, L_LIMIT = 1, L_N = 2, L_VA = 3, L_T = 4, L_A = 5, L_DB = 6, L_TI = 7, L_OFF = 8;
// The address of x0 (registers are `local.get L_XB` + a one-byte offset: the
// state lies past RAM, where a constant address would take 4-5 bytes each).
const L_XB = 9;
const LOCALS = [I32, I64, I64, I64, I32, I32, I32, I32];

// Function indices: the import, the helpers, the page function.
const F_FILL = 0, F_MULHU = 1, F_MULH = 2, F_MULHSU = 3, F_DIV = 4, F_DIVU = 5, F_REM = 6;
const F_REMU = 7, F_DIVW = 8, F_DIVUW = 9, F_REMW = 10, F_REMUW = 11, F_EXIT = 12;
const T_FILL = 0, T_BIN64 = 1, T_BIN32 = 2, T_PAGE = 3, T_EXIT = 4;

const TLB_BYTES = 8 * TLB_SETS * TLB_SIZE;

/** Helpers shared by every module: MULH* in 32-bit halves, DIV/REM with RISC-V's edge cases. */
function helpers(): { type: number; locals: number[]; body: Code }[] {
  const out: { type: number; locals: number[]; body: Code }[] = [];
  // mulhu(a, b): locals 2..5 = a0 a1 b0 b1, 6 = mid
  {
    const c = new Code();
    const M = 0xffffffff;
    c.get(0).i64(M).op(W.i64_and).set(2);
    c.get(0).i64(32).op(W.i64_shr_u).set(3);
    c.get(1).i64(M).op(W.i64_and).set(4);
    c.get(1).i64(32).op(W.i64_shr_u).set(5);
    // mid = (a0*b0 >>> 32) + (a0*b1 & M) + (a1*b0 & M)
    c.get(2).get(4).op(W.i64_mul).i64(32).op(W.i64_shr_u);
    c.get(2).get(5).op(W.i64_mul).i64(M).op(W.i64_and).op(W.i64_add);
    c.get(3).get(4).op(W.i64_mul).i64(M).op(W.i64_and).op(W.i64_add).set(6);
    // hi = a1*b1 + (a0*b1 >>> 32) + (a1*b0 >>> 32) + (mid >>> 32)
    c.get(3).get(5).op(W.i64_mul);
    c.get(2).get(5).op(W.i64_mul).i64(32).op(W.i64_shr_u).op(W.i64_add);
    c.get(3).get(4).op(W.i64_mul).i64(32).op(W.i64_shr_u).op(W.i64_add);
    c.get(6).i64(32).op(W.i64_shr_u).op(W.i64_add);
    out.push({ type: T_BIN64, locals: [I64, I64, I64, I64, I64], body: c });
  }
  // mulh(a, b) = mulhu - (a<0 ? b : 0) - (b<0 ? a : 0)
  {
    const c = new Code();
    c.get(0).get(1).op(W.call).u32(F_MULHU);
    c.get(1).i64(0).get(0).i64(0).op(W.i64_lt_s).op(W.select).op(W.i64_sub);
    c.get(0).i64(0).get(1).i64(0).op(W.i64_lt_s).op(W.select).op(W.i64_sub);
    out.push({ type: T_BIN64, locals: [], body: c });
  }
  // mulhsu(a, b) = mulhu - (a<0 ? b : 0)
  {
    const c = new Code();
    c.get(0).get(1).op(W.call).u32(F_MULHU);
    c.get(1).i64(0).get(0).i64(0).op(W.i64_lt_s).op(W.select).op(W.i64_sub);
    out.push({ type: T_BIN64, locals: [], body: c });
  }
  const guarded = (
    wide: boolean,
    op: number,
    onZero: "m1" | "a",
    overflow: "a" | "0" | null,
  ) => {
    const c = new Code();
    const k = (v: number) => wide ? c.i64(v) : c.i32(v);
    const eqz = wide ? W.i64_eqz : W.i32_eqz;
    const eq = wide ? W.i64_eq : W.i32_eq;
    const and = W.i32_and;
    c.get(1).op(eqz).op(W.if).byte(VOID);
    if (onZero === "m1") k(-1);
    else c.get(0);
    c.op(W.return).op(W.end);
    if (overflow !== null) {
      c.get(1);
      k(-1);
      c.op(eq);
      c.get(0);
      if (wide) c.byte(W.i64_const).sBig(-(1n << 63n));
      else c.i32(-0x80000000);
      c.op(eq).op(and).op(W.if).byte(VOID);
      if (overflow === "a") c.get(0);
      else k(0);
      c.op(W.return).op(W.end);
    }
    c.get(0).get(1).op(op);
    return { type: wide ? T_BIN64 : T_BIN32, locals: [], body: c };
  };
  out.push(guarded(true, W.i64_div_s, "m1", "a"));
  out.push(guarded(true, W.i64_div_u, "m1", null));
  out.push(guarded(true, W.i64_rem_s, "a", "0"));
  out.push(guarded(true, W.i64_rem_u, "a", null));
  out.push(guarded(false, W.i32_div_s, "m1", "a"));
  out.push(guarded(false, W.i32_div_u, "m1", null));
  out.push(guarded(false, W.i32_rem_s, "a", "0"));
  out.push(guarded(false, W.i32_rem_u, "a", null));
  return out;
}

/**
 * Translate the runs of a page mapped at virtual address `vbase` into module
 * bytes exporting `run`.
 */
export function emitPage(runs: Run[], vbase: number, lay: Layout): Uint8Array<ArrayBuffer> {
  const c = new Code();
  const K = runs.length;
  const X = lay.state + HART_STATE.X;
  const SC = lay.scratch;
  const leaderIdx = new Int32Array(2048).fill(-1);
  runs.forEach((r, i) => leaderIdx[r.off >>> 1] = i);

  const getX = (r: number) => {
    if (r === 0) c.i64(0);
    else c.get(L_XB).mem(W.i64_load, 3, 8 * r);
  };
  // setX: call before pushing the value (pushes the address), then finish with setXEnd.
  const setXStart = () => c.get(L_XB);
  const setXEnd = (r: number) => c.mem(W.i64_store, 3, 8 * r);
  /**
   * Leave with `code`; pc is a constant; `sub` instructions of the run were
   * not executed. One call to the module's exit helper (exitHelper), so
   * that each of the page's many exits costs ~10 bytes of code, not ~35.
   */
  const exitAt = (code: number, pc: number, sub: number, stretch = 1) => {
    c.i32(pc - vbase).get(L_N);
    if (sub !== 0) c.i32(sub).op(W.i32_sub);
    c.i32((code === EXIT_INTERP ? stretch : 0) * 4 + code).op(W.call).u32(F_EXIT).op(W.return);
  };

  c.i32(X).set(L_XB);
  c.i32(0).mem(W.i32_load, 2, SC + SCRATCH_DBASE).set(L_DB);
  c.op(W.loop).byte(VOID);
  // Every back-edge and in-page jalr passes here, and straight-line code
  // cannot stay in a page for long: checking the stop word here bounds the
  // time to leave (an atomic load, so it is re-read every time).
  c.i32(0).byte(0xfe).u32(0x10).u32(2).u32(SC + SCRATCH_STOP); // i32.atomic.load
  c.op(W.if).byte(VOID);
  c.i32(0).get(L_HW).op(W.i64_extend_i32_u).i64(1).op(W.i64_shl).i64(vbase).op(W.i64_add);
  c.op(W.f64_convert_i64_s).mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.i32(0).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(EXIT_BUDGET).op(W.return);
  c.op(W.end);
  c.op(W.block).byte(VOID);
  for (let i = 0; i < K; i++) c.op(W.block).byte(VOID);
  // The dispatcher: hw → leader block.
  c.get(L_HW).op(W.br_table).u32(2048);
  for (let hw = 0; hw < 2048; hw++) c.u32(leaderIdx[hw] >= 0 ? leaderIdx[hw] : K);
  c.u32(K);

  for (let i = 0; i < K; i++) {
    c.op(W.end); // end of $b_i: run i starts here
    const run = runs[i];
    const insns = run.insns;
    const last = insns[insns.length - 1];
    const L = last.kind === K_EXIT ? insns.length - 1 : insns.length;
    // Budget: leave before a run that would overrun the limit.
    if (L > 0) {
      c.get(L_N).i32(L).op(W.i32_add).get(L_LIMIT).op(W.i32_gt_s).op(W.if).byte(VOID);
      exitAt(EXIT_BUDGET, vbase + run.off, 0);
      c.op(W.end);
      c.get(L_N).i32(L).op(W.i32_add).set(L_N);
    }
    /** Control to in-page offset `t` (or out of the page), from inside `depth` extra blocks. */
    const goto = (t: number, depth: number) => {
      const j = t >= 0 && t < 4096 ? leaderIdx[t >>> 1] : -1;
      if (j < 0) {
        exitAt(EXIT_JUMP, vbase + t, 0);
      } else if (j > i) {
        c.op(W.br).u32(j - i - 1 + depth);
      } else {
        c.i32(t >>> 1).set(L_HW).op(W.br).u32(K - i + depth);
      }
    };

    const emitInsn = (ins: Insn, pc: number, k: number, L: number): void => {
      const x = ins.insn;
      const rd = (x >>> 7) & 31, rs1 = (x >>> 15) & 31, rs2 = (x >>> 20) & 31;
      const f3 = (x >>> 12) & 7, f7 = x >>> 25;
      const immI = x >> 20;
      switch (x & 0x7f) {
        case 0x37: // LUI
          if (rd !== 0) {
            setXStart();
            c.i64(x & ~0xfff);
            setXEnd(rd);
          }
          return;
        case 0x17: // AUIPC
          if (rd !== 0) {
            setXStart();
            c.i64(pc + (x & ~0xfff));
            setXEnd(rd);
          }
          return;
        case 0x13: { // OP-IMM
          if (rd === 0) return;
          setXStart();
          getX(rs1);
          const sh = (x >>> 20) & 63;
          switch (f3) {
            case 0:
              c.i64(immI).op(W.i64_add);
              break;
            case 1:
              c.i64(sh).op(W.i64_shl);
              break;
            case 2:
              c.i64(immI).op(W.i64_lt_s).op(W.i64_extend_i32_u);
              break;
            case 3:
              c.i64(immI).op(W.i64_lt_u).op(W.i64_extend_i32_u);
              break;
            case 4:
              c.i64(immI).op(W.i64_xor);
              break;
            case 5:
              c.i64(sh).op((x >>> 30) & 1 ? W.i64_shr_s : W.i64_shr_u);
              break;
            case 6:
              c.i64(immI).op(W.i64_or);
              break;
            case 7:
              c.i64(immI).op(W.i64_and);
              break;
          }
          setXEnd(rd);
          return;
        }
        case 0x1b: { // OP-IMM-32
          if (rd === 0) return;
          setXStart();
          getX(rs1);
          c.op(W.i32_wrap_i64);
          const sh = (x >>> 20) & 31;
          if (f3 === 0) c.i32(immI).op(W.i32_add);
          else if (f3 === 1) c.i32(sh).op(W.i32_shl);
          else c.i32(sh).op((x >>> 30) & 1 ? W.i32_shr_s : W.i32_shr_u);
          c.op(W.i64_extend_i32_s);
          setXEnd(rd);
          return;
        }
        case 0x33: { // OP
          if (rd === 0) return;
          setXStart();
          getX(rs1);
          getX(rs2);
          if (f7 === 1) {
            const fn = [-1, F_MULH, F_MULHSU, F_MULHU, F_DIV, F_DIVU, F_REM, F_REMU][f3];
            if (fn < 0) c.op(W.i64_mul);
            else c.op(W.call).u32(fn);
          } else {
            switch (f3) {
              case 0:
                c.op(f7 === 0x20 ? W.i64_sub : W.i64_add);
                break;
              case 1:
                c.op(W.i64_shl);
                break;
              case 2:
                c.op(W.i64_lt_s).op(W.i64_extend_i32_u);
                break;
              case 3:
                c.op(W.i64_lt_u).op(W.i64_extend_i32_u);
                break;
              case 4:
                c.op(W.i64_xor);
                break;
              case 5:
                c.op(f7 === 0x20 ? W.i64_shr_s : W.i64_shr_u);
                break;
              case 6:
                c.op(W.i64_or);
                break;
              case 7:
                c.op(W.i64_and);
                break;
            }
          }
          setXEnd(rd);
          return;
        }
        case 0x3b: { // OP-32
          if (rd === 0) return;
          setXStart();
          getX(rs1);
          c.op(W.i32_wrap_i64);
          getX(rs2);
          c.op(W.i32_wrap_i64);
          if (f7 === 1) {
            const fn = [W.i32_mul, -1, -1, -1, F_DIVW, F_DIVUW, F_REMW, F_REMUW][f3];
            if (f3 === 0) c.op(W.i32_mul);
            else c.op(W.call).u32(fn);
          } else if (f3 === 0) c.op(f7 === 0x20 ? W.i32_sub : W.i32_add);
          else if (f3 === 1) c.op(W.i32_shl);
          else c.op(f7 === 0x20 ? W.i32_shr_s : W.i32_shr_u);
          c.op(W.i64_extend_i32_s);
          setXEnd(rd);
          return;
        }
        case 0x0f: // FENCE, FENCE.I: nothing to do in one hart (see frontend.ts)
          return;
        case 0x03: { // LOAD
          const size = 1 << (f3 & 3);
          access(false, size, rs1, immI, pc, k, L);
          if (rd === 0) return;
          setXStart();
          c.get(L_OFF);
          const op = [
            W.i64_load8_s,
            W.i64_load16_s,
            W.i64_load32_s,
            W.i64_load,
            W.i64_load8_u,
            W.i64_load16_u,
            W.i64_load32_u,
          ][f3];
          c.mem(op, 0, 0);
          setXEnd(rd);
          return;
        }
        case 0x23: { // STORE
          const size = 1 << f3;
          const imm = ((x >> 20) & ~31) | ((x >>> 7) & 31);
          access(true, size, rs1, imm, pc, k, L);
          c.get(L_OFF);
          getX(rs2);
          c.mem([W.i64_store8, W.i64_store16, W.i64_store32, W.i64_store][f3], 0, 0);
          return;
        }
        case 0x63: { // BRANCH
          getX(rs1);
          getX(rs2);
          c.op([W.i64_eq, W.i64_ne, 0, 0, W.i64_lt_s, W.i64_ge_s, W.i64_lt_u, W.i64_ge_u][f3]);
          c.op(W.if).byte(VOID);
          const t = directTarget(ins);
          if (t < 0) exitAt(EXIT_JUMP, pc + (branchTarget(ins) - ins.off), 0);
          else goto(t, 1);
          c.op(W.end);
          return;
        }
        case 0x6f: { // JAL
          if (rd !== 0) {
            setXStart();
            c.i64(pc + ins.len);
            setXEnd(rd);
          }
          const t = directTarget(ins);
          if (t < 0) exitAt(EXIT_JUMP, pc + (branchTarget(ins) - ins.off), 0);
          else goto(t, 0);
          return;
        }
        case 0x67: { // JALR: target into L_T first (rd may be rs1)
          getX(rs1);
          c.i64(immI).op(W.i64_add).i64(-2).op(W.i64_and).set(L_T);
          // A target beyond ±2^53 is not an exact double: let the interpreter take it.
          c.get(L_T).i64(2 ** 53).op(W.i64_add).byte(W.i64_const).sBig(1n << 54n).op(W.i64_ge_u);
          c.op(W.if).byte(VOID);
          exitAt(EXIT_INTERP, pc, 1);
          c.op(W.end);
          if (rd !== 0) {
            setXStart();
            c.i64(pc + ins.len);
            setXEnd(rd);
          }
          c.get(L_T).i64(vbase).op(W.i64_sub).tee(L_A).i64(4096).op(W.i64_lt_u);
          c.op(W.if).byte(VOID);
          c.get(L_A).op(W.i32_wrap_i64).i32(1).op(W.i32_shr_u).set(L_HW);
          c.op(W.br).u32(K - i + 1);
          c.op(W.end);
          c.i32(0).get(L_T).op(W.f64_convert_i64_s).mem(W.f64_store, 3, SC + SCRATCH_PC);
          c.i32(0).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
          c.i32(EXIT_JUMP).op(W.return);
          return;
        }
      }
      throw new Error(`jit: emitter has no case for 0x${(x >>> 0).toString(16)}`);
    };

    /**
     * Leaves the RAM offset of x[rs1] + imm in L_OFF, or exits to the
     * interpreter (page crossing, a fault, MMIO, a store to a code page).
     */
    const access = (
      store: boolean,
      size: number,
      rs1: number,
      imm: number,
      pc: number,
      k: number,
      L: number,
    ) => {
      const tag = lay.state + HART_STATE.TLB + (store ? 4 : 2) * TLB_BYTES;
      const add = tag + TLB_BYTES;
      getX(rs1);
      c.i64(imm).op(W.i64_add).set(L_VA);
      if (size > 1) {
        c.get(L_VA).op(W.i32_wrap_i64).i32(4095).op(W.i32_and).i32(4096 - size).op(W.i32_gt_u);
        c.op(W.if).byte(VOID);
        exitAt(EXIT_INTERP, pc, L - k);
        c.op(W.end);
      }
      // ti = dBase*8 + (vpn & MASK)*8
      c.get(L_VA).i64(12).op(W.i64_shr_s).op(W.i32_wrap_i64).i32(TLB_MASK).op(W.i32_and);
      c.i32(3).op(W.i32_shl).get(L_DB).op(W.i32_add).set(L_TI);
      c.get(L_TI).mem(W.f64_load, 3, tag);
      c.get(L_VA).i64(12).op(W.i64_shr_s).op(W.f64_convert_i64_s).op(W.f64_ne);
      c.op(W.if).byte(VOID);
      c.get(L_VA).op(W.f64_convert_i64_s).i32(store ? 2 : 1).op(W.call).u32(F_FILL).op(W.i32_eqz);
      c.op(W.if).byte(VOID);
      exitAt(EXIT_INTERP, pc, L - k);
      c.op(W.end);
      c.op(W.end);
      c.get(L_TI).mem(W.f64_load, 3, add).op(W.i64_trunc_f64_s).get(L_VA).op(W.i64_add);
      c.op(W.i32_wrap_i64).set(L_OFF);
    };
    for (let k = 0; k < insns.length; k++) {
      const ins = insns[k];
      const pc = vbase + ins.off;
      if (ins.kind === K_EXIT) {
        exitAt(EXIT_INTERP, pc, 0, ins.stretch ?? 1);
        break;
      }
      emitInsn(ins, pc, k, L);
    }
    if (last.kind !== K_EXIT && last.kind !== K_JAL && last.kind !== K_JALR) {
      // Falls through: to the next run's code if that is where it goes.
      if (!(run.next === runs[i + 1]?.off && i + 1 < K)) goto(run.next, 0);
    }
  }
  c.op(W.end); // $dflt: hw is not a leader
  c.i32(0).get(L_HW).op(W.i64_extend_i32_u).i64(1).op(W.i64_shl).i64(vbase).op(W.i64_add);
  c.op(W.f64_convert_i64_s).mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.i32(0).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(EXIT_NOENTRY).op(W.return);
  c.op(W.end); // loop
  c.op(W.unreachable);

  return buildModule({
    types: [
      { params: [F64, I32], results: [I32] },
      { params: [I64, I64], results: [I64] },
      { params: [I32, I32], results: [I32] },
      { params: [I32, I32], results: [I32] },
      { params: [I32, I32, I32], results: [I32] },
    ],
    imports: [{ name: "fill", type: T_FILL }],
    memoryPages: lay.pages,
    funcs: [
      ...helpers(),
      { type: T_EXIT, locals: [], body: exitHelper(vbase, lay), export: undefined },
      { type: T_PAGE, locals: LOCALS, body: c, export: "run" },
    ],
  });
}

/**
 * exit(delta, n, codeAndStretch) -> code: the tail of every exit of a page
 * mapped at `vbase`. Stores pc = vbase + delta, n, and the stretch
 * (codeAndStretch >> 2, read for EXIT_INTERP only); returns the exit code
 * (codeAndStretch & 3).
 */
function exitHelper(vbase: number, lay: Layout): Code {
  const c = new Code();
  const SC = lay.scratch;
  c.i32(0).get(0).op(W.i64_extend_i32_s).i64(vbase).op(W.i64_add).op(W.f64_convert_i64_s);
  c.mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.i32(0).get(1).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(0).get(2).i32(2).op(W.i32_shr_u).mem(W.i32_store, 2, SC + SCRATCH_STRETCH);
  c.get(2).i32(3).op(W.i32_and);
  return c;
}

function branchTarget(ins: Insn): number {
  const x = ins.insn;
  const imm = ins.kind === K_BRANCH
    ? ((x >> 19) & ~0xfff) | ((x << 4) & 0x800) | ((x >>> 20) & 0x7e0) | ((x >>> 7) & 0x1e)
    : ((x >> 11) & ~0xfffff) | (x & 0xff000) | ((x >>> 9) & 0x800) | ((x >>> 20) & 0x7fe);
  return ins.off + imm;
}
