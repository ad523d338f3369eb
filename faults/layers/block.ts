// The block fault layer: a BlockBackend that wraps the real one and, per the
// plan, fails an operation (the device answers the request with IOERR),
// corrupts the bytes a read returns, delays an operation (the request's
// completion waits), or kills the actor right after an operation reached the
// file but before the request was completed (or, with "before", before it
// reached the file) — the cases the used ring must recover from. Read next: devices/block/block.ts (how a throw becomes IOERR).

import type { BlockBackend } from "../../devices/block/backend.ts";
import type { FaultEngine, Hit } from "../engine.ts";

/** Sleep this worker (the block actor's worker is its I/O thread). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A fault from the plan, thrown where a real I/O error would be. */
export class InjectedIoError extends Error {
  override name = "InjectedIoError";
}

export class FaultyBackend implements BlockBackend {
  readonly #inner: BlockBackend;
  readonly #engine: FaultEngine;

  constructor(inner: BlockBackend, engine: FaultEngine) {
    this.#inner = inner;
    this.#engine = engine;
  }

  get size(): number {
    return this.#inner.size;
  }
  get readOnly(): boolean {
    return this.#inner.readOnly;
  }

  #decide(op: "read" | "write" | "flush", offset: number, len: number): Hit | null {
    const detail = op === "flush"
      ? "flush"
      : `${op} sector ${Math.floor(offset / 512)}+${Math.ceil(len / 512)}`;
    const hit = this.#engine.decide({ op, offset, len, detail });
    if (!hit) return null;
    switch (hit.rule.effect) {
      case "ioerr":
        throw new InjectedIoError(`fault plan rule ${hit.rule.index}: ${detail}`);
      case "delay":
        sleepSync(hit.rule.ms!);
        return null;
      case "kill":
        if (hit.rule.before) this.#engine.kill(hit); // popped, nothing done yet
        return hit;
      default:
        return hit; // corrupt and kill act after the operation
    }
  }

  read(offset: number, buf: Uint8Array): void {
    const hit = this.#decide("read", offset, buf.length);
    this.#inner.read(offset, buf);
    if (hit?.rule.effect === "corrupt") {
      // One byte of every sector gets a non-zero XOR: no sector comes back intact.
      for (let s = 0; s < buf.length; s += 512) {
        const at = s + Math.floor(hit.random() * Math.min(512, buf.length - s));
        buf[at] ^= 1 + Math.floor(hit.random() * 255);
      }
    }
    if (hit?.rule.effect === "kill") this.#engine.kill(hit); // done, not completed
  }

  write(offset: number, data: Uint8Array): void {
    const hit = this.#decide("write", offset, data.length);
    if (hit?.rule.effect === "corrupt") {
      const copy = data.slice();
      for (let s = 0; s < copy.length; s += 512) {
        const at = s + Math.floor(hit.random() * Math.min(512, copy.length - s));
        copy[at] ^= 1 + Math.floor(hit.random() * 255);
      }
      this.#inner.write(offset, copy);
    } else {
      this.#inner.write(offset, data);
    }
    if (hit?.rule.effect === "kill") this.#engine.kill(hit);
  }

  flush(): void {
    const hit = this.#decide("flush", 0, 0);
    this.#inner.flush();
    if (hit?.rule.effect === "kill") this.#engine.kill(hit);
  }

  close(): void {
    this.#inner.close();
  }
}
