// Single-producer/single-consumer rings in a SharedArrayBuffer: fixed-size
// records (doorbells, interrupt-line changes, small commands) and a byte-stream
// variant (console bytes). Head and tail move with Atomics; a side that finds
// nothing to do sleeps, and the other side notifies only if it said so.
// Layout and the full contract: docs/ipc.md. Read next: actors/runtime/protocol.ts.

/** "AVRR": magic word at index 0 of every ring header. */
export const RING_MAGIC = 0x41565252;
export const RING_VERSION = 1;

/**
 * Int32 word indexes into a ring's header, relative to the ring's start.
 * HEAD and TAIL sit on their own 64-byte lines so the producer's and the
 * consumer's stores do not fight over one cache line.
 */
export const RING = {
  MAGIC: 0,
  VERSION: 1,
  /** Bytes per record: a multiple of 4 (record ring) or 1 (byte ring). */
  RECORD_BYTES: 2,
  /** Records (or bytes) the ring holds; a power of two. */
  CAPACITY: 3,
  /** Records the producer dropped because the ring was full (pushOrDrop). */
  DROPPED: 4,
  /** Records published, a wrapping 32-bit count. Written only by the producer. */
  HEAD: 16,
  /** 1 while the consumer is (about to be) asleep on HEAD. Written only by the consumer. */
  CONSUMER_SLEEPING: 17,
  /** Records consumed, a wrapping 32-bit count. Written only by the consumer. */
  TAIL: 32,
  /** 1 while the producer is (about to be) asleep on TAIL. Written only by the producer. */
  PRODUCER_SLEEPING: 33,
} as const;

/** Header size in bytes; records start here. */
export const RING_HEADER_BYTES = 192;
const DATA_WORD = RING_HEADER_BYTES / 4;
const MAX_CAPACITY = 1 << 30;

/** Bytes a ring of `capacity` records of `recordBytes` each needs. */
export function ringBytes(recordBytes: number, capacity: number): number {
  checkGeometry(recordBytes, capacity);
  return RING_HEADER_BYTES + recordBytes * capacity;
}

