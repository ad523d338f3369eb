// RV64C: every compressed form expands to the 32-bit instruction binutils
// assembles for the same operation (pairs produced with riscv64-linux-gnu-as,
// rvc and norvc), reserved encodings are illegal, and compressed code runs
// with 2-byte pc steps and pc+2 links. Read next: tests/unit/cpu/integer_test.ts.

import assert from "../../../testing/assert.ts";
import { compressedTable, expandCompressed } from "../../../cpu/compressed.ts";
import { A, BASE, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";

// [compressed halfword, the norvc 32-bit encoding] from binutils 2.40.
const PAIRS: [number, number, string][] = [
  [0x0040, 0x00410413, "c.addi4spn s0,sp,4"],
  [0x1ffc, 0x3fc10793, "c.addi4spn a5,sp,1020"],
  [0x2588, 0x0085b507, "c.fld fa0,8(a1)"],
  [0x3fe4, 0x0f87b487, "c.fld fs1,248(a5)"],
  [0x41c8, 0x0045a503, "c.lw a0,4(a1)"],
  [0x5fe4, 0x07c7a483, "c.lw s1,124(a5)"],
  [0x6588, 0x0085b503, "c.ld a0,8(a1)"],
  [0x7c78, 0x0f843703, "c.ld a4,248(s0)"],
  [0xaa90, 0x00c6b827, "c.fsd fa2,16(a3)"],
  [0xc1a8, 0x04a5a023, "c.sw a0,64(a1)"],
  [0xe25c, 0x08f63023, "c.sd a5,128(a2)"],
  [0x0001, 0x00000013, "c.nop"],
  [0x1501, 0xfe050513, "c.addi a0,-32"],
  [0x0ffd, 0x01ff8f93, "c.addi t6,31"],
  [0x2505, 0x0015051b, "c.addiw a0,1"],
  [0x3d81, 0xfe0d8d9b, "c.addiw s11,-32"],
  [0x52fd, 0xfff00293, "c.li t0,-1"],
  [0x47fd, 0x01f00793, "c.li a5,31"],
  [0x7101, 0xe0010113, "c.addi16sp sp,-512"],
  [0x617d, 0x1f010113, "c.addi16sp sp,496"],
  [0x6141, 0x01010113, "c.addi16sp sp,16"],
  [0x6585, 0x000015b7, "c.lui a1,0x1"],
  [0x7301, 0xfffe0337, "c.lui t1,0xfffe0"],
  [0x697d, 0x0001f937, "c.lui s2,0x1f"],
  [0x8105, 0x00155513, "c.srli a0,1"],
  [0x90fd, 0x03f4d493, "c.srli s1,63"],
  [0x9581, 0x4205d593, "c.srai a1,32"],
  [0x861d, 0x40765613, "c.srai a2,7"],
  [0x9afd, 0xfff6f693, "c.andi a3,-1"],
  [0x883d, 0x00f47413, "c.andi s0,15"],
  [0x8d0d, 0x40b50533, "c.sub a0,a1"],
  [0x8cbd, 0x00f4c4b3, "c.xor s1,a5"],
  [0x8e55, 0x00d66633, "c.or a2,a3"],
  [0x8f61, 0x00877733, "c.and a4,s0"],
  [0x9d1d, 0x40f5053b, "c.subw a0,a5"],
  [0x9ca1, 0x008484bb, "c.addw s1,s0"],
  [0xaffd, 0x7fe0006f, "c.j .+2046"],
  [0xb001, 0x801ff06f, "c.j .-2048"],
  [0xa02d, 0x02a0006f, "c.j .+42"],
  [0xcd7d, 0x0e050f63, "c.beqz a0,.+254"],
  [0xd081, 0xf00480e3, "c.beqz s1,.-256"],
  [0xe78d, 0x02079563, "c.bnez a5,.+42"],
  [0x0506, 0x00151513, "c.slli a0,1"],
  [0x1ffe, 0x03ff9f93, "c.slli t6,63"],
  [0x357e, 0x1f813507, "c.fldsp fa0,504(sp)"],
  [0x20a2, 0x00813087, "c.fldsp ft1,8(sp)"],
  [0x557e, 0x0fc12503, "c.lwsp a0,252(sp)"],
  [0x4392, 0x00412383, "c.lwsp t2,4(sp)"],
  [0x70fe, 0x1f813083, "c.ldsp ra,504(sp)"],
  [0x6422, 0x00813403, "c.ldsp s0,8(sp)"],
  [0x8082, 0x00008067, "c.jr ra"],
  [0x8f82, 0x000f8067, "c.jr t6"],
  [0x852e, 0x00b00533, "c.mv a0,a1 (add a0,zero,a1)"],
  [0x8fa2, 0x00800fb3, "c.mv t6,s0 (add t6,zero,s0)"],
  [0x9002, 0x00100073, "c.ebreak"],
  [0x9782, 0x000780e7, "c.jalr a5"],
  [0x952e, 0x00b50533, "c.add a0,a1"],
  [0x9ffa, 0x01ef8fb3, "c.add t6,t5"],
  [0xbfaa, 0x1ea13c27, "c.fsdsp fa0,504(sp)"],
  [0xdfaa, 0x0ea12e23, "c.swsp a0,252(sp)"],
  [0xff86, 0x1e113c23, "c.sdsp ra,504(sp)"],
  [0xe422, 0x00813423, "c.sdsp s0,8(sp)"],
];

Deno.test("compressed: expansions match binutils", () => {
  for (const [c, w, name] of PAIRS) {
    assert.equal(expandCompressed(c) >>> 0, w >>> 0, `${name}: ${c.toString(16)}`);
    assert.equal(compressedTable()[c] >>> 0, w >>> 0, name);
  }
});

Deno.test("compressed: reserved encodings are illegal", () => {
  const reserved = [
    0x0000, // all zeros
    0x0004, // c.addi4spn with nzuimm = 0
    0x8000, // quadrant 0 funct3 100
    0x2001, // c.addiw rd = 0
    0x6101, // c.addi16sp imm = 0
    0x6081, // c.lui ra, 0 (nzimm = 0)
    0x9c41, // c.subw-space funct 10 (reserved)
    0x9c61, // reserved
    0x4002, // c.lwsp rd = 0
    0x6002, // c.ldsp rd = 0
    0x8002, // c.jr rs1 = 0
  ];
  for (const c of reserved) assert.equal(expandCompressed(c), 0, `0x${c.toString(16)}`);
});

Deno.test("compressed: executes with 2-byte steps, pc+2 links and illegal tval = 16 bits", () => {
  const h = makeHart();
  // c.li a0,31; c.addi a0,-32 (a0 = -1); c.jal-style: c.jalr a5 to a c.jr ra;
  // then c.mv a1,a0; exit
  const code: (number | { h: number })[] = [
    { h: 0x457d }, // c.li a0,31
    { h: 0x1501 }, // c.addi a0,-32
    A.auipc(15, 0), // a5 = pc (BASE+4)
    A.addi(15, 15, 20), // a5 -> BASE+24 (the c.jr ra)
    { h: 0x9782 }, // c.jalr a5 at BASE+12 : ra = BASE+14
    { h: 0x85aa }, // c.mv a1,a0 at BASE+14
    ...A.exit(), // BASE+16, +20
    { h: 0x8082 }, // BASE+24: c.jr ra
  ];
  load(h, BASE, code);
  runToExit(h);
  assert.equal(h.x[10], -1n);
  assert.equal(h.x[11], -1n);
  assert.equal(h.x[1], BigInt(BASE + 14));

  // An illegal compressed instruction traps with the halfword as tval.
  const g = makeHart();
  load(g, BASE, [{ h: 0x0000 }, { h: 0x0001 }]);
  g.csrWrite(0x305, BigInt(BASE + 0x100));
  load(g, BASE + 0x100, A.exit());
  runToExit(g);
  assert.equal(g.lastTrap?.cause, 2n);
  assert.equal(g.lastTrap?.tval, 0n);
  assert.equal(g.lastTrap?.epc, BigInt(BASE));
});
