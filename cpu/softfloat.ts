// Exact IEEE 754 binary32/binary64 arithmetic over BigInt: the reference path of
// the FPU. Every operation computes the exact result (or an exact quotient/root
// with a sticky bit) as sig × 2^e and hands it to one rounding routine,
// roundPack, which implements the five RISC-V rounding modes, overflow,
// underflow with tininess detected after rounding, and inexact.
// Values travel as raw bit patterns (bigint, unsigned). NaN results are always
// the canonical NaN, as RISC-V requires. Flags accumulate in `status.flags`.
// Read next: cpu/fpu.ts (decode, registers, the fast paths that bypass this).

/** fflags bits. */
export const NV = 16, DZ = 8, OF = 4, UF = 2, NX = 1;
/** Rounding modes (the rm field / frm). */
export const RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4;

/** Exception flags raised by the operations since the caller last cleared them. */
export const status = { flags: 0 };

/** A binary interchange format. */
export interface Format {
  /** Precision in bits, counting the hidden bit. */
  readonly p: number;
  readonly fracBits: number;
  readonly expBits: number;
  readonly bias: number;
  /** Exponent of the smallest normal (1.0 × 2^emin) and of the largest finite. */
  readonly emin: number;
  readonly emax: number;
  readonly width: number;
  readonly expMax: number; // all-ones biased exponent
  readonly fracMask: bigint;
  readonly hidden: bigint; // 2^(p-1)
  readonly signBit: bigint;
  readonly inf: bigint;
  readonly maxFinite: bigint;
  readonly canonicalNaN: bigint;
  readonly quietBit: bigint;
}

function format(expBits: number, fracBits: number): Format {
  const bias = (1 << (expBits - 1)) - 1;
  const width = 1 + expBits + fracBits;
  const expMax = (1 << expBits) - 1;
  return {
    p: fracBits + 1,
    fracBits,
    expBits,
    bias,
    emin: 1 - bias,
    emax: bias,
    width,
    expMax,
    fracMask: (1n << BigInt(fracBits)) - 1n,
    hidden: 1n << BigInt(fracBits),
    signBit: 1n << BigInt(width - 1),
    inf: BigInt(expMax) << BigInt(fracBits),
    maxFinite: (BigInt(expMax) << BigInt(fracBits)) - 1n,
    canonicalNaN: (BigInt(expMax) << BigInt(fracBits)) | (1n << BigInt(fracBits - 1)),
    quietBit: 1n << BigInt(fracBits - 1),
  };
}

export const F32: Format = format(8, 23);
export const F64: Format = format(11, 52);

// ---- Classification and unpacking -------------------------------------------

export function isNaN(f: Format, a: bigint): boolean {
  return (a & ~f.signBit) > f.inf;
}

export function isSignalingNaN(f: Format, a: bigint): boolean {
  return isNaN(f, a) && (a & f.quietBit) === 0n;
}

function isInf(f: Format, a: bigint): boolean {
  return (a & ~f.signBit) === f.inf;
}

function isZero(f: Format, a: bigint): boolean {
  return (a & ~f.signBit) === 0n;
}

function signOf(f: Format, a: bigint): number {
  return a & f.signBit ? 1 : 0;
}

// The unpacked finite value: |a| = unSig × 2^unExp (module scratch, no allocation).
let unSig = 0n;
let unExp = 0;

/** Unpack a finite value's magnitude into unSig/unExp (zero gives unSig = 0). */
function unpack(f: Format, a: bigint): void {
  const biased = Number((a >> BigInt(f.fracBits)) & BigInt(f.expMax));
  const frac = a & f.fracMask;
  if (biased === 0) {
    unSig = frac;
    unExp = f.emin - f.fracBits;
  } else {
    unSig = frac | f.hidden;
    unExp = biased - f.bias - f.fracBits;
  }
}

/** Number of significant bits of x >= 0 (0 for 0). */
export function bitLength(x: bigint): number {
  let n = 0;
  while (x >= 0x20000000000000n) { // 2^53: shift down until Number() is exact
    const k = x >= 1n << 1100n ? 1000 : 48;
    x >>= BigInt(k);
    n += k;
  }
  const v = Number(x);
  if (v < 4294967296) return n + 32 - Math.clz32(v);
  return n + 64 - Math.clz32(Math.floor(v / 4294967296));
}

function zero(f: Format, sign: number): bigint {
  return sign ? f.signBit : 0n;
}

