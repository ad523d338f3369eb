// Test support for the hart tests (tests/cpu_*_test.ts): a tiny assembler
// built on cpu/decode.ts's encoders, and a machine with 4 MiB of RAM at
// 0x8000_0000 whose `ecall` from M-mode (with a7 = 93) halts the run.
// After useTranslator(), or with ACTORVM_TEST_JIT=1 in the environment
// (threshold 1), its harts run through the translator (cpu/jit/), so the same
// tests check tier 1: tests/unit/cpu/jit_harness_test.ts and
// tests/unit/cpu/jit_priv_test.ts.
// Read next: tests/unit/cpu/integer_test.ts.

import { Hart, type HartOptions, RUN_STOP } from "../cpu/hart.ts";
import { createJitHart, createJitMemory, Jit, type JitOptions } from "../cpu/jit/tier.ts";
import type { Bus } from "../cpu/bus.ts";
import { encB, encI, encJ, encR, encS, encU, OP } from "../cpu/decode.ts";

export const BASE = 0x8000_0000;

let jitOptions: JitOptions | null = (() => {
  try {
    return Deno.env.get("ACTORVM_TEST_JIT") === "1" ? { threshold: 1 } : null;
  } catch {
    return null; // no --allow-env: the interpreter
  }
})();
/** The translators of the harts made since useTranslator (their stats show what ran translated). */
export const translators: Jit[] = [];

/** From now on makeHart's harts run through the translator (in this isolate: one test module). */
export function useTranslator(opts: JitOptions): void {
  jitOptions = opts;
}

/**
 * A hart whose run() is the translator's: Jit drives a view of the hart whose
 * own run() is still the interpreter's (tier 0 under tier 1).
 */
function translatedHart(opts: Partial<HartOptions> & { ramBytes?: number }): Hart {
  const mem = createJitMemory(opts.ramBytes ?? 4 << 20);
  const h = createJitHart(mem, { ...opts, ramBase: opts.ramBase ?? BASE });
  const interp = (n: number) => Hart.prototype.run.call(h, n);
  const tier0 = new Proxy(h, {
    get: (t, k) => (k === "run" ? interp : Reflect.get(t, k)),
    set: (t, k, v) => Reflect.set(t, k, v),
  });
  const jit = new Jit(tier0, mem, jitOptions!);
  translators.push(jit);
  // Only the interpreter records pcs (as in the cpu actor, where --trace-on-crash keeps tier 0).
  h.run = (n: number) => h.pcRing !== null ? interp(n) : jit.run(n);
  return h;
}

export function makeHart(opts: Partial<HartOptions> & { ramBytes?: number } = {}): Hart {
  const h = jitOptions !== null && opts.ram === undefined ? translatedHart(opts) : new Hart({
    ...opts,
    ram: opts.ram ?? new SharedArrayBuffer(opts.ramBytes ?? 4 << 20),
    ramBase: opts.ramBase ?? BASE,
  });
  h.pcN = BASE;
  // ecall with a7 = 93 from any mode stops the run (a test "exit").
  h.onEcall = (hart) => {
    if (hart.x[17] !== 93n) return false;
    hart.stopRequested = true;
    return true;
  };
  return h;
}

/** Write 32-bit words (or 16-bit halves for compressed code when given as {h: n}) at a physical address. */
export function load(h: Hart, addr: number, code: (number | { h: number })[]): void {
  let off = addr - h.ramBase;
  for (const w of code) {
    if (typeof w === "number") {
      new DataView(h.ram8.buffer).setInt32(off, w, true);
      off += 4;
    } else {
      new DataView(h.ram8.buffer).setUint16(off, w.h, true);
      off += 2;
    }
  }
}

/** Run until the exit ecall; fails if it does not come within `limit` instructions. */
export function runToExit(h: Hart, limit = 100_000): void {
  const r = h.run(limit); // the translator's run under useTranslator (translatedHart)
  if (r !== RUN_STOP) {
    throw new Error(
      `program did not exit (run returned ${r}, pc ${h.pc.toString(16)}, last trap ${
        JSON.stringify(h.lastTrap, (_k, v) => typeof v === "bigint" ? "0x" + v.toString(16) : v)
      })`,
    );
  }
}

