// A test actor that drives one side of a ring, for the ring tests and the
// runtime benchmark: it produces or consumes a numbered record stream (or a
// byte stream) and checks every record, so loss, duplication and reordering
// show up as a count and the first bad record. Worker: ring_side.worker.ts.

import { type ActorHandlers, defineRole } from "../../actors/runtime/protocol.ts";
import { ByteRingReader, ByteRingWriter, RingConsumer, RingProducer } from "../../lib/ring.ts";

export interface RingSideProtocol {
  request:
    | { kind: "produce"; count: number; batch: number }
    | { kind: "consume"; count: number; batch: number; mode: "block" | "async" }
    | { kind: "write-bytes"; count: number }
    | { kind: "read-bytes"; count: number; mode: "block" | "async" };
  reply: {
    produce: { pushed: number; fullWaits: number; ms: number };
    consume: { received: number; bad: number; firstBad: string | null; sleeps: number; ms: number };
    "write-bytes": { written: number; fullWaits: number };
    "read-bytes": { received: number; bad: number; firstBad: string | null; sleeps: number };
  };
  cast: never;
  event: never;
  config: null;
  buffers: { ring: SharedArrayBuffer };
}

export const RING_SIDE = defineRole<RingSideProtocol>("ringtest", 1);

/** Record i of the test stream: four words that all depend on i. Records are 16 bytes. */
export function recordWord(i: number, k: number): number {
  switch (k) {
    case 0:
      return i;
    case 1:
      return ~i;
    case 2:
      return Math.imul(i, 0x9e3779b1);
    default:
      return i ^ 0x5bd1e995;
  }
}

/** Byte i of the test byte stream. */
export function streamByte(i: number): number {
  return (Math.imul(i, 31) + 7 + (i >>> 8)) & 255;
}

export function ringSideHandlers(): ActorHandlers<RingSideProtocol> {
  return {
    request: {
      produce(m, ctx) {
        const p = new RingProducer(ctx.buffers.ring, { batch: m.batch });
        const w = p.words;
        let fullWaits = 0;
        const t0 = performance.now();
        for (let i = 0; i < m.count;) {
          const at = p.reserve();
          if (at < 0) {
            fullWaits++;
            p.waitForSpace();
            continue;
          }
          w[at] = i;
          w[at + 1] = ~i;
          w[at + 2] = Math.imul(i, 0x9e3779b1);
          w[at + 3] = i ^ 0x5bd1e995;
          p.commit();
          i++;
        }
        p.flush();
        return { pushed: m.count, fullWaits, ms: performance.now() - t0 };
      },
      async consume(m, ctx) {
        const c = new RingConsumer(ctx.buffers.ring, { batch: m.batch });
        let next = 0, bad = 0, sleeps = 0;
        let firstBad: string | null = null;
        const check = (w: Int32Array, at: number) => {
          const i = next++;
          if (
            w[at] !== i || w[at + 1] !== ~i || w[at + 2] !== Math.imul(i, 0x9e3779b1) ||
            w[at + 3] !== (i ^ 0x5bd1e995)
          ) {
            bad++;
            firstBad ??= `record ${i}: got [${w.subarray(at, at + 4).join(", ")}]`;
          }
        };
        const t0 = performance.now();
        while (next < m.count) {
          if (c.drain(check, m.count - next) > 0) continue;
          sleeps++;
          if (m.mode === "block") c.waitForData();
          else await c.waitForDataAsync();
        }
        return { received: next, bad, firstBad, sleeps, ms: performance.now() - t0 };
      },
      "write-bytes"(m, ctx) {
        const wr = new ByteRingWriter(ctx.buffers.ring);
        // Chunks of varying sizes so writes straddle the wrap at every offset.
        const chunk = new Uint8Array(97);
        let i = 0, fullWaits = 0, size = 1;
        while (i < m.count) {
          const n = Math.min(size, m.count - i);
          for (let k = 0; k < n; k++) chunk[k] = streamByte(i + k);
          let off = 0;
          while (off < n) {
            const put = wr.write(chunk.subarray(off, n));
            if (put === 0) {
              fullWaits++;
              wr.waitForSpace();
            }
            off += put;
          }
          i += n;
          size = size % 97 + 1;
        }
        return { written: i, fullWaits };
      },
      async "read-bytes"(m, ctx) {
        const rd = new ByteRingReader(ctx.buffers.ring);
        const buf = new Uint8Array(61);
        let next = 0, bad = 0, sleeps = 0;
        let firstBad: string | null = null;
        while (next < m.count) {
          const n = rd.read(buf.subarray(0, Math.min(buf.length, m.count - next)));
          if (n === 0) {
            sleeps++;
            if (m.mode === "block") rd.waitForData();
            else await rd.waitForDataAsync();
            continue;
          }
          for (let k = 0; k < n; k++, next++) {
            if (buf[k] !== streamByte(next)) {
              bad++;
              firstBad ??= `byte ${next}: got ${buf[k]}, want ${streamByte(next)}`;
            }
          }
        }
        return { received: next, bad, firstBad, sleeps };
      },
    },
    cast: {},
  };
}
