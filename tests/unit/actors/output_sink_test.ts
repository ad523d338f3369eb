// Unit tests of OutputSink (actors/output.ts) with an output ring: the writer
// side of a library machine's console. A write larger than the ring waits for
// the reader, never holds more than the ring, loses nothing and keeps order;
// a stopping machine ends the wait, dropping the rest.
// Read next: launcher/library.ts (the reader), tests/e2e/library_test.ts.
import assert from "../../../testing/assert.ts";
import { OutputSink } from "../../../actors/output.ts";
import { ByteRingReader, createByteRing } from "../../../lib/ring.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

Deno.test("OutputSink: a write larger than the ring waits for the reader, whole and in order", () => {
  const ring = createByteRing(1024);
  const reader = new ByteRingReader(ring);
  const got: number[] = [];
  const idle: boolean[] = [];
  let peak = 0;
  // The reader here is the `stopped` check, called each time the ring is full.
  const sink = new OutputSink(ring, () => {
    peak = Math.max(peak, reader.available);
    const buf = new Uint8Array(300); // less than the ring: several waits
    const n = reader.read(buf);
    got.push(...buf.subarray(0, n));
    return false;
  }, (w) => idle.push(w));
  const data = bytes(10_000);
  sink.write(data);
  const rest = new Uint8Array(2048);
  got.push(...rest.subarray(0, reader.read(rest)));
  assert.deepEqual(Uint8Array.from(got), data);
  assert.equal(peak, 1024, "the ring filled and held no more than its size");
  assert.ok(idle.length > 0 && idle.length % 2 === 0, "each wait is bracketed by idle(true/false)");
  assert.deepEqual(idle.slice(0, 2), [true, false]);
});

Deno.test("OutputSink: a stopping machine ends the wait; the rest is dropped", () => {
  const ring = createByteRing(1024);
  const reader = new ByteRingReader(ring);
  let asked = 0;
  const sink = new OutputSink(ring, () => ++asked > 0);
  const t0 = performance.now();
  sink.write(bytes(5000));
  assert.ok(performance.now() - t0 < 50, "no wait once stopping");
  assert.equal(asked, 1);
  assert.equal(reader.available, 1024, "what fitted is in the ring");
});
