// Address translation: the Sv39/Sv48/Sv57 page walk with permission checks and
// hardware A/D updates, and the slow paths of the TLBs whose fast paths are
// inlined in cpu/execute.ts. A TLB entry maps one 4 KiB virtual page to a RAM
// offset, for one access kind (fetch / load / store) in one "set" — the
// privilege+SUM context, in one address space (ASID slot, cpu/hart.ts), it was
// filled for — so a hit needs no permission check.
// MMIO pages are never cached.
//
// Wide addresses (Sv57): the hot paths compute an address as a double, exact
// only while |va| < 2^53, and Sv57's upper half (Linux's linear map at
// 0xff60…) lies beyond. So no page with |va| >= EXACT_VA ever gets an
// ordinary TLB entry: such an access always misses, translateFill refuses the
// rounded number without walking, and the slow path recomputes the exact
// address from the register's int32 halves and the immediate (wideVa). It then
// runs the ordinary slow-path code on a *window* address, WIDE_BASE + the
// offset in the page (+ 4096 for the next page), while Hart.wideVpn holds the
// exact page number; translate() and trap tvals map the window back. Wide
// pages are cached in the same TLB arrays under the tag vpn + 0.5 (add = the
// page's RAM offset), which the interpreter's hot path (Math.floor of a
// double) never produces: only its slow path (execute.ts loadWide, storeWide)
// and translated code, whose va is an exact i64, look for it (cpu/jit/emit.ts,
// for a hart with Sv57). Only the slow path fills it. Read next: cpu/trap.ts.

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

/**
 * Addresses with |va| below this are exact wherever the hot paths compute them
 * (a register's two halves plus a 12-bit immediate, rounding included): only
 * their pages get ordinary TLB entries. Every Sv39/Sv48 address is.
 */
export const EXACT_VA = 2 ** 52;
/** The window: a wide access's slow path works on WIDE_BASE + 0..8191 (see above). */
export const WIDE_BASE = 2 ** 52;

/** True if `va` is a window address of the wide access under way. */
function inWindow(h: Hart, va: number): boolean {
  return h.wideVpn === h.wideVpn && va >= WIDE_BASE && va < WIDE_BASE + 8192;
}

/**
 * The exact address x[rs1] + imm, for a slow path whose double address is not
 * exact (|va| >= EXACT_VA): sets hart.wideVpn to its page number and returns
 * its window address. The caller clears wideVpn (NaN) when the access is done.
 */
export function wideVa(h: Hart, rs1: number, imm: number): number {
  const xw = h.xw;
  const s = (xw[2 * rs1] >>> 0) + imm; // the low word plus the immediate, carry included
  const c = Math.floor(s / 4096);
  h.wideVpn = xw[2 * rs1 + 1] * 1048576 + c; // (hi * 2^32 + s) / 4096, exact
  return WIDE_BASE + (s - c * 4096);
}

/** The exact 64-bit value of `va` (a window address mapped back), for tval. */
export function exactVa(h: Hart, va: number): bigint {
  if (inWindow(h, va)) {
    return BigInt.asIntN(64, BigInt(h.wideVpn) * 4096n + BigInt(va - WIDE_BASE));
  }
  return BigInt.asIntN(64, BigInt(va));
}

const PAGE_FAULT = [12, 13, 15];
const ACCESS_FAULT = [1, 5, 7];

const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;
const MSTATUS_MPRV = 1 << 17, MSTATUS_SUM = 1 << 18, MSTATUS_MXR = 1 << 19;

/**
 * Translate virtual address `va` (a sign-extended 64-bit value as an exact
 * number, or a window address of a wide access) for access kind `acc`.
 * Returns the physical address, or -1 with hart.faultCause / hart.faultTval
 * set (page fault, or access fault when a page-table entry lies outside RAM).
 * A number beyond EXACT_VA that is not a window address is not exact: it is
 * refused with an access fault, never walked.
 */
