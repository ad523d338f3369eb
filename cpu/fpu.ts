// The F and D extensions: the 32 FP registers, frm/fflags, and execution of
// every OP-FP / FMADD / FMSUB / FNMSUB / FNMADD instruction. The hart (cpu/hart.ts)
// owns FP loads/stores, mstatus.FS and the fcsr CSRs and calls Fpu.execute.
// Exact arithmetic lives in cpu/softfloat.ts (the reference path); this file
// decodes, handles NaN-boxing, and takes JS-number fast paths for the common
// round-to-nearest-even cases where the host result and its flags are provably
// the IEEE ones (see docs/fpu.md). Read next: cpu/softfloat.ts.

import * as sf from "./softfloat.ts";
import { F32, F64, NV, NX, OF, RDN, RMM, RNE, RTZ, RUP, status } from "./softfloat.ts";

const MIN_NORMAL_S = 1.1754943508222875e-38; // 2^-126
const CANONICAL_NAN_S = 0x7fc00000;
const SPLIT = 134217729; // 2^27 + 1, Veltkamp's splitter for binary64
const LO_GUARD = 2 ** -400; // |operand| range in which Dekker's TwoProduct is exact
const HI_GUARD = 2 ** 400;

// Scratch for single <-> number conversion (numbers here are always non-NaN),
// and for reading a double's bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const d64 = new Float64Array(1);
const d32 = new Int32Array(d64.buffer);
const FMA_LO = 2 ** -960; // |result| range of the fused fast path (error terms stay normal)
const FMA_HI = 2 ** 1000;

/** The error term of a×b (exact when both lie in [2^-400, 2^400]): Dekker's TwoProduct. */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

function inGuard(v: number): boolean {
  const m = Math.abs(v);
  return m > LO_GUARD && m < HI_GUARD;
}

/** The FP register file and the FP arithmetic unit of one hart. */
export class Fpu {
  /** f0..f31 raw bit patterns; singles are NaN-boxed (upper 32 bits all ones). */
  readonly bits: BigInt64Array;
  /** Dynamic rounding mode (fcsr.frm), 0..7. */
  frm = 0;
  /** Accrued exception flags (fcsr.fflags): NV=16 DZ=8 OF=4 UF=2 NX=1. */
  fflags = 0;
  // Views of `bits`: i32[2r] is the low word of f_r, i32[2r+1] the high word
  // (little-endian, as on every host Deno runs on); f64[r] is f_r as a double.
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(bits: BigInt64Array = new BigInt64Array(32)) {
    if (bits.length !== 32) throw new Error(`Fpu: need 32 registers, got ${bits.length}`);
    this.bits = bits;
    this.i32 = new Int32Array(bits.buffer, bits.byteOffset, 64);
    this.f64 = new Float64Array(bits.buffer, bits.byteOffset, 32);
  }

  // ---- Register access (NaN-boxing) ----

  /** The single in f_r as raw 32 bits (unsigned); an invalid box reads as the canonical NaN. */
  private rawS(r: number): number {
    return this.i32[2 * r + 1] === -1 ? this.i32[2 * r] >>> 0 : CANONICAL_NAN_S;
  }

  /** The single in f_r as a number (NaN for any NaN, including an invalid box). */
  private numS(r: number): number {
    if (this.i32[2 * r + 1] !== -1) return NaN;
    u32[0] = this.i32[2 * r];
    return f32[0];
  }

  private writeRawS(r: number, raw: number): void {
    this.i32[2 * r] = raw | 0;
    this.i32[2 * r + 1] = -1;
  }

  private writeNumS(r: number, v: number): void {
    f32[0] = v;
    this.writeRawS(r, u32[0]);
  }

  private rawD(r: number): bigint {
    return BigInt.asUintN(64, this.bits[r]);
  }

  /** Raw operand of format fmt (0 = S, 1 = D) as a bigint for the softfloat. */
  private raw(fmt: number, r: number): bigint {
    return fmt ? this.rawD(r) : BigInt(this.rawS(r));
  }

  private writeRaw(fmt: number, r: number, raw: bigint): void {
    if (fmt) this.bits[r] = BigInt.asIntN(64, raw);
    else this.writeRawS(r, Number(raw));
  }

