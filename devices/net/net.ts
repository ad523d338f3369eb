// The network device: virtio-net (device id 1, virtio 1.2 §5.1) with one
// rx/tx queue pair — queue 0 receives into the guest, queue 1 transmits from
// it — a MAC address and link status in config space, and transmit offloads
// done in software (devices/net/offload.ts; docs/adr/0004). Every buffer
// starts with the 12-byte virtio_net_hdr_v1; frames cross to the backend
// (devices/net/backend.ts: tap or sharenet) bare. The backend pushes
// frames in with receive(): they go straight into posted rx buffers, or wait
// in a bounded queue while the guest has posted none; overflow is dropped and
// counted, so the backend is never blocked. Read next: actors/net/net.worker.ts.

import { bit, DEVICE_ID, F } from "../virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "../virtio/device.ts";
import { createTransportState, type DeviceTransport } from "../virtio/mmio.ts";
import { type Chain, gatherBytes, scatterBytes, type VirtQueue } from "../virtio/queue.ts";
import { MAX_FRAME, MIN_FRAME, type NetBackend } from "./backend.ts";
import {
  completeChecksum,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  l4ChecksumOk,
  segmentTcp,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
} from "./offload.ts";

export const NET_RX = 0;
export const NET_TX = 1;
/** Queue size offered for both queues. */
export const NET_QUEUE_SIZE = 256;
/** Default bound on frames held while the guest has posted no receive buffers. */
export const NET_HOLD_FRAMES = 256;
/** sizeof(struct virtio_net_hdr_v1): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const NET_HDR_LEN = 12;

/** Device feature bits (§5.1.3). */
export const NET_F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MAC: 5,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  STATUS: 16,
} as const;
/** virtio_net_config.status bits. */
export const NET_S_LINK_UP = 1;
/** A TCP super-frame (TSO) may be this long: an IPv6 header and a 64 KiB payload. */
export const MAX_GSO_FRAME = 18 + 40 + 65535;

/** The features offered: MAC, link status, and the ring features the queue implements. */
export const NET_FEATURES = bit(NET_F.MAC) | bit(NET_F.STATUS) | bit(F.RING_INDIRECT_DESC) |
  bit(F.RING_EVENT_IDX);
/**
 * Offloads, done by the device in software (devices/net/offload.ts): on
 * transmit, checksum completion and TCP segmentation for IPv4 and IPv6, with
 * ECN; on receive, TCP/UDP checksums verified here and marked DATA_VALID, so
 * the guest neither checks them nor is kept from merging segments (GRO).
 * Received frames are never merged or left with partial checksums.
 */
export const NET_OFFLOADS = bit(NET_F.CSUM) | bit(NET_F.HOST_TSO4) | bit(NET_F.HOST_TSO6) |
  bit(NET_F.HOST_ECN) | bit(NET_F.GUEST_CSUM);

/** virtio_net_config as far as our features reach: mac[6], status u16. */
const CONFIG_BYTES = 8;

/**
 * Write virtio_net_config.status (LINK_UP or not) and raise a config-change
 * interrupt, so the guest's driver re-reads it (Linux: carrier on/off). The
 * device uses it, and the launcher when the net actor is gone for good.
 */
export function setNetLink(transport: DeviceTransport, up: boolean): void {
  const s = new Uint8Array(2);
  new DataView(s.buffer).setUint16(0, up ? NET_S_LINK_UP : 0, true);
  transport.writeConfig(6, s);
  transport.interrupt("config");
}

// ---- MAC addresses

/** "02:41:56" — locally administered, unicast, and "AV" for actorvm. */
const MAC_PREFIX = [0x02, 0x41, 0x56];

/**
 * The default MAC for a backend: stable across runs, derived from its macKey
 * (e.g. the tap's name or the sharenet slot), so a guest keeps its address
 * and two guests on one segment get different ones.
 */
