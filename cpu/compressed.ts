// The C extension: every 16-bit RV64C instruction expanded to the 32-bit
// instruction it stands for, so the executor has one code path per operation
// (it only needs to know the length, 2, for the next pc and the link value).
// The whole 64 Ki table is built once at load. Read next: cpu/execute.ts.

import { encB, encI, encJ, encR, encS, encU, OP } from "./decode.ts";

const bit = (h: number, n: number): number => (h >>> n) & 1;
const bits = (h: number, hi: number, lo: number): number => (h >>> lo) & ((1 << (hi - lo + 1)) - 1);
/** Sign-extend the low `n` bits of v. */
const sext = (v: number, n: number): number => (v << (32 - n)) >> (32 - n);

/**
 * Expand one 16-bit instruction (low two bits != 3) into its 32-bit
 * equivalent. Returns 0 for an illegal or reserved encoding (0 is itself
 * not a valid 32-bit instruction, so it can stand for "illegal").
 */
export function expandCompressed(h: number): number {
  const q = h & 3;
  const f3 = bits(h, 15, 13);
  const rdp = bits(h, 4, 2) + 8; // rd' / rs2'
  const rs1p = bits(h, 9, 7) + 8; // rs1' / rd'
  const rd = bits(h, 11, 7);
  const rs2 = bits(h, 6, 2);
  if (q === 0) {
    switch (f3) {
      case 0: { // C.ADDI4SPN
        const imm = (bits(h, 12, 11) << 4) | (bits(h, 10, 7) << 6) | (bit(h, 6) << 2) |
          (bit(h, 5) << 3);
        if (imm === 0) return 0;
        return encI(OP.OP_IMM, rdp, 0, 2, imm);
      }
      case 1: // C.FLD
        return encI(OP.LOAD_FP, rdp, 3, rs1p, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 2: // C.LW
        return encI(
          OP.LOAD,
          rdp,
          2,
          rs1p,
          (bits(h, 12, 10) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6),
        );
      case 3: // C.LD
        return encI(OP.LOAD, rdp, 3, rs1p, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 5: // C.FSD
        return encS(OP.STORE_FP, 3, rs1p, rdp, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      case 6: // C.SW
        return encS(
          OP.STORE,
          2,
          rs1p,
          rdp,
          (bits(h, 12, 10) << 3) | (bit(h, 6) << 2) | (bit(h, 5) << 6),
        );
      case 7: // C.SD
        return encS(OP.STORE, 3, rs1p, rdp, (bits(h, 12, 10) << 3) | (bits(h, 6, 5) << 6));
      default:
        return 0;
    }
  }
  if (q === 1) {
    const imm6 = sext((bit(h, 12) << 5) | bits(h, 6, 2), 6);
    switch (f3) {
      case 0: // C.ADDI (C.NOP when rd = 0)
        return encI(OP.OP_IMM, rd, 0, rd, imm6);
      case 1: // C.ADDIW
        if (rd === 0) return 0;
        return encI(OP.OP_IMM_32, rd, 0, rd, imm6);
      case 2: // C.LI
        return encI(OP.OP_IMM, rd, 0, 0, imm6);
      case 3: {
        if (rd === 2) { // C.ADDI16SP
          const imm = sext(
            (bit(h, 12) << 9) | (bit(h, 6) << 4) | (bit(h, 5) << 6) | (bits(h, 4, 3) << 7) |
              (bit(h, 2) << 5),
            10,
          );
          if (imm === 0) return 0;
          return encI(OP.OP_IMM, 2, 0, 2, imm);
        }
        if (imm6 === 0) return 0; // C.LUI with nzimm = 0 is reserved
        return encU(OP.LUI, rd, imm6 << 12);
      }
      case 4: {
        const f2 = bits(h, 11, 10);
        const shamt = (bit(h, 12) << 5) | bits(h, 6, 2);
        if (f2 === 0) return encI(OP.OP_IMM, rs1p, 5, rs1p, shamt); // C.SRLI
        if (f2 === 1) return encI(OP.OP_IMM, rs1p, 5, rs1p, shamt | 0x400); // C.SRAI
        if (f2 === 2) return encI(OP.OP_IMM, rs1p, 7, rs1p, imm6); // C.ANDI
        const op2 = bits(h, 6, 5);
        if (bit(h, 12) === 0) {
          switch (op2) {
            case 0:
              return encR(OP.OP, rs1p, 0, rs1p, rdp, 0x20); // C.SUB
            case 1:
              return encR(OP.OP, rs1p, 4, rs1p, rdp, 0); // C.XOR
            case 2:
              return encR(OP.OP, rs1p, 6, rs1p, rdp, 0); // C.OR
            default:
              return encR(OP.OP, rs1p, 7, rs1p, rdp, 0); // C.AND
          }
        }
        if (op2 === 0) return encR(OP.OP_32, rs1p, 0, rs1p, rdp, 0x20); // C.SUBW
        if (op2 === 1) return encR(OP.OP_32, rs1p, 0, rs1p, rdp, 0); // C.ADDW
        return 0;
      }
      case 5: { // C.J
        const imm = sext(
          (bit(h, 12) << 11) | (bit(h, 11) << 4) | (bits(h, 10, 9) << 8) | (bit(h, 8) << 10) |
            (bit(h, 7) << 6) | (bit(h, 6) << 7) | (bits(h, 5, 3) << 1) | (bit(h, 2) << 5),
          12,
        );
        return encJ(0, imm);
      }
      default: { // 6 C.BEQZ, 7 C.BNEZ
        const imm = sext(
          (bit(h, 12) << 8) | (bits(h, 11, 10) << 3) | (bits(h, 6, 5) << 6) |
            (bits(h, 4, 3) << 1) | (bit(h, 2) << 5),
          9,
        );
        return encB(f3 === 6 ? 0 : 1, rs1p, 0, imm);
      }
    }
  }
  if (q === 2) {
    switch (f3) {
      case 0: // C.SLLI
        return encI(OP.OP_IMM, rd, 1, rd, (bit(h, 12) << 5) | bits(h, 6, 2));
      case 1: // C.FLDSP
        return encI(
          OP.LOAD_FP,
          rd,
          3,
          2,
          (bit(h, 12) << 5) | (bits(h, 6, 5) << 3) | (bits(h, 4, 2) << 6),
        );
      case 2: // C.LWSP
        if (rd === 0) return 0;
        return encI(
          OP.LOAD,
          rd,
          2,
          2,
          (bit(h, 12) << 5) | (bits(h, 6, 4) << 2) | (bits(h, 3, 2) << 6),
        );
      case 3: // C.LDSP
        if (rd === 0) return 0;
        return encI(
          OP.LOAD,
          rd,
          3,
          2,
          (bit(h, 12) << 5) | (bits(h, 6, 5) << 3) | (bits(h, 4, 2) << 6),
        );
      case 4:
        if (bit(h, 12) === 0) {
          if (rs2 === 0) return rd === 0 ? 0 : encI(OP.JALR, 0, 0, rd, 0); // C.JR
          return encR(OP.OP, rd, 0, 0, rs2, 0); // C.MV
        }
        if (rs2 === 0) {
          if (rd === 0) return 0x00100073; // C.EBREAK
          return encI(OP.JALR, 1, 0, rd, 0); // C.JALR
        }
        return encR(OP.OP, rd, 0, rd, rs2, 0); // C.ADD
      case 5: // C.FSDSP
        return encS(OP.STORE_FP, 3, 2, rs2, (bits(h, 12, 10) << 3) | (bits(h, 9, 7) << 6));
      case 6: // C.SWSP
        return encS(OP.STORE, 2, 2, rs2, (bits(h, 12, 9) << 2) | (bits(h, 8, 7) << 6));
      default: // C.SDSP
        return encS(OP.STORE, 3, 2, rs2, (bits(h, 12, 10) << 3) | (bits(h, 9, 7) << 6));
    }
  }
  return 0;
}

let table: Int32Array | null = null;

/** The expansion of every halfword, indexed by the halfword (0 = illegal). */
export function compressedTable(): Int32Array {
  if (table === null) {
    table = new Int32Array(65536);
    for (let h = 0; h < 65536; h++) if ((h & 3) !== 3) table[h] = expandCompressed(h);
  }
  return table;
}