function infinity(f: Format, sign: number): bigint {
  return sign ? f.signBit | f.inf : f.inf;
}

function invalid(f: Format): bigint {
  status.flags |= NV;
  return f.canonicalNaN;
}

/** Shared NaN handling for operations whose operands include a NaN. */
function nanResult(f: Format, a: bigint, b: bigint): bigint {
  if (isSignalingNaN(f, a) || isSignalingNaN(f, b)) status.flags |= NV;
  return f.canonicalNaN;
}

// ---- Rounding ----------------------------------------------------------------

/** Should a value whose discarded part is `rem` (of 2·half) round away from zero? */
function roundUp(rm: number, sign: number, odd: boolean, rem: bigint, half: bigint): boolean {
  switch (rm) {
    case RNE:
      return rem > half || (rem === half && odd);
    case RTZ:
      return false;
    case RDN:
      return rem !== 0n && sign === 1;
    case RUP:
      return rem !== 0n && sign === 0;
    case RMM:
      return rem >= half;
  }
  throw new Error(`softfloat: bad rounding mode ${rm}`);
}

/**
 * Round sign × sig × 2^e (sig > 0, exact) to format f with mode rm and pack it,
 * raising OF/UF/NX. Tininess is detected after rounding (as RISC-V specifies):
 * the value is tiny if, rounded to p bits with an unbounded exponent, it is
 * below 2^emin.
 */
export function roundPack(f: Format, sign: number, sig: bigint, e: number, rm: number): bigint {
  const p = f.p;
  const n = bitLength(sig);
  const top = e + n - 1; // exponent of the leading bit
  let q = Math.max(top - p + 1, f.emin - p + 1); // exponent of the result's ulp
  let kept: bigint;
  let inexact = false;
  const d = q - e; // bits to discard
  if (d <= 0) {
    kept = sig << BigInt(-d);
  } else {
    const bd = BigInt(d);
    kept = sig >> bd;
    const rem = sig - (kept << bd);
    if (rem !== 0n) {
      inexact = true;
      if (roundUp(rm, sign, (kept & 1n) === 1n, rem, 1n << (bd - 1n))) {
        kept += 1n;
        if (kept === f.hidden << 1n) {
          kept = f.hidden;
          q += 1;
        }
      }
    }
  }
  if (kept >= f.hidden && q + p - 1 > f.emax) {
    status.flags |= OF | NX;
    const toInf = rm === RNE || rm === RMM || (rm === RDN && sign === 1) ||
      (rm === RUP && sign === 0);
    return toInf ? infinity(f, sign) : (sign ? f.signBit : 0n) | f.maxFinite;
  }
  if (inexact) {
    status.flags |= NX;
    if (top < f.emin && isTinyAfterRounding(f, sign, sig, e, top, rm)) status.flags |= UF;
  }
  const s = sign ? f.signBit : 0n;
  if (kept < f.hidden) return s | kept; // subnormal or zero: biased exponent 0
  return s | (BigInt(q + p - 1 + f.bias) << BigInt(f.fracBits)) | (kept - f.hidden);
}

/** For a value below 2^emin: does it stay below 2^emin when rounded to p bits, unbounded? */
function isTinyAfterRounding(
  f: Format,
  sign: number,
  sig: bigint,
  e: number,
  top: number,
  rm: number,
): boolean {
  if (top < f.emin - 1) return true;
  // top = emin - 1: only a carry out of the p-bit rounding can lift it to 2^emin.
  const d = top - f.p + 1 - e;
  if (d <= 0) return true;
  const bd = BigInt(d);
  const kept = sig >> bd;
  const rem = sig - (kept << bd);
  if (!roundUp(rm, sign, (kept & 1n) === 1n, rem, 1n << (bd - 1n))) return true;
  return kept + 1n !== f.hidden << 1n;
}

// ---- Arithmetic --------------------------------------------------------------

/** Sum of two signed exact values given as (sign, sig, e); handles an exact zero sum. */
function addExact(
  f: Format,
  sa: number,
  siga: bigint,
  ea: number,
  sb: number,
  sigb: bigint,
  eb: number,
  rm: number,
  zeroSign: number,
): bigint {
  const e = Math.min(ea, eb);
  let va = siga << BigInt(ea - e);
  let vb = sigb << BigInt(eb - e);
  if (sa) va = -va;
  if (sb) vb = -vb;
  const sum = va + vb;
  if (sum === 0n) return zero(f, zeroSign);
  return sum < 0n ? roundPack(f, 1, -sum, e, rm) : roundPack(f, 0, sum, e, rm);
}

