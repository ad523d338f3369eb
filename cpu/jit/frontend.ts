// The translator's front end: finds the code of one physical page. From the
// entry offsets it follows fall-throughs and direct branches that stay in the
// page, collecting *leaders* (entries, branch targets, fall-throughs after
// branches, return sites after calls, the instruction after one left to the
// interpreter), then cuts the page into *runs*: straight-line code from a
// leader to a branch, an untranslated instruction, the next leader or the page
// end. The emitter (cpu/jit/emit.ts) turns each run into one wasm block.
// Read next: cpu/jit/emit.ts.

import { compressedTable } from "../compressed.ts";
import { fcsrTranslatable, fpTranslatable } from "./emit_fp.ts";
import { amoTranslatable } from "./emit_amo.ts";

/** How an instruction ends (or does not end) a run. */
export const K_PLAIN = 0; // ALU, load, store, fence: translated, run goes on
export const K_BRANCH = 1; // conditional branch
export const K_JAL = 2;
export const K_JALR = 3;
export const K_EXIT = 4; // not translated: the interpreter executes it

export interface Insn {
  /** Byte offset in the page. */
  off: number;
  /** The 32-bit instruction (a compressed one expanded). */
  insn: number;
  len: number;
  kind: number;
  /**
   * For a K_EXIT instruction ending a run: how many instructions the
   * interpreter runs from here in one go (see interpStretch).
   */
  stretch?: number;
  /**
   * A 4-byte instruction at offset 4094 whose upper half is the first
   * halfword of the next page: that halfword as seen at translation time.
   * The emitter checks at run time that the next virtual page is still
   * mapped for fetch and still holds it, or leaves to the interpreter.
   */
  straddleHi?: number;
}

/** Straight-line plain instructions after which a stretch stops (translated code is faster). */
const STRETCH_GAP = 6;
const STRETCH_MAX = 64;

/**
 * How many instructions to hand the interpreter at an untranslated one:
 * through the straight-line code that follows, up to and including the last
 * untranslated instruction before a branch, the page end or STRETCH_GAP plain
 * ones in a row. One exit then covers a whole FP or CSR sequence.
 */
function interpStretch(r16: Uint16Array, base: number, off: number): number {
  let n = 0, last = 0, gap = 0;
  while (off < 4096 && n < STRETCH_MAX) {
    const ins = decodeAt(r16, base, off);
    if (ins.kind === K_EXIT) {
      n++;
      last = n;
      gap = 0;
    } else if (ins.kind === K_PLAIN && ++gap < STRETCH_GAP) n++;
    else break;
    off += ins.len;
  }
  return Math.max(1, last);
}

export interface Run {
  /** Offset of the leader. */
  off: number;
  /** Translated instructions, then possibly one K_EXIT instruction last. */
  insns: Insn[];
  /** Where control goes when the last instruction falls through (-1: it never does). */
  next: number;
}

/** csrr rd, cycle / time / instret: CSRRS/CSRRC(I) with a zero source (a write would be illegal). */
function counterTranslatable(i: number): boolean {
  const f3 = (i >>> 12) & 7, csr = i >>> 20;
  return csr >= 0xc00 && csr <= 0xc02 && (f3 === 2 || f3 === 3 || f3 === 6 || f3 === 7) &&
    ((i >>> 15) & 31) === 0;
}

/** csrrw/s/c(i) on sstatus (emit.ts emitSstatus; in S-mode only, checked at run time). */
function sstatusTranslatable(i: number): boolean {
  const f3 = (i >>> 12) & 7;
  return (i >>> 20) === 0x100 && f3 !== 0 && f3 !== 4;
}

/** Is this major opcode (with its funct fields) one the emitter translates? */
function translatable(i: number): boolean {
  const f3 = (i >>> 12) & 7, f7 = i >>> 25;
  switch (i & 0x7f) {
    case 0x37: // LUI
    case 0x17: // AUIPC
      return true;
    case 0x13: // OP-IMM
      if (f3 === 1) return (i >>> 26) === 0;
      if (f3 === 5) return (i >>> 26) === 0 || (i >>> 26) === 0x10;
      return true;
    case 0x1b: // OP-IMM-32
      if (f3 === 0) return true;
      if (f3 === 1) return f7 === 0;
      if (f3 === 5) return f7 === 0 || f7 === 0x20;
      return false;
    case 0x33: // OP
      return f7 === 0 || f7 === 1 || (f7 === 0x20 && (f3 === 0 || f3 === 5));
    case 0x3b: // OP-32
      if (f7 === 1) return f3 === 0 || f3 >= 4;
      if (f7 === 0) return f3 === 0 || f3 === 1 || f3 === 5;
      if (f7 === 0x20) return f3 === 0 || f3 === 5;
      return false;
    case 0x03: // LOAD
      return f3 !== 7;
    case 0x23: // STORE
      return f3 <= 3;
    case 0x0f: // FENCE (fence.i too: writes to code pages already drop their translations)
      return f3 === 0 || f3 === 1;
    case 0x73: // SYSTEM: only fflags/frm/fcsr and sstatus accesses, and cycle/instret reads
      return fcsrTranslatable(i) || counterTranslatable(i) || sstatusTranslatable(i);
    case 0x2f: // AMO
      return amoTranslatable(i);
    case 0x07: // LOAD-FP, STORE-FP, OP-FP, the fused ones
    case 0x27:
    case 0x53:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
      return fpTranslatable(i);
    default:
      return false;
  }
}

