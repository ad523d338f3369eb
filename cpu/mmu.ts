// Address translation: the Sv39/Sv48 page walk with permission checks and
// hardware A/D updates, and the slow paths of the TLBs whose fast paths are
// inlined in cpu/execute.ts. A TLB entry maps one 4 KiB virtual page to a RAM
// offset, for one access kind (fetch / load / store) in one "set" — the
// privilege+SUM context, in one address space (ASID slot, cpu/hart.ts), it was
// filled for — so a hit needs no permission check.
// MMIO pages are never cached. Read next: cpu/trap.ts.

import type { Hart } from "./hart.ts";

export const ACC_FETCH = 0;
export const ACC_LOAD = 1;
export const ACC_STORE = 2;

/** Entries per set (power of two) and sets (see Hart.updateMode). */
export const TLB_SIZE = 512;
export const TLB_MASK = TLB_SIZE - 1;
/** Address spaces (ASIDs) whose entries are kept at once; each has three sets. */
export const ASID_SLOTS = 4;
/** Set 0 (identity: M or bare) and three sets (U, S, S+SUM) per ASID slot. */
export const TLB_SETS = 1 + 3 * ASID_SLOTS;

const PAGE_FAULT = [12, 13, 15];
const ACCESS_FAULT = [1, 5, 7];

const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;
const MSTATUS_MPRV = 1 << 17, MSTATUS_SUM = 1 << 18, MSTATUS_MXR = 1 << 19;

/**
 * Translate virtual address `va` (a sign-extended 64-bit value as an exact
 * number) for access kind `acc`. Returns the physical address, or -1 with
 * hart.faultCause / hart.faultTval set (page fault, or access fault when a
 * page-table entry lies outside RAM).
 */
export function translate(h: Hart, va: number, acc: number): number {
  let priv = h.priv;
  const ms = h.mstatus;
  if (acc !== ACC_FETCH && priv === 3 && (ms & MSTATUS_MPRV)) priv = (ms >>> 11) & 3;
  if (priv === 3 || h.satpMode === 0) {
    if (va < 0) { // physical addresses are unsigned: 2^64 - |va| is beyond any device
      h.faultCause = ACCESS_FAULT[acc];
      h.faultTval = va;
      return -1;
    }
    h.walkLevel = 0;
    if (acc === ACC_STORE && h.codePages !== null) noteCodeWrite(h, va);
    return va;
  }
  const levels = h.satpMode === 8 ? 3 : 4;
  const vaBits = 12 + 9 * levels;
  const half = 2 ** (vaBits - 1);
  if (!(va >= -half && va < half)) return pageFault(h, va, acc);
  const u = va < 0 ? va + 2 * half : va; // the vaBits-bit unsigned address
  // The vpn as int32 pieces: low 27 bits (Sv39's whole vpn) and the rest.
  const vpn = Math.floor(u / 4096);
  const vpnHi = Math.floor(vpn / 134217728);
  const vpnLo = (vpn - vpnHi * 134217728) | 0;
  let table = h.satpRoot;
  const r32 = h.ram32;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = level === 3 ? vpnHi & 511 : (vpnLo >>> (9 * level)) & 511;
    const off = table + idx * 8 - h.ramBase;
    if (!(off >= 0 && off < h.ramSize)) {
      h.faultCause = ACCESS_FAULT[acc];
      h.faultTval = va;
      return -1;
    }
    const lo = r32[off >>> 2];
    const hi = r32[(off >>> 2) + 1];
    if (!(lo & PTE_V) || ((lo & (PTE_R | PTE_W)) === PTE_W) || (hi >>> 22) !== 0) {
      return pageFault(h, va, acc);
    }
    const ppn = (lo >>> 10) + (hi & 0x3fffff) * 4194304;
    if (!(lo & (PTE_R | PTE_X))) { // pointer to the next level
      if (level === 0) return pageFault(h, va, acc);
      table = ppn * 4096;
      continue;
    }
    // A leaf: superpages must be aligned (the low 9*level bits of the ppn zero).
    const sub = level === 3 ? vpnLo : vpnLo & ((1 << (9 * level)) - 1); // pages into the superpage
    if (
      level === 3
        ? ((lo >>> 10) | (hi & 0x1f)) !== 0
        : ((lo >>> 10) & ((1 << (9 * level)) - 1)) !== 0
    ) {
      return pageFault(h, va, acc);
    }
    if (lo & PTE_U) {
      if (priv === 1 && (acc === ACC_FETCH || !(ms & MSTATUS_SUM))) return pageFault(h, va, acc);
    } else if (priv === 0) return pageFault(h, va, acc);
    if (acc === ACC_FETCH) {
      if (!(lo & PTE_X)) return pageFault(h, va, acc);
    } else if (acc === ACC_LOAD) {
      if (!(lo & PTE_R) && !((ms & MSTATUS_MXR) && (lo & PTE_X))) return pageFault(h, va, acc);
    } else if (!(lo & PTE_W)) return pageFault(h, va, acc);
    // Hardware A/D update: the PTE word is rewritten only when a bit changes.
    const want = PTE_A | (acc === ACC_STORE ? PTE_D : 0);
    if ((lo & want) !== want) Atomics.or(r32, off >>> 2, want);
    h.walkLevel = level;
    const pa = (ppn + sub) * 4096 + (va & 4095);
    if (acc === ACC_STORE && h.codePages !== null) noteCodeWrite(h, pa);
    return pa;
  }
  return pageFault(h, va, acc); // not reached
}

/** A store is about to reach `pa`: drop translated code on that RAM page (cpu/jit/). */
function noteCodeWrite(h: Hart, pa: number): void {
  const off = pa - h.ramBase;
  if (off >= 0 && off < h.ramSize && h.codePages![off >>> 12] !== 0) h.onCodeWrite!(off >>> 12);
}

function pageFault(h: Hart, va: number, acc: number): number {
  h.faultCause = PAGE_FAULT[acc];
  h.faultTval = va;
  return -1;
}

/**
 * Translate and, when the page is RAM, remember it in the TLB of kind `acc`.
 * Returns the physical address or -1 (fault recorded in the hart).
 */
export function translateFill(h: Hart, va: number, acc: number): number {
  const pa = translate(h, va, acc);
  if (pa < 0) return -1;
  const off = pa - h.ramBase;
  if (off >= 0 && off < h.ramSize) {
    const vpn = Math.floor(va / 4096);
    // A watched page stays out of the data TLBs: its accesses take the slow paths.
    if (h.watchVpns !== null && acc !== ACC_FETCH && h.watchVpns.has(vpn)) return pa;
    const add = off - (pa % 4096) - vpn * 4096; // ram offset of the page minus its va
    if (h.walkLevel > 0) h.noteSuperpage(vpn);
    if (acc === ACC_LOAD) {
      const i = h.dBase + (vpn & TLB_MASK);
      h.rTag[i] = vpn;
      h.rAdd[i] = add;
    } else if (acc === ACC_STORE) {
      const i = h.dBase + (vpn & TLB_MASK);
      h.wTag[i] = vpn;
      h.wAdd[i] = add;
    } else {
      const i = h.fBase + (vpn & TLB_MASK);
      h.fTag[i] = vpn;
      h.fAdd[i] = add;
    }
  }
  return pa;
}
