// Hand-checked F/D cases for Fpu.execute: one test per concern (NaN-boxing,
// rounding modes, fused single rounding, tininess after rounding, saturation,
// min/max/compare NaN rules, illegal encodings, rd = x0). The broad coverage
// is in fpu_vectors_test.ts; these pin the rules down by name.

import assert from "../../../testing/assert.ts";
import { Fpu } from "../../../cpu/fpu.ts";
import { fpOp } from "../../cpu_fpu_vectors/encode.ts";

const RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4, DYN = 7;
const NV = 16, DZ = 8, OF = 4, UF = 2, NX = 1;
const BOX = 0xffffffff00000000n;

function f64bits(v: number): bigint {
  return new BigInt64Array(new Float64Array([v]).buffer)[0];
}
function f32boxed(v: number): bigint {
  return BigInt.asIntN(64, BOX | BigInt(new Uint32Array(new Float32Array([v]).buffer)[0]));
}
const u64 = (v: bigint) => BigInt.asIntN(64, v);

/** Run one instruction on f1, f2, f3 (or x6 for integer sources) into f4 / x5. */
function run(
  name: string,
  rm: number,
  a: bigint,
  b = 0n,
  c = 0n,
  frm = 0,
): { r: bigint; flags: number; ret: number } {
  const op = fpOp(name);
  const fpu = new Fpu();
  const x = new BigInt64Array(32);
  fpu.frm = frm;
  fpu.bits[1] = a;
  fpu.bits[2] = b;
  fpu.bits[3] = c;
  x[6] = a;
  const fpDest = op.kind === "ff" || op.kind === "f" || op.kind === "fff" || op.kind === "x_f";
  const ret = fpu.execute(op.encode(fpDest ? 4 : 5, op.kind === "x_f" ? 6 : 1, 2, 3, rm), x);
  return { r: fpDest ? fpu.bits[4] : x[5], flags: fpu.fflags, ret };
}

Deno.test("fpu: NaN-boxing of singles", () => {
  // An improperly boxed single reads as the canonical NaN.
  const bad = 0x000000003f800000n;
  assert.deepEqual(run("fadd.s", RNE, bad, f32boxed(1)), {
    r: u64(BOX | 0x7fc00000n),
    flags: 0,
    ret: 0,
  });
  assert.equal(run("fclass.s", RNE, bad).r, 1n << 9n); // quiet NaN
  assert.equal(run("fsgnjn.s", RNE, bad, bad).r, u64(BOX | 0xffc00000n));
  // FMV.X.W takes the low word as it is, sign-extended; FMV.W.X boxes.
  assert.equal(run("fmv.x.w", RNE, 0x12345678_80000001n).r, u64(0xffffffff80000001n));
  assert.equal(run("fmv.w.x", RNE, 0x7fffffff_00000042n).r, u64(BOX | 0x42n));
  // Results of single ops are boxed; FCVT.D.S of a boxed 1.5.
  assert.equal(run("fmul.s", RNE, f32boxed(1.5), f32boxed(2)).r, f32boxed(3));
  assert.equal(run("fcvt.d.s", RNE, f32boxed(1.5)).r, f64bits(1.5));
});

