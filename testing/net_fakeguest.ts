// Test helper: the driver's half of a virtio-net device in a fake guest — a
// small RAM, the registers written through the real MmioTransport (as the cpu
// would), and the rx and tx queues played by testing/virtio_driver.ts's
// DriverQueue (buffer addresses are guest-physical: RAM_BASE + offset). Used
// by tests/unit/net/device_test.ts and tests/unit/net/offload_test.ts (device in-process) and
// tests/unit/net/actor_test.ts (device in a worker).
// Read next: testing/virtio_driver.ts.

import { RAM_BASE } from "../machine/memmap.ts";
import { MmioTransport, REG } from "../devices/virtio/mmio.ts";
import { DriverQueue, FakeRam } from "./virtio_driver.ts";
import { F, STATUS } from "../devices/virtio/constants.ts";
import { NET_F, NET_HDR_LEN, NET_RX, NET_TX } from "../devices/net/net.ts";

export const QSIZE = 8;
export const RAM_BYTES = 1 << 20;

export const NET_DRIVER_FEATURES = (1n << BigInt(NET_F.MAC)) | (1n << BigInt(NET_F.STATUS)) |
  (1n << BigInt(F.VERSION_1));

/** The driver side: negotiate, lay out both queues, and (unless told not to) set DRIVER_OK. */
export class FakeNetDriver {
  readonly mmio: MmioTransport;
  readonly mem: FakeRam;
  /** The RAM by offset from RAM_BASE. */
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
    this.mem = new FakeRam(ramSab);
    this.bytes = new Uint8Array(ramSab);
    // The rings at fixed offsets, so a second driver on the same RAM can put its own elsewhere.
    const base = RAM_BASE + (opts.ringBase ?? 0x1000);
    this.rx = new DriverQueue(this.mem, QSIZE, base);
    this.tx = new DriverQueue(this.mem, QSIZE, base + 0x1000);
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
      w(REG.QUEUE_DESC_LOW, dq.desc);
      w(REG.QUEUE_DRIVER_LOW, dq.avail);
      w(REG.QUEUE_DEVICE_LOW, dq.used);
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

  /** Put header + frame at RAM offset `off` and post it on the tx queue; returns the head. */
  transmit(off: number, frame: Uint8Array, hdr = new Uint8Array(NET_HDR_LEN)): number {
    this.bytes.set(hdr, off);
    this.bytes.set(frame, off + NET_HDR_LEN);
    return this.tx.add([{ addr: RAM_BASE + off, len: NET_HDR_LEN + frame.length }]).head;
  }
}
