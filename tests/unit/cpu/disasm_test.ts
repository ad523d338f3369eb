// The debugging disassembler (cpu/disasm.ts) against binutils: each word
// below was assembled by riscv64-linux-gnu-as and its text checked against
// `objdump -M no-aliases` (differences of style: branch targets as 0x…,
// shift amounts in decimal, compressed forms shown with their expanded
// operands, `fence` without its iorw sets). Read next: cpu/disasm.ts.

import assert from "../../../testing/assert.ts";
import { disassemble, disassembleAt } from "../../../cpu/disasm.ts";

// [word or halfword, pc, text]
const CASES: [number, bigint, string][] = [
  [0x12345537, 0x0n, "lui a0,0x12345"],
  [0xfffff317, 0x4n, "auipc t1,0xfffff"],
  [0x010000ef, 0x8n, "jal ra,0x18"],
  [0x00878067, 0xcn, "jalr zero,8(a5)"],
  [0xfeb50ce3, 0x10n, "beq a0,a1,0x8"],
  [0x0062f0e3, 0x14n, "bgeu t0,t1,0x814"],
  [0xfff10503, 0x18n, "lb a0,-1(sp)"],
  [0x7ff56483, 0x1cn, "lwu s1,2047(a0)"],
  [0xfe113c23, 0x20n, "sd ra,-8(sp)"],
  [0x2988, 0x24n, "c.fld fa0,16(a1)"],
  [0xfe142e27, 0x26n, "fsw ft1,-4(s0)"],
  [0xffb58513, 0x2an, "addi a0,a1,-5"],
  [0x157e, 0x2en, "c.slli a0,a0,63"],
  [0x401f5f93, 0x30n, "srai t6,t5,1"],
  [0x0015b513, 0x34n, "sltiu a0,a1,1"],
  [0x357d, 0x38n, "c.addiw a0,a0,-1"],
  [0x41f5d51b, 0x3an, "sraiw a0,a1,31"],
  [0x00c58533, 0x3en, "add a0,a1,a2"],
  [0x41248433, 0x42n, "sub s0,s1,s2"],
  [0x027322b3, 0x46n, "mulhsu t0,t1,t2"],
  [0x02b57533, 0x4an, "remu a0,a0,a1"],
  [0x40c5d53b, 0x4en, "sraw a0,a1,a2"],
  [0x02c5d53b, 0x52n, "divuw a0,a1,a2"],
  [0x0ff0000f, 0x56n, "fence"],
  [0x0000100f, 0x5an, "fence.i"],
  [0x1405b52f, 0x5en, "lr.d.aq a0,(a1)"],
  [0x1ad7262f, 0x62n, "sc.w.rl a2,a3,(a4)"],
  [0xe0b6352f, 0x66n, "amomaxu.d a0,a1,(a2)"],
  [0x00000073, 0x6an, "ecall"],
  [0x9002, 0x6en, "c.ebreak"],
  [0x30200073, 0x70n, "mret"],
  [0x10200073, 0x74n, "sret"],
  [0x10500073, 0x78n, "wfi"],
  [0x12b50073, 0x7cn, "sfence.vma a0,a1"],
  [0x10059573, 0x80n, "csrrw a0,sstatus,a1"],
  [0x10416073, 0x84n, "csrrsi zero,sie,2"],
  [0x7c0332f3, 0x88n, "csrrc t0,0x7c0,t1"],
  [0x6ac58543, 0x8cn, "fmadd.d fa0,fa1,fa2,fa3,rne"],
  [0x0020f053, 0x90n, "fadd.s ft0,ft1,ft2"],
  [0x5a059553, 0x94n, "fsqrt.d fa0,fa1,rtz"],
  [0x20c5a553, 0x98n, "fsgnjx.s fa0,fa1,fa2"],
  [0xa2b50553, 0x9cn, "fle.d a0,fa0,fa1"],
  [0xc2353553, 0xa0n, "fcvt.lu.d a0,fa0,rup"],
  [0xd0054553, 0xa4n, "fcvt.s.w fa0,a0,rmm"],
  [0x42058553, 0xa8n, "fcvt.d.s fa0,fa1"],
  [0xe2050553, 0xacn, "fmv.x.d a0,fa0"],
  [0xe0051553, 0xb0n, "fclass.s a0,fa0"],
  [0xf0050553, 0xb4n, "fmv.w.x fa0,a0"],
];

Deno.test("disasm: RV64GC forms read like objdump", () => {
  for (const [w, pc, text] of CASES) {
    assert.equal(disassemble(w | 0, pc), text, `0x${(w >>> 0).toString(16)}`);
  }
});

Deno.test("disasm: unknown words, illegal compressed, reading from RAM", () => {
  assert.equal(disassemble(0x0000000b), ".word 0xb");
  assert.equal(disassemble(0x0000), "c.illegal 0x0");
  assert.equal(disassemble(0xfeb50ce3 | 0), "beq a0,a1,pc-8");
  const ram = new Uint8Array([0x88, 0x29, 0x13, 0x85, 0xb5, 0xff]); // c.fld; addi a0,a1,-5
  assert.equal(disassembleAt(ram, 0x1000, 0x1000), "c.fld fa0,16(a1)");
  assert.equal(disassembleAt(ram, 0x1000, 0x1002), "addi a0,a1,-5");
  assert.equal(disassembleAt(ram, 0x1000, 0x2000), "(outside RAM)");
});
