// RV64I and M: every register-register and immediate operation checked on
// edge values and pseudo-random operands against a plain BigInt reference of
// the spec's definitions, plus loads/stores of every width, branches, jumps,
// lui/auipc, and x0 staying zero. Read next: tests/unit/cpu/mmu_test.ts.

import assert from "../../../testing/assert.ts";
import { A, BASE, li, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";

const M64 = (1n << 64n) - 1n;
const s64 = (v: bigint) => BigInt.asIntN(64, v);
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const s32 = (v: bigint) => BigInt.asIntN(32, v);
const u32 = (v: bigint) => BigInt.asUintN(32, v);
const MIN = -(1n << 63n);

/** The spec's definitions, independent of the emulator's int32-pair tricks. */
const REF: Record<string, (a: bigint, b: bigint) => bigint> = {
  add: (a, b) => s64(a + b),
  sub: (a, b) => s64(a - b),
  sll: (a, b) => s64(a << (u64(b) & 63n)),
  slt: (a, b) => a < b ? 1n : 0n,
  sltu: (a, b) => u64(a) < u64(b) ? 1n : 0n,
  xor: (a, b) => a ^ b,
  srl: (a, b) => s64(u64(a) >> (u64(b) & 63n)),
  sra: (a, b) => a >> (u64(b) & 63n),
  or: (a, b) => a | b,
  and: (a, b) => a & b,
  mul: (a, b) => s64(a * b),
  mulh: (a, b) => s64((a * b) >> 64n),
  mulhsu: (a, b) => s64((a * u64(b)) >> 64n),
  mulhu: (a, b) => s64((u64(a) * u64(b)) >> 64n),
  div: (a, b) => b === 0n ? -1n : (a === MIN && b === -1n) ? MIN : a / b,
  divu: (a, b) => b === 0n ? -1n : s64(u64(a) / u64(b)),
  rem: (a, b) => b === 0n ? a : (a === MIN && b === -1n) ? 0n : a % b,
  remu: (a, b) => b === 0n ? a : s64(u64(a) % u64(b)),
  addw: (a, b) => s32(a + b),
  subw: (a, b) => s32(a - b),
  sllw: (a, b) => s32(a << (u64(b) & 31n)),
  srlw: (a, b) => s32(u32(a) >> (u64(b) & 31n)),
  sraw: (a, b) => s32(a) >> (u64(b) & 31n),
  mulw: (a, b) => s32(a * b),
  divw: (a, b) => {
    const x = s32(a), y = s32(b);
    return y === 0n ? -1n : (x === -(1n << 31n) && y === -1n) ? x : s32(x / y);
  },
  divuw: (a, b) => u32(b) === 0n ? -1n : s32(u32(a) / u32(b)),
  remw: (a, b) => {
    const x = s32(a), y = s32(b);
    return y === 0n ? x : (x === -(1n << 31n) && y === -1n) ? 0n : s32(x % y);
  },
  remuw: (a, b) => u32(b) === 0n ? s32(a) : s32(u32(a) % u32(b)),
};

const EDGES = [
  0n,
  1n,
  2n,
  -1n,
  -2n,
  MIN,
  -MIN - 1n,
  0x80000000n,
  0x7fffffffn,
  -0x80000000n,
  0xffffffffn,
  0x100000000n,
  12345n,
  -12345n,
  63n,
  64n,
  31n,
  32n,
];

function operands(): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const a of EDGES) for (const b of EDGES) out.push([a, b]);
  let s = 0x9e3779b97f4a7c15n;
  const next = () => {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    return s64(s);
  };
  for (let i = 0; i < 60; i++) {
    const a = next(), b = next();
    out.push([a, i % 3 === 0 ? b >> BigInt(i % 64) : b]);
  }
  return out;
}

