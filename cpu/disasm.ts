// A disassembler for RV64GC, for debugging: turn the words at the pcs in
// Hart.recentPcs() (or a crash pc) into text like objdump's `-M no-aliases`
// output, with ABI register names. Compressed instructions are shown as the
// 32-bit instruction they expand to, prefixed with "c.". It shares the field
// extractors of cpu/decode.ts. Read next: docs/cpu.md.

import { expandCompressed } from "./compressed.ts";
import {
  funct3Of,
  funct7Of,
  immB,
  immI,
  immJ,
  immS,
  immU,
  OP,
  rdOf,
  rs1Of,
  rs2Of,
  rs3Of,
} from "./decode.ts";

export const XNAMES = [
  "zero",
  "ra",
  "sp",
  "gp",
  "tp",
  "t0",
  "t1",
  "t2",
  "s0",
  "s1",
  "a0",
  "a1",
  "a2",
  "a3",
  "a4",
  "a5",
  "a6",
  "a7",
  "s2",
  "s3",
  "s4",
  "s5",
  "s6",
  "s7",
  "s8",
  "s9",
  "s10",
  "s11",
  "t3",
  "t4",
  "t5",
  "t6",
]; // deno-fmt-ignore
export const FNAMES = [
  "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3",
  "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
  "ft8", "ft9", "ft10", "ft11",
]; // deno-fmt-ignore

const CSR_NAMES: Record<number, string> = {
  0x001: "fflags", 0x002: "frm", 0x003: "fcsr", 0xc00: "cycle", 0xc01: "time", 0xc02: "instret",
  0x100: "sstatus", 0x104: "sie", 0x105: "stvec", 0x106: "scounteren", 0x10a: "senvcfg",
  0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval", 0x144: "sip", 0x180: "satp",
  0x300: "mstatus", 0x301: "misa", 0x302: "medeleg", 0x303: "mideleg", 0x304: "mie",
  0x305: "mtvec", 0x306: "mcounteren", 0x30a: "menvcfg", 0x340: "mscratch", 0x341: "mepc",
  0x342: "mcause", 0x343: "mtval", 0x344: "mip", 0xb00: "mcycle", 0xb02: "minstret",
  0xf11: "mvendorid", 0xf12: "marchid", 0xf13: "mimpid", 0xf14: "mhartid",
}; // deno-fmt-ignore

const hex = (v: number | bigint) => "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
const x = (r: number) => XNAMES[r];
const f = (r: number) => FNAMES[r];
const csrName = (c: number) => CSR_NAMES[c] ?? hex(c);
/** Rounding-mode suffixes; dynamic (7) is left out, as objdump does. */
const RM = [",rne", ",rtz", ",rdn", ",rup", ",rmm", ",rm5", ",rm6", ""];

/**
 * Disassemble one instruction. `insn` is the 32-bit word (or the halfword of
 * a compressed one: its low bits are not 11); `pc`, when given, turns branch
 * and jump offsets into target addresses.
 */
export function disassemble(insn: number, pc?: bigint): string {
  if ((insn & 3) !== 3) {
    const e = expandCompressed(insn & 0xffff);
    return e === 0 ? `c.illegal ${hex(insn & 0xffff)}` : "c." + disasm32(e, pc);
  }
  return disasm32(insn | 0, pc);
}

function target(off: number, pc?: bigint): string {
  return pc === undefined ? `pc${off < 0 ? "" : "+"}${off}` : hex(pc + BigInt(off));
}

