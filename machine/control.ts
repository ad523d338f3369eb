// The machine control block: one small SharedArrayBuffer that every actor is
// handed at start, beside guest RAM. It carries the words the cpu actor checks
// between instruction batches (interrupt lines, stop requests), the timer
// deadline the waker serves, the clock epoch every actor reads time from, and
// the guest's fate. This module is the block's one home: every word's index,
// and every function that writes one (wakeCpu, setIrqLine, armTimer, ...), so
// a reader finds all the writers here; the cpu's hot loop and the devices only
// read words directly. Layout, owners and wake rules: docs/ipc.md; the offsets
// are pinned by tests/unit/machine/control_test.ts.
// Read next: devices/plic.ts (what turns LINE words into MIP bits), lib/ring.ts.

import { MAX_HARTS, PLIC_NDEV, TICKS_PER_MS } from "./memmap.ts";

/** Magic word at index 0 ("AVMC") and the layout version at index 1. */
export const CONTROL_MAGIC = 0x41564d43;
export const CONTROL_VERSION = 3;

/** Int32 word indexes into the control block. */
export const CTL = {
  MAGIC: 0,
  VERSION: 1,
  /**
   * The one wake-up primitive for the cpu: anyone who changes a word the cpu
   * must react to does `Atomics.add(ctl, WAKE, 1); Atomics.notify(ctl, WAKE)`.
   * The cpu sleeps in `wfi` with `Atomics.wait(ctl, WAKE, seen)`.
   */
  WAKE: 2,
  /**
   * Interrupt-pending bits driven from outside the hart, in `mip` bit
   * positions: SEIP (9) / MEIP (11) by the interrupt controller, STIP (5) by
   * the waker, MTIP (7) / MSIP (3) by the CLINT model. Set and cleared with
   * Atomics.or / Atomics.and, then WAKE is bumped.
   */
  MIP: 3,
  /** Non-zero: the launcher asks the cpu to stop at the next batch boundary. */
  STOP: 4,
  /**
   * The guest's fate, written once by the cpu actor when the machine stops
   * (setFate): see FATE below. The why (an SBI reset reason, a trap cause)
   * travels as text in the cpu's fate message.
   */
  FATE: 5,
  /**
   * 1 once a writer of guest output found stdout failed (actors/output.ts):
   * every writer then discards, and only the first says so. The launcher
   * carries it into the next boot's control block: said once per process.
   */
  STDOUT_GONE: 6,
  /**
   * Timer sequence: bumped (and notified) by the cpu each time the guest sets
   * a new deadline, so the waker re-reads TIMER_DEADLINE.
   */
  TIMER_SEQ: 7,
  /** Interrupt-line doorbell: devices bump it after changing a LINE word. */
  IRQ_DOORBELL: 8,
  /** Lock word for the PLIC state (devices/plic.ts): 0 free, 1 held; plicLock / plicUnlock. */
  PLIC_LOCK: 9,
  /** Instructions retired, low and high 32 bits, published by the cpu after every batch. */
  INSTRET_LO: 10,
  INSTRET_HI: 11,
  /**
   * The cpu's heartbeat: bumped after every instruction batch and every wake
   * from wfi. The launcher's watchdog reads it to tell a hung cpu actor from
   * a busy or sleeping one.
   */
  CPU_BEAT: 12,
  /** 1 while the cpu sleeps in wfi (no beat is due), else 0. */
  CPU_IDLE: 13,
  /**
   * Who reads the terminal's input ring (its one consumer at a time): an
   * INPUT value. Changed only through claimInput / releaseInput, notified.
   */
  INPUT_OWNER: 14,
  /** 1 while the cpu's polled consoles want the input the virtio console holds (wantInput). */
  INPUT_WANTED: 15,
  /** First of PLIC_NDEV+1 interrupt-line level words (index = source number). */
  LINE0: 16,
  /**
   * 1 in deterministic mode (--deterministic, --record, --replay; set by the
   * launcher before any actor starts): guest time is CTL64.VIRTUAL_TICKS, and
   * the devices and the interrupt controller act only when the cpu asks
   * (docs/replay.md).
   */
  DETERMINISTIC: 48,
  /**
   * Deterministic mode: the IRQ_DOORBELL value the interrupt controller has
   * fully served (its gateway run, MIP updated); written by the irq actor,
   * waited on by the cpu.
   */
  IRQ_SERVED: 49,
  /** How many harts the machine has (--smp=N; 0 in a block made before it was set means 1). */
  HARTS: 127,
  /** First word of the per-hart blocks: HART_WORDS words for each of MAX_HARTS harts (HART). */
  HART0: 128,
} as const;