/** Run `op rd, rs1, rs2` over many operand pairs in one program; results land in RAM. */
function runRR(name: string, enc: (rd: number, rs1: number, rs2: number) => number): void {
  const pairs = operands();
  const out = BASE + 0x80000;
  const code: number[] = [...li(28, BigInt(out))];
  for (const [a, b] of pairs) {
    code.push(...li(5, a), ...li(6, b), enc(7, 5, 6), A.sd(7, 0, 28), A.addi(28, 28, 8));
  }
  code.push(...A.exit());
  const h = makeHart();
  load(h, BASE, code);
  runToExit(h, 1_000_000);
  pairs.forEach(([a, b], i) => {
    const got = h.ram64[(out - BASE) / 8 + i];
    assert.equal(got, REF[name](a, b), `${name} ${a} ${b}`);
  });
}

for (const name of Object.keys(REF)) {
  Deno.test(`integer: ${name}`, () =>
    runRR(name, (A as unknown as Record<string, typeof A.add>)[name]));
}

Deno.test("integer: immediate forms, including shifts by every amount", () => {
  const h = makeHart();
  const vals = [0x123456789abcdef0n, -0x123456789abcdef0n, 1n, -1n, MIN];
  const out = BASE + 0x80000;
  const code: number[] = [...li(28, BigInt(out))];
  const expect: bigint[] = [];
  const emit = (insn: number, v: bigint) => {
    code.push(...li(5, v), insn, A.sd(7, 0, 28), A.addi(28, 28, 8));
  };
  for (const v of vals) {
    for (let sh = 0; sh < 64; sh++) {
      emit(A.slli(7, 5, sh), v);
      expect.push(REF.sll(v, BigInt(sh)));
      emit(A.srli(7, 5, sh), v);
      expect.push(REF.srl(v, BigInt(sh)));
      emit(A.srai(7, 5, sh), v);
      expect.push(REF.sra(v, BigInt(sh)));
    }
    for (let sh = 0; sh < 32; sh++) {
      emit(A.slliw(7, 5, sh), v);
      expect.push(REF.sllw(v, BigInt(sh)));
      emit(A.srliw(7, 5, sh), v);
      expect.push(REF.srlw(v, BigInt(sh)));
      emit(A.sraiw(7, 5, sh), v);
      expect.push(REF.sraw(v, BigInt(sh)));
    }
    for (const imm of [0, 1, -1, 2047, -2048, 0x555]) {
      const b = BigInt(imm);
      emit(A.addi(7, 5, imm), v);
      expect.push(REF.add(v, b));
      emit(A.addiw(7, 5, imm), v);
      expect.push(REF.addw(v, b));
      emit(A.slti(7, 5, imm), v);
      expect.push(REF.slt(v, b));
      emit(A.sltiu(7, 5, imm), v);
      expect.push(REF.sltu(v, b));
      emit(A.xori(7, 5, imm), v);
      expect.push(v ^ b);
      emit(A.ori(7, 5, imm), v);
      expect.push(v | b);
      emit(A.andi(7, 5, imm), v);
      expect.push(v & b);
    }
  }
  code.push(...A.exit());
  load(h, BASE, code);
  runToExit(h, 1_000_000);
  expect.forEach((e, i) => assert.equal(h.ram64[(out - BASE) / 8 + i], e, `#${i}`));
});

Deno.test("integer: loads and stores of every width, signed and unsigned", () => {
  const h = makeHart();
  const d = BASE + 0x4000;
  h.ram64[0x4000 / 8] = 0x8182838485868788n - (1n << 64n);
  load(h, BASE, [
    ...li(6, BigInt(d)),
    A.lb(10, 0, 6),
    A.lbu(11, 0, 6),
    A.lh(12, 0, 6),
    A.lhu(13, 0, 6),
    A.lw(14, 4, 6),
    A.lwu(15, 4, 6),
    A.ld(16, 0, 6),
    A.sb(16, 8, 6),
    A.sh(16, 16, 6),
    A.sw(16, 24, 6),
    A.sd(16, 32, 6),
    A.lh(20, 1, 6), // misaligned (completed, not trapped)
    A.ld(21, 3, 6),
    A.sd(16, 41, 6),
    A.ld(22, 41, 6),
    ...A.exit(),
  ]);
  runToExit(h);
  assert.equal(h.x[10], -0x78n);
  assert.equal(h.x[11], 0x88n);
  assert.equal(h.x[12], s64(0xffffffffffff8788n));
  assert.equal(h.x[13], 0x8788n);
  assert.equal(h.x[14], s64(0xffffffff81828384n));
  assert.equal(h.x[15], 0x81828384n);
  assert.equal(u64(h.x[16]), 0x8182838485868788n);
  assert.equal(h.ram64[0x4008 / 8], 0x88n);
  assert.equal(h.ram64[0x4010 / 8], 0x8788n);
  assert.equal(h.ram64[0x4018 / 8], 0x85868788n);
  assert.equal(u64(h.ram64[0x4020 / 8]), 0x8182838485868788n);
  assert.equal(h.x[20], s64(0xffffffffffff8687n));
  assert.equal(u64(h.x[21]), 0x0000888182838485n, "bytes 3..10, byte 8 from the sb");
  assert.equal(u64(h.x[22]), 0x8182838485868788n);
  assert.equal(h.lastTrap, null, "misaligned accesses do not trap");
});