  private isSignalingNaN(fmt: number, r: number): boolean {
    if (fmt) {
      const hi = this.i32[2 * r + 1];
      return (hi & 0x7ff80000) === 0x7ff00000 && ((hi & 0x7ffff) | this.i32[2 * r]) !== 0;
    }
    const v = this.rawS(r);
    return (v & 0x7fc00000) === 0x7f800000 && (v & 0x3fffff) !== 0;
  }

  /** Sign bit of the operand (after unboxing). */
  private signOf(fmt: number, r: number): number {
    return fmt ? this.i32[2 * r + 1] >>> 31 : this.rawS(r) >>> 31;
  }

  // ---- Execution ----

  /**
   * Execute one instruction with major opcode OP-FP (0x53), FMADD (0x43),
   * FMSUB (0x47), FNMSUB (0x4B) or FNMADD (0x4F). `x` is the integer register
   * file. Returns 0 when an FP register was written, 1 when only x/fflags were,
   * -1 for an illegal instruction (nothing is changed then).
   */
  execute(insn: number, x: BigInt64Array): number {
    switch (insn & 0x7f) {
      case 0x53:
        return this.opFp(insn, x);
      case 0x43:
        return this.fused(insn, false, false);
      case 0x47:
        return this.fused(insn, false, true);
      case 0x4b:
        return this.fused(insn, true, false);
      case 0x4f:
        return this.fused(insn, true, true);
    }
    return -1;
  }

  /** The effective rounding mode for an rm field, or -1 if reserved. */
  private roundingMode(rm: number): number {
    if (rm === 7) rm = this.frm;
    return rm <= RMM ? rm : -1;
  }

  private fused(insn: number, negProd: boolean, negC: boolean): number {
    const fmt = (insn >>> 25) & 3;
    if (fmt > 1) return -1;
    const rm = this.roundingMode((insn >>> 12) & 7);
    if (rm < 0) return -1;
    if (rm === RNE && this.fastFma(fmt, insn, negProd, negC)) return 0;
    const f = fmt ? F64 : F32;
    status.flags = 0;
    const r = sf.fma(
      f,
      this.raw(fmt, (insn >>> 15) & 31),
      this.raw(fmt, (insn >>> 20) & 31),
      this.raw(fmt, insn >>> 27),
      rm,
      negProd,
      negC,
    );
    this.writeRaw(fmt, (insn >>> 7) & 31, r);
    this.fflags |= status.flags;
    return 0;
  }

