// The console fault layer: sits between the stdin byte ring and the console
// device. It decides about each input byte before taking it off the ring, so
// a kill leaves the n-th byte in the ring for the restarted actor (nothing
// typed is lost); it drops bytes, or pauses the input stream for `ms` from a
// byte on (order is kept: later bytes wait behind a delayed one).
// Read next: actors/console/console_actor.ts (the input pump).

import type { ByteRingReader } from "../../lib/ring.ts";
import type { FaultEngine } from "../engine.ts";

export class ConsoleInputFaults {
  readonly #engine: FaultEngine;
  readonly #deliver: (bytes: Uint8Array) => void;
  /** Bytes waiting behind a delay, in order. */
  #queue: number[] = [];
  #pausedUntil = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #one = new Uint8Array(1);

  constructor(engine: FaultEngine, deliver: (bytes: Uint8Array) => void) {
    this.#engine = engine;
    this.#deliver = deliver;
  }

  /** Take every byte the ring holds through the plan; returns how many were taken. */
  take(reader: ByteRingReader): number {
    let n = 0;
    while (reader.available > 0) {
      const hit = this.#engine.decide({ detail: `input byte ${n + 1} of this batch` });
      const effect = hit?.rule.effect;
      if (effect === "kill") {
        this.#flush(); // what came before is delivered; this byte stays in the ring
        this.#engine.kill(hit!);
      }
      if (reader.read(this.#one) !== 1) break;
      n++;
      if (effect === "drop") continue;
      if (effect === "delay") {
        this.#flush(); // what came before goes now; this byte and the rest wait
        this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + hit!.rule.ms!);
      }
      this.#queue.push(this.#one[0]);
    }
    this.#flush();
    return n;
  }

  #flush(): void {
    const now = Date.now();
    if (now < this.#pausedUntil) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, this.#pausedUntil - now);
      return;
    }
    if (this.#queue.length) {
      const out = Uint8Array.from(this.#queue);
      this.#queue = [];
      this.#deliver(out);
    }
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}
