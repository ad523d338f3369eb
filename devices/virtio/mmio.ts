// The virtio-mmio transport (virtio 1.2 §4.2, register layout version 2). The
// register file of one device slot lives in a small SharedArrayBuffer: the cpu
// worker executes guest loads and stores on it synchronously (MmioTransport),
// and the device actor in its own worker reads what the driver set up and is
// told about notifications and status changes by a doorbell word in the same
// buffer (DeviceTransport). Why this split: docs/adr/0001-mmio-on-shared-state.md.
// Both sides raise and lower the slot's interrupt through an IrqLine (the
// narrow interface of machine/control.ts, as Firecracker's transport takes a
// VirtioInterrupt): the transport never knows which interrupt controller is
// behind it. Layout and wake rules: docs/virtio.md. Read next: devices/virtio/queue.ts.

import { type IrqLine, irqLine } from "../../machine/control.ts";
import { F, INT_CONFIG_CHANGE, INT_USED_BUFFER, MAX_QUEUE_SIZE, STATUS } from "./constants.ts";

/** "VIOS": magic word at index 0 of a transport state buffer; layout version at index 1. */
export const VIRTIO_STATE_MAGIC = 0x56494f53;
export const VIRTIO_STATE_VERSION = 1;

/** Up to this many virtqueues per device. */
export const MAX_QUEUES = 8;
/** Up to this many bytes of device-specific configuration space (at register 0x100). */
export const MAX_CONFIG_BYTES = 256;
/** The VendorID register: "AVM" + 0x01. */
export const VENDOR_ID = 0x014d5641;

/**
 * Int32 word indexes into the state buffer. "cpu" words are written by the
 * cpu side (the driver's registers), "dev" words by the device side; all are
 * accessed with Atomics so each side sees the other's stores in order.
 */
export const VS = {
  MAGIC: 0,
  VERSION: 1,
  /** Set at creation. */
  DEVICE_ID: 2,
  VENDOR_ID: 3,
  DEVICE_FEATURES_LO: 4,
  DEVICE_FEATURES_HI: 5,
  NUM_QUEUES: 6,
  CONFIG_BYTES: 7,
  /** The slot's interrupt source number (PLIC line). */
  IRQ: 8,
  /** cpu: the driver's registers. */
  DEVICE_FEATURES_SEL: 9,
  DRIVER_FEATURES_LO: 10,
  DRIVER_FEATURES_HI: 11,
  DRIVER_FEATURES_SEL: 12,
  QUEUE_SEL: 13,
  SHM_SEL: 14,
  /** Both: the driver writes it; the device ORs in DEVICE_NEEDS_RESET. */
  STATUS: 15,
  /** Both: the device ORs bits in, InterruptACK clears them. */
  INTERRUPT_STATUS: 16,
  /**
   * dev: config-space write counter, odd while the device is writing. The
   * ConfigGeneration register reads it halved; config reads wait out odd values.
   */
  CONFIG_GEN: 17,
  /** Doorbell: bumped (and Atomics.notify'd) by the cpu side on every event below. */
  NOTIFY_SEQ: 18,
  /** Doorbell: bit q = the driver notified queue q (Atomics.or by the cpu, exchanged by the device). */
  NOTIFY_BITS: 19,
  /** Doorbell: EV bits (Atomics.or by the cpu, exchanged by the device). */
  EVENT_BITS: 20,
  /** cpu: bumped on every reset (status written 0); devices drop work from an older epoch. */
  RESET_COUNT: 21,
  /** cpu: register accesses of the wrong width or alignment, ignored and counted. */
  BAD_ACCESSES: 22,
  /**
   * dev: 1 while the device is in a service pass (it may be reading or
   * writing the rings). A reset waits, bounded, for it to drop to 0, so no
   * completion lands in rings the driver frees once the reset returns.
   */
  DEVICE_BUSY: 23,
  /**
   * dev: the NOTIFY_SEQ value the device has fully served — every pass it
   * owed done and nothing left to do until the next doorbell. Written after
   * each such pass, then notified. In deterministic mode the cpu waits for it
   * after every doorbell it rings (docs/replay.md), so whatever a device does
   * happens at the instruction that rang.
   */
  SERVED_SEQ: 24,
  /** First per-queue block; queue q's words start at QUEUE0 + q * QUEUE_STRIDE. */
  QUEUE0: 32,
} as const;

