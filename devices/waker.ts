// The waker's logic: it owns the guest's clock event. The cpu publishes each
// SBI set_timer deadline (machine/control.ts armTimer: TIMER_DEADLINE, then a
// TIMER_SEQ bump);
// the waker sleeps until that guest time or the next bump, then sets STIP in
// CTL.MIP and wakes the cpu — lguest's Waker, with one wake primitive. It
// never spins: it sleeps in Atomics.waitAsync, so its worker still takes
// messages. Fault layers hook in with `beforeFire` (delay or drop an event)
// and CTL64.CLOCK_SKEW. Read next: machine/control.ts, docs/machine.md (waker).

import {
  CTL,
  CTL64,
  guestTimeTicks,
  lowerMip,
  MIP,
  openControlBlock,
  raiseMip,
} from "../machine/control.ts";
import { TICKS_PER_MS } from "../machine/memmap.ts";

/** A clock event that is due, as a fault hook sees it. Times in timebase ticks. */
export interface TimerEvent {
  deadline: bigint;
  /** Guest time now, skew included. */
  now: bigint;
  seq: number;
}

/**
 * Called once per due event, before it fires. Return nothing (or "fire") to
 * fire now, "drop" to lose it (until the guest sets a new timer), or a later
 * guest time (ticks) to postpone it: it then fires at that time unasked.
 */
export type BeforeFire = (ev: TimerEvent) => void | "fire" | "drop" | bigint;

export interface WakerOptions {
  beforeFire?: BeforeFire;
  /** Told of each event that fired (for --verbose). */
  onFire?: (ev: TimerEvent) => void;
  /**
   * The interrupt raised when a deadline is due (default MIP.STIP). A firmware
   * boot's waker raises MIP.MTIP: the machine timer of the CLINT.
   */
  timerBit?: number;
}

export interface WakerStats {
  /** Times the loop woke up and looked: a busy loop shows here. */
  wakeups: number;
  fired: number;
  dropped: number;
  postponed: number;
}

export class Waker {
  readonly stats: WakerStats = { wakeups: 0, fired: 0, dropped: 0, postponed: 0 };
  readonly #sab: SharedArrayBuffer;
  readonly #ctl: Int32Array;
  readonly #ctl64: BigInt64Array;
  readonly #opts: WakerOptions;
  #running = false;
  #done: Promise<void> | null = null;

  constructor(control: SharedArrayBuffer, opts: WakerOptions = {}) {
    this.#sab = control;
    this.#ctl = openControlBlock(control);
    this.#ctl64 = new BigInt64Array(control);
    this.#opts = opts;
  }

  /** Guest time in ticks, with the fault plan's skew. */
  now(): bigint {
    return BigInt(guestTimeTicks(this.#sab)) +
      Atomics.load(this.#ctl64, CTL64.CLOCK_SKEW / 8);
  }

  /** Run until stop(); the promise settles when the loop has returned. */
  start(): Promise<void> {
    if (this.#done) return this.#done;
    this.#running = true;
    this.#done = this.#loop();
    return this.#done;
  }

  async stop(): Promise<void> {
    this.#running = false;
    // Wake the loop's waitAsync (the word is unchanged; it just looks again).
    // A pending waitAsync does not keep the event loop alive, so hold it
    // open with a timer until the loop has returned.
    Atomics.notify(this.#ctl, CTL.TIMER_SEQ);
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

  async #loop(): Promise<void> {
    const ctl = this.#ctl;
    const bit = this.#opts.timerBit ?? MIP.STIP;
    let doneSeq = -1; // the sequence number whose event has fired or was dropped
    let postponed = null as { seq: number; until: bigint } | null;
    while (this.#running) {
      this.stats.wakeups++;
      const seq = Atomics.load(ctl, CTL.TIMER_SEQ);
      const deadline = Atomics.load(this.#ctl64, CTL64.TIMER_DEADLINE / 8);
      let sleepMs = Infinity;
      if (deadline >= 0n && seq !== doneSeq) {
        const late = postponed !== null && postponed.seq === seq ? postponed.until : null;
        const target = late ?? deadline;
        const now = this.now();
        if (now < target) {
          sleepMs = Math.ceil(Number(target - now) / TICKS_PER_MS);
        } else {
          const ev: TimerEvent = { deadline, now, seq };
          const decision = late !== null ? undefined : this.#opts.beforeFire?.(ev);
          if (typeof decision === "bigint" && decision > now) {
            postponed = { seq, until: decision };
            this.stats.postponed++;
            continue;
          }
          doneSeq = seq;
          if (decision === "drop") {
            this.stats.dropped++;
          } else {
            raiseMip(ctl, bit);
            this.stats.fired++;
            this.#opts.onFire?.(ev);
            // A set_timer racing with us may have retired this event just
            // before we raised STIP. If the sequence moved, take STIP back
            // unless the new deadline is due too, and look again at once.
            if (Atomics.load(ctl, CTL.TIMER_SEQ) !== seq) {
              const next = Atomics.load(this.#ctl64, CTL64.TIMER_DEADLINE / 8);
              if (next < 0n || this.now() < next) lowerMip(ctl, bit);
              continue;
            }
          }
        }
      }
      const w = Atomics.waitAsync(ctl, CTL.TIMER_SEQ, seq, sleepMs);
      if (w.async) await w.value;
    }
  }
}