/**
 * The words of one hart's block (docs/smp.md), at CTL.HART0 + h * HART_WORDS
 * + HART.x (`hartWord`). Hart 0's WAKE, MIP, BEAT and IDLE are the machine's
 * historical words (CTL.WAKE, CTL.MIP, CTL.CPU_BEAT, CTL.CPU_IDLE): use
 * wakeWord/mipWord/... which pick the right one; its block slots for them
 * stay unused.
 */
export const HART = {
  /** Hart h's wake word (h > 0): what it Atomics.waits on in wfi and while stopped. */
  WAKE: 0,
  /** Hart h's externally driven mip bits (h > 0): SEIP/MEIP from its PLIC contexts, MSIP/MTIP. */
  MIP: 1,
  /** Hart h's heartbeat (h > 0). */
  BEAT: 2,
  /** 1 while hart h sleeps (h > 0). */
  IDLE: 3,
  /** SBI HSM state of hart h: an HSM value. */
  HSM: 4,
  /** Supervisor software interrupts sent to hart h (SBI IPI): mip bits, taken with exchange. */
  IPI: 5,
  /** Remote fences asked of hart h: FENCE bits, taken with exchange. */
  FENCE: 6,
  /** Fence requests made of hart h (bumped after FENCE is set) and served by it (its last REQ). */
  FENCE_REQ: 7,
  FENCE_DONE: 8,
  /** hart_start's start_addr and opaque, 64 bits each as (lo, hi), written before HSM goes START_PENDING. */
  START_LO: 9,
  START_HI: 10,
  OPAQUE_LO: 11,
  OPAQUE_HI: 12,
} as const;
export const HART_WORDS = 16;

/** SBI HSM hart states (SBI spec 9.1), as kept in HART.HSM. */
export const HSM = {
  STARTED: 0,
  STOPPED: 1,
  START_PENDING: 2,
  STOP_PENDING: 3,
  SUSPENDED: 4,
} as const;

/** Bits of HART.FENCE: what a remote fence asks the hart to drop. */
export const FENCE = {
  /** fence.i: translated code (the translator's cache). */
  I: 1,
  /** sfence.vma (any range or ASID: the hart drops its whole TLB, which the spec allows). */
  VMA: 2,
} as const;

/** Byte offsets of 64-bit slots (BigInt64 / Float64) in the control block. */
export const CTL64 = {
  /** Absolute timer deadline in timebase ticks (BigInt64); -1 = none. */
  TIMER_DEADLINE: 8 * 32,
  /** Clock epoch (Float64, ms since the Unix epoch): ticks = (now - epoch) * TICKS_PER_MS. */
  CLOCK_EPOCH_MS: 8 * 33,
  /** Clock skew in ticks added by a fault plan (BigInt64), normally 0. */
  CLOCK_SKEW: 8 * 34,
  /**
   * Deterministic mode: guest time in ticks (Float64), made of instructions
   * and published by the cpu before every batch and every device sync; what
   * guestTimeTicks() returns in every worker then.
   */
  VIRTUAL_TICKS: 8 * 35,
  /**
   * Deterministic mode: the guest time (ticks, Float64; Infinity = none) of
   * the interrupt controller's next timed action (a fault plan's delayed or
   * duplicated interrupt). The cpu rings IRQ_DOORBELL when it gets there.
   */
  IRQ_DUE: 8 * 36,
} as const;

export const CONTROL_BYTES = 4 * (CTL.HART0 + MAX_HARTS * HART_WORDS);