export function translate(h: Hart, va: number, acc: number): number {
  let vpn: number;
  if (va > -EXACT_VA && va < EXACT_VA) vpn = Math.floor(va / 4096);
  else if (inWindow(h, va)) vpn = h.wideVpn + (va >= WIDE_BASE + 4096 ? 1 : 0);
  else {
    h.faultCause = ACCESS_FAULT[acc];
    h.faultTval = va;
    return -1;
  }
  const pageOff = va & 4095;
  let priv = h.priv;
  const ms = h.mstatus;
  if (acc !== ACC_FETCH && priv === 3 && (ms & MSTATUS_MPRV)) priv = (ms >>> 11) & 3;
  if (priv === 3 || h.satpMode === 0) {
    // Physical addresses are unsigned (2^64 - |va| is beyond any device), and
    // nothing lives at or above 2^52.
    if (!(vpn >= 0 && vpn < EXACT_VA / 4096)) {
      h.faultCause = ACCESS_FAULT[acc];
      h.faultTval = va;
      return -1;
    }
    h.walkLevel = 0;
    if (acc === ACC_STORE && h.codePages !== null) noteCodeWrite(h, va);
    return va;
  }
  const levels = h.satpMode - 5; // 8 Sv39, 9 Sv48, 10 Sv57
  const half = 2 ** (9 * levels - 1); // in pages: half the virtual address space
  if (!(vpn >= -half && vpn < half)) return pageFault(h, va, acc);
  const u = vpn < 0 ? vpn + 2 * half : vpn; // the unsigned vpn
  // The vpn as int32 pieces: low 27 bits (Sv39's whole vpn) and the rest.
  const vpnHi = Math.floor(u / 134217728);
  const vpnLo = (u - vpnHi * 134217728) | 0;
  let table = h.satpRoot;
  const r32 = h.ram32;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = level >= 3 ? (vpnHi >>> (9 * (level - 3))) & 511 : (vpnLo >>> (9 * level)) & 511;
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
    // Pages into the superpage: vpn's low 9*level bits.
    const sub = level === 4
      ? (vpnHi & 511) * 134217728 + vpnLo
      : level === 3
      ? vpnLo
      : vpnLo & ((1 << (9 * level)) - 1);
    if (
      level === 4
        ? ((lo >>> 10) | (hi & 0x3fff)) !== 0
        : level === 3
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
    const pa = (ppn + sub) * 4096 + pageOff;
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
  if (!(va > -EXACT_VA && va < EXACT_VA)) {
    if (h.wideVpn === h.wideVpn) return translateFillWide(h, va, acc);
    h.faultCause = ACCESS_FAULT[acc]; // a hot path's rounded number: refused, not walked
    h.faultTval = va;
    return -1;
  }
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

/**
 * translateFill beyond EXACT_VA: a window address looks up and fills its
 * page's wide entry (tag vpn + 0.5, add = the page's RAM offset); any other
 * number is a hot path's rounded address, refused with no walk, so no A/D
 * bit is set for a page that was never accessed. Code is never fetched from
 * wide pages (the fetch refusal is an instruction access fault: docs/cpu.md).
 */
function translateFillWide(h: Hart, va: number, acc: number): number {
  if (acc === ACC_FETCH || !inWindow(h, va)) {
    h.faultCause = ACCESS_FAULT[acc];
    h.faultTval = va;
    return -1;
  }
  const vpn = h.wideVpn + (va >= WIDE_BASE + 4096 ? 1 : 0);
  const i = h.dBase + (vpn & TLB_MASK);
  const tags = acc === ACC_LOAD ? h.rTag : h.wTag;
  const adds = acc === ACC_LOAD ? h.rAdd : h.wAdd;
  if (tags[i] === vpn + 0.5) return h.ramBase + adds[i] + (va & 4095);
  const pa = translate(h, va, acc);
  if (pa < 0) return -1;
  const off = pa - h.ramBase;
  if (off >= 0 && off < h.ramSize && h.watches === null) {
    if (h.walkLevel > 0) h.noteSuperpage(vpn);
    tags[i] = vpn + 0.5;
    adds[i] = off - (off % 4096);
  }
  return pa;
}
