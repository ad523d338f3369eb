// The net fault layer: a NetBackend that wraps the real one and, frame by
// frame in either direction (rx = host → guest, tx = guest → host), drops,
// duplicates, reorders (holds a frame and lets the next one pass first; a
// held frame goes out after 50 ms if no other comes) or delays frames, or
// kills the actor. Frames are copied before they are kept: a tx frame is a
// view into guest RAM. A tap's virtio-net header travels with its frame (a
// super-frame is one frame here), and the receive offloads are passed through
// to the backend. Read next: devices/net/backend.ts (the interface).

import type {
  BackendStats,
  FrameSink,
  NetBackend,
  ReceiveOffloads,
} from "../../devices/net/backend.ts";
import type { FaultEngine } from "../engine.ts";

/** How long a frame held for reordering waits for a successor. */
const REORDER_MAX_MS = 50;

/** A frame and (with offloads) its virtio_net_hdr. */
type Out = (frame: Uint8Array, hdr?: Uint8Array) => void;

class Direction {
  held: { frame: Uint8Array; hdr?: Uint8Array; timer: ReturnType<typeof setTimeout> } | null = null;
  readonly timers = new Set<ReturnType<typeof setTimeout>>();
  constructor(readonly dir: "rx" | "tx", readonly out: Out) {}
}

export class FaultyNetBackend implements NetBackend {
  readonly #inner: NetBackend;
  readonly #engine: FaultEngine;
  #rx: Direction | null = null;
  readonly #tx: Direction;

  constructor(inner: NetBackend, engine: FaultEngine) {
    this.#inner = inner;
    this.#engine = engine;
    this.#tx = new Direction("tx", (f, h) => void this.#send(f, h));
  }

  get description(): string {
    return this.#inner.description;
  }
  get stats(): BackendStats {
    return this.#inner.stats;
  }
  get macKey(): string {
    return this.#inner.macKey;
  }
  get offloads(): boolean {
    return this.#inner.offloads ?? false;
  }

  setReceiveOffloads(o: ReceiveOffloads): void {
    this.#inner.setReceiveOffloads?.(o);
  }

  start(onFrame: FrameSink, onError?: (e: Error) => void, canTake?: () => boolean): void {
    const rx = new Direction("rx", onFrame);
    this.#rx = rx;
    this.#inner.start((frame, hdr) => this.#pass(rx, frame, hdr), onError, canTake);
  }

  send(frame: Uint8Array, hdr?: Uint8Array): boolean {
    return this.#pass(this.#tx, frame, hdr);
  }

  #send(frame: Uint8Array, hdr?: Uint8Array): boolean {
    return this.#inner.send(frame, hdr);
  }

  #pass(d: Direction, frame: Uint8Array, hdr?: Uint8Array): boolean {
    const hit = this.#engine.decide({
      dir: d.dir,
      detail: `${d.dir} frame of ${frame.length} bytes`,
    });
    const effect = hit?.rule.effect;
    if (effect === "kill") this.#engine.kill(hit!);
    if (effect === "drop") return true; // lost on the wire: the sender cannot tell
    if (effect === "delay") {
      const copy = frame.slice(), h = hdr?.slice();
      const t = setTimeout(() => {
        d.timers.delete(t);
        d.out(copy, h);
      }, hit!.rule.ms!);
      d.timers.add(t);
      return true;
    }
    if (effect === "reorder" && !d.held) {
      const copy = frame.slice(), h = hdr?.slice();
      d.held = {
        frame: copy,
        hdr: h,
        timer: setTimeout(() => {
          d.held = null;
          d.out(copy, h);
        }, REORDER_MAX_MS),
      };
      return true;
    }
    const ok = d.dir === "tx" ? this.#send(frame, hdr) : (d.out(frame, hdr), true);
    if (effect === "duplicate") d.out(frame, hdr);
    if (d.held) {
      const h = d.held;
      d.held = null;
      clearTimeout(h.timer);
      d.out(h.frame, h.hdr);
    }
    return ok;
  }

  async close(): Promise<void> {
    for (const d of [this.#rx, this.#tx]) {
      if (!d) continue;
      for (const t of d.timers) clearTimeout(t);
      if (d.held) clearTimeout(d.held.timer);
    }
    await this.#inner.close();
  }
}
