// Instruction decoding for RV64GC: the major opcodes and the field and
// immediate extractors that the executor (cpu/execute.ts), the compressed
// expander (cpu/compressed.ts) and the disassembler (cpu/disasm.ts) share.
// All take the 32-bit instruction word as a JS int32. Read next: cpu/compressed.ts.

/** Major opcodes (bits 6..0 of a 32-bit instruction). */
export const OP = {
  LOAD: 0x03,
  LOAD_FP: 0x07,
  MISC_MEM: 0x0f,
  OP_IMM: 0x13,
  AUIPC: 0x17,
  OP_IMM_32: 0x1b,
  STORE: 0x23,
  STORE_FP: 0x27,
  AMO: 0x2f,
  OP: 0x33,
  LUI: 0x37,
  OP_32: 0x3b,
  MADD: 0x43,
  MSUB: 0x47,
  NMSUB: 0x4b,
  NMADD: 0x4f,
  OP_FP: 0x53,
  BRANCH: 0x63,
  JALR: 0x67,
  JAL: 0x6f,
  SYSTEM: 0x73,
} as const;

export const rdOf = (i: number): number => (i >>> 7) & 31;
export const rs1Of = (i: number): number => (i >>> 15) & 31;
export const rs2Of = (i: number): number => (i >>> 20) & 31;
export const rs3Of = (i: number): number => (i >>> 27) & 31;
export const funct3Of = (i: number): number => (i >>> 12) & 7;
export const funct7Of = (i: number): number => (i >>> 25) & 0x7f;

/** I-type immediate, sign-extended. */
export const immI = (i: number): number => i >> 20;
/** S-type immediate, sign-extended. */
export const immS = (i: number): number => ((i >> 20) & ~31) | ((i >>> 7) & 31);
/** B-type immediate (branch offset), sign-extended. */
export const immB = (i: number): number =>
  ((i >> 19) & ~0xfff) | ((i << 4) & 0x800) | ((i >>> 20) & 0x7e0) | ((i >>> 7) & 0x1e);
/** U-type immediate (already shifted left 12), sign-extended to int32. */
export const immU = (i: number): number => i & ~0xfff;
/** J-type immediate (jump offset), sign-extended. */
export const immJ = (i: number): number =>
  ((i >> 11) & ~0xfffff) | (i & 0xff000) | ((i >>> 9) & 0x800) | ((i >>> 20) & 0x7fe);

/** Encoders, for the compressed expander and for tests that hand-assemble. */
export const encR = (op: number, rd: number, f3: number, rs1: number, rs2: number, f7: number) =>
  ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) | 0;
export const encI = (op: number, rd: number, f3: number, rs1: number, imm: number) =>
  (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) | 0;
export const encS = (op: number, f3: number, rs1: number, rs2: number, imm: number) =>
  ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) |
    op) | 0;
export const encB = (f3: number, rs1: number, rs2: number, imm: number) =>
  ((((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) |
    (f3 << 12) | (((imm >> 1) & 0xf) << 8) | (((imm >> 11) & 1) << 7) | OP.BRANCH) | 0;
export const encU = (op: number, rd: number, imm: number) => ((imm & ~0xfff) | (rd << 7) | op) | 0;
export const encJ = (rd: number, imm: number) =>
  ((((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3ff) << 21) | (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) | (rd << 7) | OP.JAL) | 0;
