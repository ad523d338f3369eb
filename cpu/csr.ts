// Control and status registers: what each CSR reads and which bits a write
// may change (WARL), plus the Zicsr instructions with their privilege,
// read-only, counter-enable, TVM and mstatus.FS checks. State lives in the
// Hart's fields; anything that changes translation or interrupt enables calls
// Hart.updateMode / lets the loop re-check interrupts. Read next: cpu/mmu.ts.

import type { Hart } from "./hart.ts";
import { CAUSE, MSTATUS, takeTrap } from "./trap.ts";

export const CSR = {
  FFLAGS: 0x001,
  FRM: 0x002,
  FCSR: 0x003,
  CYCLE: 0xc00,
  TIME: 0xc01,
  INSTRET: 0xc02,
  SSTATUS: 0x100,
  SIE: 0x104,
  STVEC: 0x105,
  SCOUNTEREN: 0x106,
  SENVCFG: 0x10a,
  SSCRATCH: 0x140,
  SEPC: 0x141,
  SCAUSE: 0x142,
  STVAL: 0x143,
  SIP: 0x144,
  SATP: 0x180,
  MSTATUS: 0x300,
  MISA: 0x301,
  MEDELEG: 0x302,
  MIDELEG: 0x303,
  MIE: 0x304,
  MTVEC: 0x305,
  MCOUNTEREN: 0x306,
  MENVCFG: 0x30a,
  MCOUNTINHIBIT: 0x320,
  MSCRATCH: 0x340,
  MEPC: 0x341,
  MCAUSE: 0x342,
  MTVAL: 0x343,
  MIP: 0x344,
  PMPCFG0: 0x3a0,
  PMPADDR0: 0x3b0,
  MCYCLE: 0xb00,
  MINSTRET: 0xb02,
  MVENDORID: 0xf11,
  MARCHID: 0xf12,
  MIMPID: 0xf13,
  MHARTID: 0xf14,
  MCONFIGPTR: 0xf15,
} as const;

/** misa: MXL = 64, extensions A C D F I M S U. */
const MISA = (2n << 62n) |
  BigInt((1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20));

const MSTATUS_WRITABLE = MSTATUS.SIE | MSTATUS.MIE | MSTATUS.SPIE | MSTATUS.MPIE | MSTATUS.SPP |
  MSTATUS.MPP | MSTATUS.FS | MSTATUS.MPRV | MSTATUS.SUM | MSTATUS.MXR | MSTATUS.TVM | MSTATUS.TW |
  MSTATUS.TSR;
const SSTATUS_MASK = MSTATUS.SIE | MSTATUS.SPIE | MSTATUS.SPP | MSTATUS.FS | MSTATUS.SUM |
  MSTATUS.MXR;
/** UXL = SXL = 2 (64-bit), read-only. */
const XLEN_FIELDS = (2n << 32n) | (2n << 34n);
const SD = 1n << 63n;

/** Interrupt bits: all six, and the ones S-mode may be delegated / software may set. */
const MIE_MASK = 0xaaa;
const MIDELEG_MASK = (1 << 1) | (1 << 5) | (1 << 9);
const MIP_SW_MASK = (1 << 1) | (1 << 5) | (1 << 9);
/** Exceptions that may be delegated (all but ecall from M and the reserved ones). */
const MEDELEG_MASK = 0xb3ff;

const U32 = 0xffffffffn;