/** Values of CTL.FATE. */
export const FATE = {
  RUNNING: 0,
  POWEROFF: 1,
  REBOOT: 2,
  /** The guest died: a fatal trap, a hart stuck with interrupts off, a bad instruction loop. */
  CRASHED: 3,
  /** The emulator itself failed (an actor crashed past its policy, an internal error). */
  INTERNAL_ERROR: 4,
  /** Stopped on request (three ^C, a signal). */
  STOPPED: 5,
} as const;

/**
 * Values of CTL.INPUT_OWNER: the input ring's reader. The rule (docs/machine.md,
 * "Who gets typed input"): the polled consoles (SBI, UART) win while the guest
 * polls them; otherwise the virtio console once the guest uses it.
 */
export const INPUT = {
  /** Nobody: typed bytes wait in the ring; either side may claim it. */
  NOBODY: 0,
  /** The console actor (virtio-console receive buffers). */
  CONSOLE: 1,
  /** The cpu actor (SBI console_getchar / DBCN read, the UART's receive side). */
  CPU: 2,
} as const;

/** mip bit positions used in CTL.MIP. */
export const MIP = {
  SSIP: 1 << 1,
  MSIP: 1 << 3,
  STIP: 1 << 5,
  MTIP: 1 << 7,
  SEIP: 1 << 9,
  MEIP: 1 << 11,
} as const;

/** Allocate and initialise a control block. */
export function createControlBlock(harts = 1): SharedArrayBuffer {
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) {
    throw new Error(`control block: ${harts} harts (1..${MAX_HARTS})`);
  }
  const sab = new SharedArrayBuffer(CONTROL_BYTES);
  const ctl = new Int32Array(sab);
  ctl[CTL.MAGIC] = CONTROL_MAGIC;
  ctl[CTL.VERSION] = CONTROL_VERSION;
  new BigInt64Array(sab)[CTL64.TIMER_DEADLINE / 8] = -1n;
  new Float64Array(sab)[CTL64.CLOCK_EPOCH_MS / 8] = performance.timeOrigin + performance.now();
  new Float64Array(sab)[CTL64.IRQ_DUE / 8] = Infinity;
  ctl[CTL.HARTS] = harts;
  // Hart 0 runs from the reset; the others wait for SBI HSM hart_start.
  for (let h = 1; h < MAX_HARTS; h++) ctl[hartWord(h, HART.HSM)] = HSM.STOPPED;
  return sab;
}

/** Index of word `w` (a HART value) of hart `h`'s block. */
export function hartWord(h: number, w: number): number {
  return CTL.HART0 + h * HART_WORDS + w;
}

/** The harts the machine has (CTL.HARTS; 1 if unset). */
export function hartCount(ctl: Int32Array): number {
  return Atomics.load(ctl, CTL.HARTS) || 1;
}

/** Hart h's wake word: CTL.WAKE for hart 0. */
export function wakeWord(h: number): number {
  return h === 0 ? CTL.WAKE : hartWord(h, HART.WAKE);
}

/** Hart h's externally driven mip word: CTL.MIP for hart 0. */
export function mipWord(h: number): number {
  return h === 0 ? CTL.MIP : hartWord(h, HART.MIP);
}

/** Hart h's heartbeat word: CTL.CPU_BEAT for hart 0. */
export function beatWord(h: number): number {
  return h === 0 ? CTL.CPU_BEAT : hartWord(h, HART.BEAT);
}

/** Hart h's idle word: CTL.CPU_IDLE for hart 0. */
export function idleWord(h: number): number {
  return h === 0 ? CTL.CPU_IDLE : hartWord(h, HART.IDLE);
}

/** Check a control block handed to an actor; throws a clear error on mismatch. */
export function openControlBlock(sab: SharedArrayBuffer): Int32Array {
  const ctl = new Int32Array(sab);
  if (ctl[CTL.MAGIC] !== CONTROL_MAGIC || ctl[CTL.VERSION] !== CONTROL_VERSION) {
    throw new Error(
      `control block mismatch: magic ${ctl[CTL.MAGIC].toString(16)} version ${
        ctl[CTL.VERSION]
      } (want ${CONTROL_MAGIC.toString(16)} v${CONTROL_VERSION})`,
    );
  }
  return ctl;
}