  private opFp(insn: number, x: BigInt64Array): number {
    const fmt = (insn >>> 25) & 3;
    if (fmt > 1) return -1;
    const rd = (insn >>> 7) & 31;
    const funct3 = (insn >>> 12) & 7;
    const rs1 = (insn >>> 15) & 31;
    const rs2 = (insn >>> 20) & 31;
    const f = fmt ? F64 : F32;
    switch (insn >>> 27) {
      case 0x00: // FADD
      case 0x01: // FSUB
      case 0x02: // FMUL
      case 0x03: { // FDIV
        const rm = this.roundingMode(funct3);
        if (rm < 0) return -1;
        const op = insn >>> 27;
        if (rm === RNE && (fmt ? this.fastD(op, rd, rs1, rs2) : this.fastS(op, rd, rs1, rs2))) {
          return 0;
        }
        status.flags = 0;
        const a = this.raw(fmt, rs1), b = this.raw(fmt, rs2);
        const r = op === 0
          ? sf.add(f, a, b, rm)
          : op === 1
          ? sf.add(f, a, b, rm, true)
          : op === 2
          ? sf.mul(f, a, b, rm)
          : sf.div(f, a, b, rm);
        this.writeRaw(fmt, rd, r);
        this.fflags |= status.flags;
        return 0;
      }
      case 0x0b: { // FSQRT
        if (rs2 !== 0) return -1;
        const rm = this.roundingMode(funct3);
        if (rm < 0) return -1;
        if (rm === RNE && (fmt ? this.fastD(4, rd, rs1, 0) : this.fastS(4, rd, rs1, 0))) return 0;
        status.flags = 0;
        this.writeRaw(fmt, rd, sf.sqrt(f, this.raw(fmt, rs1), rm));
        this.fflags |= status.flags;
        return 0;
      }
      case 0x04: // FSGNJ / FSGNJN / FSGNJX
        if (funct3 > 2) return -1;
        this.signInject(fmt, funct3, rd, rs1, rs2);
        return 0;
      case 0x05: // FMIN / FMAX
        if (funct3 > 1) return -1;
        this.minMax(fmt, funct3 === 1, rd, rs1, rs2);
        return 0;
      case 0x08: { // FCVT.S.D (fmt S, rs2 = 1) / FCVT.D.S (fmt D, rs2 = 0)
        if (rs2 !== (fmt ? 0 : 1)) return -1;
        const rm = this.roundingMode(funct3);
        if (rm < 0) return -1;
        this.convertFloat(fmt, rm, rd, rs1);
        return 0;
      }
      case 0x14: { // FLE / FLT / FEQ
        if (funct3 > 2) return -1;
        const v = this.compare(fmt, funct3, rs1, rs2);
        if (rd !== 0) x[rd] = BigInt(v);
        return 1;
      }
      case 0x18: { // FCVT.W / WU / L / LU from S or D
        if (rs2 > 3) return -1;
        const rm = this.roundingMode(funct3);
        if (rm < 0) return -1;
        const v = this.toInt(fmt, rm, rs1, rs2);
        if (rd !== 0) x[rd] = v;
        return 1;
      }
      case 0x1a: { // FCVT.S/D from W / WU / L / LU
        if (rs2 > 3) return -1;
        const rm = this.roundingMode(funct3);
        if (rm < 0) return -1;
        this.fromInt(fmt, rm, rd, rs2, x[rs1]);
        return 0;
      }
      case 0x1c: // FMV.X.W / FMV.X.D (funct3 0), FCLASS (funct3 1)
        if (rs2 !== 0 || funct3 > 1) return -1;
        if (rd !== 0) {
          // FMV.X.W moves the low 32 bits as they are (no unboxing), sign-extended.
          x[rd] = funct3 === 1
            ? BigInt(this.classify(fmt, rs1))
            : fmt
            ? this.bits[rs1]
            : BigInt(this.i32[2 * rs1]);
        }
        return 1;
      case 0x1e: // FMV.W.X / FMV.D.X
        if (rs2 !== 0 || funct3 !== 0) return -1;
        if (fmt) this.bits[rd] = x[rs1];
        else this.writeRawS(rd, Number(BigInt.asIntN(32, x[rs1])));
        return 0;
    }
    return -1;
  }

  // ---- Fast paths (RNE only; false = not taken, nothing changed) ----

  /**
   * Binary64 add/sub/mul/div/sqrt (op 0..4) on host doubles. Add and sub: any
   * finite sum (a sum that lands below 2^-1022 is exact, so it never
   * underflows), with NX from TwoSum's exact error; an infinite sum of finite
   * operands is an overflow. Mul/div/sqrt: operands where Dekker's TwoProduct
   * is exact, giving NX (the result is then far from overflow and underflow),
   * and exact zeros. Everything else goes to the softfloat.
   */
  private fastD(op: number, rd: number, rs1: number, rs2: number): boolean {
    const a = this.f64[rs1], b = this.f64[rs2];
    let r: number, inexact: boolean;
    switch (op) {
      case 0:
      case 1: {
        const bb = op === 0 ? b : -b;
        r = a + bb;
        if (r - r !== 0) { // infinite or NaN
          if (r !== r || a - a !== 0 || bb - bb !== 0) return false;
          this.f64[rd] = r; // finite + finite overflowed: RNE gives ±inf
          this.fflags |= OF | NX;
          return true;
        }
        const v = r - a; // TwoSum: a + bb = r + err exactly
        inexact = (a - (r - v)) + (bb - v) !== 0;
        break;
      }
      case 2:
        if (!inGuard(a) || !inGuard(b)) {
          // ±0 × finite is an exact signed zero.
          if ((a === 0 && b - b === 0) || (b === 0 && a - a === 0)) {
            this.f64[rd] = a * b;
            return true;
          }
          return false;
        }
        r = a * b;
        inexact = productError(a, b, r) !== 0;
        break;
      case 3:
        if (!inGuard(a) || !inGuard(b)) {
          if (a === 0 && b - b === 0 && b !== 0) {
            this.f64[rd] = a / b;
            return true;
          }
          return false;
        }
        r = a / b;
        // a/b is exact iff q×b == a; a - hi(q×b) is exact (Sterbenz).
        inexact = a - r * b !== productError(r, b, r * b);
        break;
      default:
        if (!(a > LO_GUARD && a < HI_GUARD)) {
          if (a === 0) { // sqrt(±0) = ±0
            this.f64[rd] = a;
            return true;
          }
          return false;
        }
        r = Math.sqrt(a);
        inexact = r * r !== a || productError(r, r, r * r) !== 0;
    }
    this.f64[rd] = r;
    if (inexact) this.fflags |= NX;
    return true;
  }

