// Differential test of the FPU's host-double fast paths against the exact
// softfloat (cpu/softfloat.ts), on inputs built to stress them: sparse
// significands whose products land exactly on rounding midpoints, addends that
// break those ties by a hair, cancellation, and the edges of the guard ranges.
// Every RNE add/sub/mul/div/sqrt/fma (S and D) must match bits and fflags.

import assert from "../../../testing/assert.ts";
import { Fpu } from "../../../cpu/fpu.ts";
import * as sf from "../../../cpu/softfloat.ts";
import { fpOp } from "../../cpu_fpu_vectors/encode.ts";

let seed = 0x12345678;
function rnd(): number { // xorshift32, deterministic
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
const pick = <T>(xs: T[]): T => xs[rnd() % xs.length];

function bitsD(v: number): bigint {
  return BigInt.asUintN(64, new BigInt64Array(new Float64Array([v]).buffer)[0]);
}
function bitsS(v: number): bigint {
  return BigInt(new Uint32Array(new Float32Array([v]).buffer)[0]);
}

/** A value with a sparse or dense significand and an exponent from `exps`. */
function operand(single: boolean, exps: number[]): number {
  const sign = rnd() & 1 ? -1 : 1;
  if (rnd() % 12 === 0) {
    const max = single ? 3.4028234663852886e38 : Number.MAX_VALUE;
    const tiny = single ? 2 ** -149 : 2 ** -1074;
    return sign * pick([0, Infinity, NaN, tiny, max, 2 ** (single ? -126 : -1022), 1]);
  }
  const e = pick(exps) + ((rnd() % 7) - 3);
  const width = single ? 23 : 52;
  let sig: number;
  switch (rnd() % 4) {
    case 0: // 1 + 2^-i + 2^-j: products of these hit midpoints exactly
      sig = 1 + 2 ** -(1 + (rnd() % width)) + (rnd() & 1 ? 2 ** -(1 + (rnd() % width)) : 0);
      break;
    case 1: // all ones
      sig = 2 - 2 ** -(1 + (rnd() % width));
      break;
    default: // dense random
      sig = 1 + (rnd() * 2 ** -32 + (rnd() >>> 11) * 2 ** -53);
  }
  const v = sign * sig * 2 ** e;
  return single ? Math.fround(v) : v;
}

Deno.test("fpu: fast paths agree with the softfloat (RNE, S and D)", () => {
  const fpu = new Fpu();
  const x = new BigInt64Array(32);
  const failures: string[] = [];
  let fastTaken = 0;
  for (const single of [false, true]) {
    const f = single ? sf.F32 : sf.F64;
    const bits = single ? bitsS : bitsD;
    const exps = single
      ? [0, 0, 0, -20, 20, -100, 100, -125]
      : [0, 0, 0, -30, 30, -399, 399, -500, 900];
    const sfx = single ? ".s" : ".d";
    for (let i = 0; i < 12000; i++) {
      let a = operand(single, exps), b = operand(single, exps);
      if (rnd() % 6 === 0) {
        // (1 + 2^-k)(1 - 2^-k) = 1 - 2^-2k: just below a power of two, often a midpoint
        const k = 1 + (rnd() % (single ? 23 : 52));
        a = (1 + 2 ** -k) * 2 ** ((rnd() % 9) - 4) * (rnd() & 1 ? -1 : 1);
        b = (1 - 2 ** -k) * 2 ** ((rnd() % 9) - 4);
      }
      if (rnd() % 10 === 0) b = a; // a + a overflows near the top, a - a cancels
      let c: number;
      switch (rnd() % 5) {
        case 0:
          c = -(a * b); // cancellation (the double-rounded product)
          break;
        case 1:
          c = a * b * 2 ** -(rnd() % 80); // small addend breaking ties
          break;
        case 2:
          c = 0;
          break;
        default:
          c = operand(single, exps);
      }
      if (single) c = Math.fround(c);
      const ra = bits(a), rb = bits(b), rc = bits(c);
      const cases: [string, () => bigint][] = [
        ["fadd", () => sf.add(f, ra, rb, 0)],
        ["fsub", () => sf.add(f, ra, rb, 0, true)],
        ["fmul", () => sf.mul(f, ra, rb, 0)],
        ["fdiv", () => sf.div(f, ra, rb, 0)],
        ["fsqrt", () => sf.sqrt(f, ra ^ (ra & f.signBit), 0)],
        ["fmadd", () => sf.fma(f, ra, rb, rc, 0, false, false)],
        ["fmsub", () => sf.fma(f, ra, rb, rc, 0, false, true)],
        ["fnmsub", () => sf.fma(f, ra, rb, rc, 0, true, false)],
        ["fnmadd", () => sf.fma(f, ra, rb, rc, 0, true, true)],
      ];
      for (const [name, ref] of cases) {
        sf.status.flags = 0;
        const want = ref();
        const wantFlags = sf.status.flags;
        const box = single ? 0xffffffff00000000n : 0n;
        fpu.bits[1] = BigInt.asIntN(64, box | (name === "fsqrt" ? ra & ~f.signBit : ra));
        fpu.bits[2] = BigInt.asIntN(64, box | rb);
        fpu.bits[3] = BigInt.asIntN(64, box | rc);
        fpu.fflags = 0;
        fpu.execute(fpOp(name + sfx).encode(4, 1, 2, 3, 0), x);
        const got = BigInt.asUintN(64, fpu.bits[4]) & (single ? 0xffffffffn : ~0n);
        if (got !== want || fpu.fflags !== wantFlags) {
          failures.push(
            `${name}${sfx} ${a} ${b} ${c}: ${got.toString(16)}/${fpu.fflags} want ${
              want.toString(16)
            }/${wantFlags}`,
          );
        }
        fastTaken++;
      }
    }
  }
  assert.ok(fastTaken > 100000);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} mismatches`);
});
