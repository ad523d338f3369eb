// The split virtqueue (virtio 1.2 §2.7), device side, over guest RAM. The
// driver's descriptors are hostile: pop() walks a chain with a hop limit and
// checks every address and length against RAM (GuestRam.offset) before the
// device sees it, returning a typed chain or a named error — it never throws
// and never reads or writes outside the rings and the chain's buffers.
// push() writes the used ring. Read next: devices/virtio/device.ts.

import {
  MAX_QUEUE_SIZE,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
} from "./constants.ts";
import { addr64, GuestRam } from "./ram.ts";

/** A piece of a buffer: `len` bytes at RAM offset `off` (already checked to lie inside RAM). */
export interface Segment {
  off: number;
  len: number;
}

/** One available descriptor chain, checked. Zero-length descriptors are dropped. */
export interface Chain {
  head: number;
  /** Device-readable buffers, in chain order. */
  readable: Segment[];
  /** Device-writable buffers, in chain order (all after the readable ones). */
  writable: Segment[];
  readLen: number;
  writeLen: number;
}

/** Why a queue or a chain was refused. */
export type QueueErrorKind =
  | "queue-size" // not a power of two in 1..32768
  | "ring-misaligned" // desc/avail/used not 16/2/4-aligned
  | "ring-outside-ram" // a ring does not lie inside RAM
  | "avail-idx-too-far" // avail idx runs more than the queue size ahead
  | "desc-index-out-of-range" // a head or next index >= table size
  | "addr-outside-ram" // a buffer or indirect table outside RAM
  | "length-absurd" // a length larger than RAM, or a chain over 4 GiB
  | "chain-too-long" // more hops than the queue (or indirect table) size: a loop
  | "indirect-not-negotiated"
  | "indirect-malformed" // length 0 or not a multiple of 16, too long, or with NEXT
  | "indirect-nested" // an INDIRECT descriptor inside an indirect table
  | "readable-after-writable"; // §2.7.4.2: writable descriptors come last

export interface QueueError {
  kind: "error";
  error: QueueErrorKind;
  /** The chain's head if one was taken off the avail ring (it may be completed with 0 bytes). */
  head: number | null;
  detail: string;
}

export type PopResult = { kind: "chain"; chain: Chain } | { kind: "empty" } | QueueError;

export interface QueueLayout {
  size: number;
  /** Guest-physical addresses of the descriptor table, avail ring ("driver area") and used ring ("device area"). */
  desc: number;
  avail: number;
  used: number;
}

export interface QueueFeatures {
  /** VIRTIO_F_RING_EVENT_IDX negotiated. */
  eventIdx: boolean;
  /** VIRTIO_F_RING_INDIRECT_DESC negotiated. */
  indirect: boolean;
}

const EMPTY: PopResult = { kind: "empty" };
const MAX_CHAIN_BYTES = 0xffff_ffff; // the used ring's len is 32 bits

function fail(error: QueueErrorKind, head: number | null, detail: string): QueueError {
  return { kind: "error", error, head, detail };
}

/**
 * One split virtqueue. Create it when the driver has set the queue ready
 * (and DRIVER_OK); it resumes from the used index in guest RAM, so a
 * restarted device actor picks up exactly where completions stopped.
 */
export class VirtQueue {
  readonly size: number;
  readonly #ram: GuestRam;
  readonly #f: QueueFeatures;
  /** RAM offsets of the three areas. */
  readonly #desc: number;
  readonly #avail: number;
  readonly #used: number;
  #lastAvail: number;
  #nextUsed: number;
  /** The used index last published (the driver's view; staged elements lie between). */
  #published: number;
  /** Each popped chain's writable buffers, by head, until push() marks them written. */
  readonly #writable: (Segment[] | null)[];

  private constructor(
    ram: GuestRam,
    size: number,
    d: number,
    a: number,
    u: number,
    f: QueueFeatures,
  ) {
    this.#ram = ram;
    this.size = size;
    this.#f = f;
    this.#desc = d;
    this.#avail = a;
    this.#used = u;
    this.#nextUsed = Atomics.load(ram.u16, (u + 2) / 2);
    this.#lastAvail = this.#nextUsed;
    this.#published = this.#nextUsed;
    this.#writable = new Array(size).fill(null);
  }

