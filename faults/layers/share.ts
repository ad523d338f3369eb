// The share fault layer: wraps the 9P server and, per the plan, answers a
// request with Rlerror(EIO) without doing it, delays it, or kills the actor
// after the request was taken off the queue but before it was served — so the
// restarted actor serves it again from the avail ring, on the fids it reopened
// from the fid store. One event is one 9P request. Read next: devices/p9/device.ts.

import type { Exchange } from "../../devices/p9/server.ts";
import type { FaultEngine } from "../engine.ts";

/** The server as this layer sees it (devices/p9/device.ts P9Handler). */
interface Handler {
  handle(x: Exchange): number;
  readonly fidsChanged: boolean;
}

/** Sleep this worker (the share actor's worker is its file server thread). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class FaultyShare implements Handler {
  #injected = false;
  constructor(readonly inner: Handler, readonly engine: FaultEngine) {}

  get fidsChanged(): boolean {
    return !this.#injected && this.inner.fidsChanged;
  }

  handle(x: Exchange): number {
    this.#injected = false;
    const h = x.readLen >= 7 ? x.head(7) : new Uint8Array(7);
    const type = h[4], tag = h[5] | (h[6] << 8);
    // `when.op` picks the data requests: a failing read, write or fsync is what
    // a disk error looks like; an error on a walk or clunk desyncs the guest's fids.
    const op = type === 116 || type === 40
      ? "read"
      : type === 118
      ? "write"
      : type === 50
      ? "flush"
      : undefined;
    const hit = this.engine.decide({ op, detail: `9P request type ${type} tag ${tag}` });
    if (hit?.rule.effect === "kill") {
      // Taken, not served: the worker ends here (the wait lets the termination land).
      this.engine.kill(hit);
      sleepSync(10_000);
      this.#injected = true;
      return 0;
    }
    if (hit?.rule.effect === "delay") sleepSync(hit.rule.ms!);
    if (hit?.rule.effect === "ioerr" && x.writeLen >= 11) {
      this.#injected = true;
      const r = new Uint8Array(11);
      const v = new DataView(r.buffer);
      v.setUint32(0, 11, true);
      v.setUint8(4, 7); // Rlerror
      v.setUint16(5, tag, true);
      v.setUint32(7, 5, true); // EIO
      x.reply(r);
      return 11;
    }
    return this.inner.handle(x);
  }
}
