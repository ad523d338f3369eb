// What a debugger needs from the hart, and nothing a running guest pays for:
// breakpoints as a pc list the instruction loop checks only when it is not
// empty (Hart.breakPcs, cpu/execute.ts), memory through the hart's current
// translation without touching the guest's state (no TLB fill, no A/D bits,
// no permission check: a debugger reads user and kernel pages alike, as
// QEMU's debug accesses do), and the registers by the numbers GDB's riscv
// target gives them. The cpu actor drives this for its gdbstub
// (actors/cpu/debugger.ts). Read next: cpu/disasm.ts.

import type { Hart } from "./hart.ts";
import { csrReadRaw, csrWriteRaw } from "./csr.ts";

/** GDB's riscv register numbers (gdb/riscv-tdep.h): x0..x31, pc, f0..f31, CSRs, priv. */
export const GDB_REG = {
  X0: 0,
  PC: 32,
  F0: 33,
  /** CSR n is register FIRST_CSR + n (fflags 66, frm 67, fcsr 68, ...). */
  FIRST_CSR: 65,
  /** GDB's virtual "priv" register: the privilege level. */
  PRIV: 65 + 4096,
} as const;

/** Set the breakpoint list (virtual addresses, unsigned); an empty list costs the loop nothing. */
export function setBreakpoints(h: Hart, addrs: Iterable<bigint>): void {
  const pcs = [...addrs].map((a) => Number(BigInt.asIntN(56, a)));
  h.breakPcs = pcs.length === 0 && h.watches === null ? null : Float64Array.from(pcs);
}

/** Watchpoint kinds, as bits: a write, a read (an AMO is both). */
export const WATCH_WRITE = 1;
export const WATCH_READ = 2;

/** One watchpoint: `len` bytes at virtual `addr`, stopping on the accesses in `kind`. */
export interface Watchpoint {
  addr: bigint;
  len: number;
  kind: number;
}

/**
 * Set the watchpoints. Their pages leave the data TLBs (the TLB is flushed
 * and translateFill keeps them out), so the fast paths never see them and
 * the slow paths check every access there (watchHit).
 */
export function setWatchpoints(h: Hart, list: Watchpoint[]): void {
  if (list.length === 0) {
    h.watches = null;
    h.watchVpns = null;
  } else {
    const triples: number[] = [];
    const vpns = new Set<number>();
    for (const w of list) {
      const start = Number(BigInt.asIntN(56, w.addr));
      triples.push(start, start + w.len, w.kind);
      for (let p = Math.floor(start / 4096); p <= Math.floor((start + w.len - 1) / 4096); p++) {
        vpns.add(p);
      }
    }
    h.watches = Float64Array.from(triples);
    h.watchVpns = vpns;
  }
  h.watchHitIndex = -1;
  h.flushTlb();
  // The loop's debug test must run while watchpoints are set (see Hart.watches).
  const pcs = h.breakPcs ? [...h.breakPcs] : [];
  h.breakPcs = pcs.length === 0 && h.watches === null ? null : Float64Array.from(pcs);
}

/**
 * Does an access of `size` bytes at `va` (kind bits `acc`) by the instruction
 * at `epc` hit a watchpoint? If so the instruction is stopped before it does
 * anything: pc stays at `epc`, and the loop returns RUN_BREAK.
 */
export function watchHit(h: Hart, va: number, size: number, acc: number, epc: number): boolean {
  if (epc === h.watchSkip) return false;
  const w = h.watches!;
  for (let i = 0; i < w.length; i += 3) {
    if ((w[i + 2] & acc) !== 0 && va < w[i + 1] && va + size > w[i]) {
      h.watchHitIndex = i / 3;
      h.pcN = epc;
      return true;
    }
  }
  return false;
}

/**
 * Translate `va` as the hart would for a load right now, without side
 * effects. Returns the physical address, or -1 when no valid mapping exists.
 */