/** Words per queue block. */
export const QUEUE_STRIDE = 16;

/** Word offsets inside a queue block. */
export const VQ = {
  /** Set at creation: the largest size the device accepts (0 = no such queue). */
  NUM_MAX: 0,
  NUM: 1,
  READY: 2,
  DESC_LO: 3,
  DESC_HI: 4,
  DRIVER_LO: 5,
  DRIVER_HI: 6,
  DEVICE_LO: 7,
  DEVICE_HI: 8,
} as const;

/** Config space: bytes from this byte offset (word 160). */
export const CONFIG_OFFSET = 4 * (VS.QUEUE0 + MAX_QUEUES * QUEUE_STRIDE);
/** The longest a reset waits for a busy device (a dead one never finishes). */
export const RESET_WAIT_MS = 200;

/** Size of a transport state buffer. */
export const STATE_BYTES = 1024;

/** EVENT_BITS values. */
export const EV = {
  /** The driver wrote Status (any value). */
  STATUS: 1,
  /** The driver wrote 0 to Status: the device must drop all queue state. */
  RESET: 2,
  /** DRIVER_OK became set: the device may start consuming buffers. */
  DRIVER_OK: 4,
  /** A QueueReady register changed. */
  QUEUE_READY: 8,
} as const;

/** virtio-mmio register offsets (§4.2.2). */
export const REG = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** "virt" little-endian, the MagicValue register. */
export const MMIO_MAGIC = 0x74726976;
export const MMIO_VERSION = 2;

export interface TransportOptions {
  deviceId: number;
  /** Features the device offers. VERSION_1 is always added (virtio-mmio v2 requires it). */
  deviceFeatures: bigint;
  /** NUM_MAX per queue; its length is the number of queues (1..MAX_QUEUES). */
  queueMax: number[];
  /** Size of the config space in bytes (0..MAX_CONFIG_BYTES). */
  configBytes: number;
  /** Interrupt source number (1..31). */
  irq: number;
  /** Initial config space contents (at most configBytes long); the rest reads 0. */
  config?: Uint8Array;
}

/** Allocate and initialise one slot's transport state. Throws on bad options. */
export function createTransportState(o: TransportOptions): SharedArrayBuffer {
  if (!Number.isInteger(o.deviceId) || o.deviceId <= 0 || o.deviceId > 0xffff) {
    throw new RangeError(`virtio: bad device id ${o.deviceId}`);
  }
  if (o.queueMax.length < 1 || o.queueMax.length > MAX_QUEUES) {
    throw new RangeError(`virtio: ${o.queueMax.length} queues (1..${MAX_QUEUES})`);
  }
  for (const m of o.queueMax) {
    // Split queues have power-of-two sizes (§2.7); Linux allocates NUM_MAX entries.
    if (!Number.isInteger(m) || m < 1 || m > MAX_QUEUE_SIZE || (m & (m - 1)) !== 0) {
      throw new RangeError(`virtio: queue size ${m} is not a power of two in 1..${MAX_QUEUE_SIZE}`);
    }
  }
  if (!Number.isInteger(o.configBytes) || o.configBytes < 0 || o.configBytes > MAX_CONFIG_BYTES) {
    throw new RangeError(`virtio: config space of ${o.configBytes} bytes`);
  }
  if (!Number.isInteger(o.irq) || o.irq < 1 || o.irq > 31) {
    throw new RangeError(`virtio: irq ${o.irq}`);
  }
  if (o.config && o.config.length > o.configBytes) {
    throw new RangeError(
      `virtio: ${o.config.length} config bytes for a ${o.configBytes}-byte space`,
    );
  }
  const features = BigInt.asUintN(64, o.deviceFeatures) | (1n << BigInt(F.VERSION_1));
  const sab = new SharedArrayBuffer(STATE_BYTES);
  const s = new Int32Array(sab);
  s[VS.MAGIC] = VIRTIO_STATE_MAGIC;
  s[VS.VERSION] = VIRTIO_STATE_VERSION;
  s[VS.DEVICE_ID] = o.deviceId;
  s[VS.VENDOR_ID] = VENDOR_ID;
  s[VS.DEVICE_FEATURES_LO] = Number(features & 0xffffffffn) | 0;
  s[VS.DEVICE_FEATURES_HI] = Number(features >> 32n) | 0;
  s[VS.NUM_QUEUES] = o.queueMax.length;
  s[VS.CONFIG_BYTES] = o.configBytes;
  s[VS.IRQ] = o.irq;
  o.queueMax.forEach((m, q) => s[VS.QUEUE0 + q * QUEUE_STRIDE + VQ.NUM_MAX] = m);
  if (o.config) new Uint8Array(sab, CONFIG_OFFSET, MAX_CONFIG_BYTES).set(o.config);
  return sab;
}

