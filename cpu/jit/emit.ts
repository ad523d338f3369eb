// The translator's back end: one physical page's runs (cpu/jit/frontend.ts)
// become one wasm module exporting `run(hw, limit, n, vpn) -> exit code`.
// The runs, in address order, are cut into groups of ~GROUP_INSNS
// instructions, one function each; `run` checks the virtual page and tail-calls
// the group that holds the leader at hw. A group function:
//
//   loop $L                       ;; back-edges and in-page jalr come here
//     block $dflt  block $b(K-1) … block $b0
//       br_table hw → the leader's block (others → $dflt)
//     end $b0  run 0 …  end $b1  run 1 …  end $b(K-1)  run K-1
//     end $dflt  return_call run  ;; another group's leader, or none (NOENTRY)
//   end
//
// Forward branches in the group are a `br` to the target's block end; backward
// ones set hw and `br $L` (the dispatcher); a jump to another group is a tail
// call of its function. Why groups: V8 compiles a function lazily on its first
// call and tiers a hot one up to TurboFan on a background thread, and
// TurboFan's cost grows faster than a function's size. One function per page
// (~100 KB of wasm for a kernel page) made that tier-up most of the process's
// CPU on an I/O path (docs/cpu.md, "Group functions"). Registers stay in
// memory (the hart's `x` array), so any exit is a `return` that copies
// nothing. Loads and stores go through the hart's own TLB arrays, also in that
// memory: tag compare (vpn as a double, as cpu/mmu.ts stores it), then add. A
// miss calls the host `fill` (the page walker); anything else leaves to the
// interpreter.
// Read next: cpu/jit/tier.ts.

import { TLB_MASK, TLB_SETS, TLB_SIZE } from "../mmu.ts";
import { HART_STATE } from "../hart.ts";
import { directTarget, type Insn, K_BRANCH, K_EXIT, K_JAL, K_JALR, type Run } from "./frontend.ts";
import { buildModule, Code, F64, I32, I64, VOID, W } from "./wasm.ts";
import {
  emitFcsr,
  emitFp,
  fpHelpers,
  type InsnEmitter,
  SCRATCH_DIRTY,
  SCRATCH_FFLAGS,
  SCRATCH_FSOFF,
} from "./emit_fp.ts";
import { emitAmo } from "./emit_amo.ts";

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
/** fBase*8 (i32, set by the caller): the fetch TLB set, for chaining to another page. */
export const SCRATCH_FBASE = 48;
/** Chained calls made (i32, counted for the stats; the driver clears it). */
export const SCRATCH_CHAINS = 52;
// 24..47: the FP words (emit_fp.ts SCRATCH_*) and the reservation (emit_amo.ts).
/**
 * cycle/time/instret readable here and counting (bits 0, 1, 2; i32); the
 * hart's instretN at entry (f64); minstret's and mcycle's offsets (i64,
 * csr.ts counterValue: a counter is its offset plus instretN, mod 2^64).
 */
export const SCRATCH_CNTOK = 56, SCRATCH_INSTRET0 = 64, SCRATCH_IROFF = 72, SCRATCH_CYOFF = 80;
/** 88..95: the value LR read (emit_amo.ts SCRATCH_RES_VALUE). */
/**
 * mstatus (i32, its low word: every bit sstatus reaches) for translated
 * sstatus accesses, set by the caller and read back at every return and fill;
 * and how far the S-mode data TLB set moves when SUM flips (i32: TLB_SIZE*8
 * with paging on, 0 in Bare). CNTOK bit 3: the hart is in S-mode (sstatus is
 * translated there only); bit 4: an S-level interrupt is pending (setting SIE
 * must then leave, so that it is taken before the next instruction).
 */
export const SCRATCH_MSTATUS = 96, SCRATCH_SUMDELTA = 100;
export const CNTOK_SMODE = 8, CNTOK_SPENDING = 16;
/**
 * fflags at entry (i32, set by the caller): FP instructions that only accrue
 * flags dirty FS by changing them (the caller compares at return); an
 * sstatus write folds that in and moves this word on.
 */
export const SCRATCH_FF0 = 104;
export const SCRATCH_BYTES = 112;