export function debugTranslate(h: Hart, va: bigint): number {
  const satpOff = h.priv === 3 || h.satpMode === 0;
  if (satpOff) {
    const pa = BigInt.asUintN(64, va);
    return pa < 2n ** 53n ? Number(pa) : -1;
  }
  const levels = h.satpMode - 5; // 8 Sv39, 9 Sv48, 10 Sv57
  const vaBits = 12 + 9 * levels;
  const s = BigInt.asIntN(64, va);
  if (BigInt.asIntN(vaBits, s) !== s) return -1; // not canonical
  // The page number and the offset apart: Sv57's 57-bit address is not an exact number.
  const vpn = Number(BigInt.asUintN(vaBits, s) >> 12n);
  const pageOff = Number(s & 4095n);
  let table = h.satpRoot;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = Math.floor(vpn / 2 ** (9 * level)) % 512;
    const off = table + idx * 8 - h.ramBase;
    if (!(off >= 0 && off + 8 <= h.ramSize)) return -1;
    const lo = h.ram32[off >>> 2] >>> 0, hi = h.ram32[(off >>> 2) + 1] >>> 0;
    if (!(lo & 1) || (lo & 6) === 4 || (hi >>> 22) !== 0) return -1;
    const ppn = Math.floor(lo / 1024) + (hi & 0x3fffff) * 4194304;
    if (!(lo & 0xa)) { // a pointer to the next level
      table = ppn * 4096;
      continue;
    }
    const span = 2 ** (9 * level); // pages in this leaf
    if (ppn % span !== 0) return -1; // a misaligned superpage faults
    return (ppn + (vpn % span)) * 4096 + pageOff;
  }
  return -1;
}

/** The RAM offset of `len` bytes at `va` through the translation, or -1 (a page at a time). */
function ramOffset(h: Hart, va: bigint, len: number): number {
  const pa = debugTranslate(h, va);
  if (pa < 0) return -1;
  const off = pa - h.ramBase;
  return off >= 0 && off + len <= h.ramSize ? off : -1;
}

/**
 * Read `len` bytes of guest memory at virtual address `va` (RAM only: a
 * debugger read must not poke a device register). null if any byte is unmapped.
 */
export function readVirtual(h: Hart, va: bigint, len: number): Uint8Array | null {
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const a = BigInt.asUintN(64, va + BigInt(done));
    const chunk = Math.min(len - done, 4096 - Number(a % 4096n));
    const off = ramOffset(h, a, chunk);
    if (off < 0) return null;
    out.set(h.ram8.subarray(off, off + chunk), done);
    done += chunk;
  }
  return out;
}

/** Write `data` at virtual address `va`; false (nothing written) if any byte is unmapped. */
export function writeVirtual(h: Hart, va: bigint, data: Uint8Array): boolean {
  const pieces: [number, number][] = []; // [physical address, length]
  let done = 0;
  while (done < data.length) {
    const a = BigInt.asUintN(64, va + BigInt(done));
    const chunk = Math.min(data.length - done, 4096 - Number(a % 4096n));
    const off = ramOffset(h, a, chunk);
    if (off < 0) return false;
    pieces.push([off + h.ramBase, chunk]);
    done += chunk;
  }
  let at = 0;
  for (const [pa, n] of pieces) {
    // writePhys drops translated code on the page (cpu/jit/), as a store would.
    h.writePhys(pa, data.subarray(at, at + n));
    at += n;
  }
  h.flushTlb(); // the guest may have written its own page tables through us
  return true;
}

/** Read register `n` (GDB numbering) as unsigned 64 bits; null = no such register. */
export function readRegister(h: Hart, n: number): bigint | null {
  if (n >= GDB_REG.X0 && n < GDB_REG.X0 + 32) return BigInt.asUintN(64, h.x[n]);
  if (n === GDB_REG.PC) return h.pc;
  if (n >= GDB_REG.F0 && n < GDB_REG.F0 + 32) return BigInt.asUintN(64, h.fpu.bits[n - GDB_REG.F0]);
  if (n === GDB_REG.PRIV) return BigInt(h.priv);
  if (n > GDB_REG.FIRST_CSR && n < GDB_REG.PRIV) {
    const v = csrReadRaw(h, n - GDB_REG.FIRST_CSR);
    return v === null ? null : BigInt.asUintN(64, v);
  }
  return null;
}

/** Write register `n` (GDB numbering); false = no such register or a bad value. */
export function writeRegister(h: Hart, n: number, v: bigint): boolean {
  if (n === GDB_REG.X0) return true; // x0 stays zero
  if (n > GDB_REG.X0 && n < GDB_REG.X0 + 32) {
    h.x[n] = BigInt.asIntN(64, v);
    return true;
  }
  if (n === GDB_REG.PC) {
    h.pc = v;
    return true;
  }
  if (n >= GDB_REG.F0 && n < GDB_REG.F0 + 32) {
    h.fpu.bits[n - GDB_REG.F0] = BigInt.asIntN(64, v);
    return true;
  }
  if (n === GDB_REG.PRIV) {
    if (v !== 0n && v !== 1n && v !== 3n) return false;
    h.priv = Number(v);
    h.flushTlb();
    return true;
  }
  if (n > GDB_REG.FIRST_CSR && n < GDB_REG.PRIV) {
    const ok = csrWriteRaw(h, n - GDB_REG.FIRST_CSR, BigInt.asIntN(64, v));
    h.updateMode();
    return ok;
  }
  return false;
}