/** A bus with one 4 KiB page of plain registers at `at`, logging every access. */
export function recordingBus(at: number): Bus & { log: string[]; mem: Uint32Array } {
  const mem = new Uint32Array(1024);
  const log: string[] = [];
  return {
    mem,
    log,
    read(addr, size) {
      if (addr < at || addr >= at + 4096) return -1;
      log.push(`r${size}@${(addr - at).toString(16)}`);
      const w = mem[(addr - at) >>> 2];
      const sh = ((addr - at) & 3) * 8;
      return size === 4 ? w : (w >>> sh) & (size === 1 ? 0xff : 0xffff);
    },
    write(addr, size, value) {
      if (addr < at || addr >= at + 4096) return false;
      log.push(`w${size}@${(addr - at).toString(16)}=${value.toString(16)}`);
      const i = (addr - at) >>> 2;
      const sh = ((addr - at) & 3) * 8;
      const mask = size === 4 ? 0xffffffff : ((size === 1 ? 0xff : 0xffff) << sh);
      mem[i] = (mem[i] & ~mask) | ((value << sh) & mask);
      return true;
    },
  };
}

// --- the assembler: one function per instruction, returning the word ---
const r = (f3: number, f7: number, op: number = OP.OP) => (rd: number, rs1: number, rs2: number) =>
  encR(op, rd, f3, rs1, rs2, f7);
const i = (f3: number, op: number = OP.OP_IMM) => (rd: number, rs1: number, imm: number) =>
  encI(op, rd, f3, rs1, imm);
const ld = (f3: number, op: number = OP.LOAD) => (rd: number, imm: number, rs1: number) =>
  encI(op, rd, f3, rs1, imm);
const st = (f3: number, op: number = OP.STORE) => (rs2: number, imm: number, rs1: number) =>
  encS(op, f3, rs1, rs2, imm);
const br = (f3: number) => (rs1: number, rs2: number, off: number) => encB(f3, rs1, rs2, off);
const sh =
  (f3: number, top: number, op: number = OP.OP_IMM) => (rd: number, rs1: number, n: number) =>
    encI(op, rd, f3, rs1, (top << 6) | n);
const csr = (f3: number) => (rd: number, c: number, rs1: number) => encI(OP.SYSTEM, rd, f3, rs1, c);
const amo = (f5: number, w: boolean) => (rd: number, rs2: number, rs1: number) =>
  encR(OP.AMO, rd, w ? 2 : 3, rs1, rs2, f5 << 2);

