// Encodes F/D instructions by mnemonic for the FPU tests (cpu_fpu_*_test.ts):
// the vector file names instructions as the assembler does ("fadd.s",
// "fcvt.wu.d", "fnmadd.d"); this maps such a name to its instruction word.
// Read next: ../cpu_fpu_vectors_test.ts.

export interface FpOp {
  /** What the operands and the result are. */
  kind: "ff" | "f" | "fff" | "ff_x" | "f_x" | "x_f";
  encode(rd: number, rs1: number, rs2: number, rs3: number, rm: number): number;
}

const FUNCT5: Record<string, number> = { fadd: 0, fsub: 1, fmul: 2, fdiv: 3 };
const FIXED3: Record<string, [number, number]> = {
  fsgnj: [4, 0],
  fsgnjn: [4, 1],
  fsgnjx: [4, 2],
  fmin: [5, 0],
  fmax: [5, 1],
  fle: [0x14, 0],
  flt: [0x14, 1],
  feq: [0x14, 2],
};
const FUSED: Record<string, number> = { fmadd: 0x43, fmsub: 0x47, fnmsub: 0x4b, fnmadd: 0x4f };
const INTS: Record<string, number> = { w: 0, wu: 1, l: 2, lu: 3 };
const FMT: Record<string, number> = { s: 0, d: 1 };

function opFp(funct5: number, fmt: number, rs2: number, funct3: number, rs1: number, rd: number) {
  return ((funct5 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) |
    0x53) >>> 0;
}

/** Look up a mnemonic; throws for one it does not know. */
export function fpOp(name: string): FpOp {
  const parts = name.split(".");
  const [m, a, b] = parts;
  if (parts.length === 2 && a in FMT) {
    const fmt = FMT[a];
    if (m in FUNCT5) {
      return {
        kind: "ff",
        encode: (rd, rs1, rs2, _3, rm) => opFp(FUNCT5[m], fmt, rs2, rm, rs1, rd),
      };
    }
    if (m === "fsqrt") {
      return {
        kind: "f",
        encode: (rd, rs1, _2, _3, rm) => opFp(0x0b, fmt, 0, rm, rs1, rd),
      };
    }
    if (m in FIXED3) {
      const [f5, f3] = FIXED3[m];
      return {
        kind: f5 === 0x14 ? "ff_x" : "ff",
        encode: (rd, rs1, rs2) => opFp(f5, fmt, rs2, f3, rs1, rd),
      };
    }
    if (m in FUSED) {
      return {
        kind: "fff",
        encode: (rd, rs1, rs2, rs3, rm) =>
          ((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) |
            FUSED[m]) >>> 0,
      };
    }
    if (m === "fclass") return { kind: "f_x", encode: (rd, rs1) => opFp(0x1c, fmt, 0, 1, rs1, rd) };
  }
  if (m === "fmv" && parts.length === 3) {
    if (a === "x" && (b === "w" || b === "d")) {
      return {
        kind: "f_x",
        encode: (rd, rs1) => opFp(0x1c, b === "d" ? 1 : 0, 0, 0, rs1, rd),
      };
    }
    if (b === "x" && (a === "w" || a === "d")) {
      return {
        kind: "x_f",
        encode: (rd, rs1) => opFp(0x1e, a === "d" ? 1 : 0, 0, 0, rs1, rd),
      };
    }
  }
  if (m === "fcvt" && parts.length === 3) {
    if (a in INTS && b in FMT) {
      return {
        kind: "f_x",
        encode: (rd, rs1, _2, _3, rm) => opFp(0x18, FMT[b], INTS[a], rm, rs1, rd),
      };
    }
    if (a in FMT && b in INTS) {
      return {
        kind: "x_f",
        encode: (rd, rs1, _2, _3, rm) => opFp(0x1a, FMT[a], INTS[b], rm, rs1, rd),
      };
    }
    if (a === "s" && b === "d") {
      return {
        kind: "f",
        encode: (rd, rs1, _2, _3, rm) => opFp(8, 0, 1, rm, rs1, rd),
      };
    }
    if (a === "d" && b === "s") {
      return {
        kind: "f",
        encode: (rd, rs1, _2, _3, rm) => opFp(8, 1, 0, rm, rs1, rd),
      };
    }
  }
  throw new Error(`fpOp: unknown mnemonic ${name}`);
}
