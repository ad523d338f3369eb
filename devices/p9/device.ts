// virtio-9p (device id 9): one queue of requests, each chain a 9P message in
// its device-readable buffers and room for the reply in its writable ones,
// and the mount tag in config space (VIRTIO_9P_MOUNT_TAG). The chain's
// buffers are handed to the server (devices/p9/server.ts) as an Exchange over
// guest RAM, so a read or write moves data between the file and guest RAM
// directly, one buffer at a time. Requests are served in order, synchronously:
// this actor's worker is the file server's thread.
// Read next: devices/p9/server.ts (what a request means), actors/share/share_actor.ts.

import { bit, DEVICE_ID, F } from "../virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "../virtio/device.ts";
import { createTransportState } from "../virtio/mmio.ts";
import {
  type Chain,
  gatherBytes,
  scatterBytes,
  sliceSegments,
  type VirtQueue,
} from "../virtio/queue.ts";
import type { GuestRam } from "../virtio/ram.ts";
import type { Exchange, P9Server } from "./server.ts";

/** What serves a request: the server, or a fault layer around it (faults/layers/share.ts). */
export interface P9Handler {
  handle(x: Exchange): number;
  /** Whether the last request changed the fid table. */
  readonly fidsChanged: boolean;
}

/** Feature bit: the config space holds a mount tag. */
export const VIRTIO_9P_MOUNT_TAG = 0;
/** Linux's virtio 9p chains hold up to 128 pages each way: 512 entries leave room. */
export const SHARE_QUEUE_SIZE = 512;
/** Longest mount tag (Linux reads any length; QEMU allows 255; short keeps it a word). */
export const MAX_TAG_LEN = 64;

/** Whether `tag` can be a mount tag: 1..MAX_TAG_LEN of [A-Za-z0-9_.-]. */
export function validTag(tag: string): boolean {
  return tag.length >= 1 && tag.length <= MAX_TAG_LEN && /^[A-Za-z0-9_.-]+$/.test(tag);
}

/** The transport state of a share: one queue, the tag in config space. */
export function createShareState(o: { irq: number; tag: string }): SharedArrayBuffer {
  if (!validTag(o.tag)) throw new RangeError(`virtio-9p: bad mount tag "${o.tag}"`);
  const tag = new TextEncoder().encode(o.tag);
  const config = new Uint8Array(2 + tag.length);
  new DataView(config.buffer).setUint16(0, tag.length, true);
  config.set(tag, 2);
  return createTransportState({
    deviceId: DEVICE_ID.P9,
    deviceFeatures: bit(VIRTIO_9P_MOUNT_TAG) | bit(F.RING_INDIRECT_DESC) | bit(F.RING_EVENT_IDX),
    queueMax: [SHARE_QUEUE_SIZE],
    configBytes: config.length,
    irq: o.irq,
    config,
  });
}

/** A chain's buffers as the server sees them. */
export class ChainExchange implements Exchange {
  constructor(readonly ram: GuestRam, readonly chain: Chain) {}
  get readLen(): number {
    return this.chain.readLen;
  }
  get writeLen(): number {
    return this.chain.writeLen;
  }
  head(len: number): Uint8Array {
    return gatherBytes(this.ram, this.chain.readable, 0, len);
  }
  requestPieces(start: number, len: number): Uint8Array[] {
    return sliceSegments(this.chain.readable, start, len).map((s) =>
      this.ram.bytes.subarray(s.off, s.off + s.len)
    );
  }
  replyPieces(start: number, len: number): Uint8Array[] {
    return sliceSegments(this.chain.writable, start, len).map((s) =>
      this.ram.bytes.subarray(s.off, s.off + s.len)
    );
  }
  reply(bytes: Uint8Array): void {
    scatterBytes(this.ram, this.chain.writable, 0, bytes);
  }
}

export interface ShareOptions extends DeviceOptions {
  server: P9Handler | P9Server;
  /** Keep the fid table outside the worker (after a request changed it, before completing it). */
  saveFids?: () => void;
}

export class ShareDevice extends VirtioDevice {
  readonly server: P9Handler;
  readonly #saveFids: () => void;
  /** Chains with no room even for an error reply (completed with 0 bytes). */
  unanswered = 0;

  constructor(
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: ShareOptions,
  ) {
    super("virtio-9p", ram, state, control, opts);
    this.server = opts.server;
    this.#saveFids = opts.saveFids ?? (() => {});
  }

  protected processQueue(_q: number, vq: VirtQueue): void {
    for (;;) {
      const r = vq.pop();
      if (r.kind === "empty") return;
      if (r.kind === "error") return this.queueFailed(0, r, vq);
      const n = this.server.handle(new ChainExchange(this.ram, r.chain));
      if (n === 0) {
        this.unanswered++;
        this.logError(`request ${r.chain.head}: no 9P header or no room for a reply`);
      }
      if (this.server.fidsChanged) this.#saveFids();
      this.complete(vq, r.chain.head, n);
      if (this.broken || this.stale) return;
    }
  }
}