export const A = {
  add: r(0, 0),
  sub: r(0, 0x20),
  sll: r(1, 0),
  slt: r(2, 0),
  sltu: r(3, 0),
  xor: r(4, 0),
  srl: r(5, 0),
  sra: r(5, 0x20),
  or: r(6, 0),
  and: r(7, 0),
  mul: r(0, 1),
  mulh: r(1, 1),
  mulhsu: r(2, 1),
  mulhu: r(3, 1),
  div: r(4, 1),
  divu: r(5, 1),
  rem: r(6, 1),
  remu: r(7, 1),
  addw: r(0, 0, OP.OP_32),
  subw: r(0, 0x20, OP.OP_32),
  sllw: r(1, 0, OP.OP_32),
  srlw: r(5, 0, OP.OP_32),
  sraw: r(5, 0x20, OP.OP_32),
  mulw: r(0, 1, OP.OP_32),
  divw: r(4, 1, OP.OP_32),
  divuw: r(5, 1, OP.OP_32),
  remw: r(6, 1, OP.OP_32),
  remuw: r(7, 1, OP.OP_32),
  addi: i(0),
  slti: i(2),
  sltiu: i(3),
  xori: i(4),
  ori: i(6),
  andi: i(7),
  addiw: i(0, OP.OP_IMM_32),
  slli: sh(1, 0),
  srli: sh(5, 0),
  srai: sh(5, 0x10),
  slliw: sh(1, 0, OP.OP_IMM_32),
  srliw: sh(5, 0, OP.OP_IMM_32),
  sraiw: sh(5, 0x10, OP.OP_IMM_32),
  lui: (rd: number, imm20: number) => encU(OP.LUI, rd, imm20 << 12),
  auipc: (rd: number, imm20: number) => encU(OP.AUIPC, rd, imm20 << 12),
  jal: (rd: number, off: number) => encJ(rd, off),
  jalr: (rd: number, rs1: number, imm: number) => encI(OP.JALR, rd, 0, rs1, imm),
  beq: br(0),
  bne: br(1),
  blt: br(4),
  bge: br(5),
  bltu: br(6),
  bgeu: br(7),
  lb: ld(0),
  lh: ld(1),
  lw: ld(2),
  ld: ld(3),
  lbu: ld(4),
  lhu: ld(5),
  lwu: ld(6),
  sb: st(0),
  sh: st(1),
  sw: st(2),
  sd: st(3),
  flw: ld(2, OP.LOAD_FP),
  fld: ld(3, OP.LOAD_FP),
  fsw: st(2, OP.STORE_FP),
  fsd: st(3, OP.STORE_FP),
  csrrw: csr(1),
  csrrs: csr(2),
  csrrc: csr(3),
  csrrwi: csr(5),
  csrrsi: csr(6),
  csrrci: csr(7),
  lrw: (rd: number, rs1: number) => amo(2, true)(rd, 0, rs1),
  lrd: (rd: number, rs1: number) => amo(2, false)(rd, 0, rs1),
  scw: amo(3, true),
  scd: amo(3, false),
  amoswapw: amo(1, true),
  amoaddw: amo(0, true),
  amoxorw: amo(4, true),
  amoandw: amo(12, true),
  amoorw: amo(8, true),
  amominw: amo(16, true),
  amomaxw: amo(20, true),
  amominuw: amo(24, true),
  amomaxuw: amo(28, true),
  amoswapd: amo(1, false),
  amoaddd: amo(0, false),
  amoxord: amo(4, false),
  amoandd: amo(12, false),
  amoord: amo(8, false),
  amomind: amo(16, false),
  amomaxd: amo(20, false),
  amominud: amo(24, false),
  amomaxud: amo(28, false),
  fence: () => 0x0ff0000f,
  fencei: () => 0x0000100f,
  ecall: () => 0x00000073,
  ebreak: () => 0x00100073,
  mret: () => 0x30200073,
  sret: () => 0x10200073,
  wfi: () => 0x10500073,
  sfence: (rs1 = 0, rs2 = 0) => encR(OP.SYSTEM, 0, 0, rs1, rs2, 0x09),
  /** The test exit: a7 = 93; ecall. */
  exit: () => [encI(OP.OP_IMM, 17, 0, 0, 93), 0x00000073],
};

/** Load a 64-bit constant into rd (lui/addi/slli sequence, up to 8 words). */
export function li(rd: number, v: bigint): number[] {
  v = BigInt.asIntN(64, v);
  if (v >= -2048n && v < 2048n) return [A.addi(rd, 0, Number(v))];
  if (v >= -(1n << 31n) && v < (1n << 31n)) {
    const n = Number(v);
    const lo = (n << 20) >> 20;
    const hi = ((n - lo) >>> 12) & 0xfffff;
    const out = [A.lui(rd, hi)];
    if (lo !== 0) out.push(A.addiw(rd, rd, lo));
    return out;
  }
  // Build the upper part, then shift in 12 bits at a time.
  const lo = Number(BigInt.asIntN(12, v));
  const rest = (v - BigInt(lo)) >> 12n;
  const out = li(rd, rest);
  out.push(A.slli(rd, rd, 12));
  if (lo !== 0) out.push(A.addi(rd, rd, lo));
  return out;
}
