// The PLIC (`riscv,plic0`): priorities, pending bits, per-context enables and
// thresholds, claim/complete, and the external-interrupt lines MEIP/SEIP into
// each hart's mip word (CTL.MIP for hart 0; contexts 2h and 2h+1 are hart h's
// M and S modes, docs/smp.md). Its state is one SharedArrayBuffer laid out here, shared by two
// workers: the cpu actor runs the MMIO registers (PlicRegisters), the
// interrupt-controller actor runs the gateway (PlicGateway) that turns device
// line levels (CTL.LINE0+src) into pending bits. Every mutation holds the spin
// lock CTL.PLIC_LOCK. Devices drive their lines with setIrqLine (an IrqLine),
// both in machine/control.ts: they never need this module.
// Read next: docs/machine.md (PLIC design), machine/control.ts.

import { PLIC_CONTEXTS, PLIC_NDEV } from "../machine/memmap.ts";
import { type EventDef, TBOARD, traceNow, type Tracer, tracer } from "../lib/trace.ts";
import {
  CTL,
  CTL64,
  hartCount,
  lowerHartMip,
  MIP,
  mipWord,
  openControlBlock,
  plicLock,
  plicUnlock,
  raiseHartMip,
} from "../machine/control.ts";

/** "PLIC" and the layout version, at words 0 and 1 of the state buffer. */
export const PLIC_MAGIC = 0x504c4943;
export const PLIC_LAYOUT_VERSION = 2;

/** 32-bit words per source bitmap (bit n = source n; bit 0, "no source", is never set). */
export const PLIC_WORDS = (PLIC_NDEV + 1 + 31) >>> 5;

/** Int32 word indexes into the PLIC state buffer. */
export const PLIC = {
  MAGIC: 0,
  VERSION: 1,
  /** Pending bitmap: PLIC_WORDS words. */
  PENDING: 2,
  /** In-service (claimed, not yet completed) bitmap: PLIC_WORDS words. */
  CLAIMED: 2 + PLIC_WORDS,
  /** Enable bitmaps, PLIC_WORDS words per context: ENABLE + ctx*PLIC_WORDS + w. */
  ENABLE: 2 + 2 * PLIC_WORDS,
  /** Threshold per context: THRESHOLD + ctx. */
  THRESHOLD: 2 + (2 + PLIC_CONTEXTS) * PLIC_WORDS,
  /** Priority per source: PRIORITY + src (src 0 unused). */
  PRIORITY: 2 + (2 + PLIC_CONTEXTS) * PLIC_WORDS + PLIC_CONTEXTS,
} as const;
export const PLIC_STATE_WORDS = PLIC.PRIORITY + PLIC_NDEV + 1;
export const PLIC_STATE_BYTES = PLIC_STATE_WORDS * 4;

/** Priority and threshold are 3 bits wide (0..7), as on QEMU virt. */
export const PLIC_PRIO_MASK = 7;

/** The MMIO register map (offsets from PLIC_BASE), per the RISC-V PLIC spec. */
export const PLIC_REG = {
  PRIORITY: 0x0, // + 4*src
  PENDING: 0x1000, // + 4*word
  ENABLE: 0x2000, // + 0x80*ctx + 4*word
  ENABLE_STRIDE: 0x80,
  CONTEXT: 0x20_0000, // + 0x1000*ctx: threshold at +0, claim/complete at +4
  CONTEXT_STRIDE: 0x1000,
} as const;

/**
 * The mip bit each context drives, in the hart `ctx >> 1`: even contexts are
 * a hart's M-mode (MEIP), odd ones its S-mode (SEIP), as on QEMU virt.
 */
const CONTEXT_EIP = [MIP.MEIP, MIP.SEIP];

/** Allocate a fresh PLIC state buffer: everything zero (all masked), magic set. */
export function createPlicState(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(PLIC_STATE_BYTES);
  const s = new Int32Array(sab);
  s[PLIC.MAGIC] = PLIC_MAGIC;
  s[PLIC.VERSION] = PLIC_LAYOUT_VERSION;
  return sab;
}

