// The SPSC rings: header layout pinned, full-ring and batch semantics, the
// 32-bit counters wrapping, byte ring wrap-around, and 10 million records
// between two real workers with a consumer that sleeps (Atomics.wait) and one
// that awaits (Atomics.waitAsync). Code under test: lib/ring.ts.

import assert from "../../../testing/assert.ts";
import {
  ByteRingReader,
  ByteRingWriter,
  createByteRing,
  createRing,
  initRing,
  readRingHeader,
  RING,
  RING_HEADER_BYTES,
  RING_MAGIC,
  RING_VERSION,
  ringBytes,
  RingConsumer,
  RingProducer,
} from "../../../lib/ring.ts";
import { spawnActor } from "../../../actors/runtime/spawn.ts";
import {
  recordWord,
  RING_SIDE,
  type RingSideProtocol,
} from "../../../testing/actors/ring_protocol.ts";

Deno.test("ring header layout is pinned", () => {
  assert.deepEqual({ ...RING }, {
    MAGIC: 0,
    VERSION: 1,
    RECORD_BYTES: 2,
    CAPACITY: 3,
    DROPPED: 4,
    HEAD: 16,
    CONSUMER_SLEEPING: 17,
    TAIL: 32,
    PRODUCER_SLEEPING: 33,
  });
  assert.equal(RING_HEADER_BYTES, 192);
  assert.equal(RING_MAGIC, 0x41565252);
  assert.equal(RING_VERSION, 1);
  assert.equal(ringBytes(16, 1024), 192 + 16 * 1024);
  const sab = createRing(16, 8);
  const dv = new DataView(sab);
  assert.equal(dv.getUint32(0, true), 0x41565252);
  assert.equal(dv.getInt32(8, true), 16);
  assert.equal(dv.getInt32(12, true), 8);
  assert.deepEqual(readRingHeader(sab), { recordBytes: 16, capacity: 8 });
  // One record pushed: HEAD (byte 64) becomes 1, the record starts at byte 192.
  new RingProducer(sab).push([0x11, 0x22, 0x33, 0x44]);
  assert.equal(dv.getInt32(64, true), 1);
  assert.equal(dv.getInt32(192, true), 0x11);
  assert.equal(dv.getInt32(204, true), 0x44);
  new RingConsumer(sab).pop([0, 0, 0, 0]);
  assert.equal(dv.getInt32(128, true), 1); // TAIL at byte 128
});

Deno.test("bad geometry and foreign buffers are refused clearly", () => {
  assert.throws(() => createRing(16, 1000), /not a power of two/);
  assert.throws(() => createRing(6, 8), /multiple of 4/);
  assert.throws(() => new RingProducer(new SharedArrayBuffer(4096)), /not a ring at offset 0/);
  assert.throws(() => new RingProducer(createByteRing(64)), /byte ring/);
  assert.throws(() => new ByteRingReader(createRing(8, 64)), /not a byte ring/);
  assert.throws(() => new RingProducer(createRing(8, 8)).push([1, 2, 3]), /3 words, ring wants 2/);
  assert.throws(() => initRing(new SharedArrayBuffer(1024), 32, 4, 8), /multiple of 64/);
});

Deno.test("a full ring refuses the push, overwrites nothing, counts drops", () => {
  const sab = createRing(8, 4);
  const p = new RingProducer(sab), c = new RingConsumer(sab);
  for (let i = 0; i < 4; i++) assert.equal(p.push([i, 100 - i]), true);
  assert.equal(p.push([99, 99]), false);
  assert.equal(p.pushOrDrop([98, 98]), false);
  assert.equal(p.pushOrDrop([97, 97]), false);
  assert.equal(c.dropped, 2);
  assert.equal(p.free, 0);
  const out = [0, 0];
  assert.equal(c.pop(out), true);
  assert.deepEqual(out, [0, 100]);
  assert.equal(p.push([4, 96]), true); // the freed slot, and only it
  assert.equal(p.push([5, 95]), false);
  for (let i = 1; i <= 4; i++) {
    assert.equal(c.pop(out), true);
    assert.deepEqual(out, [i, 100 - i]);
  }
  assert.equal(c.pop(out), false);
});

Deno.test("batched records are invisible until published; full counts them", () => {
  const sab = createRing(4, 8);
  const p = new RingProducer(sab, { batch: 4 }), c = new RingConsumer(sab, { batch: 4 });
  for (let i = 0; i < 3; i++) p.push([i]);
  assert.equal(c.available, 0);
  p.push([3]); // the 4th publishes
  assert.equal(c.available, 4);
  p.push([4]);
  assert.equal(c.available, 4);
  p.flush();
  assert.equal(c.available, 5);
  // Consumer batching: three pops release nothing yet; an empty peek hands all back.
  const out = [0];
  for (let i = 0; i < 3; i++) c.pop(out);
  assert.equal(Atomics.load(p.words, RING.TAIL), 0);
  c.pop(out), c.pop(out);
  assert.equal(c.peek(), -1);
  assert.equal(Atomics.load(p.words, RING.TAIL), 5);
});

