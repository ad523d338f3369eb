// The instruction loop: fetch (through a cached code page), expand compressed
// instructions, decode and execute RV64IMAC inline, with the TLB fast paths
// for loads and stores; everything rare (CSRs, SYSTEM, AMOs, FP, misaligned
// and MMIO accesses, TLB misses) goes to the helpers below. Registers live in
// a BigInt64Array (64-bit adds, logic, compares, mul) that is also viewed as
// int32 pairs (shifts, 32-bit ops, addresses, stores), because V8 compiles
// both to machine arithmetic while BigInt shifts and BigInt->Number do not.
// No exceptions in the loop: helpers take traps themselves and return false.
// Read next: cpu/mmu.ts (translate), cpu/trap.ts (takeTrap).

import type { Hart } from "./hart.ts";
import { compressedTable } from "./compressed.ts";
import {
  ACC_FETCH,
  ACC_LOAD,
  ACC_STORE,
  EXACT_VA,
  TLB_MASK,
  translateFill,
  wideVa,
} from "./mmu.ts";
import { CAUSE, checkInterrupts, mret, MSTATUS, raiseAt, sret, takeTrap } from "./trap.ts";
import { execCsr, markFsDirty } from "./csr.ts";
import { WATCH_READ, WATCH_WRITE, watchHit } from "./debug.ts";

const TWO32 = 4294967296;
/** A private word whose atomic store makes a guest `fence` a host memory barrier. */
const FENCE_WORD = new Int32Array(new SharedArrayBuffer(4));
const RUN_BUDGET = 0, RUN_WFI = 1, RUN_STOP = 2, RUN_BREAK = 3;