  /** Check the layout against RAM; a queue, or a named error. */
  static create(ram: GuestRam, l: QueueLayout, f: QueueFeatures): VirtQueue | QueueError {
    const n = l.size;
    if (!Number.isInteger(n) || n < 1 || n > MAX_QUEUE_SIZE || (n & (n - 1)) !== 0) {
      return fail("queue-size", null, `queue size ${n}`);
    }
    if (l.desc % 16 !== 0 || l.avail % 2 !== 0 || l.used % 4 !== 0) {
      return fail(
        "ring-misaligned",
        null,
        `desc ${hex(l.desc)} avail ${hex(l.avail)} used ${hex(l.used)}`,
      );
    }
    const d = ram.offset(l.desc, 16 * n);
    const a = ram.offset(l.avail, 6 + 2 * n);
    const u = ram.offset(l.used, 6 + 8 * n);
    if (d < 0 || a < 0 || u < 0) {
      return fail(
        "ring-outside-ram",
        null,
        `desc ${hex(l.desc)} avail ${hex(l.avail)} used ${hex(l.used)} size ${n}`,
      );
    }
    return new VirtQueue(ram, n, d, a, u, f);
  }

  /** Index of the next avail ring entry the device will take. */
  get lastAvail(): number {
    return this.#lastAvail;
  }

  /** The used index the device will publish next. */
  get nextUsed(): number {
    return this.#nextUsed;
  }