function kindOf(i: number): number {
  switch (i & 0x7f) {
    case 0x63:
      return ((i >>> 12) & 7) === 2 || ((i >>> 12) & 7) === 3 ? K_EXIT : K_BRANCH;
    case 0x6f:
      return K_JAL;
    case 0x67:
      return ((i >>> 12) & 7) === 0 ? K_JALR : K_EXIT;
    default:
      return translatable(i) ? K_PLAIN : K_EXIT;
  }
}

/**
 * Decode the instruction at `off` of the page whose first halfword is
 * r16[base]. `straddleHi` (-1: unknown) is the next page's first halfword,
 * for a 4-byte instruction that straddles the page end.
 */
export function decodeAt(r16: Uint16Array, base: number, off: number, straddleHi = -1): Insn {
  const lo = r16[base + (off >>> 1)];
  if ((lo & 3) !== 3) {
    const e = compressedTable()[lo];
    return { off, insn: e, len: 2, kind: e === 0 ? K_EXIT : kindOf(e) };
  }
  if (off >= 4094) { // straddles the page end
    if (straddleHi < 0) return { off, insn: 0, len: 4, kind: K_EXIT };
    const insn = (lo | (straddleHi << 16)) | 0;
    const kind = kindOf(insn);
    // Only a plain one: it ends the page, and what follows is another page's.
    if (kind !== K_PLAIN) return { off, insn: 0, len: 4, kind: K_EXIT };
    return { off, insn, len: 4, kind, straddleHi };
  }
  const insn = (lo | (r16[base + (off >>> 1) + 1] << 16)) | 0;
  return { off, insn, len: 4, kind: kindOf(insn) };
}

const immB = (i: number) =>
  ((i >> 19) & ~0xfff) | ((i << 4) & 0x800) | ((i >>> 20) & 0x7e0) | ((i >>> 7) & 0x1e);
const immJ = (i: number) =>
  ((i >> 11) & ~0xfffff) | (i & 0xff000) | ((i >>> 9) & 0x800) | ((i >>> 20) & 0x7fe);

/** The in-page target of a direct branch or jal, or -1 when it leaves the page. */
export function directTarget(ins: Insn): number {
  const t = ins.off + (ins.kind === K_BRANCH ? immB(ins.insn) : immJ(ins.insn));
  return t >= 0 && t < 4096 ? t : -1;
}

/**
 * Cut the page (its RAM offset `pageOff`, 4 KiB aligned) into runs reachable
 * from `entries` (byte offsets, even). Runs come sorted by offset.
 */
export function findRuns(
  r16: Uint16Array,
  pageOff: number,
  entries: Iterable<number>,
  straddleHi = -1,
): Run[] {
  const base = pageOff >>> 1;
  const leader = new Uint8Array(2048);
  const seen = new Uint8Array(2048);
  const work: number[] = [];
  const add = (off: number) => {
    if (off >= 0 && off < 4096 && !leader[off >>> 1]) {
      leader[off >>> 1] = 1;
      work.push(off);
    }
  };
  for (const e of entries) add(e);
  // A linear sweep guesses the other ways in, so that calls from other pages
  // and returns rarely miss: every direct target, every return site, and
  // whatever follows an unconditional jump or a return (usually the next
  // function). A wrong guess (data decoded as code) only costs code size.
  for (let off = 0; off < 4096;) {
    const ins = decodeAt(r16, base, off, straddleHi);
    const after = off + ins.len;
    if (ins.kind === K_BRANCH || ins.kind === K_JAL) add(directTarget(ins));
    if (ins.kind === K_JAL || ins.kind === K_JALR) add(after);
    off = after;
  }
  while (work.length > 0) {
    let off = work.pop()!;
    while (off < 4096 && !seen[off >>> 1]) {
      seen[off >>> 1] = 1;
      const ins = decodeAt(r16, base, off, straddleHi);
      const after = off + ins.len;
      if (ins.kind === K_PLAIN) {
        off = after;
        continue;
      }
      if (ins.kind === K_BRANCH) {
        add(directTarget(ins));
        add(after);
      } else if (ins.kind === K_JAL) {
        add(directTarget(ins));
        if (((ins.insn >>> 7) & 31) !== 0) add(after);
      } else if (ins.kind === K_JALR) {
        if (((ins.insn >>> 7) & 31) !== 0) add(after);
      } else add(after); // K_EXIT: the interpreter comes back here
      break;
    }
  }
  const runs: Run[] = [];
  for (let l = 0; l < 2048; l++) {
    if (!leader[l]) continue;
    let off = l * 2;
    const insns: Insn[] = [];
    let next = -1;
    for (;;) {
      if (off >= 4096) {
        next = off;
        break;
      }
      if (insns.length > 0 && leader[off >>> 1]) {
        next = off;
        break;
      }
      const ins = decodeAt(r16, base, off, straddleHi);
      insns.push(ins);
      if (ins.kind === K_PLAIN) {
        off += ins.len;
        continue;
      }
      if (ins.kind === K_BRANCH) next = off + ins.len;
      if (ins.kind === K_EXIT) ins.stretch = interpStretch(r16, base, off);
      break;
    }
    runs.push({ off: l * 2, insns, next });
  }
  return runs;
}