/** mstatus bits (cpu/trap.ts MSTATUS) that a translated sstatus access reads and writes. */
const MS_SIE = 1 << 1, MS_SPIE = 1 << 5, MS_SPP = 1 << 8, MS_FS = 3 << 13, MS_SUM = 1 << 18;
const MS_MXR = 1 << 19;
const SSTATUS_BITS = MS_SIE | MS_SPIE | MS_SPP | MS_FS | MS_SUM | MS_MXR;
/** The ones translated code may change without leaving (an MXR change goes to the interpreter). */
const SSTATUS_INLINE = MS_SIE | MS_SPIE | MS_SPP | MS_SUM | MS_FS;

export interface Layout {
  /** Byte offset of the hart state (HART_STATE) in memory. */
  state: number;
  /** Byte offset of the scratch words. */
  scratch: number;
  /** Memory size in 64 KiB pages. */
  pages: number;
  /** RAM size in 4 KiB pages: the function table's size. */
  ramPages: number;
  /** Byte offset of one byte per RAM page, set when a chained jump enters it (eviction). */
  refs: number;
}

// Locals of the page function (0, 1 are the parameters).
// Parameters: hw (the halfword offset of pc), limit, n (instructions run so
// far: 0 from JS, the caller's count on a chained call), vpn (the virtual page
// the caller means, as a double: checked against the page this code is for).
const L_HW = 0, L_LIMIT = 1, L_N = 2, L_VPN = 3;
const L_VA = 4, L_T = 5, L_A = 6, L_DB = 7, L_TI = 8, L_OFF = 9;
const L_F = 10, L_G = 11, L_Q = 12, L_P = 13; // for FP and AMO instructions (emit_fp.ts, emit_amo.ts)
const L_FB = 14;
// The address of x0 (registers are `local.get L_XB` + a one-byte offset: the
// state lies past RAM, where a constant address would take 4-5 bytes each).
const L_XB = 15;
// This hart's region minus hart 0's (the imported global `hb`): every access
// to the hart's state and scratch words adds it, so that a page's module is the
// same bytes for every hart and V8 compiles and tiers it up once (docs/smp.md).
const L_HB = 16;
const LOCALS = [I64, I64, I64, I32, I32, I32, F64, F64, I64, I64, I32, I32, I32];
/** Global 0 of every page module: the imported hart base (L_HB's value). */
const G_HB = 0;

// Function indices: the imports (TLB fill, the FP call-out, time), the integer
// helpers, the exit helper, the FP helpers (emit_fp.ts), the page function.
const F_FILL = 0, F_FPX = 1, F_TIME = 2, F_MULHU = 3, F_MULH = 4, F_MULHSU = 5, F_DIV = 6;
const F_DIVU = 7, F_REM = 8, F_REMU = 9, F_DIVW = 10, F_DIVUW = 11, F_REMW = 12, F_REMUW = 13;
const F_EXIT = 14, F_CHAIN = 15, F_FP0 = 16;
const T_FILL = 0, T_BIN64 = 1, T_BIN32 = 2, T_PAGE = 3, T_FPX = 4, T_F1 = 5, T_F2 = 6, T_F3 = 7;
const T_TIME = 8, T_EXIT = 9, T_CHAIN = 10;

const TLB_BYTES = 8 * TLB_SETS * TLB_SIZE;

/**
 * Guest instructions per group function (a page's runs are cut into groups
 * in address order, at run boundaries). 128: an I/O path (64 MiB direct reads
 * in the guest, 8 in a row) reached 850–910 MB/s by the eighth read against
 * 190–470 with one function per page, and bench_int/bench_fp on
 * scripts/run-user.ts ran no slower (2026-12-03).
 */
const GROUP_INSNS = 128;

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
 * The helper functions every page module carries, built once (they depend on
 * nothing but the scratch words' offset, which is hart 0's for every module):
 * their bodies were ~5% of the emitter's time when rebuilt for each page.
 */
let helperCache: { lay: Layout; int: HelperBody[]; fp: HelperBody[]; chain: HelperBody } | null =
  null;
type HelperBody = { type: number; locals: number[]; body: Code };
function sharedHelpers(lay: Layout): { int: HelperBody[]; fp: HelperBody[]; chain: HelperBody } {
  const have = helperCache?.lay;
  if (
    have === undefined || have.state !== lay.state || have.scratch !== lay.scratch ||
    have.refs !== lay.refs || have.ramPages !== lay.ramPages
  ) {
    helperCache = {
      lay,
      int: helpers(),
      fp: fpHelpers(F_FP0, lay.scratch, { f1: T_F1, f2: T_F2, f3: T_F3 }, () => new Code(), G_HB),
      chain: { type: T_CHAIN, locals: [I32, I32, I32], body: chainHelper(lay) },
    };
  }
  return helperCache!;
}

