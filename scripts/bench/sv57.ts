// What an Sv57 address beyond 2^53 costs the interpreter: the same S-mode
// loop (a load, a store, a byte load, a counter) runs over a page at a low
// virtual address (0x1_0000_4000_0000: the ordinary TLB fast path) and over one at Linux's Sv57
// linear map, 0xff60_0000_0000_0000 (a "wide" address: the slow path of
// cpu/mmu.ts, ADR 0016), on a hart with Sv57. No reference machine: the
// result is the ratio between the two, and ns per wide access.
// Run: deno task bench sv57. Read next: cpu/mmu.ts ("Wide addresses").

import { Hart, RUN_STOP } from "../../cpu/hart.ts";
import { encB, encI, encR, encS, encU, OP } from "../../cpu/decode.ts";
import { warmUpJit } from "../../cpu/warmup.ts";

const BASE = 0x8000_0000;
const ITERATIONS = 2_000_000;
const V = 1, R = 2, W = 4, X = 8, A = 64, D = 128;

/** Load a 64-bit constant into rd: lui/addi, then shift in 12 bits at a time. */
function li(rd: number, v: bigint): number[] {
  v = BigInt.asIntN(64, v);
  if (v >= -(1n << 31n) && v < (1n << 31n)) {
    const n = Number(v), lo = (n << 20) >> 20;
    return [encU(OP.LUI, rd, n - lo), encI(OP.OP_IMM_32, rd, 0, rd, lo)];
  }
  const lo = Number(BigInt.asIntN(12, v));
  return [
    ...li(rd, (v - BigInt(lo)) >> 12n),
    encI(OP.OP_IMM, rd, 1, rd, 12),
    encI(OP.OP_IMM, rd, 0, rd, lo),
  ];
}

/** ms for ITERATIONS of the loop over virtual address `va` (mapped to a RAM page). */
function loopMs(va: bigint): { ms: number; instructions: number } {
  warmUpJit();
  const ram = new SharedArrayBuffer(4 << 20);
  const h = new Hart({ ram, ramBase: BASE, sv57: true });
  const pte = (table: number, idx: number, pa: number, flags: number) =>
    h.ram64[(table - BASE) / 8 + idx] = (BigInt(Math.floor(pa / 4096)) << 10n) | BigInt(flags);
  const root = BASE + 0x10000, l3 = root + 0x1000, l2 = l3 + 0x1000, l1 = l2 + 0x1000;
  const l0 = l1 + 0x1000, data = BASE + 0x20000;
  pte(root, 0, 0, V | R | W | X | A | D); // 256 TiB identity: the code
  const vpn = BigInt.asUintN(57, va) >> 12n;
  const idx = (level: number) => Number((vpn >> BigInt(9 * level)) & 511n);
  if (idx(4) === 0) throw new Error("bench sv57: the data must not be under the code's leaf");
  pte(root, idx(4), l3, V);
  pte(l3, idx(3), l2, V);
  pte(l2, idx(2), l1, V);
  pte(l1, idx(1), l0, V);
  pte(l0, idx(0), data, V | R | W | A | D);
  const code = [
    ...li(9, va), // s1 = the data page
    ...li(6, BigInt(ITERATIONS)),
    encI(OP.LOAD, 5, 3, 9, 8), // loop: ld t0, 8(s1)
    encR(OP.OP, 5, 0, 5, 6, 0), // add t0, t0, t1
    encS(OP.STORE, 3, 9, 5, 16), // sd t0, 16(s1)
    encI(OP.LOAD, 7, 4, 9, 3), // lbu t2, 3(s1)
    encI(OP.OP_IMM, 6, 0, 6, -1), // addi t1, t1, -1
    encB(1, 6, 0, -20), // bne t1, zero, loop
    encI(OP.OP_IMM, 17, 0, 0, 93), // a7 = 93
    0x00000073, // ecall
  ];
  code.forEach((w, i) => h.ram32[0x1000 / 4 + i] = w);
  h.csrWrite(0x180, (10n << 60n) | BigInt(root / 4096));
  h.priv = 1;
  h.pcN = BASE + 0x1000;
  h.onEcall = (hart) => {
    hart.stopRequested = true;
    return true;
  };
  const t0 = performance.now();
  while (h.run(1_000_000) !== RUN_STOP) {
    if (h.lastTrap !== null) throw new Error(`bench sv57: trap ${h.lastTrap.cause}`);
  }
  return { ms: performance.now() - t0, instructions: h.instretN };
}

export function run(): Promise<Record<string, unknown>> {
  const low: number[] = [], wide: number[] = [];
  let instructions = 0;
  for (let i = 0; i < 3; i++) { // alternating, best of three each
    const l = loopMs(0x0001_0000_4000_0000n); // below 2^53: the ordinary fast path
    low.push(l.ms);
    instructions = l.instructions;
    wide.push(loopMs(0xff60_0000_0000_0000n).ms);
  }
  const bl = Math.min(...low), bw = Math.min(...wide);
  const accesses = 3 * ITERATIONS;
  return Promise.resolve({
    loop: "ld, add, sd, lbu, addi, bne (S-mode, Sv57), 2 M iterations",
    instructions,
    lowMs: low.map((v) => Math.round(v)),
    wideMs: wide.map((v) => Math.round(v)),
    lowMips: Math.round(instructions / bl / 100) / 10,
    wideMips: Math.round(instructions / bw / 100) / 10,
    wideSlowdown: Math.round(bw / bl * 10) / 10,
    nsPerWideAccess: Math.round((bw - bl) * 1e6 / accesses * 10) / 10,
  });
}

if (import.meta.main) console.log(await run());
