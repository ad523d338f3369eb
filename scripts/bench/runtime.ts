// Benchmark of the actor runtime (`deno task bench runtime`): SPSC ring
// throughput between two workers (publishing every record and batched), and
// wake-up round-trip latency for Atomics.notify↔wait, the ring sleep
// protocol, runtime request/reply and bare postMessage — all in one run, so
// the ratios hold even if the machine is busy. Actors: testing/actors/.
// Read next: lib/ring.ts, testing/actors/pingpong_protocol.ts.

import { createRing, RING, RingConsumer, RingProducer } from "../../lib/ring.ts";
import { spawnActor } from "../../actors/runtime/spawn.ts";
import { RING_SIDE, type RingSideProtocol } from "../../testing/actors/ring_protocol.ts";
import {
  PING,
  PINGPONG,
  type PingPongProtocol,
  PONG,
} from "../../testing/actors/pingpong_protocol.ts";

const testing = (f: string) => new URL(`../../testing/actors/${f}`, import.meta.url);

function stats(samplesMs: number[]) {
  const a = samplesMs.map((x) => x * 1000).sort((x, y) => x - y);
  const at = (q: number) => Number(a[Math.min(a.length - 1, Math.floor(q * a.length))].toFixed(1));
  return { p50_us: at(0.5), p99_us: at(0.99), round_trips: a.length };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
}

/** Records/s of 16-byte records through a 4096-record ring between two workers. */
async function ringThroughput(count: number, batch: number): Promise<number> {
  const ring = createRing(16, 4096);
  const spawn = () =>
    spawnActor<RingSideProtocol>({
      url: testing("ring_side.worker.ts"),
      descriptor: RING_SIDE,
      buffers: { ring },
      config: null,
    });
  const [prod, cons] = await Promise.all([spawn(), spawn()]);
  try {
    const consumed = cons.request({ kind: "consume", count, batch, mode: "block" }, {
      timeoutMs: 120_000,
    });
    await until(() => Atomics.load(new Int32Array(ring), RING.CONSUMER_SLEEPING) === 1);
    const t0 = performance.now();
    const produced = prod.request({ kind: "produce", count, batch }, { timeoutMs: 120_000 });
    const got = await consumed;
    const ms = performance.now() - t0;
    await produced;
    if (got.received !== count || got.bad !== 0) throw new Error(`ring lost data: ${got.firstBad}`);
    return Math.round(count / (ms / 1000));
  } finally {
    prod.terminate();
    cons.terminate();
  }
}

async function latencies(rounds: number) {
  const words = new SharedArrayBuffer(64);
  const inRing = createRing(4, 64), outRing = createRing(4, 64);
  const pp = await spawnActor<PingPongProtocol>({
    url: testing("pingpong.worker.ts"),
    descriptor: PINGPONG,
    buffers: { words, in: inRing, out: outRing },
    config: null,
  });
  const raw = new Worker(testing("raw_echo.worker.ts"), { type: "module" });
  try {
    // Atomics.notify ↔ Atomics.wait on one word each way (main thread blocks).
    const w = new Int32Array(words);
    const atomics = async (n: number) => {
      const done = pp.request({ kind: "atomics", rounds: n }, { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 20)); // let it reach its first wait
      const out: number[] = [];
      for (let i = 1; i <= n; i++) {
        const t0 = performance.now();
        Atomics.store(w, PING, i);
        Atomics.notify(w, PING);
        while (Atomics.load(w, PONG) !== i) Atomics.wait(w, PONG, i - 1, 1000);
        out.push(performance.now() - t0);
      }
      await done;
      Atomics.store(w, PING, 0);
      Atomics.store(w, PONG, 0);
      return out;
    };
    // The ring sleep protocol: push a record, the actor wakes, pops, pushes it back.
    const ringEcho = async (n: number, mode: "block" | "async") => {
      const tx = new RingProducer(inRing), rx = new RingConsumer(outRing);
      const done = pp.request({ kind: "ring-echo", rounds: n, mode }, { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 20));
      const out: number[] = [];
      const rec = [0];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        tx.push([i]);
        while (!rx.pop(rec)) rx.waitForData(1000);
        out.push(performance.now() - t0);
      }
      await done;
      return out;
    };
    // Runtime request/reply (envelope, id, timeout timer).
    const request = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await pp.request({ kind: "ping" });
        out.push(performance.now() - t0);
      }
      return out;
    };
    // Bare postMessage to a worker that posts it straight back.
    const postMessage = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await new Promise<void>((r) => {
          raw.onmessage = () => r();
          raw.postMessage(i);
        });
        out.push(performance.now() - t0);
      }
      return out;
    };
    const warm = Math.min(1000, rounds);
    await atomics(warm),
      await ringEcho(warm, "block"),
      await request(warm),
      await postMessage(warm);
    return {
      atomics_notify_wait: stats(await atomics(rounds)),
      ring_wake_blocking_consumer: stats(await ringEcho(rounds, "block")),
      ring_wake_async_consumer: stats(await ringEcho(rounds, "async")),
      runtime_request_reply: stats(await request(rounds)),
      postmessage: stats(await postMessage(rounds)),
    };
  } finally {
    pp.terminate();
    raw.terminate();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const perRecord = await ringThroughput(4_000_000, 1);
  const batched = await ringThroughput(20_000_000, 64);
  const lat = await latencies(10_000);
  return {
    ring_records_per_s: { record_bytes: 16, per_record_publish: perRecord, batch_64: batched },
    wake_round_trip_latency: lat,
    note: "latencies are main thread ↔ worker round trips (one wake each way), in µs",
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