  /**
   * Binary32 add/sub/mul/div/sqrt on host doubles, rounded once more with
   * Math.fround: binary64 has more than 2×24+2 bits, so the double rounding is
   * innocuous for these five operations (Figueroa). Exactness is decided in
   * binary64: TwoSum for add/sub, and the products a×b, R×b, R×R of singles
   * are exact there. Exact results are taken whatever their size; inexact
   * ones only above the smallest normal (no UF question), finite (no OF).
   */
  private fastS(op: number, rd: number, rs1: number, rs2: number): boolean {
    const a = this.numS(rs1), b = this.numS(rs2);
    let s: number;
    switch (op) {
      case 0:
        s = a + b;
        break;
      case 1:
        s = a - b;
        break;
      case 2:
        s = a * b;
        break;
      case 3:
        s = a / b;
        break;
      default:
        s = Math.sqrt(a);
    }
    const r = Math.fround(s);
    if (r - r !== 0) return false; // NaN or infinite
    let inexact: boolean;
    switch (op) {
      case 0:
      case 1: {
        const bb = op === 0 ? b : -b;
        const v = s - a;
        inexact = r !== s || (a - (s - v)) + (bb - v) !== 0;
        break;
      }
      case 2:
        inexact = r !== s;
        break;
      case 3:
        inexact = r * b !== a;
        break;
      default:
        inexact = r * r !== a;
    }
    if (inexact && !(Math.abs(r) > MIN_NORMAL_S)) return false;
    this.writeNumS(rd, r);
    if (inexact) this.fflags |= NX;
    return true;
  }

  /**
   * Fused multiply-add in RNE on host doubles (false = not taken).
   * Double: a×b = p + e exactly (TwoProduct), then two TwoSums give
   * a×b + c = r + rErr + u2 exactly with r = RN(s1 + u); r is the correctly
   * rounded result unless rErr + u2 reaches the midpoint next to r — then the
   * softfloat decides. The computed |rErr + u2| is compared with a power of
   * two, so rounding in that sum cannot flip the answer.
   * Single: a×b is exact in binary64 and p + c = s + t exactly (TwoSum); the
   * final Math.fround(s) is right unless s is a binary32 midpoint and t ≠ 0.
   */
  private fastFma(fmt: number, insn: number, negProd: boolean, negC: boolean): boolean {
    const rs3 = insn >>> 27, rd = (insn >>> 7) & 31;
    let a = fmt ? this.f64[(insn >>> 15) & 31] : this.numS((insn >>> 15) & 31);
    const b = fmt ? this.f64[(insn >>> 20) & 31] : this.numS((insn >>> 20) & 31);
    let c = fmt ? this.f64[rs3] : this.numS(rs3);
    if (negProd) a = -a;
    if (negC) c = -c;
    if (!fmt) {
      const p = a * b; // exact: 48-bit product, far from binary64's limits
      const s = p + c;
      if (s - s !== 0) return false; // NaN or infinite
      const v = s - p;
      const t = (p - (s - v)) + (c - v);
      d64[0] = s;
      if (t !== 0 && (d32[0] & 0x1fffffff) === 0x10000000) return false; // midpoint
      const r = Math.fround(s);
      if (r - r !== 0) return false;
      const inexact = r !== s || t !== 0;
      if (inexact && !(Math.abs(r) > MIN_NORMAL_S)) return false;
      this.writeNumS(rd, r);
      if (inexact) this.fflags |= NX;
      return true;
    }
    if (!inGuard(a) || !inGuard(b) || !(Math.abs(c) < FMA_HI)) {
      // A zero product plus a finite c is exact (with IEEE's sign of zero in RNE).
      if ((a === 0 || b === 0) && a - a === 0 && b - b === 0 && c - c === 0) {
        this.f64[rd] = a * b + c;
        return true;
      }
      return false;
    }
    const p = a * b;
    const e = productError(a, b, p);
    const s1 = p + c; // TwoSum(p, c) -> s1 + t1
    let v = s1 - p;
    const t1 = (p - (s1 - v)) + (c - v);
    const u = t1 + e; // TwoSum(t1, e) -> u + u2
    v = u - t1;
    const u2 = (t1 - (u - v)) + (e - v);
    const r = s1 + u; // TwoSum(s1, u) -> r + rErr
    v = r - s1;
    const rErr = (s1 - (r - v)) + (u - v);
    const m = Math.abs(r);
    if (!(m > FMA_LO && m < FMA_HI)) return false;
    const d = rErr + u2;
    if (d !== 0) {
      d64[0] = r;
      const hi = d32[1], lo = d32[0];
      d32[1] = (((hi >>> 20) & 0x7ff) - 53) << 20; // half an ulp of r
      d32[0] = 0;
      let half = d64[0];
      // Below a power of two the spacing halves.
      if ((hi & 0xfffff) === 0 && lo === 0 && (d < 0) !== (r < 0)) half /= 2;
      if (!(Math.abs(d) < half)) return false;
      this.fflags |= NX;
    }
    this.f64[rd] = r;
    return true;
  }

