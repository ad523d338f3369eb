// Instruction coverage of the differential test programs: a small RV64GC
// classifier (encoding -> mnemonic, independent of the hart's decoder) and
// the full list of RV64GC mnemonics. tests/unit/cpu/diff_test.ts sweeps the
// executable segments of every committed binary and checks that each
// mnemonic occurs, and that every rounding FP operation occurs with each of
// the five static rounding modes and dyn. Read next: tests/unit/cpu/diff_test.ts.

/** Every RV64GC instruction (base RV64I, M, A, F, D, C, Zicsr, Zifencei). */
export const RV64GC = (
  "lui auipc jal jalr beq bne blt bge bltu bgeu lb lh lw ld lbu lhu lwu sb sh sw sd " +
  "addi slti sltiu xori ori andi slli srli srai add sub sll slt sltu xor srl sra or and " +
  "fence fence.tso ecall ebreak addiw slliw srliw sraiw addw subw sllw srlw sraw " +
  "fence.i csrrw csrrs csrrc csrrwi csrrsi csrrci " +
  "mul mulh mulhsu mulhu div divu rem remu mulw divw divuw remw remuw " +
  "lr.w sc.w amoswap.w amoadd.w amoxor.w amoand.w amoor.w amomin.w amomax.w amominu.w " +
  "amomaxu.w lr.d sc.d amoswap.d amoadd.d amoxor.d amoand.d amoor.d amomin.d amomax.d " +
  "amominu.d amomaxu.d " +
  "flw fsw fmadd.s fmsub.s fnmsub.s fnmadd.s fadd.s fsub.s fmul.s fdiv.s fsqrt.s fsgnj.s " +
  "fsgnjn.s fsgnjx.s fmin.s fmax.s fcvt.w.s fcvt.wu.s fmv.x.w feq.s flt.s fle.s fclass.s " +
  "fcvt.s.w fcvt.s.wu fmv.w.x fcvt.l.s fcvt.lu.s fcvt.s.l fcvt.s.lu " +
  "fld fsd fmadd.d fmsub.d fnmsub.d fnmadd.d fadd.d fsub.d fmul.d fdiv.d fsqrt.d fsgnj.d " +
  "fsgnjn.d fsgnjx.d fmin.d fmax.d fcvt.s.d fcvt.d.s feq.d flt.d fle.d fclass.d fcvt.w.d " +
  "fcvt.wu.d fcvt.d.w fcvt.d.wu fcvt.l.d fcvt.lu.d fmv.x.d fcvt.d.l fcvt.d.lu fmv.d.x " +
  "c.addi4spn c.fld c.lw c.ld c.fsd c.sw c.sd c.nop c.addi c.addiw c.li c.addi16sp c.lui " +
  "c.srli c.srai c.andi c.sub c.xor c.or c.and c.subw c.addw c.j c.beqz c.bnez c.slli " +
  "c.fldsp c.lwsp c.ldsp c.jr c.mv c.ebreak c.jalr c.add c.fsdsp c.swsp c.sdsp"
).split(" ");

/** FP operations whose result depends on the rounding mode (rm field used). */
export const ROUNDING = new Set([
  ..."fadd fsub fmul fdiv fsqrt fmadd fmsub fnmsub fnmadd".split(" ").flatMap((o) => [
    `${o}.s`,
    `${o}.d`,
  ]),
  ...("fcvt.w.s fcvt.wu.s fcvt.l.s fcvt.lu.s fcvt.s.w fcvt.s.wu fcvt.s.l fcvt.s.lu fcvt.w.d " +
    "fcvt.wu.d fcvt.l.d fcvt.lu.d fcvt.d.l fcvt.d.lu fcvt.s.d").split(" "),
]);

const pick = (table: string, i: number): string | null => {
  const v = table.split(" ")[i];
  return v === undefined || v === "-" ? null : v;
};

