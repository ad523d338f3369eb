// Test helper: the driver's half of a virtio-net device in a fake guest — a
// small RAM, the registers written through the real MmioTransport (as the cpu
// would), and split rings laid out by hand. Used by tests/unit/net/device_test.ts
// (device in-process) and tests/unit/net/actor_test.ts (device in a worker).

import { RAM_BASE } from "../machine/memmap.ts";
import { MmioTransport, REG } from "../devices/virtio/mmio.ts";
import { F, STATUS } from "../devices/virtio/constants.ts";
import { NET_F, NET_HDR_LEN, NET_RX, NET_TX } from "../devices/net/net.ts";

export const QSIZE = 8;
export const RAM_BYTES = 1 << 20;

export interface Buf {
  addr: number;
  len: number;
  write?: boolean;
}

/** The driver's view of one split queue in the fake RAM. */
export class DriverQueue {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  #nextDesc = 0;
  #availIdx = 0;
  #seenUsed = 0;

  constructor(readonly ram: DataView, base: number, readonly size = QSIZE) {
    this.desc = base;
    this.avail = base + 16 * size;
    this.used = (this.avail + 6 + 2 * size + 3) & ~3;
  }

  /** Guest-physical addresses, as written to the registers. */
  get addrs() {
    return [this.desc, this.avail, this.used].map((o) => RAM_BASE + o);
  }

  writeDesc(i: number, b: Buf, next: number | null): void {
    const d = this.desc + 16 * i;
    this.ram.setBigUint64(d, BigInt(RAM_BASE + b.addr), true);
    this.ram.setUint32(d + 8, b.len, true);
    this.ram.setUint16(d + 12, (next === null ? 0 : 1) | (b.write ? 2 : 0), true);
    this.ram.setUint16(d + 14, next ?? 0, true);
  }

  /** Post a chain and publish it; returns its head. */
  post(bufs: Buf[]): number {
    const head = this.#nextDesc;
    bufs.forEach((b, k) => {
      const i = (head + k) % this.size;
      this.writeDesc(i, b, k + 1 < bufs.length ? (i + 1) % this.size : null);
    });
    this.#nextDesc = (head + bufs.length) % this.size;
    this.publish(head);
    return head;
  }

  publish(head: number): void {
    this.ram.setUint16(this.avail + 4 + 2 * (this.#availIdx % this.size), head, true);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.ram.setUint16(this.avail + 2, this.#availIdx, true);
  }

  /** Used elements the device published since the last call. */
  takeUsed(): { id: number; len: number }[] {
    const idx = this.ram.getUint16(this.used + 2, true);
    const out = [];
    while (this.#seenUsed !== idx) {
      const e = this.used + 4 + 8 * (this.#seenUsed % this.size);
      out.push({ id: this.ram.getUint32(e, true), len: this.ram.getUint32(e + 4, true) });
      this.#seenUsed = (this.#seenUsed + 1) & 0xffff;
    }
    return out;
  }
}

export const NET_DRIVER_FEATURES = (1n << BigInt(NET_F.MAC)) | (1n << BigInt(NET_F.STATUS)) |
  (1n << BigInt(F.VERSION_1));

/** The driver side: negotiate, lay out both queues, and (unless told not to) set DRIVER_OK. */
export class FakeNetDriver {
  readonly mmio: MmioTransport;
  readonly ram: DataView;
  readonly bytes: Uint8Array;
  readonly rx: DriverQueue;
  readonly tx: DriverQueue;

  constructor(
    ramSab: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: { driverOk?: boolean; features?: bigint; ringBase?: number } = {},
  ) {
    this.mmio = new MmioTransport(state, control);
    this.ram = new DataView(ramSab);
    this.bytes = new Uint8Array(ramSab);
    const base = opts.ringBase ?? 0x1000;
    this.rx = new DriverQueue(this.ram, base);
    this.tx = new DriverQueue(this.ram, base + 0x1000);
    const w = (reg: number, v: number) => this.write(reg, v);
    w(REG.STATUS, 0); // reset first, as a driver does
    w(REG.STATUS, STATUS.ACKNOWLEDGE);
    w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    const features = opts.features ?? NET_DRIVER_FEATURES;
    w(REG.DRIVER_FEATURES_SEL, 0);
    w(REG.DRIVER_FEATURES, Number(features & 0xffffffffn));
    w(REG.DRIVER_FEATURES_SEL, 1);
    w(REG.DRIVER_FEATURES, Number(features >> 32n));
    w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    for (const [q, dq] of [[NET_RX, this.rx], [NET_TX, this.tx]] as const) {
      w(REG.QUEUE_SEL, q);
      w(REG.QUEUE_NUM, QSIZE);
      const [d, a, u] = dq.addrs;
      w(REG.QUEUE_DESC_LOW, d);
      w(REG.QUEUE_DRIVER_LOW, a);
      w(REG.QUEUE_DEVICE_LOW, u);
      w(REG.QUEUE_READY, 1);
    }
    if (opts.driverOk !== false) this.driverOk();
  }

  write(reg: number, v: number): void {
    this.mmio.write(reg, 4, v);
  }

  driverOk(): void {
    this.write(
      REG.STATUS,
      STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK,
    );
  }

  notify(q: number): void {
    this.write(REG.QUEUE_NOTIFY, q);
  }

  /** The MAC in config space, as the driver reads it. */
  mac(): number[] {
    return Array.from({ length: 6 }, (_, i) => this.mmio.read(REG.CONFIG + i, 1));
  }

  /** Put header + frame at `addr` and post it on the tx queue. */
  transmit(addr: number, frame: Uint8Array, hdr = new Uint8Array(NET_HDR_LEN)): number {
    this.bytes.set(hdr, addr);
    this.bytes.set(frame, addr + NET_HDR_LEN);
    return this.tx.post([{ addr, len: NET_HDR_LEN + frame.length }]);
  }
}
