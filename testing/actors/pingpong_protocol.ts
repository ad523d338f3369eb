// A test actor that answers pings by every wake-up path the runtime offers:
// raw Atomics.notify/wait on a word, the ring sleep protocol (blocking and
// async), and request/reply messages. The runtime benchmark
// (scripts/bench/runtime.ts) times round trips against it. Worker: pingpong.worker.ts.

import { type ActorHandlers, defineRole } from "../../actors/runtime/protocol.ts";
import { RingConsumer, RingProducer } from "../../lib/ring.ts";

export interface PingPongProtocol {
  request:
    | { kind: "atomics"; rounds: number }
    | { kind: "ring-echo"; rounds: number; mode: "block" | "async" }
    | { kind: "ping" };
  reply: { atomics: number; "ring-echo": number; ping: null };
  cast: never;
  event: never;
  config: null;
  /** words: PING at 0, PONG at 1. in/out: 4-byte record rings, main → actor → main. */
  buffers: { words: SharedArrayBuffer; in: SharedArrayBuffer; out: SharedArrayBuffer };
}

export const PINGPONG = defineRole<PingPongProtocol>("pingpong", 1);
export const PING = 0;
export const PONG = 1;

export function pingPongHandlers(): ActorHandlers<PingPongProtocol> {
  return {
    request: {
      atomics(m, ctx) {
        const w = new Int32Array(ctx.buffers.words);
        let seen = Atomics.load(w, PING);
        for (let i = 0; i < m.rounds; i++) {
          Atomics.wait(w, PING, seen);
          seen = Atomics.load(w, PING);
          Atomics.store(w, PONG, seen);
          Atomics.notify(w, PONG);
        }
        return m.rounds;
      },
      async "ring-echo"(m, ctx) {
        const rx = new RingConsumer(ctx.buffers.in), tx = new RingProducer(ctx.buffers.out);
        const rec = [0];
        for (let i = 0; i < m.rounds; i++) {
          while (!rx.pop(rec)) {
            if (m.mode === "block") rx.waitForData();
            else await rx.waitForDataAsync();
          }
          while (!tx.push(rec)) tx.waitForSpace();
        }
        return m.rounds;
      },
      ping: () => null,
    },
    cast: {},
  };
}