/** Mnemonic of a 16-bit instruction, or null if it is not a valid RV64C one. */
export function classify16(h: number): string | null {
  const q = h & 3, f3 = (h >>> 13) & 7, rd = (h >>> 7) & 31, rs2 = (h >>> 2) & 31;
  const b12 = (h >>> 12) & 1;
  if (q === 0) {
    if (f3 === 0) return (h >>> 5) & 0xff ? "c.addi4spn" : null;
    return pick("- c.fld c.lw c.ld - c.fsd c.sw c.sd", f3);
  }
  if (q === 1) {
    switch (f3) {
      case 0:
        return rd === 0 ? "c.nop" : "c.addi";
      case 3:
        return rd === 2 ? "c.addi16sp" : "c.lui";
      case 4: {
        const f2 = (h >>> 10) & 3;
        if (f2 < 3) return pick("c.srli c.srai c.andi", f2);
        return pick(b12 ? "c.subw c.addw - -" : "c.sub c.xor c.or c.and", (h >>> 5) & 3);
      }
      default:
        return pick("- c.addiw c.li - - c.j c.beqz c.bnez", f3);
    }
  }
  if (q === 2) {
    if (f3 === 4) {
      if (!b12) return rs2 === 0 ? (rd ? "c.jr" : null) : "c.mv";
      if (rs2 === 0) return rd === 0 ? "c.ebreak" : "c.jalr";
      return "c.add";
    }
    return pick("c.slli c.fldsp c.lwsp c.ldsp - c.fsdsp c.swsp c.sdsp", f3);
  }
  return null;
}