function disasm32(i: number, pc?: bigint): string {
  const rd = rdOf(i), rs1 = rs1Of(i), rs2 = rs2Of(i), f3 = funct3Of(i), f7 = funct7Of(i);
  const bad = `.word ${hex(i >>> 0)}`;
  switch (i & 0x7f) {
    case OP.LUI:
      return `lui ${x(rd)},${hex((immU(i) >>> 12) & 0xfffff)}`;
    case OP.AUIPC:
      return `auipc ${x(rd)},${hex((immU(i) >>> 12) & 0xfffff)}`;
    case OP.JAL:
      return `jal ${x(rd)},${target(immJ(i), pc)}`;
    case OP.JALR:
      return f3 === 0 ? `jalr ${x(rd)},${immI(i)}(${x(rs1)})` : bad;
    case OP.BRANCH: {
      const n = ["beq", "bne", "", "", "blt", "bge", "bltu", "bgeu"][f3];
      return n ? `${n} ${x(rs1)},${x(rs2)},${target(immB(i), pc)}` : bad;
    }
    case OP.LOAD: {
      const n = ["lb", "lh", "lw", "ld", "lbu", "lhu", "lwu", ""][f3];
      return n ? `${n} ${x(rd)},${immI(i)}(${x(rs1)})` : bad;
    }
    case OP.STORE: {
      const n = ["sb", "sh", "sw", "sd"][f3];
      return n ? `${n} ${x(rs2)},${immS(i)}(${x(rs1)})` : bad;
    }
    case OP.LOAD_FP:
      return f3 === 2 || f3 === 3
        ? `fl${f3 === 2 ? "w" : "d"} ${f(rd)},${immI(i)}(${x(rs1)})`
        : bad;
    case OP.STORE_FP:
      return f3 === 2 || f3 === 3
        ? `fs${f3 === 2 ? "w" : "d"} ${f(rs2)},${immS(i)}(${x(rs1)})`
        : bad;
    case OP.OP_IMM: {
      const imm = immI(i);
      if (f3 === 1) return `slli ${x(rd)},${x(rs1)},${imm & 63}`;
      if (f3 === 5) return `${(imm >> 10) & 1 ? "srai" : "srli"} ${x(rd)},${x(rs1)},${imm & 63}`;
      const n = ["addi", "", "slti", "sltiu", "xori", "", "ori", "andi"][f3];
      return `${n} ${x(rd)},${x(rs1)},${imm}`;
    }
    case OP.OP_IMM_32: {
      const imm = immI(i);
      if (f3 === 0) return `addiw ${x(rd)},${x(rs1)},${imm}`;
      if (f3 === 1) return `slliw ${x(rd)},${x(rs1)},${imm & 31}`;
      if (f3 === 5) return `${(imm >> 10) & 1 ? "sraiw" : "srliw"} ${x(rd)},${x(rs1)},${imm & 31}`;
      return bad;
    }
    case OP.OP: {
      const n = f7 === 0
        ? ["add", "sll", "slt", "sltu", "xor", "srl", "or", "and"][f3]
        : f7 === 0x20
        ? ["sub", "", "", "", "", "sra", "", ""][f3]
        : f7 === 1
        ? ["mul", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu"][f3]
        : "";
      return n ? `${n} ${x(rd)},${x(rs1)},${x(rs2)}` : bad;
    }
    case OP.OP_32: {
      const n = f7 === 0
        ? ["addw", "sllw", "", "", "", "srlw", "", ""][f3]
        : f7 === 0x20
        ? ["subw", "", "", "", "", "sraw", "", ""][f3]
        : f7 === 1
        ? ["mulw", "", "", "", "divw", "divuw", "remw", "remuw"][f3]
        : "";
      return n ? `${n} ${x(rd)},${x(rs1)},${x(rs2)}` : bad;
    }
    case OP.MISC_MEM:
      return f3 === 0 ? "fence" : f3 === 1 ? "fence.i" : bad;
    case OP.AMO: {
      const w = f3 === 2 ? ".w" : f3 === 3 ? ".d" : "";
      if (!w) return bad;
      const f5 = i >>> 27;
      const ord = `${(i >>> 26) & 1 ? ".aq" : ""}${(i >>> 25) & 1 ? ".rl" : ""}`;
      if (f5 === 2) return `lr${w}${ord} ${x(rd)},(${x(rs1)})`;
      const n = ({
        0: "amoadd",
        1: "amoswap",
        3: "sc",
        4: "amoxor",
        8: "amoor",
        12: "amoand",
        16: "amomin",
        20: "amomax",
        24: "amominu",
        28: "amomaxu",
      } as Record<number, string>)[f5]; // deno-fmt-ignore
      return n ? `${n}${w}${ord} ${x(rd)},${x(rs2)},(${x(rs1)})` : bad;
    }
    case OP.SYSTEM: {
      if (f3 === 0) {
        if (f7 === 0x09 && rd === 0) return `sfence.vma ${x(rs1)},${x(rs2)}`;
        const n =
          ({ 0: "ecall", 1: "ebreak", 0x302: "mret", 0x102: "sret", 0x105: "wfi" } as Record<
            number,
            string
          >)[i >>> 20];
        return n && rd === 0 && rs1 === 0 ? n : bad;
      }
      const n = ["", "csrrw", "csrrs", "csrrc", "", "csrrwi", "csrrsi", "csrrci"][f3];
      if (!n) return bad;
      return `${n} ${x(rd)},${csrName(i >>> 20)},${f3 >= 5 ? String(rs1) : x(rs1)}`;
    }
    case OP.MADD:
    case OP.MSUB:
    case OP.NMSUB:
    case OP.NMADD: {
      const n = { 0x43: "fmadd", 0x47: "fmsub", 0x4b: "fnmsub", 0x4f: "fnmadd" }[i & 0x7f];
      const t = (i >>> 25) & 3;
      if (t > 1) return bad;
      return `${n}.${t ? "d" : "s"} ${f(rd)},${f(rs1)},${f(rs2)},${f(rs3Of(i))}${RM[f3]}`;
    }
    case OP.OP_FP:
      return disasmFp(i, rd, rs1, rs2, f3, f7) ?? bad;
  }
  return bad;
}

function disasmFp(i: number, rd: number, rs1: number, rs2: number, f3: number, f7: number) {
  const t = f7 & 1 ? "d" : "s";
  const rm = RM[f3]; // with its comma
  switch (f7 >> 2) {
    case 0:
      return `fadd.${t} ${f(rd)},${f(rs1)},${f(rs2)}${rm}`;
    case 1:
      return `fsub.${t} ${f(rd)},${f(rs1)},${f(rs2)}${rm}`;
    case 2:
      return `fmul.${t} ${f(rd)},${f(rs1)},${f(rs2)}${rm}`;
    case 3:
      return `fdiv.${t} ${f(rd)},${f(rs1)},${f(rs2)}${rm}`;
    case 11:
      return `fsqrt.${t} ${f(rd)},${f(rs1)}${rm}`;
    case 4: {
      const n = ["fsgnj", "fsgnjn", "fsgnjx"][f3];
      return n ? `${n}.${t} ${f(rd)},${f(rs1)},${f(rs2)}` : null;
    }
    case 5: {
      const n = ["fmin", "fmax"][f3];
      return n ? `${n}.${t} ${f(rd)},${f(rs1)},${f(rs2)}` : null;
    }
    case 8: // fcvt.s.d rounds; fcvt.d.s is exact (no rounding mode shown)
      return `fcvt.${t}.${rs2 === 1 ? "d" : "s"} ${f(rd)},${f(rs1)}${t === "d" ? "" : rm}`;
    case 20: {
      const n = ["fle", "flt", "feq"][f3];
      return n ? `${n}.${t} ${x(rd)},${f(rs1)},${f(rs2)}` : null;
    }
    case 24: // fcvt.{w,wu,l,lu}.{s,d}
      return `fcvt.${["w", "wu", "l", "lu"][rs2 & 3]}.${t} ${x(rd)},${f(rs1)}${rm}`;
    case 26:
      return `fcvt.${t}.${["w", "wu", "l", "lu"][rs2 & 3]} ${f(rd)},${x(rs1)}${rm}`;
    case 28:
      if (f3 === 0) return `fmv.x.${t === "s" ? "w" : "d"} ${x(rd)},${f(rs1)}`;
      if (f3 === 1) return `fclass.${t} ${x(rd)},${f(rs1)}`;
      return null;
    case 30:
      return f3 === 0 ? `fmv.${t === "s" ? "w" : "d"}.x ${f(rd)},${x(rs1)}` : null;
  }
  void i;
  return null;
}

/** Disassemble the instruction at a guest physical address of a hart's RAM (for crash reports). */
export function disassembleAt(
  ram: Uint8Array,
  ramBase: number,
  phys: number,
  pc?: bigint,
): string {
  const off = phys - ramBase;
  if (!(off >= 0 && off + 2 <= ram.length)) return "(outside RAM)";
  const lo = ram[off] | (ram[off + 1] << 8);
  if ((lo & 3) !== 3) return disassemble(lo, pc);
  if (off + 4 > ram.length) return "(outside RAM)";
  return disassemble(lo | (ram[off + 2] << 16) | (ram[off + 3] << 24), pc);
}