/** Check a state buffer handed to a worker; throws a clear error on mismatch. */
export function openTransportState(sab: SharedArrayBuffer): Int32Array {
  const s = new Int32Array(sab);
  if (
    sab.byteLength < STATE_BYTES || s[VS.MAGIC] !== VIRTIO_STATE_MAGIC ||
    s[VS.VERSION] !== VIRTIO_STATE_VERSION
  ) {
    throw new Error(
      `virtio transport state mismatch: magic ${(s[VS.MAGIC] >>> 0).toString(16)} version ${
        s[VS.VERSION]
      } (want ${VIRTIO_STATE_MAGIC.toString(16)} v${VIRTIO_STATE_VERSION})`,
    );
  }
  return s;
}

const qw = (q: number, field: number) => VS.QUEUE0 + q * QUEUE_STRIDE + field;

/**
 * CONFIG_GEN once it is even: the device is not mid-write. A device write
 * is a few hundred bytes; a device that died mid-write must not hang the
 * cpu, so after ~100 ms the odd value is taken as it is.
 */
function stableGen(s: Int32Array): number {
  let g = Atomics.load(s, VS.CONFIG_GEN);
  for (let tries = 0; (g & 1) && tries < 100; tries++) {
    Atomics.wait(s, VS.CONFIG_GEN, g, 1);
    g = Atomics.load(s, VS.CONFIG_GEN);
  }
  return g;
}

/** Read bytes [off, off+size) of the config space little-endian, not torn by a device write. */
function readConfig(s: Int32Array, cfg: Uint8Array, off: number, size: number): number {
  for (let tries = 0;; tries++) {
    const g = stableGen(s);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + cfg[off + i];
    if (Atomics.load(s, VS.CONFIG_GEN) === g || tries > 100) return v;
  }
}

/**
 * What a transport raises its interrupt through: an IrqLine, or the machine's
 * control block, meaning the PLIC source the state names (VS.IRQ) through
 * machine/control.ts irqLine — the wiring every actor and test uses.
 */
export type TransportIrq = IrqLine | SharedArrayBuffer;

function lineFor(irq: TransportIrq, s: Int32Array): IrqLine {
  return irq instanceof SharedArrayBuffer ? irqLine(irq, s[VS.IRQ]) : irq;
}

/**
 * The cpu side: guest loads and stores to one virtio-mmio register page
 * (offsets 0..0xfff), executed synchronously on the shared state. Accesses to
 * registers below 0x100 must be 4 bytes and aligned (§4.2.2.2); others read 0
 * and are ignored, and counted in BAD_ACCESSES, as QEMU does. Nothing here
 * ever faults the guest.
 */
export class MmioTransport {
  readonly #s: Int32Array;
  readonly #irq: IrqLine;
  readonly #cfg: Uint8Array;
  readonly #numQueues: number;
  readonly #configBytes: number;

  constructor(state: SharedArrayBuffer, irq: TransportIrq) {
    this.#s = openTransportState(state);
    this.#irq = lineFor(irq, this.#s);
    this.#cfg = new Uint8Array(state, CONFIG_OFFSET, MAX_CONFIG_BYTES);
    this.#numQueues = this.#s[VS.NUM_QUEUES];
    this.#configBytes = this.#s[VS.CONFIG_BYTES];
  }