/**
 * Current guest time in timebase ticks, from the shared epoch (same in every
 * worker) — or, in deterministic mode, the cpu's published virtual time.
 */
export function guestTimeTicks(ctlSab: SharedArrayBuffer): number {
  const f64 = new Float64Array(ctlSab);
  if (new Int32Array(ctlSab)[CTL.DETERMINISTIC] !== 0) return f64[CTL64.VIRTUAL_TICKS / 8];
  const epoch = f64[CTL64.CLOCK_EPOCH_MS / 8];
  return Math.floor((performance.timeOrigin + performance.now() - epoch) * TICKS_PER_MS);
}

/** Deterministic mode: the cpu publishes guest time (ticks) for every other worker. */
export function publishVirtualTicks(ctl: Int32Array, ticks: number): void {
  new Float64Array(ctl.buffer)[CTL64.VIRTUAL_TICKS / 8] = ticks;
}

/**
 * Deterministic mode, the cpu: wait (bounded) until the interrupt controller
 * has served every line change so far (IRQ_SERVED caught up with
 * IRQ_DOORBELL). False if `timeoutMs` passed first.
 */
export function waitIrqServed(ctl: Int32Array, timeoutMs: number): boolean {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const served = Atomics.load(ctl, CTL.IRQ_SERVED);
    if (served === Atomics.load(ctl, CTL.IRQ_DOORBELL)) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(ctl, CTL.IRQ_SERVED, served, Math.min(left, 100));
  }
}

/** Deterministic mode, the cpu: the interrupt controller's timed action is due; ring for it. */
export function ringIrqDoorbell(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.IRQ_DOORBELL, 1);
  Atomics.notify(ctl, CTL.IRQ_DOORBELL);
}

/** The launcher turns deterministic mode on for a control block, before any actor starts. */
export function setDeterministic(ctl: Int32Array): void {
  Atomics.store(ctl, CTL.DETERMINISTIC, 1);
}

/** Instructions retired as last published by the cpu (once per batch). */
export function publishedInstret(ctl: Int32Array): number {
  const hi = Atomics.load(ctl, CTL.INSTRET_HI);
  const lo = Atomics.load(ctl, CTL.INSTRET_LO) >>> 0;
  return hi * 4294967296 + lo;
}

// ---- The writers. Each word has one set of writers, listed in docs/ipc.md. ----

/** Wake the cpu (hart 0): the single primitive every actor uses. */
export function wakeCpu(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.WAKE, 1);
  Atomics.notify(ctl, CTL.WAKE);
}

/** Wake hart `h` (wakeCpu for hart 0). */
export function wakeHart(ctl: Int32Array, h: number): void {
  const w = wakeWord(h);
  Atomics.add(ctl, w, 1);
  Atomics.notify(ctl, w);
}

/** Wake every hart (a stop request, a fate). */
export function wakeAllHarts(ctl: Int32Array): void {
  const n = hartCount(ctl);
  for (let h = 0; h < n; h++) wakeHart(ctl, h);
}

/** Set mip bits in hart h's external mip word and (by default) wake it. */
export function raiseHartMip(ctl: Int32Array, h: number, bits: number, wake = true): void {
  Atomics.or(ctl, mipWord(h), bits);
  if (wake) wakeHart(ctl, h);
}

/** Clear mip bits in hart h's external mip word (never wakes). */
export function lowerHartMip(ctl: Int32Array, h: number, bits: number): void {
  Atomics.and(ctl, mipWord(h), ~bits);
}

/**
 * SBI IPI: a supervisor software interrupt for hart h. The bit waits in its
 * HART.IPI word until the hart takes it (takeIpis) at its next batch
 * boundary or wake-up; the sender wakes it in case it sleeps.
 */
export function sendIpi(ctl: Int32Array, h: number, bits: number = MIP.SSIP): void {
  Atomics.or(ctl, hartWord(h, HART.IPI), bits);
  wakeHart(ctl, h);
}

/** Hart h takes the software interrupts sent to it (0: none). */
export function takeIpis(ctl: Int32Array, h: number): number {
  const w = hartWord(h, HART.IPI);
  return Atomics.load(ctl, w) === 0 ? 0 : Atomics.exchange(ctl, w, 0);
}