  /** True if the driver has made buffers available that pop() has not taken. */
  hasPending(): boolean {
    return Atomics.load(this.#ram.u16, (this.#avail + 2) / 2) !== this.#lastAvail;
  }

  /** Take the next available chain. Never throws. */
  pop(): PopResult {
    const ram = this.#ram;
    const idxAt = (this.#avail + 2) / 2;
    let availIdx = Atomics.load(ram.u16, idxAt);
    if (availIdx === this.#lastAvail) {
      if (!this.#f.eventIdx) return EMPTY;
      // Ask to be notified for the next buffer, then look again: the driver
      // may have added one before it could see our avail_event (§2.7.10).
      Atomics.store(ram.u16, (this.#used + 4 + 8 * this.size) / 2, this.#lastAvail);
      availIdx = Atomics.load(ram.u16, idxAt);
      if (availIdx === this.#lastAvail) return EMPTY;
    }
    const ahead = (availIdx - this.#lastAvail) & 0xffff;
    if (ahead > this.size) {
      return fail(
        "avail-idx-too-far",
        null,
        `avail idx ${availIdx} is ${ahead} ahead of ${this.#lastAvail}, queue size ${this.size}`,
      );
    }
    const slot = this.#avail + 4 + 2 * (this.#lastAvail & (this.size - 1));
    const head = ram.view.getUint16(slot, true);
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    return this.#walk(head);
  }

  #walk(head: number): PopResult {
    const ram = this.#ram;
    const v = ram.view;
    let table = this.#desc;
    let tableSize = this.size;
    let maxHops = this.size;
    let inIndirect = false;
    let idx = head;
    let hops = 0;
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let readLen = 0;
    let writeLen = 0;
    for (;;) {
      if (idx >= tableSize) {
        // An out-of-range head cannot be returned to the driver: no head then.
        const h = inIndirect || hops > 0 ? head : null;
        return fail(
          "desc-index-out-of-range",
          h,
          `descriptor ${idx} of ${tableSize}${inIndirect ? " (indirect)" : ""}`,
        );
      }
      if (++hops > maxHops) {
        return fail(
          "chain-too-long",
          head,
          `chain from head ${head} exceeds ${maxHops} descriptors${
            inIndirect ? " (indirect)" : ""
          }`,
        );
      }
      const d = table + 16 * idx;
      const addr = addr64(v.getUint32(d, true), v.getUint32(d + 4, true));
      const len = v.getUint32(d + 8, true);
      const flags = v.getUint16(d + 12, true);
      const next = v.getUint16(d + 14, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.#f.indirect) return fail("indirect-not-negotiated", head, `descriptor ${idx}`);
        if (inIndirect) {
          return fail("indirect-nested", head, `descriptor ${idx} in an indirect table`);
        }
        if (flags & VIRTQ_DESC_F_NEXT) {
          return fail("indirect-malformed", head, `INDIRECT with NEXT at ${idx}`);
        }
        if (len === 0 || len % 16 !== 0 || len / 16 > this.size) {
          return fail(
            "indirect-malformed",
            head,
            `indirect table of ${len} bytes (queue size ${this.size})`,
          );
        }
        const t = ram.offset(addr, len);
        if (t < 0) return fail("addr-outside-ram", head, `indirect table ${hex(addr)}+${len}`);
        // The WRITE flag of the descriptor pointing at a table is ignored (§2.7.5.3.2).
        table = t;
        tableSize = len / 16;
        maxHops = tableSize;
        hops = 0;
        idx = 0;
        inIndirect = true;
        continue;
      }
      if (len > ram.size) return fail("length-absurd", head, `descriptor ${idx} length ${len}`);
      const write = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (!write && writable.length > 0) {
        return fail("readable-after-writable", head, `descriptor ${idx}`);
      }
      if (len > 0) {
        const off = ram.offset(addr, len);
        if (off < 0) return fail("addr-outside-ram", head, `buffer ${hex(addr)}+${len}`);
        if (write) {
          writable.push({ off, len });
          writeLen += len;
        } else {
          readable.push({ off, len });
          readLen += len;
        }
        if (readLen > MAX_CHAIN_BYTES || writeLen > MAX_CHAIN_BYTES) {
          return fail("length-absurd", head, `chain longer than 4 GiB`);
        }
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      idx = next;
    }
    if (ram.dmaDirty !== null) this.#writable[head] = writable.length > 0 ? writable : null;
    return { kind: "chain", chain: { head, readable, writable, readLen, writeLen } };
  }

  /**
   * Give back the last `n` chains pop() took, none of them pushed: the next
   * pop() takes them again (QEMU's virtqueue_unpop). For a device that needs
   * several buffers for one request and finds too few posted.
   */
  unpop(n: number): void {
    this.#lastAvail = (this.#lastAvail - n) & 0xffff;
  }

  /**
   * Return chain `head` with `written` bytes written into its writable
   * buffers. Publishes the element before the index. Returns whether the
   * driver asked for an interrupt (VRING_AVAIL_F_NO_INTERRUPT or used_event).
   */
  push(head: number, written: number): boolean {
    this.stage(head, written);
    return this.publish();
  }

  /**
   * Write chain `head`'s used element without publishing it: the driver sees
   * it only at the next publish(), together with every element staged
   * before — how one received frame spread over several buffers (virtio-net
   * MRG_RXBUF) appears all at once.
   */
  stage(head: number, written: number): void {
    const ram = this.#ram;
    // The device's writes are done: pages that may hold code are marked before
    // the driver can see the buffers (the translator drops their code).
    const segs = this.#writable[head];
    if (segs) {
      this.#writable[head] = null;
      for (const s of segs) ram.noteWritten(s.off, s.len);
    }
    const e = this.#used + 4 + 8 * (this.#nextUsed & (this.size - 1));
    ram.view.setUint32(e, head >>> 0, true);
    ram.view.setUint32(e + 4, written >>> 0, true);
    this.#nextUsed = (this.#nextUsed + 1) & 0xffff;
  }

  /** Publish the staged elements' index; whether the driver asked for an interrupt for them. */
  publish(): boolean {
    const ram = this.#ram;
    const old = this.#published;
    const now = this.#nextUsed;
    if (now === old) return false;
    this.#published = now;
    // A seq-cst store: the elements are visible before the index.
    Atomics.store(ram.u16, (this.#used + 2) / 2, now);
    if (this.#f.eventIdx) {
      // vring_need_event(used_event, new, old): used_event lies in [old, new).
      const usedEvent = Atomics.load(ram.u16, (this.#avail + 4 + 2 * this.size) / 2);
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (Atomics.load(ram.u16, this.#avail / 2) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Ask the driver not to notify (while the device is busy anyway) or to
   * notify again. Without event-idx this is VRING_USED_F_NO_NOTIFY; with it,
   * pop() keeps avail_event current, and this only sets the flag (ignored by
   * drivers then). After re-enabling, look at hasPending() before sleeping.
   */
  setNotify(enabled: boolean): void {
    const at = this.#used / 2;
    const f = Atomics.load(this.#ram.u16, at);
    Atomics.store(
      this.#ram.u16,
      at,
      enabled ? f & ~VRING_USED_F_NO_NOTIFY : f | VRING_USED_F_NO_NOTIFY,
    );
  }
}

const hex = (n: number) => "0x" + n.toString(16);

/**
 * Byte streams over a chain's segments: the device reads a request and
 * writes a reply as if the buffers were contiguous (§2.7.4: drivers may
 * split headers and data at any descriptor boundary).
 */
export function sliceSegments(segs: Segment[], start: number, len: number): Segment[] {
  const out: Segment[] = [];
  let skip = start;
  for (const s of segs) {
    if (len <= 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, len);
    out.push({ off: s.off + skip, len: n });
    len -= n;
    skip = 0;
  }
  return out;
}

/** Copy `len` bytes starting at stream position `start` out of the segments. */
export function gatherBytes(
  ram: GuestRam,
  segs: Segment[],
  start: number,
  len: number,
): Uint8Array {
  const out = new Uint8Array(len);
  let at = 0;
  for (const s of sliceSegments(segs, start, len)) {
    out.set(ram.bytes.subarray(s.off, s.off + s.len), at);
    at += s.len;
  }
  return out.subarray(0, at);
}

/** Copy `data` into the segments from stream position `start`; returns bytes written. */
export function scatterBytes(
  ram: GuestRam,
  segs: Segment[],
  start: number,
  data: Uint8Array,
): number {
  let at = 0;
  for (const s of sliceSegments(segs, start, data.length)) {
    ram.bytes.set(data.subarray(at, at + s.len), s.off);
    at += s.len;
  }
  return at;
}