/** Run up to `max` instructions (see Hart.run). */
export function runBatch(h: Hart, max: number): number {
  const x = h.x, xw = h.xw;
  const r8 = h.ram8, r8s = h.ram8s, r16 = h.ram16, r16s = h.ram16s, r32 = h.ram32, r64 = h.ram64;
  const rTag = h.rTag, rAdd = h.rAdd, wTag = h.wTag, wAdd = h.wAdd, fTag = h.fTag, fAdd = h.fAdd;
  const ctab = compressedTable();
  const ring = h.pcRing;
  // The debugger's breakpoints (cpu/debug.ts): null unless a debugger set one.
  // They share one per-instruction test with the pc ring, so a run with
  // neither pays exactly what it paid before breakpoints existed.
  const bps = h.breakPcs;
  // With a translator: stop on entering a page that holds translated code, so
  // that the translator's driver enters it there (Hart.stopAtCode).
  const codeStop = h.stopAtCode ? h.codePages : null;
  h.stoppedAtCode = false;
  const watchPc = ring !== null || bps !== null;
  // A resume from a breakpoint executes the instruction under it first.
  let skip = h.breakSkip;
  h.breakSkip = NaN;
  let pc = h.pcN;
  // The code page and the data TLB set live in locals; they are re-read from
  // the hart after anything that may change them (SYSTEM, traps, fetchSlow).
  let fVa = h.fetchVa, fOff = h.fetchOff, dBase = h.dBase;
  let n = 0;
  let base = h.instretN;
  let status = RUN_BUDGET;
  while (n < max) {
    x[0] = 0n;
    if (watchPc) {
      if (bps !== null) {
        if (h.watchHitIndex >= 0) {
          n--; // the access was stopped before its instruction did anything
          status = RUN_BREAK;
          break;
        }
        h.watchSkip = skip; // the resumed instruction's accesses pass the watchpoints
        if (pc !== skip && isBreakPc(bps, pc)) {
          status = RUN_BREAK; // stop before the instruction, as a breakpoint does
          break;
        }
        skip = NaN;
      }
      if (ring !== null) {
        ring[h.pcRingPos] = pc;
        h.pcRingPos = (h.pcRingPos + 1) & (ring.length - 1);
      }
    }
    n++;
    // --- fetch ---
    let insn: number;
    const foff = pc - fVa;
    if (foff >= 0 && foff < 4094) {
      const p = (fOff + foff) >>> 1;
      insn = r16[p];
      if ((insn & 3) === 3) insn |= r16[p + 1] << 16;
    } else {
      // A new code page: look it up in the fetch TLB here, call out only on a
      // miss or for an instruction straddling two pages.
      const vpn = Math.floor(pc / 4096);
      const ti = h.fBase + (vpn & TLB_MASK);
      const po = pc - vpn * 4096;
      if (fTag[ti] === vpn && po < 4094) {
        const off = pc + fAdd[ti];
        if (codeStop !== null && n > 1 && codeStop[off >>> 12] !== 0) {
          n--; // not executed: translated code runs it
          h.stoppedAtCode = true;
          break;
        }
        fVa = h.fetchVa = pc - po;
        fOff = h.fetchOff = off - po;
        insn = r16[off >>> 1];
        if ((insn & 3) === 3) insn |= r16[(off >>> 1) + 1] << 16;
      } else {
        const v = fetchSlow(h, pc);
        fVa = h.fetchVa;
        fOff = h.fetchOff;
        dBase = h.dBase;
        if (v < 0) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        // As above, for a page the fetch TLB did not hold (the first fetch
        // after a trap return or a TLB flush, typically): otherwise the rest
        // of the chunk ran here, in a page that has translated code.
        if (codeStop !== null && n > 1 && fVa === pc - po && codeStop[(fOff + po) >>> 12] !== 0) {
          n--;
          h.stoppedAtCode = true;
          break;
        }
        insn = v | 0;
      }
    }
    const raw = insn;
    let ilen = 4;
    if ((insn & 3) !== 3) {
      ilen = 2;
      insn = ctab[insn];
      if (insn === 0) {
        takeTrap(h, CAUSE.ILLEGAL, BigInt(raw), pc, false);
        pc = h.pcN;
        fVa = NaN; // a trap: privilege and sets may have changed
        dBase = h.dBase;
        continue;
      }
    }
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const f3 = (insn >>> 12) & 7;
    switch (insn & 0x7f) {
      case 0x13: { // OP-IMM
        const imm = insn >> 20;
        switch (f3) {
          case 0:
            x[rd] = BigInt.asIntN(64, x[rs1] + BigInt(imm));
            break;
          case 1:
            if ((imm >>> 6) !== 0) {
              illegal(h, raw, pc);
              pc = h.pcN;
              fVa = NaN; // a trap: privilege and sets may have changed
              dBase = h.dBase;
              continue;
            }
            sll(xw, rd, rs1, imm & 63);
            break;
          case 2:
            x[rd] = x[rs1] < BigInt(imm) ? 1n : 0n;
            break;
          case 3: {
            const a = xw[2 * rs1 + 1] >>> 0, b = (imm >> 31) >>> 0;
            x[rd] = (a < b || (a === b && (xw[2 * rs1] >>> 0) < (imm >>> 0))) ? 1n : 0n;
            break;
          }
          case 4:
            x[rd] = BigInt.asIntN(64, x[rs1] ^ BigInt(imm));
            break;
          case 5: {
            const top = (imm >>> 6) & 0x3f;
            if (top === 0) srl(xw, rd, rs1, imm & 63);
            else if (top === 0x10) sra(xw, rd, rs1, imm & 63);
            else {
              illegal(h, raw, pc);
              pc = h.pcN;
              fVa = NaN; // a trap: privilege and sets may have changed
              dBase = h.dBase;
              continue;
            }
            break;
          }
          case 6:
            x[rd] = BigInt.asIntN(64, x[rs1] | BigInt(imm));
            break;
          default:
            x[rd] = BigInt.asIntN(64, x[rs1] & BigInt(imm));
            break;
        }
        pc += ilen;
        break;
      }
      case 0x33: { // OP
        const rs2 = (insn >>> 20) & 31;
        const f7 = insn >>> 25;
        if (f7 === 0) {
          switch (f3) {
            case 0:
              x[rd] = BigInt.asIntN(64, x[rs1] + x[rs2]);
              break;
            case 1:
              sll(xw, rd, rs1, xw[2 * rs2] & 63);
              break;
            case 2:
              x[rd] = x[rs1] < x[rs2] ? 1n : 0n;
              break;
            case 3:
              x[rd] = ltu(xw, rs1, rs2) ? 1n : 0n;
              break;
            case 4:
              x[rd] = BigInt.asIntN(64, x[rs1] ^ x[rs2]);
              break;
            case 5:
              srl(xw, rd, rs1, xw[2 * rs2] & 63);
              break;
            case 6:
              x[rd] = BigInt.asIntN(64, x[rs1] | x[rs2]);
              break;
            default:
              x[rd] = BigInt.asIntN(64, x[rs1] & x[rs2]);
              break;
          }
        } else if (f7 === 0x20 && f3 === 0) {
          x[rd] = BigInt.asIntN(64, x[rs1] - x[rs2]);
        } else if (f7 === 0x20 && f3 === 5) {
          sra(xw, rd, rs1, xw[2 * rs2] & 63);
        } else if (f7 === 1) {
          if (f3 === 0) x[rd] = BigInt.asIntN(64, x[rs1] * x[rs2]);
          else mulDiv(x, f3, rd, rs1, rs2);
        } else {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        break;
      }
      case 0x03: { // LOAD
        const va = xw[2 * rs1 + 1] * TWO32 + (xw[2 * rs1] >>> 0) + (insn >> 20);
        const vpn = Math.floor(va / 4096);
        const ti = dBase + (vpn & TLB_MASK);
        // A miss walks the tables and fills the entry (faults are left to the slow path).
        if (rTag[ti] !== vpn) translateFill(h, va, ACC_LOAD);
        if (rTag[ti] === vpn) {
          const p = va + rAdd[ti];
          switch (f3) {
            case 0: {
              const v = r8s[p];
              xw[2 * rd] = v;
              xw[2 * rd + 1] = v >> 31;
              pc += ilen;
              continue;
            }
            case 1:
              if ((p & 1) === 0) {
                const v = r16s[p >>> 1];
                xw[2 * rd] = v;
                xw[2 * rd + 1] = v >> 31;
                pc += ilen;
                continue;
              }
              break;
            case 2:
              if ((p & 3) === 0) {
                const v = r32[p >>> 2];
                xw[2 * rd] = v;
                xw[2 * rd + 1] = v >> 31;
                pc += ilen;
                continue;
              }
              break;
            case 3:
              if ((p & 7) === 0) {
                x[rd] = r64[p >>> 3];
                pc += ilen;
                continue;
              }
              break;
            case 4:
              xw[2 * rd] = r8[p];
              xw[2 * rd + 1] = 0;
              pc += ilen;
              continue;
            case 5:
              if ((p & 1) === 0) {
                xw[2 * rd] = r16[p >>> 1];
                xw[2 * rd + 1] = 0;
                pc += ilen;
                continue;
              }
              break;
            case 6:
              if ((p & 3) === 0) {
                xw[2 * rd] = r32[p >>> 2];
                xw[2 * rd + 1] = 0;
                pc += ilen;
                continue;
              }
              break;
          }
        }
        if (f3 === 7) {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        if (!loadSlow(h, va, f3, rd, pc)) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        if (h.mmioSeen) {
          // A device may have raised an interrupt line or asked to stop.
          if (mmioInterrupt(h, pc)) {
            pc = h.pcN;
            fVa = NaN;
            dBase = h.dBase;
          }
          if (h.stopRequested) status = RUN_STOP;
        }
        break;
      }
      case 0x23: { // STORE
        const rs2 = (insn >>> 20) & 31;
        const va = xw[2 * rs1 + 1] * TWO32 + (xw[2 * rs1] >>> 0) +
          (((insn >> 20) & ~31) | ((insn >>> 7) & 31));
        const vpn = Math.floor(va / 4096);
        const ti = dBase + (vpn & TLB_MASK);
        if (wTag[ti] !== vpn) translateFill(h, va, ACC_STORE);
        if (wTag[ti] === vpn) {
          const p = va + wAdd[ti];
          switch (f3) {
            case 0:
              r8[p] = xw[2 * rs2];
              pc += ilen;
              continue;
            case 1:
              if ((p & 1) === 0) {
                r16[p >>> 1] = xw[2 * rs2];
                pc += ilen;
                continue;
              }
              break;
            case 2:
              if ((p & 3) === 0) {
                r32[p >>> 2] = xw[2 * rs2];
                pc += ilen;
                continue;
              }
              break;
            case 3:
              if ((p & 7) === 0) {
                r64[p >>> 3] = x[rs2];
                pc += ilen;
                continue;
              }
              break;
          }
        }
        if (f3 > 3) {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        if (!storeValue(h, va, 1 << f3, x[rs2], pc)) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        if (h.mmioSeen) {
          // A device may have raised an interrupt line or asked to stop.
          if (mmioInterrupt(h, pc)) {
            pc = h.pcN;
            fVa = NaN;
            dBase = h.dBase;
          }
          if (h.stopRequested) status = RUN_STOP;
        }
        break;
      }
      case 0x63: { // BRANCH
        const rs2 = (insn >>> 20) & 31;
        let taken: boolean;
        switch (f3) {
          case 0:
            taken = x[rs1] === x[rs2];
            break;
          case 1:
            taken = x[rs1] !== x[rs2];
            break;
          case 4:
            taken = x[rs1] < x[rs2];
            break;
          case 5:
            taken = x[rs1] >= x[rs2];
            break;
          case 6:
            taken = ltu(xw, rs1, rs2);
            break;
          case 7:
            taken = !ltu(xw, rs1, rs2);
            break;
          default:
            illegal(h, raw, pc);
            pc = h.pcN;
            fVa = NaN; // a trap: privilege and sets may have changed
            dBase = h.dBase;
            continue;
        }
        if (taken) {
          pc += ((insn >> 19) & ~0xfff) | ((insn << 4) & 0x800) | ((insn >>> 20) & 0x7e0) |
            ((insn >>> 7) & 0x1e);
        } else pc += ilen;
        break;
      }
      case 0x3b: { // OP-32
        const rs2 = (insn >>> 20) & 31;
        const f7 = insn >>> 25;
        const a = xw[2 * rs1], b = xw[2 * rs2];
        let r: number;
        if (f7 === 0 && f3 === 0) r = (a + b) | 0;
        else if (f7 === 0x20 && f3 === 0) r = (a - b) | 0;
        else if (f7 === 0 && f3 === 1) r = a << (b & 31);
        else if (f7 === 0 && f3 === 5) r = (a >>> (b & 31)) | 0;
        else if (f7 === 0x20 && f3 === 5) r = a >> (b & 31);
        else if (f7 === 1) {
          switch (f3) {
            case 0:
              r = Math.imul(a, b);
              break;
            case 4:
              r = b === 0 ? -1 : (a === -2147483648 && b === -1) ? a : (a / b) | 0;
              break;
            case 5:
              r = b === 0 ? -1 : ((a >>> 0) / (b >>> 0)) | 0;
              break;
            case 6:
              r = b === 0 ? a : (a === -2147483648 && b === -1) ? 0 : (a % b) | 0;
              break;
            case 7:
              r = b === 0 ? a : ((a >>> 0) % (b >>> 0)) | 0;
              break;
            default:
              illegal(h, raw, pc);
              pc = h.pcN;
              fVa = NaN; // a trap: privilege and sets may have changed
              dBase = h.dBase;
              continue;
          }
        } else {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        xw[2 * rd] = r;
        xw[2 * rd + 1] = r >> 31;
        pc += ilen;
        break;
      }
      case 0x1b: { // OP-IMM-32
        const a = xw[2 * rs1];
        const imm = insn >> 20;
        let r: number;
        if (f3 === 0) r = (a + imm) | 0;
        else if (f3 === 1 && (insn >>> 25) === 0) r = a << (imm & 31);
        else if (f3 === 5 && (insn >>> 25) === 0) r = (a >>> (imm & 31)) | 0;
        else if (f3 === 5 && (insn >>> 25) === 0x20) r = a >> (imm & 31);
        else {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        xw[2 * rd] = r;
        xw[2 * rd + 1] = r >> 31;
        pc += ilen;
        break;
      }
      case 0x37: { // LUI
        const r = insn & ~0xfff;
        xw[2 * rd] = r;
        xw[2 * rd + 1] = r >> 31;
        pc += ilen;
        break;
      }
      case 0x17: { // AUIPC
        const v = pc + (insn & ~0xfff);
        const hi = Math.floor(v / TWO32);
        xw[2 * rd] = v - hi * TWO32;
        xw[2 * rd + 1] = hi;
        pc += ilen;
        break;
      }
      case 0x6f: { // JAL
        const v = pc + ilen;
        const hi = Math.floor(v / TWO32);
        xw[2 * rd] = v - hi * TWO32;
        xw[2 * rd + 1] = hi;
        pc += ((insn >> 11) & ~0xfffff) | (insn & 0xff000) | ((insn >>> 9) & 0x800) |
          ((insn >>> 20) & 0x7fe);
        break;
      }
      case 0x67: { // JALR
        if (f3 !== 0) {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        let t = xw[2 * rs1 + 1] * TWO32 + (xw[2 * rs1] >>> 0) + (insn >> 20);
        t -= t & 1;
        const v = pc + ilen;
        const hi = Math.floor(v / TWO32);
        xw[2 * rd] = v - hi * TWO32;
        xw[2 * rd + 1] = hi;
        pc = t;
        break;
      }
      case 0x0f: // MISC-MEM: fence, fence.i (no caches to keep coherent: code is never cached decoded)
        if (f3 > 1) {
          illegal(h, raw, pc);
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        // Guest RAM is shared with the device workers, and the guest orders its
        // virtqueue writes with fences: an atomic store is a full barrier for
        // both V8 and the host CPU, which plain typed-array accesses are not.
        if (f3 === 0) Atomics.store(FENCE_WORD, 0, 0);
        pc += ilen;
        break;
      case 0x73: { // SYSTEM
        h.instretN = base + n;
        const r = execSystem(h, insn, raw, pc, ilen);
        base = h.instretN - n;
        pc = h.pcN;
        fVa = h.fetchVa;
        fOff = h.fetchOff;
        dBase = h.dBase;
        if (r !== RUN_BUDGET) {
          status = r;
          break;
        }
        if (checkInterrupts(h)) pc = h.pcN;
        fVa = NaN; // a trap: privilege and sets may have changed
        dBase = h.dBase;
        continue;
      }
      case 0x2f: // AMO
        if (!execAmo(h, insn, raw, pc)) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        if (h.mmioSeen) {
          // A device may have raised an interrupt line or asked to stop.
          if (mmioInterrupt(h, pc)) {
            pc = h.pcN;
            fVa = NaN;
            dBase = h.dBase;
          }
          if (h.stopRequested) status = RUN_STOP;
        }
        break;
      case 0x07: // LOAD-FP
      case 0x27: // STORE-FP
        if (!fpLoadStore(h, insn, raw, pc)) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        if (h.mmioSeen) {
          // A device may have raised an interrupt line or asked to stop.
          if (mmioInterrupt(h, pc)) {
            pc = h.pcN;
            fVa = NaN;
            dBase = h.dBase;
          }
          if (h.stopRequested) status = RUN_STOP;
        }
        break;
      case 0x43:
      case 0x47:
      case 0x4b:
      case 0x4f:
      case 0x53: // FP arithmetic
        if (!fpExecute(h, insn, raw, pc)) {
          pc = h.pcN;
          fVa = NaN; // a trap: privilege and sets may have changed
          dBase = h.dBase;
          continue;
        }
        pc += ilen;
        break;
      default:
        illegal(h, raw, pc);
        pc = h.pcN;
        fVa = NaN; // a trap: privilege and sets may have changed
        dBase = h.dBase;
        continue;
    }
    if (status !== RUN_BUDGET) break;
  }
  if (bps !== null && h.watchHitIndex >= 0 && status === RUN_BUDGET) {
    n--; // a watchpoint stopped the batch's last instruction
    status = RUN_BREAK;
  }
  x[0] = 0n;
  h.pcN = pc;
  h.instretN = base + n;
  return status;
}

/** Is `pc` one of the breakpoints (a handful at most: a loop beats a Set). */
function isBreakPc(bps: Float64Array, pc: number): boolean {
  for (let i = 0; i < bps.length; i++) if (bps[i] === pc) return true;
  return false;
}

/**
 * After an MMIO access: a device (or the PLIC) may have changed externalMip
 * under us, so take a newly pending interrupt before the next instruction.
 */
function mmioInterrupt(h: Hart, nextPc: number): boolean {
  h.mmioSeen = false;
  h.pcN = nextPc;
  return checkInterrupts(h);
}

// --- integer helpers (inlined by V8) ---

function sll(xw: Int32Array, d: number, s: number, sh: number): void {
  const lo = xw[2 * s], hi = xw[2 * s + 1];
  if (sh === 0) {
    xw[2 * d] = lo;
    xw[2 * d + 1] = hi;
  } else if (sh < 32) {
    xw[2 * d] = lo << sh;
    xw[2 * d + 1] = (hi << sh) | (lo >>> (32 - sh));
  } else {
    xw[2 * d] = 0;
    xw[2 * d + 1] = lo << (sh - 32);
  }
}

function srl(xw: Int32Array, d: number, s: number, sh: number): void {
  const lo = xw[2 * s], hi = xw[2 * s + 1];
  if (sh === 0) {
    xw[2 * d] = lo;
    xw[2 * d + 1] = hi;
  } else if (sh < 32) {
    xw[2 * d] = (lo >>> sh) | (hi << (32 - sh));
    xw[2 * d + 1] = hi >>> sh;
  } else {
    xw[2 * d] = hi >>> (sh - 32);
    xw[2 * d + 1] = 0;
  }
}

function sra(xw: Int32Array, d: number, s: number, sh: number): void {
  const lo = xw[2 * s], hi = xw[2 * s + 1];
  if (sh === 0) {
    xw[2 * d] = lo;
    xw[2 * d + 1] = hi;
  } else if (sh < 32) {
    xw[2 * d] = (lo >>> sh) | (hi << (32 - sh));
    xw[2 * d + 1] = hi >> sh;
  } else {
    xw[2 * d] = hi >> (sh - 32);
    xw[2 * d + 1] = hi >> 31;
  }
}

/** Unsigned x[a] < x[b]. */
function ltu(xw: Int32Array, a: number, b: number): boolean {
  // Unsigned order is signed order with the sign bits flipped: int32 values
  // throughout (`>>> 0` made doubles of words >= 2^31, and V8, trained on
  // small ones, deoptimized the instruction loop when a boot met them).
  const ha = xw[2 * a + 1] ^ -0x80000000, hb = xw[2 * b + 1] ^ -0x80000000;
  return ha < hb || (ha === hb && (xw[2 * a] ^ -0x80000000) < (xw[2 * b] ^ -0x80000000));
}

/**
 * MULH, MULHSU, MULHU, DIV, DIVU, REM, REMU (funct3 1..7). Signed BigInt64
 * division is compiled to machine code by V8; unsigned forms take the signed
 * path when both operands are non-negative (asUintN is much cheaper than & 2^64-1).
 */
function mulDiv(x: BigInt64Array, f3: number, rd: number, rs1: number, rs2: number): void {
  const a = x[rs1], b = x[rs2];
  switch (f3) {
    case 1:
      x[rd] = BigInt.asIntN(64, (a * b) >> 64n);
      break;
    case 2:
      x[rd] = BigInt.asIntN(64, (a * BigInt.asUintN(64, b)) >> 64n);
      break;
    case 3:
      x[rd] = BigInt.asIntN(64, (BigInt.asUintN(64, a) * BigInt.asUintN(64, b)) >> 64n);
      break;
    case 4:
      x[rd] = b === 0n ? -1n : BigInt.asIntN(64, a / b);
      break;
    case 5:
      x[rd] = b === 0n
        ? -1n
        : a >= 0n && b > 0n
        ? a / b
        : BigInt.asIntN(64, BigInt.asUintN(64, a) / BigInt.asUintN(64, b));
      break;
    case 6:
      x[rd] = b === 0n ? a : BigInt.asIntN(64, a % b);
      break;
    default:
      x[rd] = b === 0n
        ? a
        : a >= 0n && b > 0n
        ? a % b
        : BigInt.asIntN(64, BigInt.asUintN(64, a) % BigInt.asUintN(64, b));
      break;
  }
}

function illegal(h: Hart, raw: number, pc: number): void {
  const bits = (raw & 3) === 3 ? raw >>> 0 : raw & 0xffff;
  takeTrap(h, CAUSE.ILLEGAL, BigInt(bits), pc, false);
}

// --- fetch ---

/** Fetch across a page change: translate, remember the page, and handle a 32-bit instruction straddling two pages. Returns the instruction (>= 0) or -1 after taking a trap. */
function fetchSlow(h: Hart, pc: number): number {
  const pa = fetchPa(h, pc);
  if (pa < 0) return -1;
  const off = pa - h.ramBase;
  const lo = h.ram16[off >>> 1];
  if ((lo & 3) !== 3) return lo;
  if ((off & 4095) !== 4094) return (lo | (h.ram16[(off >>> 1) + 1] << 16)) >>> 0;
  // The upper half lies on the next page; keep the cache on the first page.
  const fv = h.fetchVa, fo = h.fetchOff;
  const pa2 = fetchPa(h, pc + 2, pc);
  if (pa2 < 0) return -1;
  const hi = h.ram16[(pa2 - h.ramBase) >>> 1];
  h.fetchVa = fv;
  h.fetchOff = fo;
  return (lo | (hi << 16)) >>> 0;
}

/** Physical address of the code halfword at va, filling the code-page cache. */
function fetchPa(h: Hart, va: number, epc = va): number {
  const vpn = Math.floor(va / 4096);
  const ti = h.fBase + (vpn & TLB_MASK);
  let off: number;
  if (h.fTag[ti] === vpn) {
    off = va + h.fAdd[ti];
  } else {
    const pa = translateFill(h, va, ACC_FETCH);
    if (pa < 0) {
      raiseAt(h, h.faultCause, h.faultTval, epc);
      return -1;
    }
    off = pa - h.ramBase;
    if (!(off >= 0 && off < h.ramSize)) {
      raiseAt(h, CAUSE.FETCH_ACCESS, va, epc);
      return -1;
    }
  }
  h.fetchVa = vpn * 4096;
  h.fetchOff = off - (off % 4096);
  return off + h.ramBase;
}

// --- data access slow paths ---

/**
 * Load `size` bytes at virtual va (any alignment, RAM or MMIO). Returns the
 * zero-extended value, or null after taking a trap.
 */
export function loadValue(h: Hart, va: number, size: number, epc: number): bigint | null {
  if (!(va > -EXACT_VA && va < EXACT_VA) && h.wideVpn !== h.wideVpn) return loadWide(h, size, epc);
  if (h.watches !== null && watchHit(h, va, size, WATCH_READ, epc)) return null;
  const pa = translateFill(h, va, ACC_LOAD);
  if (pa < 0) {
    raiseAt(h, h.faultCause, h.faultTval, epc);
    return null;
  }
  const inPage = (va & 4095) + size <= 4096;
  if ((va & (size - 1)) === 0 || inPage) {
    // One translation covers the access.
    const off = pa - h.ramBase;
    if (off >= 0 && off + size <= h.ramSize) {
      if ((off & (size - 1)) === 0) { // aligned: one typed-array read
        if (size === 8) return BigInt.asUintN(64, h.ram64[off >>> 3]);
        if (size === 4) return BigInt(h.ram32[off >>> 2] >>> 0);
        if (size === 2) return BigInt(h.ram16[off >>> 1]);
        return BigInt(h.ram8[off]);
      }
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(h.ram8[off + i]);
      return v;
    }
    h.mmioSeen = true;
    if ((va & (size - 1)) === 0) return mmioRead(h, pa, size, va, epc);
    return bytewiseLoad(h, [pa], va, size, epc);
  }
  // Misaligned across a page boundary: translate the second page too.
  const split = 4096 - (va & 4095);
  const pa2 = translateFill(h, va + split, ACC_LOAD);
  if (pa2 < 0) {
    raiseAt(h, h.faultCause, h.faultTval, epc);
    return null;
  }
  const pas: number[] = [];
  for (let i = 0; i < size; i++) pas.push(i < split ? pa + i : pa2 + i - split);
  h.mmioSeen = true; // (perhaps: the bytes may be RAM or MMIO)
  return bytewiseLoad(h, pas, va, size, epc);
}

function bytewiseLoad(
  h: Hart,
  pas: number[],
  va: number,
  size: number,
  epc: number,
): bigint | null {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) {
    const pa = pas.length === 1 ? pas[0] + i : pas[i];
    const off = pa - h.ramBase;
    let b: number;
    if (off >= 0 && off < h.ramSize) b = h.ram8[off];
    else {
      b = h.bus.read(pa, 1);
      if (b < 0) {
        raiseAt(h, CAUSE.LOAD_ACCESS, va, epc);
        return null;
      }
    }
    v = (v << 8n) | BigInt(b & 0xff);
  }
  return v;
}

function mmioRead(h: Hart, pa: number, size: number, va: number, epc: number): bigint | null {
  if (size === 8) {
    const lo = h.bus.read(pa, 4);
    const hi = lo < 0 ? -1 : h.bus.read(pa + 4, 4);
    if (hi < 0) {
      raiseAt(h, CAUSE.LOAD_ACCESS, va, epc);
      return null;
    }
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  const v = h.bus.read(pa, size as 1 | 2 | 4);
  if (v < 0) {
    raiseAt(h, CAUSE.LOAD_ACCESS, va, epc);
    return null;
  }
  return BigInt(v);
}

/** Slow path of the integer loads: write x[rd] with the right extension. */
function loadSlow(h: Hart, va: number, f3: number, rd: number, epc: number): boolean {
  const size = 1 << (f3 & 3);
  const v = loadValue(h, va, size, epc);
  if (v === null) return false;
  if (f3 >= 4) h.x[rd] = v;
  else h.x[rd] = BigInt.asIntN(size * 8, v);
  h.x[0] = 0n;
  return true;
}

// Wide integer loads and stores (cpu/mmu.ts, "Wide addresses"). The loop
// itself (runBatch) knows nothing of them: its slow paths hand the rounded
// address to loadValue/storeValue, which send it here; the instruction is
// read again from the code page the loop fetched it from, for its register
// and immediate. (Any change to runBatch, or to loadSlow which V8 inlines
// into it, moves V8's inlining decisions there: seen with
// --trace-turbo-inlining as a shift helper left out and cpu_core 3% slower.)

/** The instruction at `pc`, which the loop is executing (expanded if compressed). */
function insnAt(h: Hart, pc: number): number {
  let off = pc - h.fetchVa; // the loop keeps the code page of pc in fetchVa/fetchOff
  if (!(off >= 0 && off < 4096)) {
    const pa = fetchPa(h, pc); // (not reached: kept for safety; the page was just fetched)
    if (pa < 0) return 0;
    off = pa - h.ramBase - h.fetchOff;
  }
  const lo = h.ram16[(h.fetchOff + off) >>> 1];
  if ((lo & 3) !== 3) return compressedTable()[lo];
  if (off < 4094) return (lo | (h.ram16[(h.fetchOff + off + 2) >>> 1] << 16)) | 0;
  // Straddling two pages: the upper half through the fetch TLB (filled by that fetch).
  const fv = h.fetchVa, fo = h.fetchOff;
  const pa2 = fetchPa(h, pc + 2, pc);
  h.fetchVa = fv;
  h.fetchOff = fo;
  return pa2 < 0 ? 0 : (lo | (h.ram16[(pa2 - h.ramBase) >>> 1] << 16)) | 0;
}

/** loadValue for the loop's integer load at epc, whose double address was not exact. */
function loadWide(h: Hart, size: number, epc: number): bigint | null {
  const insn = insnAt(h, epc);
  // The exact page and offset from the register's halves; a page cached under
  // its wide tag and an aligned access: straight from RAM (zero-extended, as
  // loadValue returns it).
  const xw = h.xw, rs1 = (insn >>> 15) & 31;
  const s = (xw[2 * rs1] >>> 0) + (insn >> 20), c = Math.floor(s / 4096);
  const vpn = xw[2 * rs1 + 1] * 1048576 + c, i = h.dBase + (vpn & TLB_MASK);
  if (h.rTag[i] === vpn + 0.5 && h.watches === null) {
    const p = h.rAdd[i] + (s - c * 4096);
    if ((p & (size - 1)) === 0) {
      if (size === 8) return BigInt.asUintN(64, h.ram64[p >>> 3]);
      if (size === 4) return BigInt(h.ram32[p >>> 2] >>> 0);
      if (size === 2) return BigInt(h.ram16[p >>> 1]);
      return BigInt(h.ram8[p]);
    }
  }
  const v = loadValue(h, wideVa(h, rs1, insn >> 20), size, epc);
  h.wideVpn = NaN;
  return v;
}

/** storeValue for the loop's integer store at epc, whose double address was not exact. */
function storeWide(h: Hart, size: number, v: bigint, epc: number): boolean {
  const insn = insnAt(h, epc);
  const imm = ((insn >> 20) & ~31) | ((insn >>> 7) & 31);
  if (storeWideHit(h, (insn >>> 12) & 7, insn, imm)) return true;
  const ok = storeValue(h, wideVa(h, (insn >>> 15) & 31, imm), size, v, epc);
  h.wideVpn = NaN;
  return ok;
}

/**
 * A wide store (cpu/mmu.ts) whose page is in the store TLB under its wide
 * tag, aligned: the exact page and offset from the register's halves, then
 * RAM as the hot path writes it. false = not that case (storeValue's way).
 */
function storeWideHit(h: Hart, f3: number, insn: number, imm: number): boolean {
  const xw = h.xw, rs1 = (insn >>> 15) & 31;
  const s = (xw[2 * rs1] >>> 0) + imm, c = Math.floor(s / 4096);
  const vpn = xw[2 * rs1 + 1] * 1048576 + c, i = h.dBase + (vpn & TLB_MASK);
  if (h.wTag[i] !== vpn + 0.5 || h.watches !== null) return false;
  const p = h.wAdd[i] + (s - c * 4096), rs2 = (insn >>> 20) & 31;
  switch (f3) {
    case 0:
      h.ram8[p] = h.xw[2 * rs2];
      return true;
    case 1:
      if (p & 1) return false;
      h.ram16[p >>> 1] = h.xw[2 * rs2];
      return true;
    case 2:
      if (p & 3) return false;
      h.ram32[p >>> 2] = h.xw[2 * rs2];
      return true;
    case 3:
      if (p & 7) return false;
      h.ram64[p >>> 3] = h.x[rs2];
      return true;
  }
  return false;
}

/** Store `size` low bytes of v at virtual va (any alignment, RAM or MMIO). false = trapped. */
export function storeValue(h: Hart, va: number, size: number, v: bigint, epc: number): boolean {
  if (!(va > -EXACT_VA && va < EXACT_VA) && h.wideVpn !== h.wideVpn) {
    return storeWide(h, size, v, epc);
  }
  if (h.watches !== null && watchHit(h, va, size, WATCH_WRITE, epc)) return false;
  const pa = translateFill(h, va, ACC_STORE);
  if (pa < 0) {
    raiseAt(h, h.faultCause, h.faultTval, epc);
    return false;
  }
  const aligned = (va & (size - 1)) === 0;
  const inPage = (va & 4095) + size <= 4096;
  let pa2 = pa;
  const split = inPage ? size : 4096 - (va & 4095);
  if (!inPage) {
    // Translate the second page before writing anything.
    pa2 = translateFill(h, va + split, ACC_STORE);
    if (pa2 < 0) {
      raiseAt(h, h.faultCause, h.faultTval, epc);
      return false;
    }
  }
  const off = pa - h.ramBase;
  if (inPage && off >= 0 && off + size <= h.ramSize) {
    if (aligned) { // one typed-array write
      if (size === 8) h.ram64[off >>> 3] = v;
      else if (size === 4) h.ram32[off >>> 2] = Number(BigInt.asIntN(32, v));
      else if (size === 2) h.ram16[off >>> 1] = Number(BigInt.asUintN(16, v));
      else h.ram8[off] = Number(BigInt.asUintN(8, v));
      return true;
    }
    for (let i = 0; i < size; i++) h.ram8[off + i] = Number((v >> BigInt(8 * i)) & 0xffn);
    return true;
  }
  h.mmioSeen = true;
  if (aligned) {
    // MMIO, full width (8 bytes as two 4-byte accesses, low word first).
    let ok: boolean;
    if (size === 8) {
      ok = h.bus.write(pa, 4, Number(v & 0xffffffffn)) &&
        h.bus.write(pa + 4, 4, Number((v >> 32n) & 0xffffffffn));
    } else {
      ok = h.bus.write(pa, size as 1 | 2 | 4, Number(BigInt.asUintN(size * 8, v)));
    }
    if (!ok) raiseAt(h, CAUSE.STORE_ACCESS, va, epc);
    return ok;
  }
  // Misaligned: byte by byte (first check every byte is writable memory).
  for (let i = 0; i < size; i++) {
    const p = i < split ? pa + i : pa2 + i - split;
    const o = p - h.ramBase;
    const b = Number((v >> BigInt(8 * i)) & 0xffn);
    if (o >= 0 && o < h.ramSize) h.ram8[o] = b;
    else if (!h.bus.write(p, 1, b)) {
      raiseAt(h, CAUSE.STORE_ACCESS, va, epc);
      return false;
    }
  }
  return true;
}

// --- A extension ---

/** funct5 of SC and the AMOs: add swap sc xor or and min max minu maxu. */
const AMO_FUNCT5 = [0, 1, 3, 4, 8, 12, 16, 20, 24, 28];

/** An AMO or LR/SC whose x[rs1] is beyond EXACT_VA (cpu/mmu.ts, "Wide addresses"). */
function execAmoWide(h: Hart, insn: number, raw: number, pc: number): boolean {
  const ok = execAmo(h, insn, raw, pc, wideVa(h, (insn >>> 15) & 31, 0));
  h.wideVpn = NaN;
  return ok;
}

/** An AMO or LR/SC at x[rs1], or at `wideAt` (a wide access's window address). */
function execAmo(h: Hart, insn: number, raw: number, pc: number, wideAt?: number): boolean {
  const rs1 = (insn >>> 15) & 31;
  const va = wideAt ?? h.xw[2 * rs1 + 1] * TWO32 + (h.xw[2 * rs1] >>> 0);
  if (wideAt === undefined && !(va > -EXACT_VA && va < EXACT_VA)) {
    return execAmoWide(h, insn, raw, pc);
  }
  const f3 = (insn >>> 12) & 7;
  const f5 = insn >>> 27;
  const rd = (insn >>> 7) & 31;
  const rs2 = (insn >>> 20) & 31;
  if (f3 !== 2 && f3 !== 3) {
    illegal(h, raw, pc);
    return false;
  }
  const size = f3 === 2 ? 4 : 8;
  const bits = size * 8;
  const xw = h.xw;
  const misaligned = (va & (size - 1)) !== 0;
  if (h.watches !== null) {
    const acc = f5 === 2 ? WATCH_READ : f5 === 3 ? WATCH_WRITE : WATCH_READ | WATCH_WRITE;
    if (watchHit(h, va, size, acc, pc)) return false;
  }
  if (f5 === 2) { // LR
    if (rs2 !== 0) {
      illegal(h, raw, pc);
      return false;
    }
    if (misaligned) {
      raiseAt(h, CAUSE.LOAD_MISALIGNED, va, pc);
      return false;
    }
    const pa = translateFill(h, va, ACC_LOAD);
    if (pa < 0) {
      raiseAt(h, h.faultCause, h.faultTval, pc);
      return false;
    }
    const off = pa - h.ramBase;
    let value: bigint;
    if (off >= 0 && off < h.ramSize) { // RAM: straight from the typed arrays
      value = size === 4 ? BigInt(h.ram32[off >>> 2]) : h.ram64[off >>> 3];
    } else {
      const v = loadValue(h, va, size, pc);
      if (v === null) return false;
      value = BigInt.asIntN(bits, v);
    }
    h.x[rd] = value;
    h.x[0] = 0n;
    h.resValid = true;
    h.resAddr = pa;
    h.resValue = value;
    return true;
  }
  if (!AMO_FUNCT5.includes(f5)) {
    illegal(h, raw, pc);
    return false;
  }
  if (misaligned) {
    raiseAt(h, CAUSE.STORE_MISALIGNED, va, pc);
    return false;
  }
  const pa = translateFill(h, va, ACC_STORE);
  if (pa < 0) {
    raiseAt(h, h.faultCause, h.faultTval, pc);
    return false;
  }
  const off = pa - h.ramBase;
  const inRam = off >= 0 && off < h.ramSize;
  if (f5 === 3) { // SC
    // On RAM, the store happens only if the word still holds what LR read: a
    // compare-and-exchange, so another hart's store in between (in another
    // worker) fails it, and two harts can never both succeed (QEMU's rule too).
    let ok = h.resValid && h.resAddr === pa;
    h.resValid = false;
    if (ok) {
      if (!inRam) {
        if (!storeValue(h, va, size, h.x[rs2], pc)) return false;
      } else if (!h.sharedRam) { // alone on its RAM: the reservation is enough
        if (size === 4) h.ram32[off >>> 2] = xw[2 * rs2];
        else h.ram64[off >>> 3] = h.x[rs2];
      } else if (size === 4) {
        const want = Number(BigInt.asIntN(32, h.resValue));
        ok = Atomics.compareExchange(h.ram32, off >>> 2, want, xw[2 * rs2]) === want;
      } else {
        ok = Atomics.compareExchange(h.ram64, off >>> 3, h.resValue, h.x[rs2]) === h.resValue;
      }
    }
    h.x[rd] = ok ? 0n : 1n;
    h.x[0] = 0n;
    return true;
  }
  if (inRam) {
    return size === 4
      ? (h.sharedRam ? amoWordRam : amoWordRamPlain)(h, f5, rd, rs2, off >>> 2)
      : (h.sharedRam ? amoDoubleRam : amoDoubleRamPlain)(h, f5, rd, rs2, off >>> 3);
  }
  const old = loadValue(h, va, size, pc);
  if (old === null) return false;
  const a = BigInt.asIntN(bits, old);
  const b = BigInt.asIntN(bits, h.x[rs2]);
  const ua = BigInt.asUintN(bits, a), ub = BigInt.asUintN(bits, b);
  let r: bigint;
  switch (f5) {
    case 0:
      r = a + b;
      break;
    case 1:
      r = b;
      break;
    case 4:
      r = a ^ b;
      break;
    case 8:
      r = a | b;
      break;
    case 12:
      r = a & b;
      break;
    case 16:
      r = a < b ? a : b;
      break;
    case 20:
      r = a > b ? a : b;
      break;
    case 24:
      r = ua < ub ? a : b;
      break;
    default:
      r = ua > ub ? a : b;
      break;
  }
  if (!storeValue(h, va, size, BigInt.asUintN(bits, r), pc)) return false;
  h.x[rd] = a;
  h.x[0] = 0n;
  return true;
}

/**
 * A .w AMO on RAM, on int32s (the kernel's atomic_t operations): one Atomics
 * read-modify-write, or a compare-and-exchange loop for min/max, so it is
 * atomic against the other harts' workers (docs/smp.md).
 */
function amoWordRam(h: Hart, f5: number, rd: number, rs2: number, i: number): boolean {
  const r32 = h.ram32, xw = h.xw;
  const b = xw[2 * rs2];
  let a: number;
  switch (f5) {
    case 0:
      a = Atomics.add(r32, i, b);
      break;
    case 1:
      a = Atomics.exchange(r32, i, b);
      break;
    case 4:
      a = Atomics.xor(r32, i, b);
      break;
    case 8:
      a = Atomics.or(r32, i, b);
      break;
    case 12:
      a = Atomics.and(r32, i, b);
      break;
    default:
      for (;;) {
        a = r32[i];
        let r: number;
        if (f5 === 16) r = a < b ? a : b;
        else if (f5 === 20) r = a > b ? a : b;
        else if (f5 === 24) r = (a >>> 0) < (b >>> 0) ? a : b;
        else r = (a >>> 0) > (b >>> 0) ? a : b;
        if (Atomics.compareExchange(r32, i, a, r) === a) break;
      }
  }
  xw[2 * rd] = a;
  xw[2 * rd + 1] = a >> 31;
  h.x[0] = 0n;
  return true;
}

/** A .d AMO on RAM, on the BigInt64 view: atomic as amoWordRam is. */
function amoDoubleRam(h: Hart, f5: number, rd: number, rs2: number, i: number): boolean {
  const r64 = h.ram64, x = h.x;
  const b = x[rs2];
  let a: bigint;
  switch (f5) {
    case 0:
      a = Atomics.add(r64, i, b);
      break;
    case 1:
      a = Atomics.exchange(r64, i, b);
      break;
    case 4:
      a = Atomics.xor(r64, i, b);
      break;
    case 8:
      a = Atomics.or(r64, i, b);
      break;
    case 12:
      a = Atomics.and(r64, i, b);
      break;
    default:
      for (;;) {
        a = r64[i];
        let r: bigint;
        if (f5 === 16) r = a < b ? a : b;
        else if (f5 === 20) r = a > b ? a : b;
        else if (f5 === 24) r = BigInt.asUintN(64, a) < BigInt.asUintN(64, b) ? a : b;
        else r = BigInt.asUintN(64, a) > BigInt.asUintN(64, b) ? a : b;
        if (Atomics.compareExchange(r64, i, a, r) === a) break;
      }
  }
  x[rd] = a;
  x[0] = 0n;
  return true;
}

/** amoWordRam for a hart alone on its RAM (Hart.sharedRam false): plain reads and writes. */
function amoWordRamPlain(h: Hart, f5: number, rd: number, rs2: number, i: number): boolean {
  const r32 = h.ram32, xw = h.xw;
  const a = r32[i], b = xw[2 * rs2];
  let r: number;
  switch (f5) {
    case 0:
      r = (a + b) | 0;
      break;
    case 1:
      r = b;
      break;
    case 4:
      r = a ^ b;
      break;
    case 8:
      r = a | b;
      break;
    case 12:
      r = a & b;
      break;
    case 16:
      r = a < b ? a : b;
      break;
    case 20:
      r = a > b ? a : b;
      break;
    case 24:
      r = (a >>> 0) < (b >>> 0) ? a : b;
      break;
    default:
      r = (a >>> 0) > (b >>> 0) ? a : b;
      break;
  }
  r32[i] = r;
  xw[2 * rd] = a;
  xw[2 * rd + 1] = a >> 31;
  h.x[0] = 0n;
  return true;
}

/** amoDoubleRam for a hart alone on its RAM: plain reads and writes. */
function amoDoubleRamPlain(h: Hart, f5: number, rd: number, rs2: number, i: number): boolean {
  const r64 = h.ram64, x = h.x;
  const a = r64[i], b = x[rs2];
  let r: bigint;
  switch (f5) {
    case 0:
      r = BigInt.asIntN(64, a + b);
      break;
    case 1:
      r = b;
      break;
    case 4:
      r = a ^ b;
      break;
    case 8:
      r = a | b;
      break;
    case 12:
      r = a & b;
      break;
    case 16:
      r = a < b ? a : b;
      break;
    case 20:
      r = a > b ? a : b;
      break;
    case 24:
      r = BigInt.asUintN(64, a) < BigInt.asUintN(64, b) ? a : b;
      break;
    default:
      r = BigInt.asUintN(64, a) > BigInt.asUintN(64, b) ? a : b;
      break;
  }
  r64[i] = r;
  x[rd] = a;
  x[0] = 0n;
  return true;
}

// --- F and D: loads, stores, and the hand-off to the FPU ---

function fpLoadStore(h: Hart, insn: number, raw: number, pc: number): boolean {
  const f3 = (insn >>> 12) & 7;
  if ((f3 !== 2 && f3 !== 3) || (h.mstatus & MSTATUS.FS) === 0) {
    illegal(h, raw, pc);
    return false;
  }
  const xw = h.xw;
  const rs1 = (insn >>> 15) & 31;
  const isStore = (insn & 0x7f) === 0x27;
  const imm = isStore ? ((insn >> 20) & ~31) | ((insn >>> 7) & 31) : insn >> 20;
  const va = xw[2 * rs1 + 1] * TWO32 + (xw[2 * rs1] >>> 0) + imm;
  if (!(va > -EXACT_VA && va < EXACT_VA)) return fpLoadStoreWide(h, insn, pc, rs1, imm);
  const fw = h.fw, fbits = h.fpu.bits;
  // Fast path: an aligned access to a RAM page already in the TLB.
  const vpn = Math.floor(va / 4096);
  const ti = h.dBase + (vpn & TLB_MASK);
  const size = f3 === 2 ? 4 : 8;
  if (isStore) {
    const rs2 = (insn >>> 20) & 31;
    if (h.wTag[ti] !== vpn) translateFill(h, va, ACC_STORE);
    if (h.wTag[ti] === vpn) {
      const p = va + h.wAdd[ti];
      if ((p & (size - 1)) === 0) {
        if (size === 4) h.ram32[p >>> 2] = fw[2 * rs2];
        else h.ram64[p >>> 3] = fbits[rs2];
        return true;
      }
    }
    return storeValue(
      h,
      va,
      f3 === 2 ? 4 : 8,
      f3 === 2 ? BigInt(fw[2 * rs2] >>> 0) : fbits[rs2],
      pc,
    );
  }
  const rd = (insn >>> 7) & 31;
  if (h.rTag[ti] !== vpn) translateFill(h, va, ACC_LOAD);
  if (h.rTag[ti] === vpn) {
    const p = va + h.rAdd[ti];
    if ((p & (size - 1)) === 0) {
      if (size === 4) {
        fw[2 * rd] = h.ram32[p >>> 2];
        fw[2 * rd + 1] = -1; // NaN-box the single
      } else fbits[rd] = h.ram64[p >>> 3];
      markFsDirty(h);
      return true;
    }
  }
  const v = loadValue(h, va, size, pc);
  if (v === null) return false;
  if (f3 === 2) {
    fw[2 * rd] = Number(v);
    fw[2 * rd + 1] = -1; // NaN-box the single
  } else fbits[rd] = BigInt.asIntN(64, v);
  markFsDirty(h);
  return true;
}

/** An FP load or store whose double address was not exact (cpu/mmu.ts, "Wide addresses"). */
function fpLoadStoreWide(h: Hart, insn: number, pc: number, rs1: number, imm: number): boolean {
  const va = wideVa(h, rs1, imm);
  const single = ((insn >>> 12) & 7) === 2, size = single ? 4 : 8;
  let ok: boolean;
  if ((insn & 0x7f) === 0x27) {
    const rs2 = (insn >>> 20) & 31;
    ok = storeValue(h, va, size, single ? BigInt(h.fw[2 * rs2] >>> 0) : h.fpu.bits[rs2], pc);
  } else {
    const v = loadValue(h, va, size, pc), rd = (insn >>> 7) & 31;
    ok = v !== null;
    if (v !== null) {
      if (single) {
        h.fw[2 * rd] = Number(v);
        h.fw[2 * rd + 1] = -1; // NaN-box the single
      } else h.fpu.bits[rd] = BigInt.asIntN(64, v);
      markFsDirty(h);
    }
  }
  h.wideVpn = NaN;
  return ok;
}

function fpExecute(h: Hart, insn: number, raw: number, pc: number): boolean {
  if ((h.mstatus & MSTATUS.FS) === 0) {
    illegal(h, raw, pc);
    return false;
  }
  const fpu = h.fpu;
  const flags = fpu.fflags;
  const r = fpu.execute(insn, h.x);
  if (r < 0) {
    illegal(h, raw, pc);
    return false;
  }
  if (r === 0 || fpu.fflags !== flags) markFsDirty(h);
  h.x[0] = 0n;
  return true;
}

// --- SYSTEM: ecall, ebreak, xret, wfi, sfence.vma, CSRs ---

function execSystem(h: Hart, insn: number, raw: number, pc: number, ilen: number): number {
  const f3 = (insn >>> 12) & 7;
  if (f3 !== 0) {
    if (f3 === 4) {
      illegal(h, raw, pc);
      return RUN_BUDGET;
    }
    if (execCsr(h, insn, raw, pc)) h.pcN = pc + ilen;
    return RUN_BUDGET;
  }
  const rd = (insn >>> 7) & 31;
  const rs1 = (insn >>> 15) & 31;
  const f12 = insn >>> 20;
  if ((f12 >>> 5) === 0x09 && rd === 0) { // sfence.vma
    if (h.priv === 0 || (h.priv === 1 && (h.mstatus & MSTATUS.TVM))) illegal(h, raw, pc);
    else {
      const rs2 = (insn >>> 20) & 31;
      // rs2 = x0: every address space; otherwise only the ASID in rs2.
      const asid = rs2 === 0 ? -1 : h.xw[2 * rs2] & 0xffff;
      if (rs1 === 0) {
        if (asid < 0) h.flushTlb();
        else h.flushTlbAsid(asid);
      } else {
        // The page number from the register's halves: exact for Sv57's wide pages too.
        h.flushTlbVpn(h.xw[2 * rs1 + 1] * 1048576 + Math.floor((h.xw[2 * rs1] >>> 0) / 4096), asid);
      }
      h.pcN = pc + ilen;
    }
    return RUN_BUDGET;
  }
  if (rd !== 0 || rs1 !== 0) {
    illegal(h, raw, pc);
    return RUN_BUDGET;
  }
  switch (f12) {
    case 0x000: { // ecall
      const from = h.priv;
      if (h.onEcall !== null) {
        h.pcN = pc;
        if (h.onEcall(h, from)) {
          if (h.pcN === pc) h.pcN = pc + ilen;
          h.x[0] = 0n;
          return h.stopRequested ? RUN_STOP : RUN_BUDGET;
        }
      }
      takeTrap(
        h,
        from === 0 ? CAUSE.ECALL_U : from === 1 ? CAUSE.ECALL_S : CAUSE.ECALL_M,
        0n,
        pc,
        false,
      );
      return h.stopRequested ? RUN_STOP : RUN_BUDGET;
    }
    case 0x001: // ebreak
      raiseAt(h, CAUSE.BREAKPOINT, pc, pc);
      return RUN_BUDGET;
    case 0x302: // mret
      if (h.priv !== 3) illegal(h, raw, pc);
      else mret(h);
      return RUN_BUDGET;
    case 0x102: // sret
      if (h.priv === 0 || (h.priv === 1 && (h.mstatus & MSTATUS.TSR))) illegal(h, raw, pc);
      else sret(h);
      return RUN_BUDGET;
    case 0x105: // wfi
      if (h.priv === 0 || (h.priv === 1 && (h.mstatus & MSTATUS.TW))) {
        illegal(h, raw, pc);
        return RUN_BUDGET;
      }
      h.pcN = pc + ilen;
      // Wakes on any locally enabled pending interrupt, whatever the global enables.
      return ((h.mipSw | h.externalMip) & h.mie) !== 0 ? RUN_BUDGET : RUN_WFI;
    default:
      illegal(h, raw, pc);
      return RUN_BUDGET;
  }
}