  /** The doorbell's sequence: bumped by every register write the device must see. */
  doorbellSeq(): number {
    return Atomics.load(this.#s, VS.NOTIFY_SEQ);
  }

  /** Ring the doorbell with nothing in it: the device looks for work (deterministic input). */
  kick(): void {
    this.#ring(0, 0);
  }

  /**
   * Deterministic mode: wait until the device has served every doorbell rung
   * so far (VS.SERVED_SEQ caught up with NOTIFY_SEQ). False if `timeoutMs`
   * passed first.
   */
  waitServed(timeoutMs: number): boolean {
    const s = this.#s;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const served = Atomics.load(s, VS.SERVED_SEQ);
      if (served === Atomics.load(s, VS.NOTIFY_SEQ)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(s, VS.SERVED_SEQ, served, Math.min(left, 100));
    }
  }

  /** Load `size` bytes at register offset `offset`; the value zero-extended. */
  read(offset: number, size: number): number {
    const s = this.#s;
    if (offset >= REG.CONFIG) {
      const off = offset - REG.CONFIG;
      if ((size !== 1 && size !== 2 && size !== 4) || off % size !== 0) return this.#bad(0);
      if (off + size > this.#configBytes) return 0;
      return readConfig(s, this.#cfg, off, size);
    }
    if (size !== 4 || (offset & 3) !== 0) return this.#bad(0);
    const sel = Atomics.load(s, VS.QUEUE_SEL) >>> 0;
    const q = sel < this.#numQueues ? sel : -1;
    switch (offset) {
      case REG.MAGIC_VALUE:
        return MMIO_MAGIC;
      case REG.VERSION:
        return MMIO_VERSION;
      case REG.DEVICE_ID:
        return s[VS.DEVICE_ID] >>> 0;
      case REG.VENDOR_ID:
        return s[VS.VENDOR_ID] >>> 0;
      case REG.DEVICE_FEATURES: {
        const fs = Atomics.load(s, VS.DEVICE_FEATURES_SEL);
        if (fs === 0) return s[VS.DEVICE_FEATURES_LO] >>> 0;
        if (fs === 1) return s[VS.DEVICE_FEATURES_HI] >>> 0;
        return 0;
      }
      case REG.QUEUE_NUM_MAX:
        return q < 0 ? 0 : s[qw(q, VQ.NUM_MAX)] >>> 0;
      case REG.QUEUE_READY:
        return q < 0 ? 0 : Atomics.load(s, qw(q, VQ.READY)) >>> 0;
      case REG.INTERRUPT_STATUS:
        return Atomics.load(s, VS.INTERRUPT_STATUS) >>> 0;
      case REG.STATUS:
        return Atomics.load(s, VS.STATUS) & 0xff;
      case REG.SHM_LEN_LOW:
      case REG.SHM_LEN_HIGH:
      case REG.SHM_BASE_LOW:
      case REG.SHM_BASE_HIGH:
        // No shared memory regions: "a length of -1" (§4.2.2).
        return 0xffffffff;
      case REG.CONFIG_GENERATION:
        return (stableGen(s) >>> 1) >>> 0;
      default:
        // Write-only and reserved registers read as 0.
        return 0;
    }
  }

  /** Store the low `size` bytes of `value` at register offset `offset`. Always true. */
  write(offset: number, size: number, value: number): boolean {
    const s = this.#s;
    value = value >>> 0;
    if (offset >= REG.CONFIG) {
      // Neither of our devices offers a driver-writable config field; such
      // writes are ignored (the spec lets a device ignore read-only fields).
      if ((size !== 1 && size !== 2 && size !== 4) || (offset - REG.CONFIG) % size !== 0) {
        this.#bad(0);
      }
      return true;
    }
    if (size !== 4 || (offset & 3) !== 0) {
      this.#bad(0);
      return true;
    }
    const sel = Atomics.load(s, VS.QUEUE_SEL) >>> 0;
    const q = sel < this.#numQueues ? sel : -1;
    // Queue layout may change only while the queue is not ready (§4.2.3.2).
    const qWritable = q >= 0 && Atomics.load(s, qw(q, VQ.READY)) === 0;
    switch (offset) {
      case REG.DEVICE_FEATURES_SEL:
        Atomics.store(s, VS.DEVICE_FEATURES_SEL, value);
        break;
      case REG.DRIVER_FEATURES: {
        // After FEATURES_OK the negotiated set is frozen.
        if (Atomics.load(s, VS.STATUS) & STATUS.FEATURES_OK) break;
        const fs = Atomics.load(s, VS.DRIVER_FEATURES_SEL);
        if (fs === 0) Atomics.store(s, VS.DRIVER_FEATURES_LO, value);
        else if (fs === 1) Atomics.store(s, VS.DRIVER_FEATURES_HI, value);
        break;
      }
      case REG.DRIVER_FEATURES_SEL:
        Atomics.store(s, VS.DRIVER_FEATURES_SEL, value);
        break;
      case REG.QUEUE_SEL:
        Atomics.store(s, VS.QUEUE_SEL, value);
        break;
      case REG.QUEUE_NUM:
        if (qWritable) Atomics.store(s, qw(q, VQ.NUM), value);
        break;
      case REG.QUEUE_READY:
        if (q >= 0) {
          Atomics.store(s, qw(q, VQ.READY), value & 1);
          this.#ring(0, EV.QUEUE_READY);
        }
        break;
      case REG.QUEUE_NOTIFY:
        // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
        if (value < this.#numQueues) this.#ring(1 << value, 0);
        break;
      case REG.INTERRUPT_ACK: {
        const left = Atomics.and(s, VS.INTERRUPT_STATUS, ~value) & ~value;
        if (left === 0) {
          this.#irq.set(false);
          // The device may have set a bit between our and and the line going low.
          if (Atomics.load(s, VS.INTERRUPT_STATUS) !== 0) this.#irq.set(true);
        }
        break;
      }
      case REG.STATUS:
        this.#writeStatus(value & 0xff);
        break;
      case REG.QUEUE_DESC_LOW:
      case REG.QUEUE_DESC_HIGH:
      case REG.QUEUE_DRIVER_LOW:
      case REG.QUEUE_DRIVER_HIGH:
      case REG.QUEUE_DEVICE_LOW:
      case REG.QUEUE_DEVICE_HIGH:
        if (qWritable) {
          const field = VQ.DESC_LO + ((offset - REG.QUEUE_DESC_LOW) >> 4) * 2 + ((offset >> 2) & 1);
          Atomics.store(s, qw(q, field), value);
        }
        break;
      case REG.SHM_SEL:
        Atomics.store(s, VS.SHM_SEL, value);
        break;
      default:
        // Read-only and reserved registers: writes are ignored.
        break;
    }
    return true;
  }

  #writeStatus(value: number): void {
    const s = this.#s;
    if (value === 0) {
      this.#reset();
      return;
    }
    const old = Atomics.load(s, VS.STATUS);
    let v = value;
    if ((v & STATUS.FEATURES_OK) && !(old & STATUS.FEATURES_OK)) {
      // §3.1.1: the device refuses a feature set it did not offer, and a
      // version-2 transport requires VERSION_1 (§4.2.3.1).
      const offLo = s[VS.DEVICE_FEATURES_LO] >>> 0, offHi = s[VS.DEVICE_FEATURES_HI] >>> 0;
      const drvLo = Atomics.load(s, VS.DRIVER_FEATURES_LO) >>> 0;
      const drvHi = Atomics.load(s, VS.DRIVER_FEATURES_HI) >>> 0;
      const extra = ((drvLo & ~offLo) | (drvHi & ~offHi)) !== 0;
      const v1 = (drvHi & (1 << (F.VERSION_1 - 32))) !== 0;
      if (extra || !v1) v &= ~STATUS.FEATURES_OK;
    }
    // The device's NEEDS_RESET survives driver writes until a reset.
    const prev = Atomics.compareExchange(s, VS.STATUS, old, v | (old & STATUS.DEVICE_NEEDS_RESET));
    if (prev !== old) Atomics.or(s, VS.STATUS, v); // the device set NEEDS_RESET meanwhile
    const driverOk = (v & STATUS.DRIVER_OK) && !(old & STATUS.DRIVER_OK) ? EV.DRIVER_OK : 0;
    this.#ring(0, EV.STATUS | driverOk);
  }

  /**
   * Status ← 0: clear everything the driver set, lower the line, tell the
   * device — and wait (at most RESET_WAIT_MS) for a service pass under way
   * to finish. The new epoch is published first, so the device checks it
   * before every completion and a pass that starts later sees it at once.
   */
  #reset(): void {
    const s = this.#s;
    Atomics.add(s, VS.RESET_COUNT, 1);
    Atomics.notify(s, VS.RESET_COUNT);
    for (
      const w of [
        VS.DEVICE_FEATURES_SEL,
        VS.DRIVER_FEATURES_LO,
        VS.DRIVER_FEATURES_HI,
        VS.DRIVER_FEATURES_SEL,
        VS.QUEUE_SEL,
        VS.SHM_SEL,
      ]
    ) Atomics.store(s, w, 0);
    for (let q = 0; q < this.#numQueues; q++) {
      for (let f = VQ.NUM; f <= VQ.DEVICE_HI; f++) Atomics.store(s, qw(q, f), 0);
    }
    Atomics.store(s, VS.STATUS, 0);
    Atomics.store(s, VS.INTERRUPT_STATUS, 0);
    Atomics.store(s, VS.NOTIFY_BITS, 0);
    this.#irq.set(false);
    this.#ring(0, EV.RESET | EV.STATUS);
    const deadline = performance.now() + RESET_WAIT_MS;
    while (Atomics.load(s, VS.DEVICE_BUSY) !== 0) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(s, VS.DEVICE_BUSY, 1, left);
    }
  }

  /** Ring the device's doorbell with queue bits and/or event bits. */
  #ring(queueBits: number, events: number): void {
    const s = this.#s;
    if (queueBits) Atomics.or(s, VS.NOTIFY_BITS, queueBits);
    if (events) Atomics.or(s, VS.EVENT_BITS, events);
    Atomics.add(s, VS.NOTIFY_SEQ, 1);
    Atomics.notify(s, VS.NOTIFY_SEQ);
  }

