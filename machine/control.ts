// The machine control block: one small SharedArrayBuffer that every actor is
// handed at start, beside guest RAM. It carries the words the cpu actor checks
// between instruction batches (interrupt lines, stop and break requests), the
// timer deadline the waker serves, the clock epoch every actor reads time
// from, and the guest's fate. Layout, owners and wake rules: docs/ipc.md.
// Read next: lib/ring.ts (the SPSC rings), cpu/hart.ts (what consumes MIP).

/** Magic word at index 0 ("AVMC") and the layout version at index 1. */
export const CONTROL_MAGIC = 0x41564d43;
export const CONTROL_VERSION = 1;

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
   * The guest's fate, written once by the cpu actor when the machine stops:
   * see FATE below. FATE_DETAIL carries an SBI reset reason or trap cause.
   */
  FATE: 5,
  FATE_DETAIL: 6,
  /**
   * Timer sequence: bumped (and notified) by the cpu each time the guest sets
   * a new deadline, so the waker re-reads TIMER_DEADLINE.
   */
  TIMER_SEQ: 7,
  /** Interrupt-line doorbell: devices bump it after changing a LINE word. */
  IRQ_DOORBELL: 8,
  /** Lock word for the PLIC state (see devices/plic.ts): 0 free, 1 held. */
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
  /** First of PLIC_NDEV+1 interrupt-line level words (index = source number). */
  LINE0: 16,
} as const;

/** Byte offsets of 64-bit slots (BigInt64 / Float64) in the control block. */
export const CTL64 = {
  /** Absolute timer deadline in timebase ticks (BigInt64); -1 = none. */
  TIMER_DEADLINE: 8 * 32,
  /** Clock epoch (Float64, ms since the Unix epoch): time = (now - epoch) * 10_000. */
  CLOCK_EPOCH_MS: 8 * 33,
  /** Clock skew in ticks added by a fault plan (BigInt64), normally 0. */
  CLOCK_SKEW: 8 * 34,
} as const;

export const CONTROL_BYTES = 8 * 64;

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
export function createControlBlock(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(CONTROL_BYTES);
  const ctl = new Int32Array(sab);
  ctl[CTL.MAGIC] = CONTROL_MAGIC;
  ctl[CTL.VERSION] = CONTROL_VERSION;
  new BigInt64Array(sab)[CTL64.TIMER_DEADLINE / 8] = -1n;
  new Float64Array(sab)[CTL64.CLOCK_EPOCH_MS / 8] = performance.timeOrigin + performance.now();
  return sab;
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

/** Current guest time in timebase ticks, from the shared epoch (same in every worker). */
export function guestTimeTicks(ctlSab: SharedArrayBuffer): number {
  const epoch = new Float64Array(ctlSab)[CTL64.CLOCK_EPOCH_MS / 8];
  return Math.floor((performance.timeOrigin + performance.now() - epoch) * 10_000);
}

/** Instructions retired as last published by the cpu (once per batch). */
export function publishedInstret(ctl: Int32Array): number {
  const hi = Atomics.load(ctl, CTL.INSTRET_HI);
  const lo = Atomics.load(ctl, CTL.INSTRET_LO) >>> 0;
  return hi * 4294967296 + lo;
}

/** Wake the cpu: the single primitive every actor uses. */
export function wakeCpu(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.WAKE, 1);
  Atomics.notify(ctl, CTL.WAKE);
}