/**
 * Ask hart h for a remote fence (FENCE bits): returns the ticket that
 * fenceServed(ctl, h, ticket) waits for. The bits go in before the request
 * count moves, so a hart that sees the count also sees the bits.
 */
export function requestFence(ctl: Int32Array, h: number, bits: number): number {
  Atomics.or(ctl, hartWord(h, HART.FENCE), bits);
  const ticket = Atomics.add(ctl, hartWord(h, HART.FENCE_REQ), 1) + 1;
  wakeHart(ctl, h);
  return ticket;
}

/** Whether hart h has served fence request `ticket` (requestFence). */
export function fenceServed(ctl: Int32Array, h: number, ticket: number): boolean {
  return Atomics.load(ctl, hartWord(h, HART.FENCE_DONE)) - ticket >= 0;
}

/**
 * Hart h takes the fences asked of it: the FENCE bits (0: none). The caller
 * does them, then calls fencesDone with the returned count.
 */
export function takeFences(ctl: Int32Array, h: number): { bits: number; req: number } {
  const req = Atomics.load(ctl, hartWord(h, HART.FENCE_REQ));
  if (req === Atomics.load(ctl, hartWord(h, HART.FENCE_DONE))) return NO_FENCE;
  return { bits: Atomics.exchange(ctl, hartWord(h, HART.FENCE), 0), req };
}
const NO_FENCE = { bits: 0, req: 0 };

/** Hart h has done the fences up to request count `req`: the waiting senders may go on. */
export function fencesDone(ctl: Int32Array, h: number, req: number): void {
  const w = hartWord(h, HART.FENCE_DONE);
  Atomics.store(ctl, w, req);
  Atomics.notify(ctl, w);
}

/** A hart_start that has claimed the hart but not yet stored its arguments (seen as START_PENDING). */
const HSM_CLAIMED = 0x100;

/** Hart h's SBI HSM state (an HSM value). */
export function hsmState(ctl: Int32Array, h: number): number {
  const s = Atomics.load(ctl, hartWord(h, HART.HSM));
  return s === HSM_CLAIMED ? HSM.START_PENDING : s;
}

/** Set hart h's HSM state (the hart itself, for its own transitions), notified. */
export function setHsmState(ctl: Int32Array, h: number, state: number): void {
  Atomics.store(ctl, hartWord(h, HART.HSM), state);
  Atomics.notify(ctl, hartWord(h, HART.HSM));
}

/**
 * SBI HSM hart_start of hart h from another hart: STOPPED -> START_PENDING
 * with the start address and opaque value stored first, then wakes it.
 * False if the hart was not stopped (the caller answers ALREADY_AVAILABLE).
 */
export function startHart(ctl: Int32Array, h: number, addr: bigint, opaque: bigint): boolean {
  // Claim the transition first, so two starters cannot both write the address.
  const w = hartWord(h, HART.HSM);
  if (Atomics.compareExchange(ctl, w, HSM.STOPPED, HSM_CLAIMED) !== HSM.STOPPED) return false;
  const put = (lo: number, v: bigint) => {
    Atomics.store(ctl, hartWord(h, lo), Number(BigInt.asIntN(32, v)));
    Atomics.store(ctl, hartWord(h, lo + 1), Number(BigInt.asIntN(32, v >> 32n)));
  };
  put(HART.START_LO, addr);
  put(HART.OPAQUE_LO, opaque);
  Atomics.store(ctl, w, HSM.START_PENDING);
  wakeHart(ctl, h);
  return true;
}

/** The start address and opaque value of hart h's pending hart_start. */
export function startArgs(ctl: Int32Array, h: number): { addr: bigint; opaque: bigint } {
  const get = (lo: number) =>
    (BigInt(Atomics.load(ctl, hartWord(h, lo + 1))) << 32n) |
    BigInt(Atomics.load(ctl, hartWord(h, lo)) >>> 0);
  return {
    addr: BigInt.asUintN(64, get(HART.START_LO)),
    opaque: BigInt.asUintN(64, get(HART.OPAQUE_LO)),
  };
}