Deno.test("fpu: rounding modes on 1/3 and on ties", () => {
  const third = [
    0x3fd5555555555555n,
    0x3fd5555555555555n,
    0x3fd5555555555555n,
    0x3fd5555555555556n,
    0x3fd5555555555555n,
  ];
  for (const rm of [RNE, RTZ, RDN, RUP, RMM]) {
    assert.deepEqual(run("fdiv.d", rm, f64bits(1), f64bits(3)), {
      r: third[rm],
      flags: NX,
      ret: 0,
    });
    // -1/3 mirrors: RDN rounds away from zero, RUP toward.
    const neg = run("fdiv.d", rm, f64bits(-1), f64bits(3)).r;
    assert.equal(neg, u64(third[rm === RDN ? RUP : rm === RUP ? RDN : rm] | (1n << 63n)));
  }
  // 1 + 2^-53 is a tie between 1 and 1+2^-52: RNE to even (1), RMM away.
  const tie = f64bits(2 ** -53);
  assert.equal(run("fadd.d", RNE, f64bits(1), tie).r, f64bits(1));
  assert.equal(run("fadd.d", RMM, f64bits(1), tie).r, f64bits(1 + 2 ** -52));
  assert.equal(run("fadd.d", RUP, f64bits(1), tie).r, f64bits(1 + 2 ** -52));
  // Dynamic rounding reads frm; a reserved frm makes dynamic ops illegal.
  assert.equal(run("fdiv.d", DYN, f64bits(1), f64bits(3), 0n, RUP).r, third[RUP]);
  assert.equal(run("fdiv.d", DYN, f64bits(1), f64bits(3), 0n, 5).ret, -1);
  assert.equal(run("fdiv.d", 5, f64bits(1), f64bits(3)).ret, -1);
  assert.equal(run("fdiv.d", 6, f64bits(1), f64bits(3)).ret, -1);
  // Ops without rounding ignore a reserved frm.
  assert.equal(run("fsgnj.d", RNE, f64bits(1), f64bits(-2), 0n, 6).r, f64bits(-1));
});

Deno.test("fpu: fused multiply-add rounds once", () => {
  // (1+2^-27)(1-2^-27) = 1 - 2^-54 rounds to 1 alone; fused with -1 it is exact.
  const a = f64bits(1 + 2 ** -27), b = f64bits(1 - 2 ** -27);
  assert.deepEqual(run("fmadd.d", RNE, a, b, f64bits(-1)), {
    r: f64bits(-(2 ** -54)),
    flags: 0,
    ret: 0,
  });
  assert.equal(run("fmsub.d", RNE, a, b, f64bits(1)).r, f64bits(-(2 ** -54)));
  assert.equal(run("fnmsub.d", RNE, a, b, f64bits(1)).r, f64bits(2 ** -54));
  assert.equal(run("fnmadd.d", RNE, a, b, f64bits(-1)).r, f64bits(2 ** -54));
  // max × 2 − max = max, though the product alone overflows.
  const max = f64bits(Number.MAX_VALUE);
  assert.deepEqual(run("fmsub.d", RNE, max, f64bits(2), max), { r: max, flags: 0, ret: 0 });
  // Single: (1+2^-13)(1-2^-13) - 1 = -2^-26.
  assert.equal(
    run("fmadd.s", RNE, f32boxed(1 + 2 ** -13), f32boxed(1 - 2 ** -13), f32boxed(-1)).r,
    f32boxed(-(2 ** -26)),
  );
  // ∞ × 0 + qNaN raises NV; the result is the canonical NaN.
  assert.deepEqual(run("fmadd.d", RNE, f64bits(Infinity), 0n, 0x7ff8000000000123n), {
    r: 0x7ff8000000000000n,
    flags: NV,
    ret: 0,
  });
  // Exact zero sums: +0 except in RDN.
  assert.equal(run("fmsub.d", RNE, f64bits(1), f64bits(1), f64bits(1)).r, 0n);
  assert.equal(run("fmsub.d", RDN, f64bits(1), f64bits(1), f64bits(1)).r, u64(1n << 63n));
});

