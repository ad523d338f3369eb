// The interrupt fault layer: a PLIC gateway that asks the plan about every
// assertion it would forward (a high line, neither pending nor in service)
// and can drop it (lost until the line falls and rises again, like a lost
// edge), delay it (forwarded after `ms` if the line is still high), or
// duplicate it (after `ms`, the source pends once more whatever its line says:
// the guest sees a spurious second interrupt). In deterministic mode the `ms`
// are guest time, served when the cpu gets there (docs/replay.md).
// Read next: devices/plic.ts.

import { PLIC_NDEV, TICKS_PER_MS } from "../../machine/memmap.ts";
import { CTL, guestTimeTicks } from "../../machine/control.ts";
import { PLIC, PlicGateway } from "../../devices/plic.ts";
import type { FaultEngine } from "../engine.ts";

export class FaultyPlicGateway extends PlicGateway {
  readonly #engine: FaultEngine;
  /** Sources whose current assertion was dropped or is being delayed. */
  readonly #held = new Set<number>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Deterministic mode: timed actions on guest time, in the order they were set. */
  #virtual: { due: number; fn: () => void }[] = [];

  constructor(plic: SharedArrayBuffer, control: SharedArrayBuffer, engine: FaultEngine) {
    super(plic, control);
    this.#engine = engine;
  }

  override updateLines(): number[] {
    const raised: number[] = [];
    const later: (() => void)[] = [];
    this.lock();
    try {
      for (let src = 1; src <= PLIC_NDEV; src++) {
        if (!this.lineHigh(src)) {
          this.#held.delete(src); // the line fell: the next rise is a new interrupt
          continue;
        }
        if (this.#held.has(src) || this.bit(PLIC.PENDING, src) || this.bit(PLIC.CLAIMED, src)) {
          continue;
        }
        const hit = this.#engine.decide({ source: src, detail: `source ${src}` });
        const effect = hit?.rule.effect;
        if (effect === "drop") {
          this.#held.add(src);
          continue;
        }
        if (effect === "delay") {
          this.#held.add(src);
          later.push(() => this.#after(hit!.rule.ms!, () => this.#forward(src, true)));
          continue;
        }
        this.setBit(PLIC.PENDING, src, true);
        raised.push(src);
        if (effect === "duplicate") {
          later.push(() => this.#after(hit!.rule.ms ?? 1, () => this.#forward(src, false, 200)));
        }
        if (effect === "kill") later.push(() => this.#engine.kill(hit!));
      }
      if (raised.length) this.updateMip();
    } finally {
      this.unlock();
    }
    for (const f of later) f();
    return raised;
  }

  #after(ms: number, fn: () => void): void {
    if (Atomics.load(this.ctl, CTL.DETERMINISTIC) !== 0) {
      const now = guestTimeTicks(this.ctl.buffer as SharedArrayBuffer);
      this.#virtual.push({ due: now + ms * TICKS_PER_MS, fn });
      return;
    }
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  /** Pend `src` now: a delayed assertion (only if its line is still high) or a duplicate. */
  #forward(src: number, delayed: boolean, tries = 0): void {
    this.lock();
    try {
      if (delayed) this.#held.delete(src);
      if (delayed && !this.lineHigh(src)) return;
      if (this.bit(PLIC.PENDING, src) || this.bit(PLIC.CLAIMED, src)) {
        // A duplicate waits until the guest is done with the first one.
        if (tries > 0) this.#after(1, () => this.#forward(src, false, tries - 1));
        return;
      }
      this.setBit(PLIC.PENDING, src, true);
      this.updateMip();
    } finally {
      this.unlock();
    }
  }

  protected override runDue(): void {
    const now = guestTimeTicks(this.ctl.buffer as SharedArrayBuffer);
    // Earliest first, ties in the order set; an action may set another.
    for (;;) {
      let i = -1;
      for (let k = 0; k < this.#virtual.length; k++) {
        const v = this.#virtual[k];
        if (v.due <= now && (i < 0 || v.due < this.#virtual[i].due)) i = k;
      }
      if (i < 0) return;
      const [v] = this.#virtual.splice(i, 1);
      v.fn();
    }
  }

  protected override nextDueTicks(): number {
    let due = Infinity;
    for (const v of this.#virtual) due = Math.min(due, v.due);
    return due;
  }

  override async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await super.stop();
  }
}