function checkGeometry(recordBytes: number, capacity: number): void {
  if (!Number.isInteger(recordBytes) || recordBytes < 1 || recordBytes > 4096) {
    throw new RangeError(`ring record size ${recordBytes} is not an integer in 1..4096`);
  }
  if (recordBytes !== 1 && recordBytes % 4 !== 0) {
    throw new RangeError(
      `ring record size ${recordBytes} must be 1 (byte ring) or a multiple of 4`,
    );
  }
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > MAX_CAPACITY) {
    throw new RangeError(`ring capacity ${capacity} is not an integer in 2..2^30`);
  }
  if ((capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity ${capacity} is not a power of two`);
  }
}

/**
 * Write a fresh ring header at `byteOffset` of `sab` (which must be zeroed
 * there or unused by anyone). Lets several rings share one buffer.
 */
export function initRing(
  sab: SharedArrayBuffer,
  byteOffset: number,
  recordBytes: number,
  capacity: number,
): void {
  const need = ringBytes(recordBytes, capacity);
  if (byteOffset % 64 !== 0 || byteOffset < 0 || byteOffset + need > sab.byteLength) {
    throw new RangeError(
      `ring of ${need} bytes at offset ${byteOffset} does not fit a ${sab.byteLength}-byte buffer ` +
        `(offset must be a multiple of 64)`,
    );
  }
  const w = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
  w.fill(0);
  w[RING.RECORD_BYTES] = recordBytes;
  w[RING.CAPACITY] = capacity;
  w[RING.VERSION] = RING_VERSION;
  Atomics.store(w, RING.MAGIC, RING_MAGIC);
}

/** A new SharedArrayBuffer holding one ring of `capacity` records of `recordBytes` bytes. */
export function createRing(recordBytes: number, capacity: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(ringBytes(recordBytes, capacity));
  initRing(sab, 0, recordBytes, capacity);
  return sab;
}

/** A new SharedArrayBuffer holding one byte ring of `capacity` bytes. */
export function createByteRing(capacity: number): SharedArrayBuffer {
  return createRing(1, capacity);
}

/** Geometry read back from a ring header; throws a clear error if it is not a ring. */
export interface RingGeometry {
  recordBytes: number;
  capacity: number;
}

export function readRingHeader(sab: SharedArrayBuffer, byteOffset = 0): RingGeometry {
  if (byteOffset % 4 !== 0 || byteOffset + RING_HEADER_BYTES > sab.byteLength) {
    throw new RangeError(`no room for a ring header at offset ${byteOffset}`);
  }
  const w = new Int32Array(sab, byteOffset, RING_HEADER_BYTES / 4);
  const magic = Atomics.load(w, RING.MAGIC);
  if (magic !== RING_MAGIC || w[RING.VERSION] !== RING_VERSION) {
    throw new Error(
      `not a ring at offset ${byteOffset}: magic ${(magic >>> 0).toString(16)} version ${
        w[RING.VERSION]
      } (want ${RING_MAGIC.toString(16)} v${RING_VERSION})`,
    );
  }
  const recordBytes = w[RING.RECORD_BYTES], capacity = w[RING.CAPACITY];
  checkGeometry(recordBytes, capacity);
  if (byteOffset + ringBytes(recordBytes, capacity) > sab.byteLength) {
    throw new RangeError(`ring at offset ${byteOffset} runs past the end of its buffer`);
  }
  return { recordBytes, capacity };
}

export interface RingSideOptions {
  /** Where the ring starts in the buffer (default 0). */
  byteOffset?: number;
  /**
   * Publish HEAD (producer) or TAIL (consumer) every `batch` records instead
   * of every record. Unpublished records are invisible to the other side
   * until `flush()`; both sides flush before they sleep. Default 1.
   */
  batch?: number;
}

/**
 * Sleep protocol shared by both sides: declare the flag, re-check the
 * counter, then wait while it still holds `seen`. The other side stores the
 * counter before it loads the flag, so one of the two always sees the other
 * (both are sequentially consistent Atomics).
 */
function sleepOn(w: Int32Array, counter: number, flag: number, seen: number, ms: number): void {
  Atomics.store(w, flag, 1);
  if (Atomics.load(w, counter) === seen) Atomics.wait(w, counter, seen, ms);
  Atomics.store(w, flag, 0);
}

async function sleepOnAsync(
  w: Int32Array,
  counter: number,
  flag: number,
  seen: number,
  ms: number,
): Promise<void> {
  Atomics.store(w, flag, 1);
  if (Atomics.load(w, counter) === seen) {
    const r = Atomics.waitAsync(w, counter, seen, ms);
    if (r.async) {
      // A pending waitAsync does not keep the event loop alive, and its
      // timeout may fire after a timer of the same length: an interval held
      // until it settles makes a bounded wait always end. An unbounded one
      // relies on the worker's own liveness (its message port).
      const keep = ms === Infinity ? undefined : setInterval(() => {}, Math.max(1, ms));
      await r.value;
      clearInterval(keep);
    }
  }
  Atomics.store(w, flag, 0);
}

/** Store a counter, then wake the other side if it declared itself asleep. */
function publish(w: Int32Array, counter: number, value: number, otherFlag: number): void {
  Atomics.store(w, counter, value);
  if (Atomics.load(w, otherFlag) !== 0) Atomics.notify(w, counter);
}

class RingSide {
  /** Int32 view of the whole ring: header words then records. */
  readonly words: Int32Array;
  /** Byte view of the whole ring (same start as `words`). */
  readonly bytes: Uint8Array;
  readonly recordBytes: number;
  readonly capacity: number;
  protected readonly mask: number;
  protected readonly batch: number;

  constructor(sab: SharedArrayBuffer, opts: RingSideOptions, byteRing: boolean) {
    const byteOffset = opts.byteOffset ?? 0;
    const g = readRingHeader(sab, byteOffset);
    if (byteRing !== (g.recordBytes === 1)) {
      throw new Error(
        byteRing
          ? `ring at offset ${byteOffset} has ${g.recordBytes}-byte records, not a byte ring`
          : `ring at offset ${byteOffset} is a byte ring; open it with ByteRingWriter/Reader`,
      );
    }
    this.recordBytes = g.recordBytes;
    this.capacity = g.capacity;
    this.mask = g.capacity - 1;
    const total = ringBytes(g.recordBytes, g.capacity);
    this.words = new Int32Array(sab, byteOffset, total >> 2);
    this.bytes = new Uint8Array(sab, byteOffset, total);
    const batch = opts.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`ring batch ${batch} < 1`);
    this.batch = Math.min(batch, g.capacity);
  }

  /** Records dropped by the producer's pushOrDrop. */
  get dropped(): number {
    return Atomics.load(this.words, RING.DROPPED) >>> 0;
  }
}

/**
 * The producing side of a record ring. Records are `recordBytes / 4` Int32
 * words; write them with `push`, or in place: `reserve()` → write
 * `words[at + i]` → `commit()`.
 */
export class RingProducer extends RingSide {
  /** Word count of one record. */
  readonly recordWords: number;
  private head: number;
  private published: number;
  private tailSeen: number;

  constructor(sab: SharedArrayBuffer, opts: RingSideOptions = {}) {
    super(sab, opts, false);
    this.recordWords = this.recordBytes >> 2;
    this.head = this.published = Atomics.load(this.words, RING.HEAD);
    this.tailSeen = Atomics.load(this.words, RING.TAIL);
  }

  /** Records that can be pushed now (reads the consumer's tail). */
  get free(): number {
    this.tailSeen = Atomics.load(this.words, RING.TAIL);
    return this.capacity - ((this.head - this.tailSeen) | 0);
  }

  /**
   * Word index (into `words`) of the next free record, or -1 if the ring is
   * full. Nothing is overwritten: a full ring flushes what is pending and
   * reports it; the caller drops-and-counts or waits with waitForSpace.
   */
  reserve(): number {
    if (((this.head - this.tailSeen) | 0) >= this.capacity) {
      this.tailSeen = Atomics.load(this.words, RING.TAIL);
      if (((this.head - this.tailSeen) | 0) >= this.capacity) {
        this.flush();
        return -1;
      }
    }
    return DATA_WORD + (this.head & this.mask) * this.recordWords;
  }

  /** Make the record written at `reserve()` part of the ring (published per `batch`). */
  commit(): void {
    this.head = (this.head + 1) | 0;
    if (((this.head - this.published) | 0) >= this.batch) this.flush();
  }

  /** Copy one record (exactly recordWords Int32 values) in; false if the ring is full. */
  push(record: ArrayLike<number>): boolean {
    if (record.length !== this.recordWords) {
      throw new RangeError(`record has ${record.length} words, ring wants ${this.recordWords}`);
    }
    const at = this.reserve();
    if (at < 0) return false;
    const w = this.words;
    for (let i = 0; i < record.length; i++) w[at + i] = record[i];
    this.commit();
    return true;
  }

  /** push, and count a drop in the header's DROPPED word if the ring is full. */
  pushOrDrop(record: ArrayLike<number>): boolean {
    if (this.push(record)) return true;
    Atomics.add(this.words, RING.DROPPED, 1);
    return false;
  }

  /** Publish every committed record now and wake the consumer if it sleeps. */
  flush(): void {
    if (this.head === this.published) return;
    this.published = this.head;
    publish(this.words, RING.HEAD, this.head, RING.CONSUMER_SLEEPING);
  }

  /** Block (Atomics.wait) until there is room for a record; false on timeout. */
  waitForSpace(timeoutMs = Infinity): boolean {
    if (this.free > 0) return true;
    this.flush();
    sleepOn(this.words, RING.TAIL, RING.PRODUCER_SLEEPING, this.tailSeen, timeoutMs);
    return this.free > 0;
  }

  /** Await (Atomics.waitAsync) room for a record; false on timeout. */
  async waitForSpaceAsync(timeoutMs = Infinity): Promise<boolean> {
    if (this.free > 0) return true;
    this.flush();
    await sleepOnAsync(this.words, RING.TAIL, RING.PRODUCER_SLEEPING, this.tailSeen, timeoutMs);
    return this.free > 0;
  }
}

/**
 * The consuming side of a record ring: `peek()` → read `words[at + i]` →
 * `release()`, or `pop(out)`, or `drain(fn)` for everything available.
 */
export class RingConsumer extends RingSide {
  readonly recordWords: number;
  private tail: number;
  private released: number;
  private headSeen: number;

  constructor(sab: SharedArrayBuffer, opts: RingSideOptions = {}) {
    super(sab, opts, false);
    this.recordWords = this.recordBytes >> 2;
    this.tail = this.released = Atomics.load(this.words, RING.TAIL);
    this.headSeen = Atomics.load(this.words, RING.HEAD);
  }

  /** Records published and not yet consumed (reads the producer's head). */
  get available(): number {
    this.headSeen = Atomics.load(this.words, RING.HEAD);
    return (this.headSeen - this.tail) | 0;
  }

  /** Word index of the oldest unconsumed record, or -1 if none is published. */
  peek(): number {
    if (this.headSeen === this.tail) {
      this.headSeen = Atomics.load(this.words, RING.HEAD);
      if (this.headSeen === this.tail) {
        this.flush(); // an empty ring hands all its space back
        return -1;
      }
    }
    return DATA_WORD + (this.tail & this.mask) * this.recordWords;
  }

  /** Done with the record at `peek()`: its slot goes back to the producer (per `batch`). */
  release(): void {
    this.tail = (this.tail + 1) | 0;
    if (((this.tail - this.released) | 0) >= this.batch) this.flush();
  }

  /** Copy the oldest record into `out`; false if the ring is empty. */
  pop(out: { [i: number]: number; length: number }): boolean {
    const at = this.peek();
    if (at < 0) return false;
    const w = this.words;
    for (let i = 0; i < this.recordWords; i++) out[i] = w[at + i];
    this.release();
    return true;
  }

  /**
   * Call `fn(words, at)` for each available record (at most `max`), then
   * hand the space back in one store. Returns the number consumed.
   */
  drain(fn: (words: Int32Array, at: number) => void, max = Infinity): number {
    let n = 0;
    const w = this.words;
    while (n < max) {
      if (this.headSeen === this.tail) {
        this.headSeen = Atomics.load(w, RING.HEAD);
        if (this.headSeen === this.tail) break;
      }
      fn(w, DATA_WORD + (this.tail & this.mask) * this.recordWords);
      this.tail = (this.tail + 1) | 0;
      n++;
    }
    this.flush();
    return n;
  }

  /** Hand every consumed slot back now and wake the producer if it waits for space. */
  flush(): void {
    if (this.tail === this.released) return;
    this.released = this.tail;
    publish(this.words, RING.TAIL, this.tail, RING.PRODUCER_SLEEPING);
  }

  /**
   * Block (Atomics.wait) until a record is published; false on timeout. For
   * a worker that never returns to its event loop, like the cpu.
   */
  waitForData(timeoutMs = Infinity): boolean {
    if (this.available > 0) return true;
    this.flush();
    sleepOn(this.words, RING.HEAD, RING.CONSUMER_SLEEPING, this.tail, timeoutMs);
    return this.available > 0;
  }

  /**
   * Await (Atomics.waitAsync) a published record; false on timeout. For a
   * worker that also takes messages: onmessage still runs while this waits.
   * A pending waitAsync does not keep the event loop alive on its own.
   */
  async waitForDataAsync(timeoutMs = Infinity): Promise<boolean> {
    if (this.available > 0) return true;
    this.flush();
    await sleepOnAsync(this.words, RING.HEAD, RING.CONSUMER_SLEEPING, this.tail, timeoutMs);
    return this.available > 0;
  }
}

/** The writing side of a byte ring: `write(bytes)` takes as many bytes as fit. */
export class ByteRingWriter extends RingSide {
  private head: number;
  private tailSeen: number;

  constructor(sab: SharedArrayBuffer, opts: { byteOffset?: number } = {}) {
    super(sab, opts, true);
    this.head = Atomics.load(this.words, RING.HEAD);
    this.tailSeen = Atomics.load(this.words, RING.TAIL);
  }

  get free(): number {
    this.tailSeen = Atomics.load(this.words, RING.TAIL);
    return this.capacity - ((this.head - this.tailSeen) | 0);
  }

  /**
   * Copy as much of `src` as fits and publish it; returns the count written
   * (0 when full: nothing is overwritten, the caller keeps or drops the rest).
   */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n === 0) return 0;
    const start = this.head & this.mask;
    const first = Math.min(n, this.capacity - start);
    this.bytes.set(src.subarray(0, first), RING_HEADER_BYTES + start);
    if (first < n) this.bytes.set(src.subarray(first, n), RING_HEADER_BYTES);
    this.head = (this.head + n) | 0;
    publish(this.words, RING.HEAD, this.head, RING.CONSUMER_SLEEPING);
    return n;
  }

  /** write, counting the bytes that did not fit in DROPPED. */
  writeOrDrop(src: Uint8Array): number {
    const n = this.write(src);
    if (n < src.length) Atomics.add(this.words, RING.DROPPED, src.length - n);
    return n;
  }

  waitForSpace(timeoutMs = Infinity): boolean {
    if (this.free > 0) return true;
    sleepOn(this.words, RING.TAIL, RING.PRODUCER_SLEEPING, this.tailSeen, timeoutMs);
    return this.free > 0;
  }

  async waitForSpaceAsync(timeoutMs = Infinity): Promise<boolean> {
    if (this.free > 0) return true;
    await sleepOnAsync(this.words, RING.TAIL, RING.PRODUCER_SLEEPING, this.tailSeen, timeoutMs);
    return this.free > 0;
  }
}

/** The reading side of a byte ring: `read(into)` copies out what is there. */
export class ByteRingReader extends RingSide {
  private tail: number;

  constructor(sab: SharedArrayBuffer, opts: { byteOffset?: number } = {}) {
    super(sab, opts, true);
    this.tail = Atomics.load(this.words, RING.TAIL);
  }

  get available(): number {
    return (Atomics.load(this.words, RING.HEAD) - this.tail) | 0;
  }

  /** Copy up to `dst.length` bytes out and free their space; returns the count (0 if empty). */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.available);
    if (n === 0) return 0;
    const start = this.tail & this.mask;
    const first = Math.min(n, this.capacity - start);
    const base = RING_HEADER_BYTES;
    dst.set(this.bytes.subarray(base + start, base + start + first), 0);
    if (first < n) dst.set(this.bytes.subarray(base, base + n - first), first);
    this.tail = (this.tail + n) | 0;
    publish(this.words, RING.TAIL, this.tail, RING.PRODUCER_SLEEPING);
    return n;
  }

  waitForData(timeoutMs = Infinity): boolean {
    if (this.available > 0) return true;
    sleepOn(this.words, RING.HEAD, RING.CONSUMER_SLEEPING, this.tail, timeoutMs);
    return this.available > 0;
  }

  async waitForDataAsync(timeoutMs = Infinity): Promise<boolean> {
    if (this.available > 0) return true;
    await sleepOnAsync(this.words, RING.HEAD, RING.CONSUMER_SLEEPING, this.tail, timeoutMs);
    return this.available > 0;
  }
}