export function defaultMac(key: string): Uint8Array {
  // FNV-1a, 32 bits; the low 24 go into the address.
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return new Uint8Array([...MAC_PREFIX, (h >>> 16) & 255, (h >>> 8) & 255, h & 255]);
}

/** Parse "aa:bb:cc:dd:ee:ff"; throws a clear Error on a malformed or multicast address. */
export function parseMac(text: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text)) {
    throw new Error(`--mac=${text}: want six hex bytes like 02:41:56:00:00:01`);
  }
  const mac = new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
  if (mac[0] & 1) throw new Error(`--mac=${text}: a multicast address cannot be a NIC's address`);
  if (mac.every((b) => b === 0)) throw new Error(`--mac=${text}: the all-zero address is invalid`);
  return mac;
}

export function macToString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * The transport state for a virtio-net device in the slot with interrupt
 * `irq`. `offloads: false` leaves out the offloads.
 */
export function createNetState(
  irq: number,
  mac: Uint8Array,
  opts: { offloads?: boolean } = {},
): SharedArrayBuffer {
  if (mac.length !== 6) throw new RangeError(`virtio-net: MAC of ${mac.length} bytes`);
  const config = new Uint8Array(CONFIG_BYTES);
  config.set(mac, 0);
  new DataView(config.buffer).setUint16(6, NET_S_LINK_UP, true);
  return createTransportState({
    deviceId: DEVICE_ID.NET,
    deviceFeatures: NET_FEATURES | (opts.offloads === false ? 0n : NET_OFFLOADS),
    queueMax: [NET_QUEUE_SIZE, NET_QUEUE_SIZE],
    configBytes: CONFIG_BYTES,
    irq,
    config,
  });
}

// ---- the device

export interface NetOptions extends DeviceOptions {
  /** Where transmitted frames go (received frames come in through receive()). */
  backend: Pick<NetBackend, "send">;
  /** Bound on held received frames (default NET_HOLD_FRAMES); beyond it frames are dropped. */
  holdFrames?: number;
}

/** Counters, all monotonic. */
export interface NetStats {
  rxFrames: number;
  rxBytes: number;
  /** Dropped: the hold queue was full (the guest is not taking frames fast enough). */
  rxDroppedFull: number;
  /** Dropped: the driver was not running (before DRIVER_OK, after a reset or failure). */
  rxDroppedNotReady: number;
  /** Dropped: the frame did not fit the posted buffer (the buffer is returned empty). */
  rxDroppedTooBig: number;
  /** Received frames whose TCP/UDP checksum the device verified (marked DATA_VALID). */
  rxChecksumValid: number;
  /** Frames received from the backend that are not Ethernet frames at all (< 14 or > 1514 bytes). */
  rxDroppedBad: number;
  txFrames: number;
  txBytes: number;
  /** Dropped: shorter than an Ethernet header. */
  txDroppedShort: number;
  /** Dropped: longer than 1514 bytes (64 KiB for a TSO super-frame). */
  txDroppedLong: number;
  /** Dropped: the header asked for an offload that was not negotiated, or is malformed. */
  txDroppedHeader: number;
  /** Frames whose checksum the device completed (NEEDS_CSUM). */
  txChecksummed: number;
  /** TCP super-frames the device cut into segments (each segment counts in txFrames). */
  txSegmented: number;
  /** Dropped by the backend (host side down or full). */
  txDroppedBackend: number;
  /** Chains with the wrong kind of buffers, returned with 0 bytes. */
  malformedChains: number;
}