Deno.test("fpu: overflow, underflow after rounding, subnormals", () => {
  const max = f64bits(Number.MAX_VALUE);
  assert.deepEqual(run("fmul.d", RNE, max, f64bits(2)), {
    r: f64bits(Infinity),
    flags: OF | NX,
    ret: 0,
  });
  assert.deepEqual(run("fmul.d", RTZ, max, f64bits(2)), { r: max, flags: OF | NX, ret: 0 });
  assert.equal(run("fmul.d", RUP, max, f64bits(-2)).r, u64(max | (1n << 63n)));
  assert.equal(run("fmul.d", RDN, max, f64bits(-2)).r, f64bits(-Infinity));
  // (1-2^-53) × 2^-1022 = 2^-1022 - 2^-1075: a tie that RNE rounds up to the
  // smallest normal, but unbounded it is exact and below 2^-1022: tiny, so UF.
  const minNormal = f64bits(2 ** -1022);
  assert.deepEqual(run("fmul.d", RNE, f64bits(1 - 2 ** -53), minNormal), {
    r: minNormal,
    flags: UF | NX,
    ret: 0,
  });
  // 2^-1022 - 2^-1080 rounds to 2^-1022 even unbounded: not tiny, NX only.
  const t = f64bits(2 ** -540);
  assert.deepEqual(run("fnmsub.d", RNE, t, t, minNormal), { r: minNormal, flags: NX, ret: 0 });
  assert.deepEqual(run("fnmsub.d", RTZ, t, t, minNormal), {
    r: minNormal - 1n,
    flags: UF | NX,
    ret: 0,
  });
  // Exact subnormal results raise nothing; subnormal operands work.
  assert.deepEqual(run("fmul.d", RNE, 1n, f64bits(4)), { r: 4n, flags: 0, ret: 0 });
  assert.deepEqual(run("fmul.d", RNE, 1n, f64bits(0.5)), { r: 0n, flags: UF | NX, ret: 0 });
  assert.deepEqual(run("fmul.d", RUP, 1n, f64bits(0.5)), { r: 1n, flags: UF | NX, ret: 0 });
  assert.deepEqual(run("fdiv.s", RNE, f32boxed(1), f32boxed(0)), {
    r: f32boxed(Infinity),
    flags: DZ,
    ret: 0,
  });
  assert.deepEqual(run("fsqrt.d", RNE, f64bits(-1)), { r: 0x7ff8000000000000n, flags: NV, ret: 0 });
  assert.deepEqual(run("fsqrt.d", RNE, f64bits(-0)), { r: f64bits(-0), flags: 0, ret: 0 });
});