  #bad(v: number): number {
    Atomics.add(this.#s, VS.BAD_ACCESSES, 1);
    return v;
  }
}

/** One queue as the driver configured it. Addresses are guest-physical. */
export interface QueueSetup {
  size: number;
  /** QueueNumMax: the largest size the driver may choose (§4.2.2.2). */
  max: number;
  ready: boolean;
  desc: number;
  driver: number;
  device: number;
}

/** What the doorbell carried since the last look. */
export interface DeviceEvents {
  /** Bit q: the driver notified queue q. */
  queues: number;
  /** EV bits. */
  events: number;
}

const u64 = (lo: number, hi: number) => (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);

/**
 * The device side of a slot, used by the device actor: what the driver
 * negotiated and set up, the doorbell, interrupts, and the config space.
 */
export class DeviceTransport {
  readonly #s: Int32Array;
  readonly #line: IrqLine;
  readonly #cfg: Uint8Array;
  readonly deviceId: number;
  readonly numQueues: number;
  /** The slot's interrupt source number (VS.IRQ), for traces. */
  readonly irq: number;
  readonly configBytes: number;

  constructor(state: SharedArrayBuffer, irq: TransportIrq) {
    this.#s = openTransportState(state);
    this.#line = lineFor(irq, this.#s);
    this.#cfg = new Uint8Array(state, CONFIG_OFFSET, MAX_CONFIG_BYTES);
    this.deviceId = this.#s[VS.DEVICE_ID];
    this.numQueues = this.#s[VS.NUM_QUEUES];
    this.irq = this.#s[VS.IRQ];
    this.configBytes = this.#s[VS.CONFIG_BYTES];
  }