/** Read a CSR with no privilege check. null = no such CSR. */
export function csrReadRaw(h: Hart, csr: number): bigint | null {
  switch (csr) {
    case CSR.FFLAGS:
      return BigInt(h.fpu.fflags & 31);
    case CSR.FRM:
      return BigInt(h.fpu.frm & 7);
    case CSR.FCSR:
      return BigInt(((h.fpu.frm & 7) << 5) | (h.fpu.fflags & 31));
    case CSR.CYCLE:
    case CSR.MCYCLE:
      return BigInt(h.instretN + h.cycleDelta);
    case CSR.INSTRET:
    case CSR.MINSTRET:
      return BigInt(h.instretN);
    case CSR.TIME:
      return h.readTime !== null ? h.readTime() : BigInt(Math.floor(h.instretN / 10));
    case CSR.SSTATUS:
      return readMstatus(h) & (BigInt(SSTATUS_MASK) | (2n << 32n) | SD);
    case CSR.SIE:
      return BigInt(h.mie & h.mideleg);
    case CSR.STVEC:
      return BigInt(h.stvec);
    case CSR.SCOUNTEREN:
      return BigInt(h.scounteren);
    case CSR.SENVCFG:
      return h.senvcfg;
    case CSR.SSCRATCH:
      return h.sscratch;
    case CSR.SEPC:
      return BigInt(h.sepc);
    case CSR.SCAUSE:
      return h.scause;
    case CSR.STVAL:
      return h.stval;
    case CSR.SIP:
      return BigInt((h.mipSw | h.externalMip) & h.mideleg);
    case CSR.SATP:
      return h.satp;
    case CSR.MSTATUS:
      return readMstatus(h);
    case CSR.MISA:
      return MISA;
    case CSR.MEDELEG:
      return BigInt(h.medeleg);
    case CSR.MIDELEG:
      return BigInt(h.mideleg);
    case CSR.MIE:
      return BigInt(h.mie);
    case CSR.MTVEC:
      return BigInt(h.mtvec);
    case CSR.MCOUNTEREN:
      return BigInt(h.mcounteren);
    case CSR.MENVCFG:
      return h.menvcfg;
    case CSR.MCOUNTINHIBIT:
      return 0n;
    case CSR.MSCRATCH:
      return h.mscratch;
    case CSR.MEPC:
      return BigInt(h.mepc);
    case CSR.MCAUSE:
      return h.mcause;
    case CSR.MTVAL:
      return h.mtval;
    case CSR.MIP:
      return BigInt(h.mipSw | h.externalMip);
    case CSR.MVENDORID:
    case CSR.MARCHID:
    case CSR.MIMPID:
    case CSR.MCONFIGPTR:
      return 0n;
    case CSR.MHARTID:
      return BigInt(h.hartId);
  }
  if (csr >= CSR.PMPCFG0 && csr < CSR.PMPCFG0 + 16) {
    // RV64 has only the even pmpcfg registers.
    return (csr & 1) ? null : h.pmpcfg[csr - CSR.PMPCFG0];
  }
  if (csr >= CSR.PMPADDR0 && csr < CSR.PMPADDR0 + 64) return h.pmpaddr[csr - CSR.PMPADDR0];
  // Unimplemented performance counters and their events read as zero.
  if (csr >= 0xc03 && csr <= 0xc1f) return 0n;
  if (csr >= 0xb03 && csr <= 0xb1f) return 0n;
  if (csr >= 0x323 && csr <= 0x33f) return 0n;
  return null;
}

function readMstatus(h: Hart): bigint {
  let v = BigInt(h.mstatus) | XLEN_FIELDS;
  if ((h.mstatus & MSTATUS.FS) === MSTATUS.FS) v |= SD;
  return v;
}

/** Legalise an address-holding CSR (xepc, xtvec): sign-extend from bit 55 so it stays an exact number. */
const addr56 = (v: bigint): number => Number(BigInt.asIntN(56, v));