/** a + b (b's sign flipped first when `sub`). */
export function add(f: Format, a: bigint, b: bigint, rm: number, sub = false): bigint {
  if (isNaN(f, a) || isNaN(f, b)) return nanResult(f, a, b);
  if (sub) b ^= f.signBit;
  const sa = signOf(f, a), sb = signOf(f, b);
  if (isInf(f, a)) return isInf(f, b) && sa !== sb ? invalid(f) : a;
  if (isInf(f, b)) return b;
  unpack(f, a);
  const siga = unSig, ea = unExp;
  unpack(f, b);
  // x + (-x) = +0 except -0 when rounding down; -0 + -0 = -0.
  const zs = sa === sb ? sa : rm === RDN ? 1 : 0;
  const zeroSign = siga === 0n && unSig === 0n ? zs : rm === RDN ? 1 : 0;
  return addExact(f, sa, siga, ea, sb, unSig, unExp, rm, zeroSign);
}

export function mul(f: Format, a: bigint, b: bigint, rm: number): bigint {
  if (isNaN(f, a) || isNaN(f, b)) return nanResult(f, a, b);
  const s = signOf(f, a) ^ signOf(f, b);
  if (isInf(f, a) || isInf(f, b)) {
    return isZero(f, a) || isZero(f, b) ? invalid(f) : infinity(f, s);
  }
  if (isZero(f, a) || isZero(f, b)) return zero(f, s);
  unpack(f, a);
  const siga = unSig, ea = unExp;
  unpack(f, b);
  return roundPack(f, s, siga * unSig, ea + unExp, rm);
}

/**
 * Fused multiply-add with one rounding: (negProd ? -(a×b) : a×b) + (negC ? -c : c).
 * FMADD = (0,0), FMSUB = (0,1), FNMSUB = (1,0), FNMADD = (1,1).
 */
export function fma(
  f: Format,
  a: bigint,
  b: bigint,
  c: bigint,
  rm: number,
  negProd: boolean,
  negC: boolean,
): bigint {
  const infTimesZero = (isInf(f, a) && isZero(f, b)) || (isZero(f, a) && isInf(f, b));
  if (isNaN(f, a) || isNaN(f, b) || isNaN(f, c)) {
    // RISC-V: ∞ × 0 is invalid even when the addend is a quiet NaN.
    if (
      infTimesZero || isSignalingNaN(f, a) || isSignalingNaN(f, b) || isSignalingNaN(f, c)
    ) status.flags |= NV;
    return f.canonicalNaN;
  }
  if (infTimesZero) return invalid(f);
  const sp = signOf(f, a) ^ signOf(f, b) ^ (negProd ? 1 : 0);
  const sc = signOf(f, c) ^ (negC ? 1 : 0);
  if (isInf(f, a) || isInf(f, b)) {
    return isInf(f, c) && sc !== sp ? invalid(f) : infinity(f, sp);
  }
  if (isInf(f, c)) return infinity(f, sc);
  unpack(f, a);
  const siga = unSig, ea = unExp;
  unpack(f, b);
  const prod = siga * unSig, ep = ea + unExp;
  unpack(f, c);
  const zs = sp === sc ? sp : rm === RDN ? 1 : 0;
  const zeroSign = prod === 0n && unSig === 0n ? zs : rm === RDN ? 1 : 0;
  if (prod === 0n) {
    // 0 + c: exact; c is already representable.
    if (unSig === 0n) return zero(f, zeroSign);
    return roundPack(f, sc, unSig, unExp, rm);
  }
  if (unSig === 0n) return roundPack(f, sp, prod, ep, rm);
  return addExact(f, sp, prod, ep, sc, unSig, unExp, rm, zeroSign);
}

export function div(f: Format, a: bigint, b: bigint, rm: number): bigint {
  if (isNaN(f, a) || isNaN(f, b)) return nanResult(f, a, b);
  const s = signOf(f, a) ^ signOf(f, b);
  if (isInf(f, a)) return isInf(f, b) ? invalid(f) : infinity(f, s);
  if (isInf(f, b)) return zero(f, s);
  if (isZero(f, b)) {
    if (isZero(f, a)) return invalid(f);
    status.flags |= DZ;
    return infinity(f, s);
  }
  if (isZero(f, a)) return zero(f, s);
  unpack(f, a);
  const siga = unSig, ea = unExp;
  unpack(f, b);
  // Scale the dividend so the quotient has at least p+2 bits, then fold the
  // remainder into a sticky bit below them.
  const k = Math.max(0, f.p + 3 + bitLength(unSig) - bitLength(siga));
  const num = siga << BigInt(k);
  const q = num / unSig;
  const sticky = num - q * unSig === 0n ? 0n : 1n;
  return roundPack(f, s, (q << 1n) | sticky, ea - unExp - k - 1, rm);
}