  // ---- Non-arithmetic operations ----

  private signInject(fmt: number, kind: number, rd: number, rs1: number, rs2: number): void {
    const s2 = this.signOf(fmt, rs2);
    const s1 = this.signOf(fmt, rs1);
    const sign = kind === 0 ? s2 : kind === 1 ? s2 ^ 1 : s1 ^ s2;
    if (fmt) {
      const lo = this.i32[2 * rs1], hi = this.i32[2 * rs1 + 1];
      this.i32[2 * rd] = lo;
      this.i32[2 * rd + 1] = (hi & 0x7fffffff) | (sign << 31);
    } else {
      this.writeRawS(rd, (this.rawS(rs1) & 0x7fffffff) | (sign << 31));
    }
  }

  /** FMIN/FMAX: IEEE 754-2019 minimumNumber/maximumNumber, -0 < +0. */
  private minMax(fmt: number, max: boolean, rd: number, rs1: number, rs2: number): void {
    const a = fmt ? this.f64[rs1] : this.numS(rs1);
    const b = fmt ? this.f64[rs2] : this.numS(rs2);
    if (this.isSignalingNaN(fmt, rs1) || this.isSignalingNaN(fmt, rs2)) this.fflags |= NV;
    let pick: number;
    if (a !== a) {
      if (b !== b) {
        if (fmt) this.writeRaw(1, rd, F64.canonicalNaN);
        else this.writeRawS(rd, CANONICAL_NAN_S);
        return;
      }
      pick = rs2;
    } else if (b !== b || a === b) {
      // Equal values differ at most in the sign of zero: min takes the negative one.
      pick = b !== b || (this.signOf(fmt, rs1) === 1) !== max ? rs1 : rs2;
    } else {
      pick = (a < b) !== max ? rs1 : rs2;
    }
    if (fmt) this.bits[rd] = this.bits[pick];
    else this.writeRawS(rd, this.rawS(pick));
  }

  /** FLE (0), FLT (1), FEQ (2): 1 or 0. FEQ is quiet; FLT/FLE signal on any NaN. */
  private compare(fmt: number, kind: number, rs1: number, rs2: number): number {
    const a = fmt ? this.f64[rs1] : this.numS(rs1);
    const b = fmt ? this.f64[rs2] : this.numS(rs2);
    if (a !== a || b !== b) {
      if (kind !== 2 || this.isSignalingNaN(fmt, rs1) || this.isSignalingNaN(fmt, rs2)) {
        this.fflags |= NV;
      }
      return 0;
    }
    return (kind === 0 ? a <= b : kind === 1 ? a < b : a === b) ? 1 : 0;
  }