export class NetDevice extends VirtioDevice {
  readonly stats: NetStats = {
    rxFrames: 0,
    rxBytes: 0,
    rxDroppedFull: 0,
    rxDroppedNotReady: 0,
    rxDroppedTooBig: 0,
    rxDroppedBad: 0,
    rxChecksumValid: 0,
    txFrames: 0,
    txBytes: 0,
    txDroppedShort: 0,
    txDroppedLong: 0,
    txDroppedHeader: 0,
    txChecksummed: 0,
    txSegmented: 0,
    txDroppedBackend: 0,
    malformedChains: 0,
  };
  readonly #backend: Pick<NetBackend, "send">;
  readonly #holdMax: number;
  /** Held frames (copies), oldest first, consumed from #holdHead. */
  #hold: Uint8Array[] = [];
  #holdHead = 0;
  #flushQueued = false;
  /** The reset epoch the rx queue object belongs to (see receive()). */
  #epoch: number;
  readonly #hdr = new Uint8Array(NET_HDR_LEN);

  constructor(
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: NetOptions,
  ) {
    super("net", ram, state, control, opts);
    this.#backend = opts.backend;
    this.#holdMax = opts.holdFrames ?? NET_HOLD_FRAMES;
    this.#epoch = this.transport.resetCount();
    // num_buffers is 1 in every rx header: without MRG_RXBUF a frame is one buffer (§5.1.6.4).
    new DataView(this.#hdr.buffer).setUint16(10, 1, true);
    this.#hdr[1] = GSO_NONE;
  }

  /** The MAC address in config space. */
  get mac(): Uint8Array {
    return this.transport.readConfig(0, 6);
  }

  /** Frames waiting for receive buffers. */
  get held(): number {
    return this.#hold.length - this.#holdHead;
  }

  /**
   * Whether more frames are welcome now: held frames are first moved into
   * any rx buffers the guest posted since (it need not have notified), then
   * the answer is whether the hold queue has room. A backend that can make
   * its peer wait (devices/net/passt.ts) stops reading while this is false,
   * so nothing is dropped for a full queue.
   */
  canTakeFrames(): boolean {
    const vq = this.queues[NET_RX];
    if (this.held > 0 && vq && !this.broken && this.transport.live()) {
      try {
        this.#drainHold(vq);
        this.#queueFlush();
      } catch (e) {
        this.fail(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      }
    }
    return this.held < this.#holdMax;
  }

  /** Set the link state the guest sees (config status) and tell it (config interrupt). */
  setLink(up: boolean): void {
    setNetLink(this.transport, up);
  }

  /**
   * A frame from the backend. It is copied into a posted rx buffer at once,
   * or into the hold queue; the caller's buffer is free when this returns.
   * Never blocks and never throws.
   */
  receive(frame: Uint8Array): void {
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
      this.stats.rxDroppedBad++;
      return;
    }
    if (!this.transport.live() || this.broken) {
      this.stats.rxDroppedNotReady++;
      return;
    }
    // Frozen for a snapshot: guest RAM must not change; hold the frame
    // (bounded, as when the guest has posted no buffers).
    if (this.frozen) {
      if (this.held >= this.#holdMax) this.stats.rxDroppedFull++;
      else this.#hold.push(frame.slice());
      return;
    }
    // A frame can arrive between a driver reset + re-initialisation and the
    // service pass that notices it: the rx queue object would still point at
    // the old rings. Let the pass run first.
    if (this.transport.resetCount() !== this.#epoch) this.service();
    if (this.broken || !this.transport.live()) {
      this.stats.rxDroppedNotReady++;
      return;
    }
    const vq = this.queues[NET_RX];
    if (vq) {
      try {
        // Older frames first: the hold queue may have waited for these buffers.
        this.#drainHold(vq);
        const done = this.held === 0 && !this.broken && this.#deliverOne(vq, frame);
        this.#queueFlush(); // a no-op unless a completion asked for an interrupt
        if (done || this.broken) return;
      } catch (e) {
        this.fail(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        return;
      }
    }
    if (this.held >= this.#holdMax) {
      this.stats.rxDroppedFull++;
      return;
    }
    this.#hold.push(frame.slice());
  }

  protected override onReset(): void {
    // Frames held for the old driver instance are stale: a new one starts clean.
    this.#hold = [];
    this.#holdHead = 0;
    this.#epoch = this.transport.resetCount();
  }

  protected processQueue(q: number, vq: VirtQueue): void {
    if (q === NET_RX) this.#drainHold(vq);
    else if (q === NET_TX) this.#transmit(vq);
  }

  /** Interrupts for frames delivered from receive() go out once per backend batch. */
  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.flushInterrupt();
    });
  }

  /** Deliver held frames while the guest has buffers posted. */
  #drainHold(vq: VirtQueue): void {
    while (this.held > 0 && !this.broken) {
      if (!this.#deliverOne(vq, this.#hold[this.#holdHead])) break;
      this.#hold[this.#holdHead++] = EMPTY;
      if (this.#holdHead > 64 && this.#holdHead * 2 > this.#hold.length) {
        this.#hold = this.#hold.slice(this.#holdHead);
        this.#holdHead = 0;
      }
    }
    if (this.held === 0) {
      this.#hold = [];
      this.#holdHead = 0;
    }
  }

  /**
   * Put `frame` into the next posted rx buffer. Returns false when there is
   * no buffer (or the queue failed): the frame is not consumed. A buffer that
   * is malformed or too small is returned empty and the next one is tried;
   * a frame that fits no buffer is dropped (true: consumed).
   */
  #deliverOne(vq: VirtQueue, frame: Uint8Array): boolean {
    for (;;) {
      const r = vq.pop();
      if (r.kind === "empty") return false;
      if (r.kind === "error") {
        this.queueFailed(NET_RX, r, vq);
        return false;
      }
      const c = r.chain;
      this.traceRequest(NET_RX, c, "receive", frame.length, false);
      if (c.readLen > 0 || c.writeLen < NET_HDR_LEN + MIN_FRAME) {
        // §5.1.6.3: receive buffers are device-writable and hold at least a header.
        this.#malformed(c, "receive buffer with device-readable parts or no room for a header");
        this.complete(vq, c.head, 0);
        continue;
      }
      if (c.writeLen < NET_HDR_LEN + frame.length) {
        this.stats.rxDroppedTooBig++;
        this.complete(vq, c.head, 0);
        return true;
      }
      this.#hdr[0] = this.transport.hasFeature(NET_F.GUEST_CSUM) && l4ChecksumOk(frame)
        ? VIRTIO_NET_HDR_F_DATA_VALID
        : 0;
      if (this.#hdr[0]) this.stats.rxChecksumValid++;
      scatterBytes(this.ram, c.writable, 0, this.#hdr);
      scatterBytes(this.ram, c.writable, NET_HDR_LEN, frame);
      this.stats.rxFrames++;
      this.stats.rxBytes += frame.length;
      this.complete(vq, c.head, NET_HDR_LEN + frame.length);
      return true;
    }
  }

  /** Send everything the guest queued for transmission. */
  #transmit(vq: VirtQueue): void {
    for (;;) {
      const r = vq.pop();
      if (r.kind === "empty") return;
      if (r.kind === "error") return this.queueFailed(NET_TX, r, vq);
      const c = r.chain;
      this.traceRequest(NET_TX, c, "transmit", c.readLen - NET_HDR_LEN);
      if (c.writeLen > 0) {
        // §5.1.6.2: transmit buffers are device-readable only.
        this.#malformed(c, "transmit buffer with device-writable parts");
      } else {
        this.#sendChain(c);
      }
      this.complete(vq, c.head, 0);
    }
  }

  #sendChain(c: Chain): void {
    const len = c.readLen - NET_HDR_LEN;
    if (len < MIN_FRAME) {
      this.stats.txDroppedShort++;
      return;
    }
    const bytes = this.ram.bytes;
    const first = c.readable[0];
    const hdr = first.len >= NET_HDR_LEN
      ? bytes.subarray(first.off, first.off + NET_HDR_LEN)
      : gatherBytes(this.ram, c.readable, 0, NET_HDR_LEN);
    const flags = hdr[0], gsoType = hdr[1];
    if (flags === 0 && gsoType === GSO_NONE) {
      if (len > MAX_FRAME) return this.#tooLong(c, len, MAX_FRAME);
      // Usually the frame lies in one buffer (Linux puts header and frame
      // together, or the header alone first): send it from guest RAM directly.
      let frame: Uint8Array;
      if (first.len === c.readLen) {
        frame = bytes.subarray(first.off + NET_HDR_LEN, first.off + first.len);
      } else if (first.len === NET_HDR_LEN && c.readable.length === 2) {
        const s = c.readable[1];
        frame = bytes.subarray(s.off, s.off + s.len);
      } else {
        frame = gatherBytes(this.ram, c.readable, NET_HDR_LEN, len);
      }
      this.#send(frame);
      return;
    }
    this.#sendOffloaded(c, hdr, len);
  }