function openPlicState(sab: SharedArrayBuffer): Int32Array {
  const s = new Int32Array(sab);
  if (s.length < PLIC_STATE_WORDS || s[PLIC.MAGIC] !== PLIC_MAGIC) {
    throw new Error("plic: state buffer has no PLIC magic (use createPlicState)");
  }
  if (s[PLIC.VERSION] !== PLIC_LAYOUT_VERSION) {
    throw new Error(`plic: state layout v${s[PLIC.VERSION]}, want v${PLIC_LAYOUT_VERSION}`);
  }
  return s;
}

/** Shared core: the lock, the gateway rule and the MIP output. */
class PlicCore {
  protected readonly s: Int32Array;
  protected readonly ctl: Int32Array;

  constructor(state: SharedArrayBuffer, control: SharedArrayBuffer) {
    this.s = openPlicState(state);
    this.ctl = openControlBlock(control);
  }

  /** The spin lock CTL.PLIC_LOCK (machine/control.ts plicLock: spin briefly, then sleep). */
  protected lock(): void {
    plicLock(this.ctl);
  }

  protected unlock(): void {
    plicUnlock(this.ctl);
  }

  protected bit(base: number, src: number): boolean {
    return (this.s[base + (src >>> 5)] & (1 << (src & 31))) !== 0;
  }

  protected setBit(base: number, src: number, on: boolean): void {
    const w = base + (src >>> 5), m = 1 << (src & 31);
    this.s[w] = on ? this.s[w] | m : this.s[w] & ~m;
  }

  protected lineHigh(src: number): boolean {
    return Atomics.load(this.ctl, CTL.LINE0 + src) !== 0;
  }

  /** Gateway rule for one source: a high line pends unless already pending or in service. */
  protected gate(src: number): boolean {
    if (!this.lineHigh(src) || this.bit(PLIC.PENDING, src) || this.bit(PLIC.CLAIMED, src)) {
      return false;
    }
    this.setBit(PLIC.PENDING, src, true);
    return true;
  }

  /** The best pending-and-enabled source above ctx's threshold (ties: lowest id), or 0. */
  protected best(ctx: number): number {
    const s = this.s;
    let best = 0, bestPrio = s[PLIC.THRESHOLD + ctx];
    for (let w = 0; w < PLIC_WORDS; w++) {
      let bits = s[PLIC.PENDING + w] & s[PLIC.ENABLE + ctx * PLIC_WORDS + w];
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const src = w * 32 + b;
        const prio = s[PLIC.PRIORITY + src];
        if (prio > bestPrio) {
          best = src;
          bestPrio = prio;
        }
      }
    }
    return best;
  }

  /**
   * Drive each hart's MEIP/SEIP from the state (call with the lock held);
   * wake a hart when one of its lines rises.
   */
  protected updateMip(): void {
    const harts = hartCount(this.ctl);
    for (let h = 0; h < harts; h++) {
      let set = 0, clear = 0;
      for (let m = 0; m < 2; m++) {
        if (this.best(2 * h + m) !== 0) set |= CONTEXT_EIP[m];
        else clear |= CONTEXT_EIP[m];
      }
      // Only a newly raised line needs a wake-up. Lines drop only through a
      // hart's claim or register writes, and it re-reads its MIP word after those.
      const before = Atomics.load(this.ctl, mipWord(h));
      if (before & clear) lowerHartMip(this.ctl, h, clear);
      if ((before & set) !== set) raiseHartMip(this.ctl, h, set);
    }
  }
}

/** The PLIC's MMIO registers, for the cpu actor. Offsets are from PLIC_BASE. */
export class PlicRegisters extends PlicCore {
  /**
   * Read `size` bytes at `offset`. Only aligned 32-bit accesses exist (as on
   * QEMU): others return -1, the Bus's access fault. Unmapped offsets read 0.
   * Reading a claim register claims.
   */
  read(offset: number, size: number): number {
    if (size !== 4 || (offset & 3) !== 0) return -1;
    this.lock();
    try {
      return this.readLocked(offset) >>> 0;
    } finally {
      this.unlock();
    }
  }

  /** Write; false only for a non-32-bit or misaligned access. Unmapped offsets are ignored. */
  write(offset: number, size: number, value: number): boolean {
    if (size !== 4 || (offset & 3) !== 0) return false;
    this.lock();
    try {
      this.writeLocked(offset, value | 0);
    } finally {
      this.unlock();
    }
    return true;
  }