/** Write a CSR with no privilege check (WARL rules applied). false = no such CSR. */
export function csrWriteRaw(h: Hart, csr: number, v: bigint): boolean {
  const lo = Number(v & U32);
  switch (csr) {
    case CSR.FFLAGS:
      h.fpu.fflags = lo & 31;
      markFsDirty(h);
      return true;
    case CSR.FRM:
      h.fpu.frm = lo & 7;
      markFsDirty(h);
      return true;
    case CSR.FCSR:
      h.fpu.fflags = lo & 31;
      h.fpu.frm = (lo >>> 5) & 7;
      markFsDirty(h);
      return true;
    case CSR.CYCLE:
    case CSR.TIME:
    case CSR.INSTRET:
      return true; // read-only (the instruction path rejects writes before here)
    case CSR.MCYCLE:
      h.cycleDelta = Number(BigInt.asUintN(53, v)) - h.instretN;
      return true;
    case CSR.MINSTRET:
      h.instretN = Number(BigInt.asUintN(53, v));
      return true;
    case CSR.SSTATUS:
      setMstatus(h, (h.mstatus & ~SSTATUS_MASK) | (lo & SSTATUS_MASK));
      return true;
    case CSR.SIE:
      h.mie = (h.mie & ~h.mideleg) | (lo & h.mideleg & MIE_MASK);
      return true;
    case CSR.STVEC:
      h.stvec = legalTvec(v);
      return true;
    case CSR.SCOUNTEREN:
      h.scounteren = lo & 7;
      return true;
    case CSR.SENVCFG:
      h.senvcfg = v & 1n; // FIOM only
      return true;
    case CSR.SSCRATCH:
      h.sscratch = v;
      return true;
    case CSR.SEPC:
      h.sepc = addr56(v & ~1n);
      return true;
    case CSR.SCAUSE:
      h.scause = v;
      return true;
    case CSR.STVAL:
      h.stval = v;
      return true;
    case CSR.SIP: {
      // Only SSIP is writable from S (and only when delegated).
      const m = h.mideleg & (1 << 1);
      h.mipSw = (h.mipSw & ~m) | (lo & m);
      return true;
    }
    case CSR.SATP:
      writeSatp(h, v);
      return true;
    case CSR.MSTATUS: {
      let ms = lo & MSTATUS_WRITABLE;
      if (((ms >>> 11) & 3) === 2) ms &= ~MSTATUS.MPP; // MPP = 2 is reserved: make it U
      setMstatus(h, ms);
      return true;
    }
    case CSR.MISA:
      return true; // writes ignored: the extension set is fixed
    case CSR.MEDELEG:
      h.medeleg = lo & MEDELEG_MASK;
      return true;
    case CSR.MIDELEG:
      h.mideleg = lo & MIDELEG_MASK;
      return true;
    case CSR.MIE:
      h.mie = lo & MIE_MASK;
      return true;
    case CSR.MTVEC:
      h.mtvec = legalTvec(v);
      return true;
    case CSR.MCOUNTEREN:
      h.mcounteren = lo & 7;
      return true;
    case CSR.MENVCFG:
      h.menvcfg = v & 1n; // FIOM only: no Sstc, Svpbmt, Zicbo*
      return true;
    case CSR.MCOUNTINHIBIT:
      return true;
    case CSR.MSCRATCH:
      h.mscratch = v;
      return true;
    case CSR.MEPC:
      h.mepc = addr56(v & ~1n);
      return true;
    case CSR.MCAUSE:
      h.mcause = v;
      return true;
    case CSR.MTVAL:
      h.mtval = v;
      return true;
    case CSR.MIP:
      h.mipSw = lo & MIP_SW_MASK;
      return true;
    case CSR.MVENDORID:
    case CSR.MARCHID:
    case CSR.MIMPID:
    case CSR.MHARTID:
    case CSR.MCONFIGPTR:
      return true;
  }
  if (csr >= CSR.PMPCFG0 && csr < CSR.PMPCFG0 + 16) {
    if (csr & 1) return false;
    h.pmpcfg[csr - CSR.PMPCFG0] = v; // stored for read-back; PMP is not enforced
    return true;
  }
  if (csr >= CSR.PMPADDR0 && csr < CSR.PMPADDR0 + 64) {
    h.pmpaddr[csr - CSR.PMPADDR0] = v & ((1n << 54n) - 1n);
    return true;
  }
  if (
    (csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xb03 && csr <= 0xb1f) ||
    (csr >= 0x323 && csr <= 0x33f)
  ) {
    return true;
  }
  return false;
}

/**
 * A new mstatus: the TLB sets follow SUM/MPRV/MPP; load entries were filled
 * under the old MXR, so a change of MXR drops them.
 */
function setMstatus(h: Hart, ms: number): void {
  if ((ms ^ h.mstatus) & MSTATUS.MXR) h.rTag.fill(NaN);
  h.mstatus = ms;
  h.updateMode();
}

/** xtvec: mode 0 (direct) or 1 (vectored); reserved modes 2 and 3 become 0 and 1. */
function legalTvec(v: bigint): number {
  return addr56(v & ~2n);
}

