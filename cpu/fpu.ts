// The F and D extensions: the 32 FP registers, frm/fflags, and execution of
// every OP-FP / FMADD / FMSUB / FNMSUB / FNMADD instruction. The hart (cpu/hart.ts)
// owns loads/stores, mstatus.FS and the fcsr CSRs and calls Fpu.execute.
// WORK IN PROGRESS: the class shape below is the contract; execution lands next.

/** The FP register file and the FP arithmetic unit of one hart. */
export class Fpu {
  /** f0..f31 raw bit patterns; singles are NaN-boxed (upper 32 bits all ones). */
  readonly bits: BigInt64Array;
  /** Dynamic rounding mode (fcsr.frm), 0..7. */
  frm = 0;
  /** Accrued exception flags (fcsr.fflags): NV=16 DZ=8 OF=4 UF=2 NX=1. */
  fflags = 0;

  constructor(bits: BigInt64Array = new BigInt64Array(32)) {
    if (bits.length !== 32) throw new Error(`Fpu: need 32 registers, got ${bits.length}`);
    this.bits = bits;
  }

  /**
   * Execute one instruction with major opcode OP-FP (0x53), FMADD (0x43),
   * FMSUB (0x47), FNMSUB (0x4B) or FNMADD (0x4F). `x` is the integer register
   * file. Returns 0 when an FP register was written, 1 when only x/fflags were,
   * -1 for an illegal instruction.
   */
  execute(insn: number, x: BigInt64Array): number {
    void insn;
    void x;
    return -1;
  }
}
