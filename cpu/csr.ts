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
  STIMECMP: 0x14d,
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
  TSELECT: 0x7a0,
  TDATA1: 0x7a1,
  TDATA2: 0x7a2,
  TDATA3: 0x7a3,
  TINFO: 0x7a4,
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
const U64 = (1n << 64n) - 1n;

/** menvcfg: FIOM (bit 0) and Sstc's STCE (bit 63) are implemented; no Svpbmt, Zicbo*, ADUE. */
export const MENVCFG_STCE = 1n << 63n;
const MENVCFG_MASK = MENVCFG_STCE | 1n;
const MIP_STIP = 1 << 5;

/** satp: 16 ASID bits (ASIDLEN = 16, as QEMU), the root's 44-bit ppn. */
const SATP_PPN = (1n << 44n) - 1n;
const SATP_ASID = 0xffffn;

/** The `time` CSR's value now (unsigned). Sstc compares against it. */
export function readTimeCsr(h: Hart): bigint {
  return h.readTime !== null ? h.readTime() : BigInt(Math.floor(h.instretN / 10));
}

/**
 * Sstc: with menvcfg.STCE set, mip.STIP is not a software bit but the level
 * `time >= stimecmp`, recomputed here — at every batch's entry (Hart.run),
 * on reads of mip/sip and on writes of stimecmp/menvcfg. Between those the
 * host wakes the hart at the deadline (the cpu actor arms the waker).
 */
export function updateSstc(h: Hart): void {
  if (!h.sstcEnabled) return;
  if (readTimeCsr(h) >= h.stimecmp) h.mipSw |= MIP_STIP;
  else h.mipSw &= ~MIP_STIP;
}

/** mcountinhibit's implemented bits: CY (0) and IR (2); the hpm counters count nothing anyway. */
const INHIBIT_CY = 1, INHIBIT_IR = 4;

/**
 * A counter's value (`which` = INHIBIT_CY or INHIBIT_IR): the executed count
 * plus the offset a write left (mod 2^64) — or, while mcountinhibit stops
 * the counter, the value it stopped at, kept in the offset field.
 */
export function counterValue(h: Hart, which: number): bigint {
  const off = which === INHIBIT_CY ? h.mcycleOffset : h.minstretOffset;
  return h.mcountinhibit & which ? off : (off + BigInt(h.instretN)) & U64;
}