/**
 * Set mip bits in CTL.MIP. `wake` (the default) wakes the cpu, as a device or
 * the waker must; the cpu's own models (the CLINT, run on the cpu's thread)
 * pass false: the hart re-reads CTL.MIP after the instruction.
 */
export function raiseMip(ctl: Int32Array, bits: number, wake = true): void {
  Atomics.or(ctl, CTL.MIP, bits);
  if (wake) wakeCpu(ctl);
}

/** Clear mip bits in CTL.MIP. Never wakes: a line going down gives the cpu nothing to do. */
export function lowerMip(ctl: Int32Array, bits: number): void {
  Atomics.and(ctl, CTL.MIP, ~bits);
}

/**
 * One interrupt line as its device sees it: a level it drives. The narrow
 * interface a virtio transport or the UART raises its interrupt through (as
 * Firecracker's transport takes a VirtioInterrupt), so they need not know
 * which interrupt controller is behind it.
 */
export interface IrqLine {
  /** Drive the line: true = asserted (level high). */
  set(level: boolean): void;
}

/**
 * A device drives interrupt source `src`: level 1 = asserted. Rings the
 * interrupt-controller actor's doorbell only when the level changes.
 */
export function setIrqLine(ctl: Int32Array, src: number, level: number | boolean): void {
  checkSource(src);
  const v = level ? 1 : 0;
  if (Atomics.exchange(ctl, CTL.LINE0 + src, v) === v) return;
  Atomics.add(ctl, CTL.IRQ_DOORBELL, 1);
  Atomics.notify(ctl, CTL.IRQ_DOORBELL);
}

function checkSource(src: number): void {
  if (!Number.isInteger(src) || src < 1 || src > PLIC_NDEV) {
    throw new Error(`plic: no interrupt source ${src} (1..${PLIC_NDEV})`);
  }
}

/** Interrupt source `src` of the machine's PLIC as an IrqLine (setIrqLine on the control block). */
export function irqLine(control: SharedArrayBuffer | Int32Array, src: number): IrqLine {
  const ctl = control instanceof Int32Array ? control : new Int32Array(control);
  checkSource(src); // now: a wiring mistake, not something to find at the first interrupt
  return { set: (level) => setIrqLine(ctl, src, level) };
}

/**
 * Publish a timer deadline (SBI set_timer, a CLINT mtimecmp write): retire
 * the old timer interrupt, store the deadline, then bump and notify
 * TIMER_SEQ. The order matters: the waker reads the sequence first, so it
 * never pairs a new sequence number with an old deadline. `deadline` < 0
 * means none. `bit` is the interrupt the waker drives: STIP (SBI set_timer,
 * the direct boot) or MTIP (a firmware boot, devices/clint.ts).
 */
export function armTimer(ctl: Int32Array, deadline: bigint, bit: number = MIP.STIP): void {
  lowerMip(ctl, bit);
  const ctl64 = new BigInt64Array(ctl.buffer, 0, CTL64.TIMER_DEADLINE / 8 + 1);
  Atomics.store(ctl64, CTL64.TIMER_DEADLINE / 8, deadline < 0n ? -1n : deadline);
  Atomics.add(ctl, CTL.TIMER_SEQ, 1);
  Atomics.notify(ctl, CTL.TIMER_SEQ);
}

/**
 * Move the machine's clock: CLOCK_SKEW ticks are added to guest time by the
 * hart's `time` CSR, the CLINT's mtime and the waker alike. Written by the
 * launcher (a fault plan's skew) and by a CLINT mtime write.
 */
export function setClockSkew(ctl: Int32Array, ticks: bigint): void {
  const ctl64 = new BigInt64Array(ctl.buffer, 0, CTL64.CLOCK_SKEW / 8 + 1);
  Atomics.store(ctl64, CTL64.CLOCK_SKEW / 8, BigInt.asIntN(64, ticks));
}

/**
 * The clock moved under a pending deadline (a restored machine's clock set
 * to the snapshot's moment): bump TIMER_SEQ so the waker, asleep on a wait
 * computed with the old clock, looks again. The deadline and the timer
 * interrupt stay as they are.
 */
export function timerClockMoved(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.TIMER_SEQ, 1);
  Atomics.notify(ctl, CTL.TIMER_SEQ);
}