  /** FCLASS: one bit of ten. */
  private classify(fmt: number, r: number): number {
    let sign: number, exp: number, fracZero: boolean, quiet: boolean, expMax: number;
    if (fmt) {
      const hi = this.i32[2 * r + 1], lo = this.i32[2 * r];
      sign = hi >>> 31;
      exp = (hi >>> 20) & 0x7ff;
      expMax = 0x7ff;
      fracZero = ((hi & 0xfffff) | lo) === 0;
      quiet = (hi & 0x80000) !== 0;
    } else {
      const v = this.rawS(r);
      sign = v >>> 31;
      exp = (v >>> 23) & 0xff;
      expMax = 0xff;
      fracZero = (v & 0x7fffff) === 0;
      quiet = (v & 0x400000) !== 0;
    }
    if (exp === expMax) {
      if (fracZero) return sign ? 1 << 0 : 1 << 7;
      return quiet ? 1 << 9 : 1 << 8;
    }
    if (exp === 0) {
      if (fracZero) return sign ? 1 << 3 : 1 << 4;
      return sign ? 1 << 2 : 1 << 5;
    }
    return sign ? 1 << 1 : 1 << 6;
  }

  // ---- Conversions ----

  /** FCVT.S.D (fmt 0: double → single) and FCVT.D.S (fmt 1: single → double). */
  private convertFloat(fmt: number, rm: number, rd: number, rs1: number): void {
    if (fmt) {
      const a = this.numS(rs1);
      if (a === a) {
        this.f64[rd] = a; // every single is exactly a double
        return;
      }
    } else if (rm === RNE) {
      const a = this.f64[rs1];
      const r = Math.fround(a);
      if ((Math.abs(r) > MIN_NORMAL_S || a === 0) && r !== Infinity && r !== -Infinity) {
        this.writeNumS(rd, r);
        if (r !== a) this.fflags |= NX;
        return;
      }
    }
    status.flags = 0;
    const r = fmt
      ? sf.convert(F64, F32, this.raw(0, rs1), rm)
      : sf.convert(F32, F64, this.rawD(rs1), rm);
    this.writeRaw(fmt, rd, r);
    this.fflags |= status.flags;
  }

  /** FCVT.W/WU/L/LU (kind 0..3) from f_rs1; the result sign-extended to 64 bits. */
  private toInt(fmt: number, rm: number, rs1: number, kind: number): bigint {
    const a = fmt ? this.f64[rs1] : this.numS(rs1);
    if (Math.abs(a) < 4503599627370496) { // 2^52: a - floor(a) is exact
      let r: number;
      switch (rm) {
        case RTZ:
          r = Math.trunc(a);
          break;
        case RDN:
          r = Math.floor(a);
          break;
        case RUP:
          r = Math.ceil(a);
          break;
        case RNE: {
          r = Math.floor(a);
          const d = a - r;
          if (d > 0.5 || (d === 0.5 && r % 2 !== 0)) r += 1;
          break;
        }
        default: { // RMM
          r = Math.trunc(a);
          if (Math.abs(a - r) >= 0.5) r += a < 0 ? -1 : 1;
        }
      }
      const lo = kind === 0 ? -2147483648 : kind === 2 ? -Infinity : 0;
      const hi = kind === 0 ? 2147483647 : kind === 1 ? 4294967295 : Infinity;
      if (r >= lo && r <= hi) {
        if (r !== a) this.fflags |= NX;
        return kind === 1 ? BigInt(r | 0) : BigInt(r);
      }
    }
    status.flags = 0;
    const v = sf.toInt(
      fmt ? F64 : F32,
      this.raw(fmt, rs1),
      rm,
      kind < 2 ? 32 : 64,
      (kind & 1) === 0,
    );
    this.fflags |= status.flags;
    return kind < 2 ? BigInt.asIntN(32, v) : BigInt.asIntN(64, v);
  }

  /** FCVT.S/D.W/WU/L/LU (kind 0..3) from an integer register value. */
  private fromInt(fmt: number, rm: number, rd: number, kind: number, xv: bigint): void {
    const v = kind === 0
      ? BigInt.asIntN(32, xv)
      : kind === 1
      ? BigInt.asUintN(32, xv)
      : kind === 2
      ? xv
      : BigInt.asUintN(64, xv);
    const limit = fmt ? 9007199254740992n : 16777216n; // exactly representable below
    if (v <= limit && v >= -limit) {
      const n = Number(v);
      if (fmt) this.f64[rd] = n;
      else this.writeNumS(rd, n);
      return;
    }
    status.flags = 0;
    this.writeRaw(fmt, rd, sf.fromInt(fmt ? F64 : F32, v, rm));
    this.fflags |= status.flags;
  }
}