/** Mnemonic of a 32-bit instruction (aq/rl and rm not included), or null. */
export function classify32(w: number): string | null {
  const op = w & 0x7f, f3 = (w >>> 12) & 7, f7 = w >>> 25, rs2 = (w >>> 20) & 31;
  const fmt = f7 & 3;
  const sd = (n: string) => fmt === 0 ? `${n}.s` : fmt === 1 ? `${n}.d` : null;
  switch (op) {
    case 0x37:
      return "lui";
    case 0x17:
      return "auipc";
    case 0x6f:
      return "jal";
    case 0x67:
      return f3 === 0 ? "jalr" : null;
    case 0x63:
      return pick("beq bne - - blt bge bltu bgeu", f3);
    case 0x03:
      return pick("lb lh lw ld lbu lhu lwu -", f3);
    case 0x23:
      return pick("sb sh sw sd - - - -", f3);
    case 0x13:
      if (f3 === 1) return (w >>> 26) === 0 ? "slli" : null;
      if (f3 === 5) return (w >>> 26) === 0 ? "srli" : (w >>> 26) === 0x10 ? "srai" : null;
      return pick("addi - slti sltiu xori - ori andi", f3);
    case 0x1b:
      if (f3 === 0) return "addiw";
      if (f3 === 1) return f7 === 0 ? "slliw" : null;
      if (f3 === 5) return f7 === 0 ? "srliw" : f7 === 0x20 ? "sraiw" : null;
      return null;
    case 0x33:
      if (f7 === 0) return pick("add sll slt sltu xor srl or and", f3);
      if (f7 === 0x20) return pick("sub - - - - sra - -", f3);
      if (f7 === 1) return pick("mul mulh mulhsu mulhu div divu rem remu", f3);
      return null;
    case 0x3b:
      if (f7 === 0) return pick("addw sllw - - - srlw - -", f3);
      if (f7 === 0x20) return pick("subw - - - - sraw - -", f3);
      if (f7 === 1) return pick("mulw - - - divw divuw remw remuw", f3);
      return null;
    case 0x0f:
      if (f3 === 1) return "fence.i";
      if (f3 !== 0) return null;
      return (w >>> 28) === 8 && ((w >>> 20) & 0xff) === 0x33 ? "fence.tso" : "fence";
    case 0x73:
      if (f3 === 0) {
        if (w === 0x00000073) return "ecall";
        if (w === 0x00100073) return "ebreak";
        return null; // xret, wfi, sfence.vma: privileged, not part of the user coverage
      }
      return pick("- csrrw csrrs csrrc - csrrwi csrrsi csrrci", f3);
    case 0x2f: {
      const s = f3 === 2 ? ".w" : f3 === 3 ? ".d" : null;
      if (s === null) return null;
      const f5 = w >>> 27;
      const names: Record<number, string> = {
        0x02: "lr",
        0x03: "sc",
        0x01: "amoswap",
        0x00: "amoadd",
        0x04: "amoxor",
        0x0c: "amoand",
        0x08: "amoor",
        0x10: "amomin",
        0x14: "amomax",
        0x18: "amominu",
        0x1c: "amomaxu",
      };
      return names[f5] === undefined ? null : names[f5] + s;
    }
    case 0x07:
      return pick("- - flw fld - - - -", f3);
    case 0x27:
      return pick("- - fsw fsd - - - -", f3);
    case 0x43:
      return sd("fmadd");
    case 0x47:
      return sd("fmsub");
    case 0x4b:
      return sd("fnmsub");
    case 0x4f:
      return sd("fnmadd");
    case 0x53: {
      const s = fmt === 0 ? "s" : fmt === 1 ? "d" : null;
      if (s === null) return null;
      switch (f7 >>> 2) {
        case 0x00:
          return `fadd.${s}`;
        case 0x01:
          return `fsub.${s}`;
        case 0x02:
          return `fmul.${s}`;
        case 0x03:
          return `fdiv.${s}`;
        case 0x0b:
          return rs2 === 0 ? `fsqrt.${s}` : null;
        case 0x04: {
          const n = pick("fsgnj fsgnjn fsgnjx - - - - -", f3);
          return n && `${n}.${s}`;
        }
        case 0x05: {
          const n = pick("fmin fmax - - - - - -", f3);
          return n && `${n}.${s}`;
        }
        case 0x08:
          if (s === "s" && rs2 === 1) return "fcvt.s.d";
          if (s === "d" && rs2 === 0) return "fcvt.d.s";
          return null;
        case 0x14: {
          const n = pick("fle flt feq - - - - -", f3);
          return n && `${n}.${s}`;
        }
        case 0x18: {
          const n = pick("w wu l lu", rs2);
          return n && `fcvt.${n}.${s}`;
        }
        case 0x1a: {
          const n = pick("w wu l lu", rs2);
          return n && `fcvt.${s}.${n}`;
        }
        case 0x1c:
          if (rs2 !== 0) return null;
          if (f3 === 1) return `fclass.${s}`;
          return f3 === 0 ? (s === "s" ? "fmv.x.w" : "fmv.x.d") : null;
        case 0x1e:
          return rs2 === 0 && f3 === 0 ? (s === "s" ? "fmv.w.x" : "fmv.d.x") : null;
      }
      return null;
    }
  }
  return null;
}

export interface Coverage {
  /** Mnemonics seen. */
  seen: Set<string>;
  /** For each rounding FP operation, the rm field values seen (0..4, 7 = dyn). */
  modes: Map<string, Set<number>>;
}

/** Sweeps `code` (instructions from a 2-byte aligned start) and records what it holds. */
export function sweep(code: Uint8Array, cov: Coverage): void {
  for (let i = 0; i + 1 < code.length;) {
    const lo = code[i] | (code[i + 1] << 8);
    if ((lo & 3) !== 3) {
      const n = classify16(lo);
      if (n !== null) cov.seen.add(n);
      i += 2;
      continue;
    }
    if (i + 3 >= code.length) break;
    const w = (lo | (code[i + 2] << 16) | (code[i + 3] << 24)) >>> 0;
    const n = classify32(w);
    if (n !== null) {
      cov.seen.add(n);
      if (ROUNDING.has(n)) {
        if (!cov.modes.has(n)) cov.modes.set(n, new Set());
        cov.modes.get(n)!.add((w >>> 12) & 7);
      }
    }
    i += 4;
  }
}
