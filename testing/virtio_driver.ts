// Test support: a fake guest RAM and the driver's half of a split virtqueue
// (what Linux's virtio_ring does), so queue and device tests can build
// descriptor chains — plain, indirect, or deliberately broken — and read the
// used ring back, like Firecracker's virtio test_utils.rs. Also a helper that
// brings a device up through its MMIO registers the way virtio_mmio.c does.
// The one fake driver: testing/net_fakeguest.ts plays virtio-net with it.
// Read next: tests/unit/virtio/queue_test.ts.

import { RAM_BASE } from "../machine/memmap.ts";
import {
  F,
  STATUS,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from "../devices/virtio/constants.ts";
import { type MmioTransport, REG } from "../devices/virtio/mmio.ts";
import type { QueueLayout } from "../devices/virtio/queue.ts";
import { GuestRam } from "../devices/virtio/ram.ts";

/**
 * A small guest RAM with a bump allocator for rings and buffers: a new one
 * of `size` bytes, or a view of an existing RAM buffer (a device under test
 * already holds it).
 */
export class FakeRam {
  readonly sab: SharedArrayBuffer;
  readonly ram: GuestRam;
  readonly base: number;
  readonly size: number;
  #next: number;

  constructor(size: number | SharedArrayBuffer = 1 << 20, base = RAM_BASE) {
    if (typeof size !== "number") {
      this.sab = size;
      size = size.byteLength;
    } else {
      this.sab = new SharedArrayBuffer(size);
    }
    this.ram = new GuestRam(this.sab, base);
    this.base = base;
    this.size = size;
    this.#next = base + 0x1000;
  }

  /** Reserve `len` bytes aligned to `align`; returns the guest-physical address. */
  alloc(len: number, align = 16): number {
    const a = Math.ceil(this.#next / align) * align;
    if (a + len > this.base + this.size) throw new RangeError("FakeRam: out of memory");
    this.#next = a + len;
    return a;
  }

  write(addr: number, bytes: Uint8Array): void {
    this.ram.bytes.set(bytes, addr - this.base);
  }
  read(addr: number, len: number): Uint8Array {
    return this.ram.bytes.slice(addr - this.base, addr - this.base + len);
  }
  u16(addr: number): number {
    return this.ram.view.getUint16(addr - this.base, true);
  }
  u32(addr: number): number {
    return this.ram.view.getUint32(addr - this.base, true);
  }
  setU16(addr: number, v: number): void {
    this.ram.view.setUint16(addr - this.base, v, true);
  }
  setU32(addr: number, v: number): void {
    this.ram.view.setUint32(addr - this.base, v, true);
  }
}

/** One buffer of a chain: `len` bytes, device-writable or not, optionally at a given address or with contents. */
export interface BufSpec {
  len: number;
  write?: boolean;
  data?: Uint8Array;
  /** Use this address instead of allocating (may be hostile). */
  addr?: number;
}

/** A raw descriptor, for building broken tables. */
export interface RawDesc {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

/**
 * The driver's side of one split virtqueue in a FakeRam. Descriptors are
 * handed out from a free list (in order, as Linux does on a fresh queue) and
 * come back when the device returns their chain (takeUsed, reclaim).
 */
export class DriverQueue {
  readonly mem: FakeRam;
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  #free: number[];
  #availIdx = 0;
  #seenUsed = 0;
  /** Descriptor ids of each chain in flight, by head. */
  #chains = new Map<number, number[]>();
  /** Used elements reclaim() consumed that takeUsed() has not returned yet. */
  #unread: { id: number; len: number }[] = [];

  /**
   * Rings from the RAM's allocator, or, with `at`, laid out back to back from
   * that guest-physical address (descriptors, avail, used on 4 bytes), as a
   * test that places its rings itself wants.
   */
  constructor(mem: FakeRam, size: number, at?: number) {
    this.mem = mem;
    this.size = size;
    if (at === undefined) {
      this.desc = mem.alloc(16 * size, 16);
      this.avail = mem.alloc(6 + 2 * size, 2);
      this.used = mem.alloc(6 + 8 * size, 4);
    } else {
      this.desc = at;
      this.avail = at + 16 * size;
      this.used = Math.ceil((this.avail + 6 + 2 * size) / 4) * 4; // not & ~3: addresses pass 2^31
    }
    this.#free = Array.from({ length: size }, (_, i) => i);
  }

  layout(): QueueLayout {
    return { size: this.size, desc: this.desc, avail: this.avail, used: this.used };
  }

  /** Write descriptor `i` of the table at `table` (default: the queue's own). */
  setDesc(i: number, d: RawDesc, table = this.desc): void {
    const at = table + 16 * i - this.mem.base;
    const v = this.mem.ram.view;
    v.setUint32(at, d.addr % 0x1_0000_0000, true);
    v.setUint32(at + 4, Math.floor(d.addr / 0x1_0000_0000), true);
    v.setUint32(at + 8, d.len, true);
    v.setUint16(at + 12, d.flags, true);
    v.setUint16(at + 14, d.next, true);
  }

  /** Allocate buffers for `bufs` (unless given an address) and fill in data. */
  #place(bufs: BufSpec[]): number[] {
    return bufs.map((b) => {
      const a = b.addr ?? this.mem.alloc(Math.max(b.len, 1), 8);
      if (b.data && b.addr === undefined) this.mem.write(a, b.data);
      return a;
    });
  }

  /**
   * Build a chain and make it available. With `indirect`, the buffers go in
   * an indirect table behind one descriptor. Returns the head and the
   * buffers' addresses.
   */
  add(bufs: BufSpec[], opts: { indirect?: boolean; publish?: boolean } = {}): {
    head: number;
    addrs: number[];
  } {
    const addrs = this.#place(bufs);
    let head: number;
    if (opts.indirect) {
      const table = this.mem.alloc(16 * bufs.length, 16);
      bufs.forEach((b, i) =>
        this.setDesc(i, {
          addr: addrs[i],
          len: b.len,
          flags: (b.write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < bufs.length ? VIRTQ_DESC_F_NEXT : 0),
          next: i + 1 < bufs.length ? i + 1 : 0,
        }, table)
      );
      head = this.#take();
      this.#chains.set(head, [head]);
      this.setDesc(head, {
        addr: table,
        len: 16 * bufs.length,
        flags: VIRTQ_DESC_F_INDIRECT,
        next: 0,
      });
    } else {
      const ids = bufs.map(() => this.#take());
      bufs.forEach((b, i) =>
        this.setDesc(ids[i], {
          addr: addrs[i],
          len: b.len,
          flags: (b.write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < bufs.length ? VIRTQ_DESC_F_NEXT : 0),
          next: i + 1 < bufs.length ? ids[i + 1] : 0,
        })
      );
      head = ids[0];
      this.#chains.set(head, ids);
    }
    if (opts.publish ?? true) this.publish(head);
    return { head, addrs };
  }

  #take(): number {
    if (this.#free.length === 0) this.reclaim();
    const i = this.#free.shift();
    if (i === undefined) throw new RangeError("DriverQueue: no free descriptors");
    return i;
  }

  /** Free the descriptors of chains the device has returned (add() does this when it runs out). */
  reclaim(): void {
    this.#unread.push(...this.#drain());
  }

  /** The used elements the device published since the last call; their descriptors are free again. */
  takeUsed(): { id: number; len: number }[] {
    const out = [...this.#unread, ...this.#drain()];
    this.#unread = [];
    return out;
  }

  #drain(): { id: number; len: number }[] {
    const used = this.usedIdx();
    const out = [];
    while (this.#seenUsed !== used) {
      const e = this.usedElem(this.#seenUsed);
      out.push(e);
      const ids = this.#chains.get(e.id);
      if (ids) this.#free.push(...ids);
      this.#chains.delete(e.id);
      this.#seenUsed = (this.#seenUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Put `head` in the avail ring and bump avail idx. */
  publish(head: number): void {
    this.mem.setU16(this.avail + 4 + 2 * (this.#availIdx % this.size), head);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.mem.setU16(this.avail + 2, this.#availIdx);
  }

  /** Set avail idx directly (for wrap-around and "too far ahead" tests). */
  setAvailIdx(v: number): void {
    this.#availIdx = v & 0xffff;
    this.mem.setU16(this.avail + 2, this.#availIdx);
  }
  /** Set the used idx as a device would have left it (for resume tests). */
  setUsedIdx(v: number): void {
    this.mem.setU16(this.used + 2, v & 0xffff);
    this.#seenUsed = v & 0xffff;
  }
  usedIdx(): number {
    return this.mem.u16(this.used + 2);
  }
  usedFlags(): number {
    return this.mem.u16(this.used);
  }
  /** Used ring element for used index `i`. */
  usedElem(i: number): { id: number; len: number } {
    const at = this.used + 4 + 8 * (i % this.size);
    return { id: this.mem.u32(at), len: this.mem.u32(at + 4) };
  }
  setAvailFlags(f: number): void {
    this.mem.setU16(this.avail, f);
  }
  setUsedEvent(v: number): void {
    this.mem.setU16(this.avail + 4 + 2 * this.size, v);
  }
  availEvent(): number {
    return this.mem.u16(this.used + 4 + 8 * this.size);
  }
}

/**
 * Bring a device up through its registers as Linux's virtio_mmio does:
 * reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues, DRIVER_OK.
 * Returns the status read back (FEATURES_OK missing = refused).
 */
export function driverSetup(
  mmio: MmioTransport,
  queues: { size: number; desc: number; avail: number; used: number }[],
  opts: { features?: bigint } = {},
): number {
  const w = (r: number, v: number) => mmio.write(r, 4, v);
  w(REG.STATUS, 0);
  w(REG.STATUS, STATUS.ACKNOWLEDGE);
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  let offered = 0n;
  for (const sel of [1, 0]) {
    w(REG.DEVICE_FEATURES_SEL, sel);
    offered |= BigInt(mmio.read(REG.DEVICE_FEATURES, 4)) << BigInt(32 * sel);
  }
  const want = opts.features ?? offered;
  for (const sel of [0, 1]) {
    w(REG.DRIVER_FEATURES_SEL, sel);
    w(REG.DRIVER_FEATURES, Number((want >> BigInt(32 * sel)) & 0xffffffffn));
  }
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
  const st = mmio.read(REG.STATUS, 4);
  if (!(st & STATUS.FEATURES_OK)) return st;
  queues.forEach((q, i) => {
    w(REG.QUEUE_SEL, i);
    w(REG.QUEUE_NUM, q.size);
    const hi = (a: number) => Math.floor(a / 0x1_0000_0000);
    const lo = (a: number) => a % 0x1_0000_0000;
    w(REG.QUEUE_DESC_LOW, lo(q.desc));
    w(REG.QUEUE_DESC_HIGH, hi(q.desc));
    w(REG.QUEUE_DRIVER_LOW, lo(q.avail));
    w(REG.QUEUE_DRIVER_HIGH, hi(q.avail));
    w(REG.QUEUE_DEVICE_LOW, lo(q.used));
    w(REG.QUEUE_DEVICE_HIGH, hi(q.used));
    w(REG.QUEUE_READY, 1);
  });
  w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  return mmio.read(REG.STATUS, 4);
}

/** The features a Linux guest would take from an offer: all of them (it always wants VERSION_1). */
export const V1 = 1n << BigInt(F.VERSION_1);