Deno.test("records survive the 32-bit head/tail counters wrapping", () => {
  for (const start of [0x7ffffff0, -10]) {
    const sab = createRing(16, 8);
    const w = new Int32Array(sab);
    w[RING.HEAD] = w[RING.TAIL] = start;
    const p = new RingProducer(sab, { batch: 3 }), c = new RingConsumer(sab);
    const out = [0, 0, 0, 0];
    let next = 0;
    for (let i = 0; i < 100; i++) {
      while (!p.push([0, 1, 2, 3].map((k) => recordWord(i, k)))) {
        assert.equal(c.pop(out), true);
        const n = next++;
        assert.deepEqual(out, [0, 1, 2, 3].map((k) => recordWord(n, k)));
      }
    }
    p.flush();
    while (c.pop(out)) {
      const n = next++;
      assert.deepEqual(out, [0, 1, 2, 3].map((k) => recordWord(n, k)));
    }
    assert.equal(next, 100);
  }
});

Deno.test("waits time out on an idle ring, blocking and async", async () => {
  const sab = createRing(4, 4);
  const p = new RingProducer(sab), c = new RingConsumer(sab);
  assert.equal(c.waitForData(5), false);
  assert.equal(await c.waitForDataAsync(5), false);
  assert.equal(Atomics.load(c.words, RING.CONSUMER_SLEEPING), 0);
  for (let i = 0; i < 4; i++) p.push([i]);
  assert.equal(p.waitForSpace(5), false);
  assert.equal(await p.waitForSpaceAsync(5), false);
  assert.equal(c.waitForData(5), true);
});

Deno.test("byte ring: partial writes when full, reads across the wrap", () => {
  const sab = createByteRing(8);
  const wr = new ByteRingWriter(sab), rd = new ByteRingReader(sab);
  assert.equal(wr.write(new Uint8Array([1, 2, 3, 4, 5])), 5);
  const buf = new Uint8Array(8);
  assert.equal(rd.read(buf.subarray(0, 3)), 3);
  assert.deepEqual([...buf.subarray(0, 3)], [1, 2, 3]);
  assert.equal(wr.write(new Uint8Array([6, 7, 8, 9, 10, 11, 12])), 6); // 1 did not fit
  assert.equal(wr.writeOrDrop(new Uint8Array([13, 14])), 0);
  assert.equal(rd.dropped, 2);
  assert.equal(rd.read(buf), 8);
  assert.deepEqual([...buf], [4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(rd.read(buf), 0);
});

/** Wait (without spinning) until the consumer has declared itself asleep. */
async function untilAsleep(ring: SharedArrayBuffer): Promise<void> {
  const w = new Int32Array(ring);
  for (let i = 0; i < 2000 && Atomics.load(w, RING.CONSUMER_SLEEPING) === 0; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(Atomics.load(w, RING.CONSUMER_SLEEPING), 1, "consumer never went to sleep");
}

const COUNT = 10_000_000;

for (const mode of ["block", "async"] as const) {
  Deno.test(`10M records between two workers, ${mode} consumer: no loss, dup or reorder`, async () => {
    const ring = createRing(16, 1024); // ~9766 trips round the ring
    const spawnWith = () =>
      spawnActor<RingSideProtocol>({
        url: new URL("../../../testing/actors/ring_side.worker.ts", import.meta.url),
        descriptor: RING_SIDE,
        buffers: { ring },
        config: null,
      });
    const [prod, cons] = await Promise.all([spawnWith(), spawnWith()]);
    try {
      const consumed = cons.request({ kind: "consume", count: COUNT, batch: 64, mode }, {
        timeoutMs: 60_000,
      });
      // The consumer finds the ring empty and sleeps first, so its wake path is exercised.
      await untilAsleep(ring);
      const produced = await prod.request({ kind: "produce", count: COUNT, batch: 64 }, {
        timeoutMs: 60_000,
      });
      const got = await consumed;
      assert.equal(produced.pushed, COUNT);
      assert.equal(got.firstBad, null);
      assert.equal(got.bad, 0);
      assert.equal(got.received, COUNT);
      assert.ok(got.sleeps >= 1);
      const w = new Int32Array(ring);
      assert.equal(Atomics.load(w, RING.HEAD), COUNT);
      assert.equal(Atomics.load(w, RING.TAIL), COUNT);
    } finally {
      prod.terminate();
      cons.terminate();
    }
  });
}

for (const mode of ["block", "async"] as const) {
  Deno.test(`byte stream between two workers through a 64-byte ring, ${mode} reader`, async () => {
    const ring = createByteRing(64);
    const spawnWith = () =>
      spawnActor<RingSideProtocol>({
        url: new URL("../../../testing/actors/ring_side.worker.ts", import.meta.url),
        descriptor: RING_SIDE,
        buffers: { ring },
        config: null,
      });
    const [wr, rd] = await Promise.all([spawnWith(), spawnWith()]);
    try {
      const N = 300_000;
      const read = rd.request({ kind: "read-bytes", count: N, mode }, { timeoutMs: 30_000 });
      await untilAsleep(ring);
      const wrote = await wr.request({ kind: "write-bytes", count: N }, { timeoutMs: 30_000 });
      const got = await read;
      assert.equal(wrote.written, N);
      assert.equal(got.firstBad, null);
      assert.equal(got.received, N);
    } finally {
      wr.terminate();
      rd.terminate();
    }
  });
}