/** Set a counter to `v` (a CSR write): its offset, or its stopped value while inhibited. */
function setCounter(h: Hart, which: number, v: bigint): void {
  const off = h.mcountinhibit & which ? v & U64 : (v - BigInt(h.instretN)) & U64;
  if (which === INHIBIT_CY) h.mcycleOffset = off;
  else h.minstretOffset = off;
}

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
      return counterValue(h, INHIBIT_CY);
    case CSR.INSTRET:
    case CSR.MINSTRET:
      return counterValue(h, INHIBIT_IR);
    case CSR.TIME:
      return readTimeCsr(h);
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
      updateSstc(h);
      return BigInt((h.mipSw | h.externalMip) & h.mideleg);
    case CSR.STIMECMP:
      return h.stimecmp;
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
      return BigInt(h.mcountinhibit);
    case CSR.MSCRATCH:
      return h.mscratch;
    case CSR.MEPC:
      return BigInt(h.mepc);
    case CSR.MCAUSE:
      return h.mcause;
    case CSR.MTVAL:
      return h.mtval;
    case CSR.MIP:
      updateSstc(h);
      return BigInt(h.mipSw | h.externalMip);
    // Sdtrig as a hart with no triggers (debug spec 1.0, 5.7): tselect is
    // WARL and holds only 0; tdata1 reads type 0 ("no trigger at this
    // tselect"), so writes to it and to tdata2/3 change nothing; tinfo = 1.
    case CSR.TSELECT:
    case CSR.TDATA1:
    case CSR.TDATA2:
    case CSR.TDATA3:
      return 0n;
    case CSR.TINFO:
      return 1n;
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
      return true;
    // All 64 bits. From an instruction, instretN already counts the writing
    // instruction, so the counter reads `v` after it: the write replaces that
    // instruction's increment, and the next instruction reads `v` (Zicntr).
    // read-only (the instruction path rejects writes before here)
    case CSR.MCYCLE:
      setCounter(h, INHIBIT_CY, v);
      return true;
    case CSR.MINSTRET:
      setCounter(h, INHIBIT_IR, v);
      return true;
    case CSR.STIMECMP:
      h.stimecmp = v & U64;
      updateSstc(h);
      h.onStimecmp?.(h.stimecmp);
      return true;
    case CSR.TSELECT:
    case CSR.TDATA1:
    case CSR.TDATA2:
    case CSR.TDATA3:
    case CSR.TINFO:
      return true; // no triggers: nothing to select or program (tinfo is read-only)
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
      h.scounteren = lo; // all 32 bits: hpmcounter3..31 exist (and read 0)
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
      h.mcounteren = lo;
      return true;
    case CSR.MENVCFG: {
      const was = h.sstcEnabled;
      h.menvcfg = BigInt.asIntN(64, v & MENVCFG_MASK);
      h.sstcEnabled = (v & MENVCFG_STCE) !== 0n;
      // STIP goes back to being a software bit (left as it was) or becomes the compare.
      if (h.sstcEnabled && !was) updateSstc(h);
      return true;
    }
    case CSR.MCOUNTINHIBIT: {
      // Stopping a counter keeps its value; restarting it counts on from there.
      for (const which of [INHIBIT_CY, INHIBIT_IR]) {
        if (((lo ^ h.mcountinhibit) & which) === 0) continue;
        const now = counterValue(h, which);
        h.mcountinhibit ^= which;
        setCounter(h, which, now);
      }
      return true;
    }
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
    case CSR.MIP: {
      // With Sstc on, STIP is the timer compare's and read-only.
      const m = h.sstcEnabled ? MIP_SW_MASK & ~MIP_STIP : MIP_SW_MASK;
      h.mipSw = (h.mipSw & ~m) | (lo & m);
      return true;
    }
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

/**
 * satp is WARL: a write with an unsupported MODE is ignored entirely (so the
 * kernel's Sv57 → Sv48 → Sv39 probe works; Sv57 only with HartOptions.sv57). ASID has all 16 bits. The write
 * flushes nothing: Hart.selectAsidSlot picks the TLB sets cached for this
 * (ASID, root), so a switch back to an address space finds its entries.
 */
function writeSatp(h: Hart, v: bigint): void {
  const mode = Number(BigInt.asUintN(64, v) >> 60n);
  if (mode !== 0 && mode !== 8 && !(mode === 9 && h.sv48) && !(mode === 10 && h.sv57)) return;
  const ppn = v & SATP_PPN;
  const asid = Number((v >> 44n) & SATP_ASID);
  // Bare: ASID and PPN "should be zero" (QEMU keeps them); we keep them too.
  h.satp = BigInt.asIntN(64, (BigInt(mode) << 60n) | (BigInt(asid) << 44n) | ppn);
  h.satpMode = mode;
  h.satpRoot = mode === 0 ? 0 : Number(ppn) * 4096;
  h.satpAsid = asid;
  if (mode !== 0) h.selectAsidSlot(asid, h.satpRoot, mode);
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
    else if (csr === CSR.STIMECMP && h.priv === 1) {
      // Sstc: S reaches stimecmp only with menvcfg.STCE and mcounteren.TM.
      ok = h.sstcEnabled && (h.mcounteren & 2) !== 0;
    }
  }
  let old = ok ? csrReadRaw(h, csr) : null;
  // A counter read by an instruction gives the value before that instruction
  // retired (Zicntr); instretN already counts it.
  if (
    old !== null &&
    (csr === CSR.CYCLE || csr === CSR.INSTRET || csr === CSR.MCYCLE || csr === CSR.MINSTRET) &&
    !(h.mcountinhibit & (csr & 2 ? INHIBIT_IR : INHIBIT_CY)) // a stopped one did not count it
  ) {
    old = (old - 1n) & U64;
  }
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