Deno.test("fpu: float to integer saturates as RISC-V says", () => {
  const cases: [string, number, number, bigint, number][] = [
    ["fcvt.w.d", RNE, 2147483647.5, 0x7fffffffn, NV], // rounds to 2^31: out of range
    ["fcvt.w.d", RDN, 2147483647.5, 0x7fffffffn, NX],
    ["fcvt.w.d", RNE, -2147483648.5, -0x80000000n, NX], // tie to even: -2^31
    ["fcvt.w.d", RMM, -2147483648.5, -0x80000000n, NV],
    ["fcvt.w.d", RNE, NaN, 0x7fffffffn, NV],
    ["fcvt.w.d", RNE, -Infinity, -0x80000000n, NV],
    ["fcvt.wu.d", RTZ, -0.5, 0n, NX], // rounds to 0: in range
    ["fcvt.wu.d", RDN, -0.5, 0n, NV],
    ["fcvt.wu.d", RNE, 4294967295, -1n, 0], // 32-bit results are sign-extended
    ["fcvt.wu.d", RNE, NaN, -1n, NV],
    ["fcvt.l.d", RNE, -(2 ** 63), -(2n ** 63n), 0],
    ["fcvt.l.d", RNE, 2 ** 63, 2n ** 63n - 1n, NV],
    ["fcvt.lu.d", RNE, 2 ** 64, -1n, NV],
    ["fcvt.lu.d", RNE, -1, 0n, NV],
    ["fcvt.lu.d", RUP, 2 ** 63 + 2048, -(2n ** 63n) + 2048n, 0],
    ["fcvt.l.d", RNE, 2.5, 2n, NX],
    ["fcvt.l.d", RMM, 2.5, 3n, NX],
    ["fcvt.l.d", RNE, -3.5, -4n, NX],
  ];
  for (const [name, rm, v, want, flags] of cases) {
    assert.deepEqual(run(name, rm, f64bits(v)), { r: want, flags, ret: 1 }, `${name} rm${rm} ${v}`);
  }
  assert.deepEqual(run("fcvt.w.s", RNE, f32boxed(-(2 ** 31))), {
    r: -(2n ** 31n),
    flags: 0,
    ret: 1,
  });
  assert.deepEqual(run("fcvt.w.s", RNE, f32boxed(2 ** 31)), {
    r: 2n ** 31n - 1n,
    flags: NV,
    ret: 1,
  });
  // Integer to float: 2^63-1 rounds to 2^63 (NX); -2^31 is exact in a single.
  assert.deepEqual(run("fcvt.d.l", RNE, 2n ** 63n - 1n), {
    r: f64bits(2 ** 63),
    flags: NX,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.d.l", RTZ, 2n ** 63n - 1n), {
    r: f64bits(2 ** 63 - 1024),
    flags: NX,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.s.w", RNE, -(2n ** 31n)), {
    r: f32boxed(-(2 ** 31)),
    flags: 0,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.s.wu", RNE, -1n), { r: f32boxed(2 ** 32), flags: NX, ret: 0 });
  assert.deepEqual(run("fcvt.d.lu", RNE, -1n), { r: f64bits(2 ** 64), flags: NX, ret: 0 });
  // Narrowing: overflow in the single range and a rounding to the smallest subnormal.
  assert.deepEqual(run("fcvt.s.d", RNE, f64bits(1e39)), {
    r: f32boxed(Infinity),
    flags: OF | NX,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.s.d", RTZ, f64bits(1e39)), {
    r: f32boxed(3.4028234663852886e38),
    flags: OF | NX,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.s.d", RUP, f64bits(1e-50)), {
    r: u64(BOX | 1n),
    flags: UF | NX,
    ret: 0,
  });
  assert.deepEqual(run("fcvt.s.d", RNE, 0x7ff0000000000001n), {
    r: u64(BOX | 0x7fc00000n),
    flags: NV,
    ret: 0,
  });
});

Deno.test("fpu: min/max, compares and classify", () => {
  const snan = 0x7ff0000000000001n, qnan = 0x7ff8000000000000n;
  assert.deepEqual(run("fmin.d", RNE, f64bits(0), f64bits(-0)), {
    r: f64bits(-0),
    flags: 0,
    ret: 0,
  });
  assert.deepEqual(run("fmax.d", RNE, f64bits(-0), f64bits(0)), {
    r: f64bits(0),
    flags: 0,
    ret: 0,
  });
  assert.deepEqual(run("fmin.d", RNE, snan, f64bits(2)), { r: f64bits(2), flags: NV, ret: 0 });
  assert.deepEqual(run("fmax.d", RNE, qnan, f64bits(-2)), { r: f64bits(-2), flags: 0, ret: 0 });
  assert.deepEqual(run("fmax.d", RNE, qnan | 5n, snan), { r: qnan, flags: NV, ret: 0 });
  assert.deepEqual(run("feq.d", RNE, qnan, f64bits(1)), { r: 0n, flags: 0, ret: 1 });
  assert.deepEqual(run("feq.d", RNE, snan, f64bits(1)), { r: 0n, flags: NV, ret: 1 });
  assert.deepEqual(run("flt.d", RNE, qnan, f64bits(1)), { r: 0n, flags: NV, ret: 1 });
  assert.deepEqual(run("fle.d", RNE, f64bits(-0), f64bits(0)), { r: 1n, flags: 0, ret: 1 });
  assert.deepEqual(run("flt.d", RNE, f64bits(-0), f64bits(0)), { r: 0n, flags: 0, ret: 1 });
  assert.deepEqual(run("feq.s", RNE, f32boxed(1), f32boxed(1)), { r: 1n, flags: 0, ret: 1 });
  const classes: [number | bigint, number][] = [
    [-Infinity, 0],
    [-1, 1],
    [-(2 ** -1074), 2],
    [-0, 3],
    [0, 4],
    [2 ** -1074, 5],
    [1, 6],
    [Infinity, 7],
    [snan, 8],
    [qnan, 9],
  ];
  for (const [v, bit] of classes) {
    const bits = typeof v === "bigint" ? v : f64bits(v);
    assert.deepEqual(run("fclass.d", RNE, bits), { r: 1n << BigInt(bit), flags: 0, ret: 1 });
  }
});

Deno.test("fpu: illegal encodings and rd = x0", () => {
  const fpu = new Fpu();
  const x = new BigInt64Array(32);
  const enc = (name: string, rm = 0) => fpOp(name).encode(4, 1, 2, 3, rm);
  // Each bad encoding next to the legal one it was derived from (so the test can fail).
  const pairs: [number, number][] = [
    [enc("fadd.d"), enc("fadd.d") | (3 << 25)], // fmt Q
    [enc("fadd.d"), (enc("fadd.d") & ~(3 << 25)) | (2 << 25)], // fmt H
    [enc("fsqrt.d"), enc("fsqrt.d") | (1 << 20)], // rs2 must be 0
    [enc("fsgnj.d"), enc("fsgnj.d") | (3 << 12)], // funct3 3
    [enc("fmin.d"), (enc("fmin.d") & ~(7 << 12)) | (2 << 12)], // funct3 2
    [enc("fle.d"), enc("fle.d") | (3 << 12)], // funct3 3
    [enc("fcvt.s.d"), enc("fcvt.s.d") & ~(1 << 20)], // fcvt.s.s
    [enc("fcvt.l.d"), (enc("fcvt.l.d") & ~(31 << 20)) | (4 << 20)], // integer type 4
    [enc("fmv.x.d"), enc("fmv.x.d") | (1 << 20)], // rs2 must be 0
    [enc("fmv.x.d"), enc("fmv.x.d") | (2 << 12)], // funct3 2
    [enc("fmv.d.x"), enc("fmv.d.x") | (1 << 12)], // funct3 1
    [enc("fadd.d"), (enc("fadd.d") & ~(31 << 27)) | (0x1f << 27)], // unknown funct5
    [enc("fmadd.d"), enc("fmadd.d") | (3 << 25)], // fused, fmt Q
    [enc("fadd.d"), (enc("fadd.d") & ~0x7f) | 0x33], // not an FP opcode
    [enc("fadd.d"), enc("fadd.d", 5)], // reserved rounding modes
    [enc("fcvt.d.s"), enc("fcvt.d.s", 6)],
    [enc("fcvt.d.w"), enc("fcvt.d.w", 5)],
    [enc("fmadd.s"), enc("fmadd.s", 6)],
  ];
  fpu.bits[1] = f64bits(1);
  for (const [good, bad] of pairs) {
    assert.notEqual(fpu.execute(good >>> 0, x), -1, good.toString(16));
    fpu.fflags = 0;
    assert.equal(fpu.execute(bad >>> 0, x), -1, bad.toString(16));
  }
  assert.equal(fpu.fflags, 0);
  // FP→int with rd = x0 writes nothing but still accrues flags.
  fpu.bits[1] = 0x7ff8000000000000n;
  x[0] = 0n;
  assert.equal(fpu.execute(fpOp("flt.d").encode(0, 1, 1, 0, 0), x), 1);
  assert.equal(x[0], 0n);
  assert.equal(fpu.fflags, NV);
  assert.equal(fpu.execute(fpOp("fcvt.l.d").encode(0, 1, 0, 0, RNE), x), 1);
  assert.equal(x[0], 0n);
  // fflags accrue (OR) across instructions.
  fpu.bits[2] = f64bits(3);
  fpu.bits[3] = f64bits(1);
  fpu.execute(fpOp("fdiv.d").encode(4, 3, 2, 0, RNE), x);
  assert.equal(fpu.fflags, NV | NX);
});

Deno.test("fpu: instruction words with bit 31 set decode the same signed or unsigned", () => {
  const fpu = new Fpu();
  const x = new BigInt64Array(32);
  fpu.bits[17] = f64bits(2);
  fpu.bits[18] = f64bits(3);
  fpu.bits[30] = f64bits(1);
  const insn = fpOp("fmadd.d").encode(5, 17, 18, 30, RNE); // rs3 = 30: bit 31 set
  assert.ok(insn > 0x7fffffff);
  assert.equal(fpu.execute(insn | 0, x), 0);
  assert.equal(fpu.bits[5], f64bits(7));
  assert.equal(fpu.execute(fpOp("fcvt.l.d").encode(9, 5, 0, 0, RNE) | 0, x), 1);
  assert.equal(x[9], 7n);
  assert.equal(fpu.execute(fpOp("fmv.d.x").encode(31, 9, 0, 0, 0) | 0, x), 0);
  assert.equal(fpu.bits[31], 7n);
});
