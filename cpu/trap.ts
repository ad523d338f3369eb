// Traps: exception and interrupt entry (with medeleg/mideleg delegation to S
// and vectored mtvec/stvec), the interrupt priority check, and mret/sret.
// Everything that changes privilege goes through here and then calls
// Hart.updateMode so the TLB sets follow. Read next: cpu/csr.ts.

import type { Hart } from "./hart.ts";
import { exactVa } from "./mmu.ts";

/** mstatus bit masks. */
export const MSTATUS = {
  SIE: 1 << 1,
  MIE: 1 << 3,
  SPIE: 1 << 5,
  MPIE: 1 << 7,
  SPP: 1 << 8,
  MPP: 3 << 11,
  FS: 3 << 13,
  MPRV: 1 << 17,
  SUM: 1 << 18,
  MXR: 1 << 19,
  TVM: 1 << 20,
  TW: 1 << 21,
  TSR: 1 << 22,
} as const;

/** Exception causes. */
export const CAUSE = {
  FETCH_MISALIGNED: 0,
  FETCH_ACCESS: 1,
  ILLEGAL: 2,
  BREAKPOINT: 3,
  LOAD_MISALIGNED: 4,
  LOAD_ACCESS: 5,
  STORE_MISALIGNED: 6,
  STORE_ACCESS: 7,
  ECALL_U: 8,
  ECALL_S: 9,
  ECALL_M: 11,
  FETCH_PAGE: 12,
  LOAD_PAGE: 13,
  STORE_PAGE: 15,
} as const;

/** Interrupt numbers in the spec's priority order: MEI MSI MTI SEI SSI STI. */
const IRQ_PRIORITY = [11, 3, 7, 9, 1, 5];

const INTERRUPT_BIT = 1n << 63n;

/**
 * Enter a trap: `cause` is the exception code or interrupt number, `epc` the
 * pc to return to. Sets hart.pcN to the handler.
 */
export function takeTrap(h: Hart, cause: number, tval: bigint, epc: number, intr: boolean): void {
  const fullCause = intr ? INTERRUPT_BIT | BigInt(cause) : BigInt(cause);
  h.lastTrap = {
    cause: fullCause,
    tval: BigInt.asUintN(64, tval),
    epc: BigInt.asUintN(64, BigInt(epc)),
  };
  h.resValid = false;
  const prev = h.privLevel;
  const deleg = intr ? h.mideleg : h.medeleg;
  let ms = h.mstatus;
  if (prev <= 1 && ((deleg >>> cause) & 1)) {
    h.scause = fullCause;
    h.sepc = epc;
    h.stval = tval;
    ms = (ms & ~(MSTATUS.SPIE | MSTATUS.SIE | MSTATUS.SPP)) |
      ((ms & MSTATUS.SIE) ? MSTATUS.SPIE : 0) | (prev << 8);
    h.privLevel = 1;
    const base = h.stvec - (h.stvec & 3);
    h.pcN = (intr && (h.stvec & 1)) ? base + 4 * cause : base;
  } else {
    h.mcause = fullCause;
    h.mepc = epc;
    h.mtval = tval;
    ms = (ms & ~(MSTATUS.MPIE | MSTATUS.MIE | MSTATUS.MPP)) |
      ((ms & MSTATUS.MIE) ? MSTATUS.MPIE : 0) | (prev << 11);
    h.privLevel = 3;
    const base = h.mtvec - (h.mtvec & 3);
    h.pcN = (intr && (h.mtvec & 1)) ? base + 4 * cause : base;
  }
  h.mstatus = ms;
  h.updateMode();
  if (h.onTrap !== null) h.onTrap(cause, intr, epc);
}

/** Take an exception whose tval is an address (a number). */
export function raiseAt(h: Hart, cause: number, addr: number, epc: number): void {
  takeTrap(h, cause, exactVa(h, addr), epc, false); // (a wide access's window address mapped back)
}

/** The effective mip: software-writable bits or'ed with the lines from outside. */
export function effectiveMip(h: Hart): number {
  return h.mipSw | h.externalMip;
}

/**
 * If an interrupt is pending, enabled, and allowed at the current privilege,
 * take it (epc = hart.pcN) and return true.
 */
export function checkInterrupts(h: Hart): boolean {
  if (h.pollInterrupts !== null) h.pollInterrupts();
  const pending = (h.mipSw | h.externalMip) & h.mie;
  if (pending === 0) return false;
  const priv = h.privLevel;
  const ms = h.mstatus;
  // M-level interrupts (not delegated): enabled below M, or in M with MIE.
  const m = pending & ~h.mideleg;
  let take = 0;
  if (m !== 0 && (priv < 3 || (ms & MSTATUS.MIE))) take = m;
  else {
    // S-level (delegated): enabled in U, or in S with SIE; never in M.
    const s = pending & h.mideleg;
    if (s !== 0 && (priv === 0 || (priv === 1 && (ms & MSTATUS.SIE)))) take = s;
  }
  if (take === 0) return false;
  for (const irq of IRQ_PRIORITY) {
    if (take & (1 << irq)) {
      takeTrap(h, irq, 0n, h.pcN, true);
      return true;
    }
  }
  return false;
}

/** mret: back to MPP. The caller checked priv === M. */
export function mret(h: Hart): void {
  let ms = h.mstatus;
  const mpp = (ms >>> 11) & 3;
  ms = (ms & ~(MSTATUS.MIE | MSTATUS.MPP)) | ((ms & MSTATUS.MPIE) ? MSTATUS.MIE : 0) |
    MSTATUS.MPIE;
  if (mpp !== 3) ms &= ~MSTATUS.MPRV;
  h.mstatus = ms;
  h.privLevel = mpp;
  h.pcN = h.mepc;
  h.updateMode();
  if (h.onTrapReturn !== null) h.onTrapReturn();
}

/** sret: back to SPP. The caller checked priv >= S and TSR. */
export function sret(h: Hart): void {
  let ms = h.mstatus;
  const spp = (ms >>> 8) & 1;
  ms = (ms & ~(MSTATUS.SIE | MSTATUS.SPP | MSTATUS.MPRV)) |
    ((ms & MSTATUS.SPIE) ? MSTATUS.SIE : 0) | MSTATUS.SPIE;
  h.mstatus = ms;
  h.privLevel = spp;
  h.pcN = h.sepc;
  h.updateMode();
  if (h.onTrapReturn !== null) h.onTrapReturn();
}
