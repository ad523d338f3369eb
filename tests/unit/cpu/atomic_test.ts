// The A extension: LR/SC with a reservation (success, failure without one,
// failure after another SC, loss on a trap), every AMO in .w and .d with
// sign-extended old values, and alignment exceptions; each on a hart alone on
// its RAM and on one sharing it (Hart.sharedRam: Atomics, SC a compare-and-exchange).
// Read next: tests/unit/cpu/compressed_test.ts.

import assert from "../../../testing/assert.ts";
import { A, BASE, li, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";

const D = BASE + 0x4000;
const s32 = (v: bigint) => BigInt.asIntN(32, v);
/** A hart alone on its RAM (plain AMOs), or one that shares it with others (--smp: Atomics). */
const sharedHart = (shared: boolean) => {
  const h = makeHart();
  h.sharedRam = shared;
  return h;
};

for (const shared of [false, true]) {
  Deno.test(`atomic${shared ? " (shared RAM, Atomics)" : ""}: LR/SC success, failure without a reservation, one SC per LR`, () => {
    const h = sharedHart(shared);
    h.ram64[0x4000 / 8] = 10n;
    load(h, BASE, [
      ...li(6, BigInt(D)),
      A.lrd(10, 6),
      A.addi(11, 10, 1),
      A.scd(12, 11, 6), // succeeds: x12 = 0
      A.scd(13, 11, 6), // no reservation any more: x13 = 1
      A.lrw(14, 6),
      A.addi(15, 6, 8),
      A.scw(16, 11, 15), // different address: fails
      ...A.exit(),
    ]);
    runToExit(h);
    assert.equal(h.x[10], 10n);
    assert.equal(h.x[12], 0n);
    assert.equal(h.x[13], 1n);
    assert.equal(h.ram64[0x4000 / 8], 11n);
    assert.equal(h.x[14], 11n);
    assert.equal(h.x[16], 1n);
    assert.equal(h.ram64[0x4008 / 8], 0n);
  });
}

for (const shared of [false, true]) {
  Deno.test(`atomic${shared ? " (shared RAM, Atomics)" : ""}: a trap between LR and SC drops the reservation`, () => {
    const h = sharedHart(shared);
    h.csrWrite(0x305, BigInt(BASE + 0x800));
    // the handler skips the faulting instruction
    load(h, BASE + 0x800, [A.csrrs(5, 0x341, 0), A.addi(5, 5, 4), A.csrrw(0, 0x341, 5), A.mret()]);
    load(h, BASE, [
      ...li(6, BigInt(D)),
      A.lrd(10, 6),
      0x00000000, // illegal: trap and return
      A.scd(12, 10, 6),
      ...A.exit(),
    ]);
    runToExit(h);
    assert.equal(h.x[12], 1n);
  });
}

for (const shared of [false, true]) {
  Deno.test(`atomic${shared ? " (shared RAM, Atomics)" : ""}: every AMO, word and doubleword`, () => {
    const a = -0x123456789n, b = 0x7000_0000_0000_0001n;
    const cases: [string, (x: bigint, y: bigint) => bigint, boolean][] = [
      ["amoswapd", (_x, y) => y, false],
      ["amoaddd", (x, y) => x + y, false],
      ["amoxord", (x, y) => x ^ y, false],
      ["amoandd", (x, y) => x & y, false],
      ["amoord", (x, y) => x | y, false],
      ["amomind", (x, y) => x < y ? x : y, false],
      ["amomaxd", (x, y) => x > y ? x : y, false],
      ["amominud", (x, y) => BigInt.asUintN(64, x) < BigInt.asUintN(64, y) ? x : y, false],
      ["amomaxud", (x, y) => BigInt.asUintN(64, x) > BigInt.asUintN(64, y) ? x : y, false],
      ["amoswapw", (_x, y) => y, true],
      ["amoaddw", (x, y) => x + y, true],
      ["amoxorw", (x, y) => x ^ y, true],
      ["amoandw", (x, y) => x & y, true],
      ["amoorw", (x, y) => x | y, true],
      ["amominw", (x, y) => x < y ? x : y, true],
      ["amomaxw", (x, y) => x > y ? x : y, true],
      ["amominuw", (x, y) => BigInt.asUintN(32, x) < BigInt.asUintN(32, y) ? x : y, true],
      ["amomaxuw", (x, y) => BigInt.asUintN(32, x) > BigInt.asUintN(32, y) ? x : y, true],
    ];
    for (const [name, f, word] of cases) {
      for (const [m, r] of [[a, b], [b, a], [-1n, 1n]]) {
        const h = sharedHart(shared);
        h.ram64[0x4000 / 8] = m;
        h.ram64[0x4008 / 8] = 0x5555n;
        const enc = (A as unknown as Record<string, typeof A.amoaddd>)[name];
        load(h, BASE, [...li(6, BigInt(D)), ...li(7, r), enc(10, 7, 6), ...A.exit()]);
        runToExit(h);
        if (word) {
          const old = s32(m), src = s32(r);
          assert.equal(h.x[10], old, `${name} old`);
          const want = BigInt.asUintN(32, f(old, src));
          assert.equal(h.ram32[0x4000 / 4] >>> 0, Number(want), `${name} memory`);
          assert.equal(h.ram32[0x4004 / 4], Number(s32(m >> 32n)), `${name} upper word untouched`);
        } else {
          assert.equal(h.x[10], m, `${name} old`);
          assert.equal(h.ram64[0x4000 / 8], BigInt.asIntN(64, f(m, r)), `${name} memory`);
        }
        assert.equal(h.ram64[0x4008 / 8], 0x5555n);
      }
    }
  });
}

for (const shared of [false, true]) {
  Deno.test(`atomic${shared ? " (shared RAM, Atomics)" : ""}: misaligned AMO and LR raise the misaligned exceptions`, () => {
    for (
      const [insn, cause] of [[A.amoaddw(10, 7, 6), 6n], [A.lrd(10, 6), 4n], [
        A.scw(10, 7, 6),
        6n,
      ]] as const
    ) {
      const h = sharedHart(shared);
      h.csrWrite(0x305, BigInt(BASE + 0x800));
      load(h, BASE + 0x800, A.exit());
      load(h, BASE, [...li(6, BigInt(D + 2)), insn]);
      runToExit(h);
      assert.equal(h.csrRead(0x342), cause);
      assert.equal(h.csrRead(0x343), BigInt(D + 2));
    }
  });
}

Deno.test("atomic (shared RAM): another hart's store between LR and SC fails the SC", () => {
  for (const shared of [false, true]) {
    const h = sharedHart(shared);
    h.ram64[0x4000 / 8] = 5n;
    load(h, BASE, [...li(6, BigInt(D)), A.lrd(10, 6), A.addi(11, 10, 1)]);
    h.run(3 + li(6, BigInt(D)).length - 1); // through the addi
    h.ram64[0x4000 / 8] = 7n; // "another hart" (another worker) stores in between
    load(h, h.pcN, [A.scd(12, 11, 6), ...A.exit()]);
    runToExit(h);
    // Alone on its RAM nobody else can store: the reservation holds. Shared: the SC must fail.
    assert.equal(h.x[12], shared ? 1n : 0n);
    assert.equal(h.ram64[0x4000 / 8], shared ? 7n : 6n);
  }
});