Deno.test("integer: branches, jal/jalr links, lui/auipc, x0 stays zero", () => {
  const h = makeHart();
  load(h, BASE, [
    A.addi(5, 0, -1),
    A.addi(6, 0, 1),
    A.blt(5, 6, 8), // taken
    A.addi(10, 10, 1), // skipped
    A.bltu(5, 6, 8), // not taken (0xfff... > 1)
    A.addi(10, 10, 2),
    A.bge(6, 5, 8), // taken
    A.addi(10, 10, 4),
    A.bgeu(5, 6, 8), // taken
    A.addi(10, 10, 8),
    A.beq(5, 5, 8), // taken
    A.addi(10, 10, 16),
    A.bne(5, 5, 8), // not taken
    A.addi(10, 10, 32),
    A.jal(1, 12), // to +12, ra = pc+4
    A.addi(10, 10, 64), // skipped
    A.addi(10, 10, 128), // skipped
    A.auipc(11, 1), // pc + 0x1000
    A.lui(12, 0x80000), // sign-extended
    A.addi(0, 0, 5), // x0 stays 0
    A.add(13, 0, 0),
    A.auipc(14, 0),
    A.jalr(15, 14, 17), // to (x14+17)&~1 = +16 from the auipc; link = pc+4
    A.addi(10, 10, 256), // skipped
    A.addi(10, 10, 512), // skipped
    ...A.exit(),
  ]);
  runToExit(h);
  assert.equal(h.x[10], 2n + 32n);
  assert.equal(h.x[1], BigInt(BASE + 15 * 4));
  assert.equal(h.x[11], BigInt(BASE + 17 * 4 + 0x1000));
  assert.equal(h.x[12], -0x80000000n);
  assert.equal(h.x[0], 0n);
  assert.equal(h.x[15], BigInt(BASE + 23 * 4));
});

Deno.test("integer: illegal encodings trap with tval = the instruction", () => {
  const bad = [
    0x00000000,
    0xffffffff | 0,
    A.slli(1, 1, 0) | (1 << 31), // shift with a bad funct6
    A.add(1, 2, 3) | (1 << 26), // OP with an unknown funct7
    A.lb(1, 0, 0) | (7 << 12), // load funct3 7
    A.sb(1, 0, 0) | (4 << 12), // store funct3 4
    A.beq(0, 0, 8) | (2 << 12), // branch funct3 2
    A.addiw(1, 1, 0) | (2 << 12), // OP-IMM-32 funct3 2
    0x0000000b, // custom-0
  ];
  for (const insn of bad) {
    const h = makeHart();
    h.csrWrite(0x305, BigInt(BASE + 0x100));
    load(h, BASE + 0x100, A.exit());
    load(h, BASE, [insn]);
    runToExit(h);
    assert.equal(h.csrRead(0x342), 2n, `0x${(insn >>> 0).toString(16)}`);
    assert.equal(h.csrRead(0x343), BigInt(insn >>> 0));
    assert.equal(h.csrRead(0x341), BigInt(BASE));
  }
});