/**
 * chain(t, limit, n) -> exit code: leave the page for virtual address t,
 * straight into its translation when this hart's fetch TLB maps it to a RAM
 * page (a tail call through the function table, which holds every translated
 * page and a stub for the rest; the callee checks it was made for this virtual
 * page), else to JS with pc = t. Every jump out of a page ends in a tail call
 * here: one copy per module, not ~90 bytes at each of the page's exits.
 */
function chainHelper(lay: Layout): Code {
  const c = new Code();
  const T = 0, LIMIT = 1, N = 2, TI = 3, OFF = 4, HB = 5;
  const SC = lay.scratch;
  const fTag = lay.state + HART_STATE.TLB, fAdd = fTag + TLB_BYTES;
  c.op(W.global_get).u32(G_HB).set(HB);
  c.get(T).i64(12).op(W.i64_shr_s).op(W.i32_wrap_i64).i32(TLB_MASK).op(W.i32_and);
  c.i32(3).op(W.i32_shl);
  c.get(HB).mem(W.i32_load, 2, SC + SCRATCH_FBASE).op(W.i32_add).get(HB).op(W.i32_add).set(TI);
  c.get(TI).mem(W.f64_load, 3, fTag);
  c.get(T).i64(12).op(W.i64_shr_s).op(W.f64_convert_i64_s).op(W.f64_eq);
  c.op(W.if).byte(VOID);
  c.get(TI).mem(W.f64_load, 3, fAdd).op(W.i64_trunc_f64_s).get(T).op(W.i64_add);
  c.i64(12).op(W.i64_shr_s).op(W.i32_wrap_i64).set(OFF); // the RAM page
  c.get(OFF).i32(lay.ramPages).op(W.i32_lt_u).op(W.if).byte(VOID);
  c.get(T).op(W.i32_wrap_i64).i32(4095).op(W.i32_and).i32(1).op(W.i32_shr_u);
  c.get(LIMIT).get(N);
  c.get(T).i64(12).op(W.i64_shr_s).op(W.f64_convert_i64_s);
  c.get(HB).get(HB).mem(W.i32_load, 2, SC + SCRATCH_CHAINS).i32(1).op(W.i32_add);
  c.mem(W.i32_store, 2, SC + SCRATCH_CHAINS);
  c.get(OFF).get(HB).op(W.i32_add).i32(1).mem(W.i32_store8, 0, lay.refs);
  c.get(OFF).byte(W.return_call_indirect).u32(T_PAGE).u32(0);
  c.op(W.end);
  c.op(W.end);
  c.get(HB).get(T).op(W.f64_convert_i64_s).mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.get(HB).get(N).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(EXIT_JUMP);
  return c;
}

/**
 * Translate the runs of a page mapped at virtual address `vbase` into module
 * bytes exporting `run`. `wide`: the hart has Sv57, so a TLB miss first looks
 * for a wide entry (cpu/mmu.ts, "Wide addresses"); without Sv57 there are none
 * and the test is not emitted.
 */