  /** Claim for a context (what a read of its claim register does): the source, or 0. */
  claim(ctx: number): number {
    return this.read(PLIC_REG.CONTEXT + ctx * PLIC_REG.CONTEXT_STRIDE + 4, 4);
  }

  /** Complete for a context (what a write to its claim register does). */
  complete(ctx: number, src: number): void {
    this.write(PLIC_REG.CONTEXT + ctx * PLIC_REG.CONTEXT_STRIDE + 4, 4, src);
  }

  private readLocked(off: number): number {
    const s = this.s;
    if (off < PLIC_REG.PENDING) {
      const src = off >>> 2;
      return src >= 1 && src <= PLIC_NDEV ? s[PLIC.PRIORITY + src] : 0;
    }
    if (off < PLIC_REG.ENABLE) {
      const w = (off - PLIC_REG.PENDING) >>> 2;
      return w < PLIC_WORDS ? s[PLIC.PENDING + w] : 0;
    }
    if (off < PLIC_REG.CONTEXT) {
      const ctx = Math.floor((off - PLIC_REG.ENABLE) / PLIC_REG.ENABLE_STRIDE);
      const w = ((off - PLIC_REG.ENABLE) % PLIC_REG.ENABLE_STRIDE) >>> 2;
      return ctx < PLIC_CONTEXTS && w < PLIC_WORDS ? s[PLIC.ENABLE + ctx * PLIC_WORDS + w] : 0;
    }
    const ctx = Math.floor((off - PLIC_REG.CONTEXT) / PLIC_REG.CONTEXT_STRIDE);
    const reg = (off - PLIC_REG.CONTEXT) % PLIC_REG.CONTEXT_STRIDE;
    if (ctx >= PLIC_CONTEXTS) return 0;
    if (reg === 0) return s[PLIC.THRESHOLD + ctx];
    if (reg !== 4) return 0;
    const src = this.best(ctx);
    if (src !== 0) {
      this.setBit(PLIC.PENDING, src, false);
      this.setBit(PLIC.CLAIMED, src, true);
      this.updateMip();
    }
    return src;
  }

  private writeLocked(off: number, value: number): void {
    const s = this.s;
    if (off < PLIC_REG.PENDING) {
      const src = off >>> 2;
      if (src >= 1 && src <= PLIC_NDEV) s[PLIC.PRIORITY + src] = value & PLIC_PRIO_MASK;
    } else if (off < PLIC_REG.ENABLE) {
      return; // pending bits are read-only
    } else if (off < PLIC_REG.CONTEXT) {
      const ctx = Math.floor((off - PLIC_REG.ENABLE) / PLIC_REG.ENABLE_STRIDE);
      const w = ((off - PLIC_REG.ENABLE) % PLIC_REG.ENABLE_STRIDE) >>> 2;
      if (ctx >= PLIC_CONTEXTS || w >= PLIC_WORDS) return;
      s[PLIC.ENABLE + ctx * PLIC_WORDS + w] = value & validMask(w);
    } else {
      const ctx = Math.floor((off - PLIC_REG.CONTEXT) / PLIC_REG.CONTEXT_STRIDE);
      const reg = (off - PLIC_REG.CONTEXT) % PLIC_REG.CONTEXT_STRIDE;
      if (ctx >= PLIC_CONTEXTS) return;
      if (reg === 0) {
        s[PLIC.THRESHOLD + ctx] = value & PLIC_PRIO_MASK;
      } else if (reg === 4) {
        // Complete: ignored unless the source is in service and enabled for
        // this context (PLIC spec). A line still high re-pends at once: the
        // level-triggered gateway forwards a new request after completion.
        const src = value >>> 0;
        if (src < 1 || src > PLIC_NDEV || !this.bit(PLIC.CLAIMED, src)) return;
        if (!this.bit(PLIC.ENABLE + ctx * PLIC_WORDS, src)) return;
        this.setBit(PLIC.CLAIMED, src, false);
        this.gate(src);
      } else {
        return;
      }
    }
    this.updateMip();
  }
}