/** satp is WARL: a write with an unsupported MODE is ignored entirely. ASID is hardwired 0. */
function writeSatp(h: Hart, v: bigint): void {
  const mode = Number(BigInt.asUintN(64, v) >> 60n);
  if (mode !== 0 && mode !== 8 && !(mode === 9 && h.sv48)) return;
  const ppn = v & ((1n << 44n) - 1n);
  h.satp = mode === 0 ? 0n : BigInt.asIntN(64, (BigInt(mode) << 60n) | ppn);
  h.satpMode = mode;
  h.satpRoot = mode === 0 ? 0 : Number(ppn) * 4096;
  h.flushTlb();
  h.updateMode();
}

export function markFsDirty(h: Hart): void {
  h.mstatus |= MSTATUS.FS;
}

/**
 * sstatus is the kernel's hottest CSR (SIE toggled around every critical
 * section, SUM around user copies, FS on FPU use): done on numbers, no BigInt.
 * All its writable bits are in the low word; the high word holds UXL and SD.
 */
function sstatusFast(h: Hart, f3: number, rd: number, rs1: number, isWrite: boolean): void {
  const oldLo = h.mstatus & SSTATUS_MASK;
  const oldHi = 2 | ((h.mstatus & MSTATUS.FS) === MSTATUS.FS ? 0x80000000 : 0); // UXL = 2 (bit 33), SD
  if (isWrite) {
    const src = f3 >= 5 ? rs1 : h.xw[2 * rs1];
    const nv = (f3 & 3) === 1 ? src : (f3 & 3) === 2 ? oldLo | src : oldLo & ~src;
    setMstatus(h, (h.mstatus & ~SSTATUS_MASK) | (nv & SSTATUS_MASK));
  }
  if (rd !== 0) {
    h.xw[2 * rd] = oldLo;
    h.xw[2 * rd + 1] = oldHi;
  }
}

/** Counters 0xc00..0xc1f: accessible below M only when mcounteren (and in U scounteren) allow. */
/** May the current privilege read counter CSR `csr` (mcounteren, scounteren)? */
export function counterAllowed(h: Hart, csr: number): boolean {
  const bit = 1 << (csr & 31);
  if (h.priv < 3 && !(h.mcounteren & bit)) return false;
  if (h.priv === 0 && !(h.scounteren & bit)) return false;
  return true;
}

/**
 * Execute a Zicsr instruction (CSRRW/S/C and the immediate forms). Returns
 * false when it trapped (illegal instruction; hart.pcN then points at the
 * handler). `insn` is the raw instruction for tval.
 */
export function execCsr(h: Hart, insn: number, raw: number, pc: number): boolean {
  const f3 = (insn >>> 12) & 7;
  const rd = (insn >>> 7) & 31;
  const rs1 = (insn >>> 15) & 31;
  const csr = insn >>> 20;
  const isWrite = (f3 & 3) === 1 || rs1 !== 0; // CSRRW/I always write; S/C only with a non-zero source
  if (csr === CSR.SSTATUS && h.privLevel !== 0) {
    sstatusFast(h, f3, rd, rs1, isWrite);
    return true;
  }
  let ok = ((csr >>> 8) & 3) <= h.priv && !(isWrite && (csr >>> 10) === 3);
  if (ok) {
    if (csr >= 0xc00 && csr <= 0xc1f) ok = counterAllowed(h, csr);
    else if (csr <= CSR.FCSR) ok = (h.mstatus & MSTATUS.FS) !== 0;
    else if (csr === CSR.SATP && h.priv === 1) ok = !(h.mstatus & MSTATUS.TVM);
  }
  const old = ok ? csrReadRaw(h, csr) : null;
  if (old === null) {
    takeTrap(h, CAUSE.ILLEGAL, BigInt(raw >>> 0), pc, false);
    return false;
  }
  if (isWrite) {
    const src = f3 >= 5 ? BigInt(rs1) : h.x[rs1];
    // In a CSRRS/CSRRC of mip only the software-writable bits take part
    // (priv spec 3.1.9): a line driven from outside (SEIP from the PLIC)
    // must not be read back and written as a sticky software bit.
    const base = csr === CSR.MIP ? BigInt(h.mipSw) : old;
    let nv: bigint;
    switch (f3 & 3) {
      case 1:
        nv = src;
        break;
      case 2:
        nv = base | src;
        break;
      default:
        nv = base & ~src;
        break;
    }
    csrWriteRaw(h, csr, nv);
  }
  if (rd !== 0) h.x[rd] = old;
  return true;
}