export function emitPage(
  runs: Run[],
  vbase: number,
  lay: Layout,
  wide = false,
): Uint8Array<ArrayBuffer> {
  let c = new Code(); // the function being emitted: the dispatcher, then each group
  const X = lay.state + HART_STATE.X;
  const SC = lay.scratch;
  const leaderIdx = new Int32Array(2048).fill(-1);
  runs.forEach((r, i) => leaderIdx[r.off >>> 1] = i);
  // The runs, in address order, cut into groups of about GROUP_INSNS
  // instructions: one wasm function each.
  const groupOf = new Int32Array(runs.length), localIdx = new Int32Array(runs.length);
  const groupRuns: number[] = []; // runs in each group
  for (let i = 0, size = 0; i < runs.length; i++) {
    const n = runs[i].insns.length;
    if (groupRuns.length === 0 || size + n > GROUP_INSNS) {
      groupRuns.push(0);
      size = 0;
    }
    const g = groupRuns.length - 1;
    groupOf[i] = g;
    localIdx[i] = groupRuns[g]++;
    size += n;
  }
  const fnRun = F_FP0 + sharedHelpers(lay).fp.length, fnGroup0 = fnRun + 1;

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

  /** Leave the page for the virtual address in L_T (a tail call to chainHelper). */
  const chainT = () => {
    c.get(L_T).get(L_LIMIT).get(L_N).byte(W.return_call).u32(F_CHAIN);
  };
  /** Leave the page for the constant address t. */
  const chainTo = (t: number) => {
    c.i64(t).set(L_T);
    chainT();
  };

  /** A group function's start: the hart base, x0's address and the TLB set bases in locals. */
  const prologue = () => {
    c.op(W.global_get).u32(G_HB).set(L_HB);
    c.get(L_HB).i32(X).op(W.i32_add).set(L_XB);
    // The TLB set bases with the hart base in: TLB offsets below are hart 0's.
    c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_DBASE).get(L_HB).op(W.i32_add).set(L_DB);
    c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_FBASE).get(L_HB).op(W.i32_add).set(L_FB);
  };
  /** Leave with pc at halfword L_HW of the page (EXIT_BUDGET or EXIT_NOENTRY). */
  const exitAtHw = (code: number) => {
    c.get(L_HB).get(L_HW).op(W.i64_extend_i32_u).i64(1).op(W.i64_shl).i64(vbase).op(W.i64_add);
    c.op(W.f64_convert_i64_s).mem(W.f64_store, 3, SC + SCRATCH_PC);
    c.get(L_HB).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
    c.i32(code).op(W.return);
  };
  /** Push the stop word (an atomic load: re-read every time; Jit.requestExit). */
  const stopWord = () => {
    c.get(L_HB).byte(0xfe).u32(0x10).u32(2).u32(SC + SCRATCH_STOP); // i32.atomic.load
  };

  // The page function (exported `run`, in the function table): check the
  // virtual page, then hand over to the group that holds the leader at hw.
  const G = groupRuns.length;
  c.op(W.global_get).u32(G_HB).set(L_HB); // (all it needs: the groups set up the rest)
  // A caller (JS or another page) that means another virtual page: leave.
  c.get(L_VPN).f64(vbase / 4096).op(W.f64_ne).op(W.if).byte(VOID);
  c.get(L_HB).get(L_VPN).f64(4096).op(W.f64_mul).get(L_HW).op(W.f64_convert_i32_u).f64(2);
  c.op(W.f64_mul).op(W.f64_add).mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.get(L_HB).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(EXIT_JUMP).op(W.return);
  c.op(W.end);
  c.op(W.block).byte(VOID);
  for (let g = 0; g < G; g++) c.op(W.block).byte(VOID);
  c.get(L_HW).op(W.br_table).u32(2048);
  for (let hw = 0; hw < 2048; hw++) c.u32(leaderIdx[hw] >= 0 ? groupOf[leaderIdx[hw]] : G);
  c.u32(G);
  for (let g = 0; g < G; g++) {
    c.op(W.end);
    c.get(L_HW).get(L_LIMIT).get(L_N).get(L_VPN).byte(W.return_call).u32(fnGroup0 + g);
  }
  c.op(W.end); // hw is not a leader
  exitAtHw(EXIT_NOENTRY);
  const dispatcher = c;
  const bodies: Code[] = [];

  for (let i = 0; i < runs.length; i++) {
    const g = groupOf[i], K = groupRuns[g], il = localIdx[i];
    if (il === 0) {
      // A group's function: its own dispatcher loop over its runs' leaders
      // (a jump to a leader elsewhere in the page goes through `run`).
      c = new Code();
      bodies.push(c);
      prologue();
      c.op(W.loop).byte(VOID);
      // Every back-edge, in-page jalr and group entry passes here, and
      // straight-line code cannot stay in a page for long: checking the stop
      // word here bounds the time to leave.
      stopWord();
      c.op(W.if).byte(VOID);
      exitAtHw(EXIT_BUDGET);
      c.op(W.end);
      c.op(W.block).byte(VOID);
      for (let k = 0; k < K; k++) c.op(W.block).byte(VOID);
      const lo = runs[i].off >>> 1, hi = runs[i + K - 1].off >>> 1;
      c.get(L_HW).i32(lo).op(W.i32_sub).op(W.br_table).u32(hi - lo + 1);
      for (let hw = lo; hw <= hi; hw++) {
        c.u32(leaderIdx[hw] >= 0 && groupOf[leaderIdx[hw]] === g ? localIdx[leaderIdx[hw]] : K);
      }
      c.u32(K);
    }
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
        chainTo(vbase + t);
      } else if (groupOf[j] !== g) { // another group's function
        c.i32(t >>> 1).set(L_HW).get(L_HW).get(L_LIMIT).get(L_N).get(L_VPN);
        c.byte(W.return_call).u32(fnGroup0 + groupOf[j]);
      } else if (j > i) {
        c.op(W.br).u32(j - i - 1 + depth);
      } else {
        c.i32(t >>> 1).set(L_HW).op(W.br).u32(K - il + depth);
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
        case 0x0f: // FENCE, FENCE.I
          // FENCE: wasm's atomic.fence (a full barrier: mfence on x86), because
          // other harts' workers read and write the same RAM (docs/smp.md); a
          // plain wasm store may otherwise pass a later load, which RVWMO's
          // fence rw,rw forbids. FENCE.I: writes to code pages already drop
          // their translations (frontend.ts), other harts' through remote fences.
          if (((x >>> 12) & 7) === 0) c.op(W.atomic).byte(0x03).byte(0);
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
          if (t < 0) chainTo(pc + (branchTarget(ins) - ins.off));
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
          if (t < 0) chainTo(pc + (branchTarget(ins) - ins.off));
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
          c.op(W.br).u32(K - il + 1);
          c.op(W.end);
          chainT();
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
      aligned = false,
    ) => {
      const tag = lay.state + HART_STATE.TLB + (store ? 4 : 2) * TLB_BYTES;
      const add = tag + TLB_BYTES;
      getX(rs1);
      c.i64(imm).op(W.i64_add).set(L_VA);
      // block $body { block $exit { checks (br_if $exit); off = …; br $body } exit }:
      // the page crossing, misalignment and a failed fill share one exit.
      c.op(W.block).byte(VOID).op(W.block).byte(VOID);
      if (aligned) { // (an aligned access never crosses a page)
        c.get(L_VA).op(W.i32_wrap_i64).i32(size - 1).op(W.i32_and).op(W.br_if).u32(0);
      } else if (size > 1) {
        c.get(L_VA).op(W.i32_wrap_i64).i32(4095).op(W.i32_and).i32(4096 - size).op(W.i32_gt_u);
        c.op(W.br_if).u32(0);
      }
      // ti = dBase*8 + (vpn & MASK)*8
      c.get(L_VA).i64(12).op(W.i64_shr_s).op(W.i32_wrap_i64).i32(TLB_MASK).op(W.i32_and);
      c.i32(3).op(W.i32_shl).get(L_DB).op(W.i32_add).set(L_TI);
      c.get(L_TI).mem(W.f64_load, 3, tag);
      c.get(L_VA).i64(12).op(W.i64_shr_s).op(W.f64_convert_i64_s).op(W.f64_ne);
      c.op(W.if).byte(VOID);
      if (wide) {
        // An Sv57 page beyond 2^53 (cpu/mmu.ts, "Wide addresses"): tag vpn +
        // 0.5, add = the page's RAM offset. va is exact here, so translated
        // code can use the entry; only the interpreter's slow path fills it.
        c.get(L_TI).mem(W.f64_load, 3, tag);
        c.get(L_VA).i64(12).op(W.i64_shr_s).op(W.f64_convert_i64_s).f64(0.5).op(W.f64_add);
        c.op(W.f64_eq).op(W.if).byte(VOID);
        c.get(L_TI).mem(W.f64_load, 3, add).op(W.i64_trunc_f64_s).op(W.i32_wrap_i64);
        c.get(L_VA).op(W.i32_wrap_i64).i32(4095).op(W.i32_and).op(W.i32_add).set(L_OFF);
        c.op(W.br).u32(3); // done: out of both ifs, $exit and $body
        c.op(W.end);
      }
      c.get(L_VA).op(W.f64_convert_i64_s).i32(store ? 2 : 1).op(W.call).u32(F_FILL).op(W.i32_eqz);
      c.op(W.br_if).u32(1); // to $exit
      c.op(W.end);
      c.get(L_TI).mem(W.f64_load, 3, add).op(W.i64_trunc_f64_s).get(L_VA).op(W.i64_add);
      c.op(W.i32_wrap_i64).set(L_OFF);
      c.op(W.br).u32(1); // out of $body
      c.op(W.end); // $exit
      exitAt(EXIT_INTERP, pc, L - k);
      c.op(W.end); // $body
    };
    let fpGated = false, fpDirtied = false;
    const cur = { pc: 0, k: 0 };
    const ie: InsnEmitter = {
      c,
      X,
      F: lay.state + HART_STATE.F,
      SC,
      fnFpx: F_FPX,
      fnFp0: F_FP0,
      lF: L_F,
      lG: L_G,
      lQ: L_Q,
      lP: L_P,
      lOff: L_OFF,
      getX,
      setXStart,
      setXEnd,
      base: () => c.get(L_HB),
      exit: () => exitAt(EXIT_INTERP, cur.pc, L - cur.k),
      access: (store, size, rs1, imm, aligned) =>
        access(store, size, rs1, imm, cur.pc, cur.k, L, aligned),
      // FS cannot change while translated code runs (only CSR writes and
      // traps change it, and both leave): one check per run is enough.
      fpGate: () => {
        if (fpGated) return;
        fpGated = true;
        c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_FSOFF).op(W.if).byte(VOID);
        exitAt(EXIT_INTERP, cur.pc, L - cur.k);
        c.op(W.end);
      },
      fpDirty: () => {
        if (fpDirtied) return;
        fpDirtied = true;
        c.get(L_HB).i32(1).mem(W.i32_store, 2, SC + SCRATCH_DIRTY);
      },
    };
    /**
     * csrr rd, cycle/instret (counterTranslatable): the counter's offset plus
     * instretN at entry plus the instructions since, this one excluded as
     * the interpreter reads it (Zicntr: the value before it retires): n minus
     * what of this run comes from it on.
     */
    const emitCounter = (x: number, k: number) => {
      const rd = (x >>> 7) & 31, csr = x >>> 20;
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_CNTOK).i32(1 << (csr & 31)).op(W.i32_and);
      c.op(W.i32_eqz).op(W.if).byte(VOID);
      ie.exit(); // not allowed at this privilege: the interpreter raises illegal
      c.op(W.end);
      if (rd === 0) return;
      setXStart();
      if (csr === 0xc01) { // time: the host's clock (or instret/10), through JS
        c.get(L_N).i32(L - k - 1).op(W.i32_sub).op(W.call).u32(F_TIME);
      } else {
        c.get(L_HB).mem(W.f64_load, 3, SC + SCRATCH_INSTRET0);
        c.op(W.i64_trunc_f64_s);
        c.get(L_N).i32(L - k).op(W.i32_sub).op(W.i64_extend_i32_u).op(W.i64_add);
        c.get(L_HB).mem(W.i64_load, 3, SC + (csr === 0xc00 ? SCRATCH_CYOFF : SCRATCH_IROFF));
        c.op(W.i64_add);
      }
      setXEnd(rd);
    };
    /**
     * csrrw/s/c(i) on sstatus in S-mode (sstatusTranslatable): the kernel
     * toggles SIE around every critical section and SUM around every user
     * copy, and its trap entry and return clear and restore FS: leaving for
     * each cost an I/O path much of its speed. Done on the scratch mstatus
     * word as cpu/csr.ts sstatusFast does it. A write that changes MXR leaves
     * before it happens (the load TLB must be dropped); a SUM flip moves the
     * data TLB set; a write folds FS dirtied by this run's FP instructions in
     * and sets the FP gate word anew, so FP instructions after it check FS
     * again; setting SIE while an S interrupt pends leaves after it, so the
     * interrupt is taken before the next instruction.
     */
    const emitSstatus = (x: number, pc: number, k: number) => {
      const rd = (x >>> 7) & 31, rs1 = (x >>> 15) & 31, f3 = (x >>> 12) & 7;
      const isWrite = (f3 & 3) === 1 || rs1 !== 0;
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_CNTOK).i32(CNTOK_SMODE).op(W.i32_and);
      c.op(W.i32_eqz).op(W.if).byte(VOID);
      ie.exit(); // U-mode (illegal) or M-mode: the interpreter
      c.op(W.end);
      // old = mstatus, FS dirty if an FP instruction since entry dirtied it
      // (wrote FP state, or changed fflags)
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_MSTATUS);
      c.i32(MS_FS).i32(0).get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_DIRTY);
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_FFLAGS);
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_FF0).op(W.i32_ne).op(W.i32_or);
      c.op(W.select).op(W.i32_or).set(L_TI);
      if (isWrite) {
        // new (the source is read before rd is written: rd may be rs1)
        c.get(L_TI);
        if (f3 >= 5) c.i32(rs1 & SSTATUS_BITS);
        else {
          getX(rs1);
          c.op(W.i32_wrap_i64).i32(SSTATUS_BITS).op(W.i32_and);
        }
        if ((f3 & 3) === 1) {
          c.set(L_OFF).i32(~SSTATUS_BITS).op(W.i32_and).get(L_OFF).op(W.i32_or);
        } else if ((f3 & 3) === 2) c.op(W.i32_or);
        else c.i32(-1).op(W.i32_xor).op(W.i32_and);
        c.set(L_OFF);
        // MXR changing: the interpreter does it (and drops the load TLB)
        c.get(L_TI).get(L_OFF).op(W.i32_xor).i32(~SSTATUS_INLINE).op(W.i32_and);
        c.op(W.if).byte(VOID);
        ie.exit();
        c.op(W.end);
      }
      if (rd !== 0) {
        // sstatus: its bits of mstatus, UXL = 2 (bit 33), SD (bit 63) when FS is dirty
        setXStart();
        c.get(L_TI).i32(SSTATUS_BITS).op(W.i32_and).op(W.i64_extend_i32_u).i64(2 * 2 ** 32);
        c.op(W.i64_or).i64(-(2 ** 63)).i64(0);
        c.get(L_TI).i32(MS_FS).op(W.i32_and).i32(MS_FS).op(W.i32_eq).op(W.select).op(W.i64_or);
        setXEnd(rd);
      }
      if (!isWrite) return;
      c.get(L_HB).get(L_OFF).mem(W.i32_store, 2, SC + SCRATCH_MSTATUS);
      // FS: any dirtying so far is in the new value; FP instructions from here check it again.
      c.get(L_HB).i32(0).mem(W.i32_store, 2, SC + SCRATCH_DIRTY);
      c.get(L_HB).get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_FFLAGS);
      c.mem(W.i32_store, 2, SC + SCRATCH_FF0);
      c.get(L_HB).get(L_OFF).i32(MS_FS).op(W.i32_and).op(W.i32_eqz);
      c.mem(W.i32_store, 2, SC + SCRATCH_FSOFF);
      fpGated = false;
      fpDirtied = false;
      // SUM flipped: the S data set is the next one up (SUM set) or down.
      c.get(L_TI).get(L_OFF).op(W.i32_xor).i32(MS_SUM).op(W.i32_and).op(W.if).byte(VOID);
      c.get(L_HB).get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_DBASE);
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_SUMDELTA);
      c.i32(0).get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_SUMDELTA).op(W.i32_sub);
      c.get(L_OFF).i32(MS_SUM).op(W.i32_and).op(W.select).op(W.i32_add);
      c.set(L_DB).get(L_DB).mem(W.i32_store, 2, SC + SCRATCH_DBASE);
      c.get(L_DB).get(L_HB).op(W.i32_add).set(L_DB);
      c.op(W.end);
      // SIE set now, with an S interrupt pending at entry or anything sent
      // since (the stop word: an IPI sets it): leave after this instruction,
      // where the interpreter's interrupt check takes it.
      c.get(L_OFF).get(L_TI).i32(-1).op(W.i32_xor).op(W.i32_and).i32(MS_SIE).op(W.i32_and);
      c.op(W.if).byte(VOID);
      c.get(L_HB).mem(W.i32_load, 2, SC + SCRATCH_CNTOK).i32(CNTOK_SPENDING).op(W.i32_and);
      stopWord();
      c.op(W.i32_or).op(W.if).byte(VOID);
      exitAt(EXIT_INTERP, pc + 4, L - k - 1);
      c.op(W.end);
      c.op(W.end);
    };
    for (let k = 0; k < insns.length; k++) {
      const ins = insns[k];
      const pc = vbase + ins.off;
      if (ins.kind === K_EXIT) {
        exitAt(EXIT_INTERP, pc, 0, ins.stretch ?? 1);
        break;
      }
      cur.pc = pc;
      cur.k = k;
      if (ins.straddleHi !== undefined) {
        // Its upper half is in the next page: that page must still be mapped
        // for fetch (this privilege's fetch TLB) and still hold the halfword
        // translated, or the interpreter fetches it (and takes any fault).
        const fTag = lay.state + HART_STATE.TLB, fAdd = fTag + TLB_BYTES;
        const nextVpn = vbase / 4096 + 1;
        c.i32((nextVpn & TLB_MASK) * 8);
        c.get(L_FB).op(W.i32_add).set(L_TI);
        c.get(L_TI).mem(W.f64_load, 3, fTag).f64(nextVpn).op(W.f64_ne).op(W.if).byte(VOID);
        exitAt(EXIT_INTERP, pc, L - k);
        c.op(W.end);
        c.get(L_TI).mem(W.f64_load, 3, fAdd).f64(vbase + 4096).op(W.f64_add);
        c.op(W.i32_trunc_f64_s).mem(W.i32_load16_u, 1, 0); // (fetch TLB entries are RAM only)
        c.i32(ins.straddleHi).op(W.i32_ne).op(W.if).byte(VOID);
        exitAt(EXIT_INTERP, pc, L - k);
        c.op(W.end);
      }
      const op = ins.insn & 0x7f;
      if (op === 0x2f) emitAmo(ie, ins.insn);
      else if (op === 0x73 && (ins.insn >>> 20) >= 0xc00) emitCounter(ins.insn, k);
      else if (op === 0x73 && (ins.insn >>> 20) === 0x100) emitSstatus(ins.insn, pc, k);
      else if (op === 0x73) emitFcsr(ie, ins.insn);
      else if (op === 0x07 || op === 0x27 || op === 0x53 || (op & 0x73) === 0x43) {
        emitFp(ie, ins.insn);
      } else emitInsn(ins, pc, k, L);
    }
    if (last.kind !== K_EXIT && last.kind !== K_JAL && last.kind !== K_JALR) {
      // Falls through: to the next run's code if that is where it goes.
      if (!(run.next === runs[i + 1]?.off && il + 1 < K)) goto(run.next, 0);
    }
    if (il === K - 1) {
      // $dflt: not a leader of this group: the page function sorts it out
      // (another group's leader, or no entry at all).
      c.op(W.end);
      c.get(L_HW).get(L_LIMIT).get(L_N).get(L_VPN).byte(W.return_call).u32(fnRun);
      c.op(W.end); // loop
      c.op(W.unreachable);
    }
  }

  return buildModule({
    types: [
      { params: [F64, I32], results: [I32] },
      { params: [I64, I64], results: [I64] },
      { params: [I32, I32], results: [I32] },
      { params: [I32, I32, I32, F64], results: [I32] },
      { params: [I32], results: [I32] },
      { params: [F64], results: [F64] },
      { params: [F64, F64], results: [F64] },
      { params: [F64, F64, F64], results: [F64] },
      { params: [I32], results: [I64] },
      { params: [I32, I32, I32], results: [I32] },
      { params: [I64, I32, I32], results: [I32] },
    ],
    imports: [
      { name: "fill", type: T_FILL },
      { name: "fpx", type: T_FPX },
      { name: "time", type: T_TIME },
    ],
    globals: ["hb"],
    memoryPages: lay.pages,
    tableSize: lay.ramPages,
    funcs: [
      ...sharedHelpers(lay).int,
      { type: T_EXIT, locals: [], body: exitHelper(vbase, lay), export: undefined },
      sharedHelpers(lay).chain,
      ...sharedHelpers(lay).fp,
      { type: T_PAGE, locals: LOCALS, body: dispatcher, export: "run" },
      ...bodies.map((body) => ({ type: T_PAGE, locals: LOCALS, body, export: undefined })),
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
  c.op(W.global_get).u32(G_HB).get(0).op(W.i64_extend_i32_s).i64(vbase).op(W.i64_add).op(
    W.f64_convert_i64_s,
  );
  c.mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.op(W.global_get).u32(G_HB).get(1).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.op(W.global_get).u32(G_HB).get(2).i32(2).op(W.i32_shr_u).mem(
    W.i32_store,
    2,
    SC + SCRATCH_STRETCH,
  );
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

/**
 * The function-table filler for a RAM page without a translation: a module
 * whose `run` (the page functions' type) leaves to JS with pc = vpn*4096 + 2*hw.
 */
export function emitStub(lay: Layout): Uint8Array<ArrayBuffer> {
  const c = new Code();
  const SC = lay.scratch;
  c.i32(0).get(L_VPN).f64(4096).op(W.f64_mul).get(L_HW).op(W.f64_convert_i32_u).f64(2);
  c.op(W.f64_mul).op(W.f64_add).mem(W.f64_store, 3, SC + SCRATCH_PC);
  c.i32(0).get(L_N).mem(W.i32_store, 2, SC + SCRATCH_N);
  c.i32(EXIT_JUMP);
  return buildModule({
    types: [{ params: [I32, I32, I32, F64], results: [I32] }],
    imports: [],
    memoryPages: lay.pages,
    funcs: [{ type: 0, locals: [], body: c, export: "run" }],
  });
}
