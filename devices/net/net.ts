// The network device: virtio-net (device id 1, virtio 1.2 §5.1) with one
// rx/tx queue pair — queue 0 receives into the guest, queue 1 transmits from
// it — a MAC address and link status in config space, and offloads. Every
// buffer starts with the 12-byte virtio_net_hdr_v1. To a backend without
// headers (passt, sharenet) frames cross bare and the transmit offloads are
// done here in software (devices/net/offload.ts; docs/adr/0004); a backend
// with them (the tap) gets the guest's checked header and its TCP super-frames
// whole, and hands super-frames of up to 64 KiB the other way, which the
// device spreads over several receive buffers (MRG_RXBUF). The backend pushes
// frames in with receive(): they go straight into posted rx buffers, or wait
// in a bounded queue while the guest has posted too few; overflow is dropped
// and counted, so the backend is never blocked. Read next: actors/net/net.worker.ts.

import { bit, DEVICE_ID, F } from "../virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "../virtio/device.ts";
import { createTransportState, type DeviceTransport } from "../virtio/mmio.ts";
import {
  type Chain,
  gatherBytes,
  scatterBytes,
  type Segment,
  type VirtQueue,
} from "../virtio/queue.ts";
import {
  MAX_FRAME,
  MAX_GSO_FRAME,
  MIN_FRAME,
  type NetBackend,
  NO_RECEIVE_OFFLOADS,
  type ReceiveOffloads,
} from "./backend.ts";
import {
  checkTxHeader,
  completeChecksum,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV6,
  HDR,
  rxHeader,
  segmentTcp,
  tcpLayout,
  VIRTIO_NET_HDR_F_DATA_VALID,
} from "./offload.ts";

export { MAX_GSO_FRAME };

export const NET_RX = 0;
export const NET_TX = 1;
/** Queue size offered for both queues. */
export const NET_QUEUE_SIZE = 256;
/** Default bound on frames held while the guest has posted no receive buffers. */
export const NET_HOLD_FRAMES = 256;
/** And on their bytes (super-frames are up to 64 KiB each). */
export const NET_HOLD_BYTES = 4 << 20;
/** sizeof(struct virtio_net_hdr_v1): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const NET_HDR_LEN = 12;

/** Device feature bits (§5.1.3). */
export const NET_F = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  MRG_RXBUF: 15,
  STATUS: 16,
} as const;
/** virtio_net_config.status bits. */
export const NET_S_LINK_UP = 1;

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
/**
 * Receive offloads, for a backend whose host kernel delivers TCP super-frames
 * (the tap with vnet headers): GUEST_TSO4/6 and GUEST_ECN, and mergeable
 * receive buffers so a 64 KiB frame spreads over the guest's page-sized
 * buffers (num_buffers) instead of every buffer being 64 KiB.
 */
export const NET_RX_OFFLOADS = bit(NET_F.GUEST_TSO4) | bit(NET_F.GUEST_TSO6) |
  bit(NET_F.GUEST_ECN) | bit(NET_F.MRG_RXBUF);

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
 * `irq`. `offloads: false` leaves out the offloads; `receiveOffloads: true`
 * adds NET_RX_OFFLOADS (only for a backend with headers: the tap).
 */
export function createNetState(
  irq: number,
  mac: Uint8Array,
  opts: { offloads?: boolean; receiveOffloads?: boolean } = {},
): SharedArrayBuffer {
  if (mac.length !== 6) throw new RangeError(`virtio-net: MAC of ${mac.length} bytes`);
  const config = new Uint8Array(CONFIG_BYTES);
  config.set(mac, 0);
  new DataView(config.buffer).setUint16(6, NET_S_LINK_UP, true);
  return createTransportState({
    deviceId: DEVICE_ID.NET,
    deviceFeatures: NET_FEATURES |
      (opts.offloads === false
        ? 0n
        : NET_OFFLOADS | (opts.receiveOffloads === true ? NET_RX_OFFLOADS : 0n)),
    queueMax: [NET_QUEUE_SIZE, NET_QUEUE_SIZE],
    configBytes: CONFIG_BYTES,
    irq,
    config,
  });
}