/** Bits of bitmap word w that name real sources (1..PLIC_NDEV). */
function validMask(w: number): number {
  let m = 0;
  for (let b = 0; b < 32; b++) {
    const src = w * 32 + b;
    if (src >= 1 && src <= PLIC_NDEV) m |= 1 << b;
  }
  return m;
}

/** --trace: a line made pending, the middle of its interrupt's arrow (raise → pending → claim). */
const PENDING: EventDef = { name: "pending", cat: "irq", ph: "i", args: ["source"] };

function tracePending(t: Tracer, src: number): void {
  const id = src < 64 ? Atomics.load(t.board, TBOARD.IRQ_SPAN + src) : 0;
  const now = traceNow();
  t.record(PENDING, now, now, id, id, 0, src);
}

/**
 * The gateway side, for the interrupt-controller actor: it watches the line
 * words (woken by the IRQ_DOORBELL) and turns rising levels into pending bits.
 */
export class PlicGateway extends PlicCore {
  #running = false;
  #done: Promise<void> | null = null;

  /**
   * Take every line word: a high line whose source is neither pending nor in
   * service becomes pending. Recomputes MEIP/SEIP (waking the cpu if they
   * change). Returns the sources that became pending, lowest first.
   */
  updateLines(): number[] {
    const raised: number[] = [];
    this.lock();
    try {
      for (let src = 1; src <= PLIC_NDEV; src++) if (this.gate(src)) raised.push(src);
      if (raised.length) this.updateMip();
    } finally {
      this.unlock();
    }
    if (tracer !== null) { for (const src of raised) tracePending(tracer, src); }
    return raised;
  }

  /**
   * Serve the doorbell until stop(): updateLines() after every ring, never
   * spinning (Atomics.waitAsync, so a worker still takes messages).
   * `onRaise` sees each non-empty batch of newly pending sources.
   */
  start(onRaise?: (sources: number[]) => void): Promise<void> {
    if (this.#done) return this.#done;
    this.#running = true;
    this.#done = (async () => {
      while (this.#running) {
        const seen = Atomics.load(this.ctl, CTL.IRQ_DOORBELL);
        const raised = this.updateLines();
        if (raised.length && onRaise) onRaise(raised);
        const w = Atomics.waitAsync(this.ctl, CTL.IRQ_DOORBELL, seen);
        if (w.async) await w.value;
      }
    })();
    return this.#done;
  }

  /**
   * Deterministic mode (docs/replay.md): like start(), but after each pass
   * the doorbell value served is published (CTL.IRQ_SERVED) for the cpu,
   * which waits for it, and the next timed action's guest time (CTL64.IRQ_DUE).
   */
  startDeterministic(onRaise?: (sources: number[]) => void): Promise<void> {
    if (this.#done) return this.#done;
    this.#running = true;
    const due = new Float64Array(this.ctl.buffer, CTL64.IRQ_DUE, 1);
    this.#done = (async () => {
      while (this.#running) {
        const seen = Atomics.load(this.ctl, CTL.IRQ_DOORBELL);
        this.runDue();
        const raised = this.updateLines();
        if (raised.length && onRaise) onRaise(raised);
        due[0] = this.nextDueTicks();
        Atomics.store(this.ctl, CTL.IRQ_SERVED, seen);
        Atomics.notify(this.ctl, CTL.IRQ_SERVED);
        const w = Atomics.waitAsync(this.ctl, CTL.IRQ_DOORBELL, seen);
        if (w.async) await w.value;
      }
    })();
    return this.#done;
  }

  /** Deterministic mode: run the timed actions due by now (guest time). None here. */
  protected runDue(): void {}

  /** Deterministic mode: the guest time (ticks) of the next timed action, Infinity if none. */
  protected nextDueTicks(): number {
    return Infinity;
  }

  /** Stop the loop started by start(); resolves when it has returned. */
  async stop(): Promise<void> {
    this.#running = false;
    // Wake the loop's waitAsync (the word is unchanged; it just looks again).
    // A pending waitAsync does not keep the event loop alive, so hold it
    // open with a timer until the loop has returned.
    Atomics.notify(this.ctl, CTL.IRQ_DOORBELL);
    const d = this.#done;
    this.#done = null;
    if (!d) return;
    const keepAlive = setInterval(() => {}, 1000);
    try {
      await d;
    } finally {
      clearInterval(keepAlive);
    }
  }
}