/** The launcher asks the cpu to stop at its next batch boundary (`why` is a FATE value), and wakes it. */
export function requestStop(ctl: Int32Array, why: number): void {
  Atomics.store(ctl, CTL.STOP, why);
  wakeAllHarts(ctl);
}

/** The cpu publishes instructions retired (a number, exact to 2^53) as two words, high first. */
export function publishInstret(ctl: Int32Array, n: number): void {
  Atomics.store(ctl, CTL.INSTRET_HI, Math.floor(n / 4294967296) | 0);
  Atomics.store(ctl, CTL.INSTRET_LO, n | 0);
}

/** The cpu's heartbeat, after every batch and every wake from wfi (the launcher's watchdog reads it). */
export function cpuBeat(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.CPU_BEAT, 1);
}

/**
 * The cpu sleeps in wfi until CTL.WAKE moves from `seen`, marked idle
 * meanwhile so the watchdog expects no beat. Only the cpu actor calls this
 * (Atomics.wait blocks: never on the main thread).
 */
export function cpuSleep(ctl: Int32Array, seen: number, timeoutMs?: number, h = 0): void {
  Atomics.store(ctl, idleWord(h), 1);
  Atomics.wait(ctl, wakeWord(h), seen, timeoutMs);
  Atomics.store(ctl, idleWord(h), 0);
}

/**
 * Take the PLIC state's spin lock (devices/plic.ts; the cpu and the irq
 * actor both hold it). Critical sections are a few dozen word operations, so
 * a short spin almost always wins; if the holder was descheduled we sleep on
 * the lock word instead of burning a core (unlock always notifies).
 */
export function plicLock(ctl: Int32Array): void {
  for (let i = 0; i < 100; i++) {
    if (Atomics.compareExchange(ctl, CTL.PLIC_LOCK, 0, 1) === 0) return;
  }
  while (Atomics.compareExchange(ctl, CTL.PLIC_LOCK, 0, 1) !== 0) {
    Atomics.wait(ctl, CTL.PLIC_LOCK, 1, 1);
  }
}

/** Release the PLIC state's lock and wake one waiter. */
export function plicUnlock(ctl: Int32Array): void {
  Atomics.store(ctl, CTL.PLIC_LOCK, 0);
  Atomics.notify(ctl, CTL.PLIC_LOCK, 1);
}

/**
 * Become the input ring's reader if nobody is: true when `who` is the reader
 * (now or already). A new reader must re-read the ring's TAIL (a fresh
 * ByteRingReader): the last one published it before it released.
 */
export function claimInput(ctl: Int32Array, who: number): boolean {
  const was = Atomics.compareExchange(ctl, CTL.INPUT_OWNER, INPUT.NOBODY, who);
  if (was === INPUT.NOBODY) Atomics.notify(ctl, CTL.INPUT_OWNER);
  return was === INPUT.NOBODY || was === who;
}

/**
 * The reader `who` lets go of the input ring, between two of its own reads
 * (never during one: that is what makes the handover safe), and wakes the
 * cpu. No-op if `who` is not the reader.
 */
export function releaseInput(ctl: Int32Array, who: number): void {
  if (Atomics.compareExchange(ctl, CTL.INPUT_OWNER, who, INPUT.NOBODY) === who) {
    Atomics.notify(ctl, CTL.INPUT_OWNER);
    // A cpu in wfi waiting for a UART interrupt polls again only when woken.
    wakeCpu(ctl);
  }
}

/**
 * The cpu says whether the guest is polling its consoles for input while the
 * console actor reads the ring: the console actor then releases it at its next
 * look (it cannot be taken from it mid-read).
 */
export function wantInput(ctl: Int32Array, wanted: boolean): void {
  const v = wanted ? 1 : 0;
  if (Atomics.exchange(ctl, CTL.INPUT_WANTED, v) !== v) Atomics.notify(ctl, CTL.INPUT_WANTED);
}

/** The cpu records the guest's fate (a FATE value) once, when the machine stops. */
export function setFate(ctl: Int32Array, fate: number): void {
  Atomics.store(ctl, CTL.FATE, fate);
}