  /** The features offered (including VERSION_1). */
  deviceFeatures(): bigint {
    return BigInt(u64(this.#s[VS.DEVICE_FEATURES_LO], this.#s[VS.DEVICE_FEATURES_HI]));
  }

  /** The features the driver accepted (meaningful once FEATURES_OK is set). */
  driverFeatures(): bigint {
    const s = this.#s;
    return BigInt(
      u64(Atomics.load(s, VS.DRIVER_FEATURES_LO), Atomics.load(s, VS.DRIVER_FEATURES_HI)),
    );
  }

  /** Whether feature bit `n` was negotiated. */
  hasFeature(n: number): boolean {
    if (!(n >= 0 && n < 64)) return false;
    const w = n < 32 ? VS.DRIVER_FEATURES_LO : VS.DRIVER_FEATURES_HI;
    return (Atomics.load(this.#s, w) & (1 << (n & 31))) !== 0;
  }

  status(): number {
    return Atomics.load(this.#s, VS.STATUS) & 0xff;
  }

  /** DRIVER_OK set and neither FAILED nor DEVICE_NEEDS_RESET: the device may use its queues. */
  live(): boolean {
    const st = this.status();
    return (st & STATUS.DRIVER_OK) !== 0 &&
      (st & (STATUS.FAILED | STATUS.DEVICE_NEEDS_RESET)) === 0;
  }

  /** The reset epoch: changes every time the driver resets the device. */
  resetCount(): number {
    return Atomics.load(this.#s, VS.RESET_COUNT);
  }

  queue(q: number): QueueSetup {
    const s = this.#s;
    const w = (f: number) => Atomics.load(s, qw(q, f));
    if (q < 0 || q >= this.numQueues) {
      return { size: 0, max: 0, ready: false, desc: 0, driver: 0, device: 0 };
    }
    return {
      size: w(VQ.NUM) >>> 0,
      max: w(VQ.NUM_MAX) >>> 0,
      ready: w(VQ.READY) === 1,
      desc: u64(w(VQ.DESC_LO), w(VQ.DESC_HI)),
      driver: u64(w(VQ.DRIVER_LO), w(VQ.DRIVER_HI)),
      device: u64(w(VQ.DEVICE_LO), w(VQ.DEVICE_HI)),
    };
  }

  /** Set InterruptStatus bit 0 ("used") or 1 ("config") and raise the line (level high). */
  interrupt(kind: "used" | "config"): void {
    Atomics.or(this.#s, VS.INTERRUPT_STATUS, kind === "used" ? INT_USED_BUFFER : INT_CONFIG_CHANGE);
    this.#line.set(true);
  }

  /** The device cannot go on (§2.1.2): set DEVICE_NEEDS_RESET and send a config interrupt. */
  needsReset(): void {
    Atomics.or(this.#s, VS.STATUS, STATUS.DEVICE_NEEDS_RESET);
    this.interrupt("config");
  }

  /** Mark a service pass under way (or over): a reset waits for it. */
  setBusy(busy: boolean): void {
    Atomics.store(this.#s, VS.DEVICE_BUSY, busy ? 1 : 0);
    if (!busy) Atomics.notify(this.#s, VS.DEVICE_BUSY);
  }

  /** Every doorbell up to `seq` is served and nothing is left to do (VS.SERVED_SEQ). */
  markServed(seq: number): void {
    Atomics.store(this.#s, VS.SERVED_SEQ, seq);
    Atomics.notify(this.#s, VS.SERVED_SEQ);
  }

  /** Take the queue and event bits the doorbell gathered since the last call. */
  nextEvents(): DeviceEvents {
    return {
      queues: Atomics.exchange(this.#s, VS.NOTIFY_BITS, 0),
      events: Atomics.exchange(this.#s, VS.EVENT_BITS, 0),
    };
  }

  /** The doorbell sequence word: read it before looking for work, then waitDoorbell(seq). */
  doorbellSeq(): number {
    return Atomics.load(this.#s, VS.NOTIFY_SEQ);
  }

  /**
   * Sleep until the doorbell moves past `seq` (at once if it already has),
   * `timeoutMs` passes, or `signal` aborts. Never blocks the event loop.
   * A pending Atomics.waitAsync does not keep the event loop alive: with a
   * timeout a timer does; without one the caller's worker must (its message
   * port does).
   */
  async waitDoorbell(seq: number, timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    const r = Atomics.waitAsync(this.#s, VS.NOTIFY_SEQ, seq);
    if (!r.async) return;
    const waits: Promise<unknown>[] = [r.value];
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    if (timeoutMs !== undefined) {
      waits.push(new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs)));
    }
    if (signal) {
      waits.push(
        new Promise<void>((resolve) => {
          onAbort = () => resolve();
          signal.addEventListener("abort", onAbort, { once: true });
        }),
      );
    }
    try {
      await (waits.length === 1 ? r.value : Promise.race(waits));
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) signal!.removeEventListener("abort", onAbort);
    }
  }

  /** Wait for the next events (or the timeout; then the result may be empty). */
  async waitEvents(timeoutMs?: number): Promise<DeviceEvents> {
    const seq = this.doorbellSeq();
    const now = this.nextEvents();
    if (now.queues || now.events) return now;
    await this.waitDoorbell(seq, timeoutMs);
    return this.nextEvents();
  }

  /** A copy of config bytes [off, off+len). */
  readConfig(off: number, len: number): Uint8Array {
    return this.#cfg.slice(off, off + len);
  }

  /**
   * Write config bytes at `off` and bump ConfigGeneration (odd while
   * writing, so a driver never accepts a torn read). Does not interrupt:
   * call interrupt("config") when the driver must look.
   */
  writeConfig(off: number, bytes: Uint8Array): void {
    if (off < 0 || off + bytes.length > this.configBytes) {
      throw new RangeError(
        `virtio: config write [${off}, +${bytes.length}) outside ${this.configBytes} bytes`,
      );
    }
    Atomics.add(this.#s, VS.CONFIG_GEN, 1);
    this.#cfg.set(bytes, off);
    Atomics.add(this.#s, VS.CONFIG_GEN, 1);
    Atomics.notify(this.#s, VS.CONFIG_GEN);
  }
}
