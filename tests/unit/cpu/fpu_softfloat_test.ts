// Unit checks of the softfloat's integer helpers (cpu/softfloat.ts): bitLength
// and isqrt, including sizes beyond the double range that FMA and sqrt never
// reach today but that the helpers promise to handle.

import assert from "../../../testing/assert.ts";
import { bitLength, isqrt } from "../../../cpu/softfloat.ts";

Deno.test("softfloat: bitLength at powers of two and beyond 2^1024", () => {
  assert.equal(bitLength(0n), 0);
  for (let k = 0; k < 2300; k += k < 70 ? 1 : 37) {
    const p = 1n << BigInt(k);
    assert.equal(bitLength(p), k + 1, `2^${k}`);
    if (k > 0) assert.equal(bitLength(p - 1n), k, `2^${k}-1`);
  }
});

Deno.test("softfloat: isqrt is the floor of the square root", () => {
  const check = (n: bigint) => {
    const r = isqrt(n);
    assert.ok(r * r <= n && (r + 1n) * (r + 1n) > n, `isqrt(${n}) = ${r}`);
  };
  for (let n = 0n; n < 300n; n++) check(n);
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 3000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    const n = (x << BigInt(i % 120)) ^ BigInt(i);
    check(n);
    check(n * n); // perfect squares
    check(n * n - 1n);
  }
  check((1n << 2000n) + 12345n);
  check(10n ** 400n);
});