// ---- the device

export interface NetOptions extends DeviceOptions {
  /**
   * Where transmitted frames go (received frames come in through receive()).
   * With `offloads` it takes the guest's header and super-frames whole; with
   * setReceiveOffloads it is told what the guest's driver negotiated, if the
   * device offers the receive offloads (createNetState receiveOffloads).
   */
  backend: Pick<NetBackend, "send" | "offloads" | "setReceiveOffloads">;
  /** Bound on held received frames (default NET_HOLD_FRAMES); beyond it frames are dropped. */
  holdFrames?: number;
  /** Bound on their bytes (default NET_HOLD_BYTES). */
  holdBytes?: number;
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
  /** Frames received from the backend that are not Ethernet frames at all (< 14 or > 1514 bytes, 64 KiB with GSO). */
  rxDroppedBad: number;
  /** Dropped: the backend's header asked for what the guest did not negotiate, or is malformed. */
  rxDroppedHeader: number;
  /** TCP super-frames delivered whole (GUEST_TSO4/6). */
  rxSuperFrames: number;
  /** Frames spread over more than one receive buffer (MRG_RXBUF). */
  rxMerged: number;
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
  /** TCP super-frames handed whole to a backend with headers (the host kernel cuts them). */
  txSuperFrames: number;
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
    rxDroppedHeader: 0,
    rxSuperFrames: 0,
    rxMerged: 0,
    rxChecksumValid: 0,
    txFrames: 0,
    txBytes: 0,
    txDroppedShort: 0,
    txDroppedLong: 0,
    txDroppedHeader: 0,
    txChecksummed: 0,
    txSegmented: 0,
    txSuperFrames: 0,
    txDroppedBackend: 0,
    malformedChains: 0,
  };
  readonly #backend: Pick<NetBackend, "send" | "offloads" | "setReceiveOffloads">;
  readonly #holdMax: number;
  readonly #holdBytesMax: number;
  /** Held frames (copies, with the backend's header if it gave one), oldest first, from #holdHead. */
  #hold: Held[] = [];
  #holdHead = 0;
  #heldBytes = 0;
  #flushQueued = false;
  /** The reset epoch the rx queue object belongs to (see receive()). */
  #epoch: number;
  /** The header written before a received frame. */
  readonly #hdr = new Uint8Array(NET_HDR_LEN);
  /** What the driver negotiated, read once per driver instance (see #negotiated()). */
  #nego: Negotiated | null = null;
  /** The chains one merged frame is being spread over, and what each gets. */
  readonly #mrgChains: Chain[] = [];
  readonly #mrgHeads: number[] = [];
  readonly #mrgLens: number[] = [];
  /** Header and frame of a transmit to a backend with headers (a private copy). */
  #txBuf: Uint8Array | null = null;

  constructor(
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: NetOptions,
  ) {
    super("net", ram, state, control, opts);
    this.#backend = opts.backend;
    this.#holdMax = opts.holdFrames ?? NET_HOLD_FRAMES;
    this.#holdBytesMax = opts.holdBytes ?? NET_HOLD_BYTES;
    this.#epoch = this.transport.resetCount();
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
    return this.#holdHasRoom();
  }

  /** Set the link state the guest sees (config status) and tell it (config interrupt). */
  setLink(up: boolean): void {
    setNetLink(this.transport, up);
  }

  /**
   * A frame from the backend, with its virtio_net_hdr if the backend has
   * them. It is copied into posted rx buffers at once, or into the hold
   * queue; the caller's buffers are free when this returns. Never blocks and
   * never throws.
   */
  receive(frame: Uint8Array, hdr?: Uint8Array): void {
    if (
      frame.length < MIN_FRAME || frame.length > (hdr ? MAX_GSO_FRAME : MAX_FRAME) ||
      (hdr !== undefined && hdr.length < NET_HDR_LEN)
    ) {
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
      this.#holdCopy(frame, hdr);
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
        const done = this.held === 0 && !this.broken && this.#deliverOne(vq, frame, hdr);
        this.#queueFlush(); // a no-op unless a completion asked for an interrupt
        if (done || this.broken) return;
      } catch (e) {
        this.fail(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        return;
      }
    }
    this.#holdCopy(frame, hdr);
  }

  #holdHasRoom(): boolean {
    return this.held < this.#holdMax && this.#heldBytes < this.#holdBytesMax;
  }

  #holdCopy(frame: Uint8Array, hdr: Uint8Array | undefined): void {
    if (!this.#holdHasRoom()) {
      this.stats.rxDroppedFull++;
      return;
    }
    this.#hold.push({ frame: frame.slice(), hdr: hdr?.slice(0, NET_HDR_LEN) });
    this.#heldBytes += frame.length;
  }

  protected override onReset(): void {
    // Frames held for the old driver instance are stale: a new one starts clean.
    this.#hold = [];
    this.#holdHead = 0;
    this.#heldBytes = 0;
    this.#epoch = this.transport.resetCount();
    this.#nego = null;
    // Until the new driver says what it takes, the host hands over plain frames.
    this.#setBackendOffloads(NO_RECEIVE_OFFLOADS);
  }

  protected processQueue(q: number, vq: VirtQueue): void {
    this.#negotiated(); // the backend hears what the driver took as soon as it is up
    if (q === NET_RX) this.#drainHold(vq);
    else if (q === NET_TX) this.#transmit(vq);
  }

  /**
   * The offloads the driver negotiated, read when first needed after it
   * came up (features are fixed from FEATURES_OK to the next reset); the
   * backend is told the receive ones then. Only called while live().
   */
  #negotiated(): Negotiated {
    if (this.#nego !== null) return this.#nego;
    const has = (b: number) => this.transport.hasFeature(b);
    const csum = has(NET_F.GUEST_CSUM);
    const n: Negotiated = {
      tx: {
        csum: has(NET_F.CSUM),
        tso4: has(NET_F.HOST_TSO4),
        tso6: has(NET_F.HOST_TSO6),
        ecn: has(NET_F.HOST_ECN),
      },
      rx: {
        csum,
        tso4: csum && has(NET_F.GUEST_TSO4),
        tso6: csum && has(NET_F.GUEST_TSO6),
        ecn: csum && (has(NET_F.GUEST_TSO4) || has(NET_F.GUEST_TSO6)) && has(NET_F.GUEST_ECN),
      },
      mrg: has(NET_F.MRG_RXBUF),
    };
    this.#nego = n;
    // Only a device that offered the receive offloads hands them on: in
    // deterministic mode frames reach it through the cpu without headers.
    if ((this.transport.deviceFeatures() & bit(NET_F.GUEST_TSO4)) !== 0n) {
      this.#setBackendOffloads(n.rx);
    }
    return n;
  }

  #setBackendOffloads(o: ReceiveOffloads): void {
    if (!this.#backend.setReceiveOffloads) return;
    try {
      this.#backend.setReceiveOffloads(o);
    } catch (e) {
      // The host keeps its previous setting; frames it should not send are dropped in rxHeader.
      this.logError(e instanceof Error ? e.message : String(e));
    }
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
      const h = this.#hold[this.#holdHead];
      if (!this.#deliverOne(vq, h.frame, h.hdr)) break;
      this.#heldBytes -= h.frame.length;
      this.#hold[this.#holdHead++] = NONE_HELD;
      if (this.#holdHead > 64 && this.#holdHead * 2 > this.#hold.length) {
        this.#hold = this.#hold.slice(this.#holdHead);
        this.#holdHead = 0;
      }
    }
    if (this.held === 0) {
      this.#hold = [];
      this.#holdHead = 0;
      this.#heldBytes = 0;
    }
  }

  /**
   * Put `frame` into the next posted rx buffer (or, with MRG_RXBUF, as many
   * as it takes). Returns false when there are too few buffers (or the queue
   * failed): the frame is not consumed and the buffers stay posted. A buffer
   * that is malformed is returned empty and the next one is tried; a frame
   * that fits no buffer, or whose header is refused, is dropped (true: consumed).
   */
  #deliverOne(vq: VirtQueue, frame: Uint8Array, inHdr: Uint8Array | undefined): boolean {
    const n = this.#negotiated();
    const why = rxHeader(inHdr, frame, n.rx, MAX_FRAME, this.#hdr);
    if (why !== null) {
      this.stats.rxDroppedHeader++;
      this.logError(`received frame of ${frame.length} bytes dropped: ${why}`);
      return true;
    }
    const need = NET_HDR_LEN + frame.length;
    if (n.mrg) return this.#deliverMerged(vq, frame, need);
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
      if (c.writeLen < need) {
        this.stats.rxDroppedTooBig++;
        this.complete(vq, c.head, 0);
        return true;
      }
      // Without MRG_RXBUF a frame is one buffer (§5.1.6.4).
      this.#hdr[HDR.NUM_BUFFERS] = 1;
      this.#hdr[HDR.NUM_BUFFERS + 1] = 0;
      scatterBytes(this.ram, c.writable, 0, this.#hdr);
      scatterBytes(this.ram, c.writable, NET_HDR_LEN, frame);
      this.#delivered(frame, 1);
      this.complete(vq, c.head, need);
      return true;
    }
  }

  /**
   * MRG_RXBUF (§5.1.6.4.2): take posted buffers until the header and frame
   * fit, write the header (num_buffers = how many) into the first and the
   * frame across them, and publish them together, as the driver expects.
   */
  #deliverMerged(vq: VirtQueue, frame: Uint8Array, need: number): boolean {
    const chains = this.#mrgChains;
    chains.length = 0;
    let room = 0;
    while (room < need) {
      if (chains.length === vq.size) {
        // Every buffer the ring can hold would not do: drop, leave them posted.
        vq.unpop(chains.length);
        this.stats.rxDroppedTooBig++;
        return true;
      }
      const r = vq.pop();
      if (r.kind === "empty") {
        // Too few posted: give them back and wait for more (the frame is held).
        vq.unpop(chains.length);
        return false;
      }
      if (r.kind === "error") {
        for (const c of chains) this.complete(vq, c.head, 0);
        this.queueFailed(NET_RX, r, vq);
        return false;
      }
      const c = r.chain;
      this.traceRequest(NET_RX, c, "receive", frame.length, false);
      if (c.readLen > 0 || c.writeLen < NET_HDR_LEN) {
        // §5.1.6.3.1: each buffer holds at least a header. The ones taken
        // before it can no longer go back to the avail ring: returned empty
        // too (the driver drops a 0-byte buffer and posts another).
        this.#malformed(c, "receive buffer with device-readable parts or no room for a header");
        for (const b of chains) this.complete(vq, b.head, 0);
        this.complete(vq, c.head, 0);
        chains.length = 0;
        room = 0;
        continue;
      }
      chains.push(c);
      room += c.writeLen;
    }
    const heads = this.#mrgHeads, lens = this.#mrgLens;
    heads.length = lens.length = chains.length;
    this.#hdr[HDR.NUM_BUFFERS] = chains.length & 255;
    this.#hdr[HDR.NUM_BUFFERS + 1] = chains.length >> 8;
    scatterBytes(this.ram, chains[0].writable, 0, this.#hdr);
    let at = 0;
    for (let i = 0; i < chains.length; i++) {
      const c = chains[i];
      const start = i === 0 ? NET_HDR_LEN : 0;
      const n = Math.min(c.writeLen - start, frame.length - at);
      scatterBytes(this.ram, c.writable, start, frame.subarray(at, at + n));
      at += n;
      heads[i] = c.head;
      lens[i] = start + n;
    }
    this.#delivered(frame, chains.length);
    this.completeAll(vq, heads, lens);
    chains.length = 0;
    return true;
  }

  #delivered(frame: Uint8Array, buffers: number): void {
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    if (this.#hdr[HDR.FLAGS] & VIRTIO_NET_HDR_F_DATA_VALID) this.stats.rxChecksumValid++;
    if (this.#hdr[HDR.GSO_TYPE] !== GSO_NONE) this.stats.rxSuperFrames++;
    if (buffers > 1) this.stats.rxMerged++;
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
      } else if (this.#backend.offloads) {
        this.#sendWithHeader(c);
      } else {
        this.#sendChain(c);
      }
      this.complete(vq, c.head, 0);
    }
  }

  /**
   * To a backend with headers: the guest's header is checked against what
   * it negotiated and handed on with the frame — a super-frame whole, a
   * partial checksum as it is; the host kernel does the rest (and checks
   * again). Header and frame are copied out of guest RAM first, so the guest
   * cannot change them between the check and the send.
   */
  #sendWithHeader(c: Chain): void {
    const len = c.readLen - NET_HDR_LEN;
    if (len < MIN_FRAME) {
      this.stats.txDroppedShort++;
      return;
    }
    if (len > MAX_GSO_FRAME) return this.#tooLong(c, len, MAX_GSO_FRAME);
    const buf = this.#txBuf ??= new Uint8Array(NET_HDR_LEN + MAX_GSO_FRAME);
    const out = buf.subarray(0, NET_HDR_LEN + len);
    copySegments(this.ram.bytes, c.readable, out);
    const hdr = out.subarray(0, NET_HDR_LEN), frame = out.subarray(NET_HDR_LEN);
    const why = checkTxHeader(hdr, len, this.#negotiated().tx);
    if (why !== null) return this.#badHeader(len, why);
    const gso = hdr[HDR.GSO_TYPE] & ~GSO_ECN;
    if (gso === GSO_NONE) {
      if (len > MAX_FRAME) return this.#tooLong(c, len, MAX_FRAME);
    } else {
      const t = tcpLayout(frame, gso === GSO_TCPV6);
      if (typeof t === "string") return this.#badHeader(len, t);
      this.stats.txSuperFrames++;
    }
    hdr[HDR.NUM_BUFFERS] = hdr[HDR.NUM_BUFFERS + 1] = 0; // receive-only field
    this.#send(frame, hdr);
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
    this.#sendOffloaded(c, hdr.slice(), len);
  }

  /** A frame asking for checksum completion or segmentation: checked, then done here. */
  #sendOffloaded(c: Chain, hdr: Uint8Array, len: number): void {
    const why = checkTxHeader(hdr, len, this.#negotiated().tx);
    if (why !== null) return this.#badHeader(len, why);
    const gso = hdr[HDR.GSO_TYPE] & ~GSO_ECN;
    const v = new DataView(hdr.buffer, hdr.byteOffset, NET_HDR_LEN);
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

  #send(frame: Uint8Array, hdr?: Uint8Array): void {
    if (this.#backend.send(frame, hdr)) {
      this.stats.txFrames++;
      this.stats.txBytes += frame.length;
    } else {
      this.stats.txDroppedBackend++;
    }
  }

  /** A transmit whose virtio_net_hdr is refused: dropped, counted, and logged with the reason. */
  #badHeader(len: number, why: string): void {
    this.stats.txDroppedHeader++;
    this.logError(`transmit of ${len} bytes dropped: bad virtio-net header: ${why}`);
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

/** A received frame waiting for buffers, with the backend's header if it gave one. */
interface Held {
  frame: Uint8Array;
  hdr: Uint8Array | undefined;
}

const NONE_HELD: Held = { frame: new Uint8Array(0), hdr: undefined };

/** What the driver negotiated: the offloads it lets the device use, each way. */
interface Negotiated {
  /** CSUM, HOST_TSO4/6, HOST_ECN: what transmitted headers may ask for. */
  tx: ReceiveOffloads;
  /** GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN: what received headers may say. */
  rx: ReceiveOffloads;
  /** MRG_RXBUF: a frame may take several receive buffers. */
  mrg: boolean;
}

/** Copy a chain's readable bytes (checked: `out.length` of them exist) into `out`. */
function copySegments(bytes: Uint8Array, segs: Segment[], out: Uint8Array): void {
  let at = 0;
  for (const s of segs) {
    if (at >= out.length) return;
    const n = Math.min(s.len, out.length - at);
    out.set(bytes.subarray(s.off, s.off + n), at);
    at += n;
  }
}