  /** A frame asking for checksum completion or segmentation: checked, then done here. */
  #sendOffloaded(c: Chain, hdr: Uint8Array, len: number): void {
    const has = (b: number) => this.transport.hasFeature(b);
    const flags = hdr[0];
    const gso = hdr[1] & ~GSO_ECN;
    const v = new DataView(hdr.buffer, hdr.byteOffset, NET_HDR_LEN);
    const needsCsum = (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
    const ok = (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0 &&
      (!needsCsum || has(NET_F.CSUM)) &&
      ((hdr[1] & GSO_ECN) === 0 || (gso !== GSO_NONE && has(NET_F.HOST_ECN))) &&
      (gso === GSO_NONE || (needsCsum &&
        ((gso === GSO_TCPV4 && has(NET_F.HOST_TSO4)) ||
          (gso === GSO_TCPV6 && has(NET_F.HOST_TSO6)))));
    if (!ok) {
      this.stats.txDroppedHeader++;
      return;
    }
    const max = gso === GSO_NONE ? MAX_FRAME : MAX_GSO_FRAME;
    if (len > max) return this.#tooLong(c, len, max);
    // A private copy of at most MAX_GSO_FRAME bytes (checked above): the
    // checksum and the segments are written into it, never into guest RAM.
    const frame = gatherBytes(this.ram, c.readable, NET_HDR_LEN, len);
    if (gso === GSO_NONE) {
      if (!completeChecksum(frame, v.getUint16(6, true), v.getUint16(8, true))) {
        this.stats.txDroppedHeader++;
        return;
      }
      this.stats.txChecksummed++;
      this.#send(frame);
      return;
    }
    const r = segmentTcp(
      frame,
      gso === GSO_TCPV6,
      v.getUint16(4, true),
      MAX_FRAME,
      (seg) => this.#send(seg),
    );
    if (typeof r === "string") {
      this.stats.txDroppedHeader++;
      this.logError(`tx super-frame of ${len} bytes dropped: ${r}`);
      return;
    }
    this.stats.txSegmented++;
  }

  #send(frame: Uint8Array): void {
    if (this.#backend.send(frame)) {
      this.stats.txFrames++;
      this.stats.txBytes += frame.length;
    } else {
      this.stats.txDroppedBackend++;
    }
  }

  /**
   * A transmit chain longer than any frame: dropped before a byte of it is
   * copied (its length is the guest's to choose, up to 4 GiB), counted and
   * logged — a guest with an MTU over 1500 sees its large frames vanish.
   */
  #tooLong(c: Chain, len: number, max: number): void {
    this.stats.txDroppedLong++;
    this.logError(`chain ${c.head}: transmit of ${len} bytes is longer than ${max}; dropped`);
  }

  #malformed(c: Chain, why: string): void {
    this.stats.malformedChains++;
    this.logError(`chain ${c.head}: ${why}; returned with 0 bytes`);
  }
}

const EMPTY = new Uint8Array(0);