/** Integer square root: floor(sqrt(n)) for n >= 0. */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  // Start above the root and descend (Newton from above is monotone). The
  // float estimate is good to ~50 bits; beyond the double range use a power of two.
  const len = bitLength(n);
  let x = len < 1000
    ? BigInt(Math.floor(Math.sqrt(Number(n)) * (1 + 2 ** -40))) + 2n
    : 1n << BigInt((len >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sqrt(f: Format, a: bigint, rm: number): bigint {
  if (isNaN(f, a)) return nanResult(f, a, a);
  if (isZero(f, a)) return a;
  if (signOf(f, a)) return invalid(f);
  if (isInf(f, a)) return a;
  unpack(f, a);
  // Make the exponent even and the radicand wide enough for a (p+2)-bit root.
  let shift = Math.max(0, 2 * (f.p + 2) - bitLength(unSig) + 1);
  if ((unExp - shift) & 1) shift += 1;
  const rad = unSig << BigInt(shift);
  const r = isqrt(rad);
  const sticky = r * r === rad ? 0n : 1n;
  return roundPack(f, 0, (r << 1n) | sticky, (unExp - shift) / 2 - 1, rm);
}

// ---- Conversions -------------------------------------------------------------

/** Convert between formats (FCVT.S.D / FCVT.D.S). */
export function convert(to: Format, from: Format, a: bigint, rm: number): bigint {
  if (isNaN(from, a)) {
    if (isSignalingNaN(from, a)) status.flags |= NV;
    return to.canonicalNaN;
  }
  const s = signOf(from, a);
  if (isInf(from, a)) return infinity(to, s);
  if (isZero(from, a)) return zero(to, s);
  unpack(from, a);
  return roundPack(to, s, unSig, unExp, rm);
}

/** Integer (as an exact bigint) to float (FCVT.S/D.W/WU/L/LU). */
export function fromInt(f: Format, v: bigint, rm: number): bigint {
  if (v === 0n) return 0n;
  return v < 0n ? roundPack(f, 1, -v, 0, rm) : roundPack(f, 0, v, 0, rm);
}

/**
 * Float to integer (FCVT.W/WU/L/LU.S/D), saturating as RISC-V specifies: NaN
 * gives the largest value; out-of-range values clamp and raise NV (not NX);
 * in-range inexact results raise NX. Returns the integer as a bigint in the
 * target range (the caller sign-extends 32-bit results).
 */
export function toInt(
  f: Format,
  a: bigint,
  rm: number,
  width: 32 | 64,
  signed: boolean,
): bigint {
  const max = signed ? (1n << BigInt(width - 1)) - 1n : (1n << BigInt(width)) - 1n;
  const min = signed ? -(1n << BigInt(width - 1)) : 0n;
  if (isNaN(f, a)) {
    status.flags |= NV;
    return max;
  }
  const s = signOf(f, a);
  if (isInf(f, a)) {
    status.flags |= NV;
    return s ? min : max;
  }
  unpack(f, a);
  if (unSig === 0n) return 0n;
  // Beyond 2^(width+1) the value is out of range for sure: avoid huge shifts.
  if (unExp + bitLength(unSig) > width + 1) {
    status.flags |= NV;
    return s ? min : max;
  }
  let mag: bigint;
  let inexact = false;
  if (unExp >= 0) {
    mag = unSig << BigInt(unExp);
  } else {
    const bd = BigInt(-unExp);
    mag = unSig >> bd;
    const rem = unSig - (mag << bd);
    if (rem !== 0n) {
      inexact = true;
      if (roundUp(rm, s, (mag & 1n) === 1n, rem, 1n << (bd - 1n))) mag += 1n;
    }
  }
  const v = s ? -mag : mag;
  if (v > max || v < min) {
    status.flags |= NV;
    return v > max ? max : min;
  }
  if (inexact) status.flags |= NX;
  return v;
}
