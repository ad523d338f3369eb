// The block device: virtio-blk (device id 2) on a BlockBackend. Each chain is
// parsed into a typed request or refused with a reason (the guest is
// hostile): a request that can be answered gets a status byte — IOERR for
// bad ranges and malformed layouts, UNSUPP for unknown types — and one that
// cannot (no status byte, a broken ring) sets DEVICE_NEEDS_RESET. Requests
// are served in order, synchronously: this actor's worker is the I/O thread.
// Read next: devices/block/backend.ts (the file), docs/virtio.md.

import { type BlockBackend, SECTOR } from "./backend.ts";
import { bit, DEVICE_ID, F } from "../virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "../virtio/device.ts";
import { createTransportState } from "../virtio/mmio.ts";
import {
  type Chain,
  gatherBytes,
  type Segment,
  sliceSegments,
  type VirtQueue,
} from "../virtio/queue.ts";

/** virtio-blk feature bits (§5.2.3). */
export const BLK_F = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** Request types (§5.2.6). */
export const BLK_T = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
} as const;

/** Status byte values. */
export const BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

export const BLOCK_QUEUE_SIZE = 256;
/** Largest single segment the driver may use (config size_max). */
export const BLOCK_SIZE_MAX = 1 << 20;
/** Largest WRITE_ZEROES range, in sectors (config max_write_zeroes_sectors). */
export const BLOCK_MAX_WRITE_ZEROES = 1 << 16;
/** Bytes of the virtio_blk_config we fill (up to write_zeroes_may_unmap + padding). */
const CONFIG_BYTES = 60;
/** Length of the GET_ID answer. */
export const BLK_ID_BYTES = 20;
/**
 * The most one backend read or write moves: a request's data is served in
 * pieces of this size (docs/virtio.md, "Host memory budget"). Linux's
 * segments are never larger (size_max), so only a hostile guest is cut up.
 */
export const IO_PIECE = BLOCK_SIZE_MAX;

export interface BlockStateOptions {
  irq: number;
  /** Capacity in 512-byte sectors (BlockProbe.sectors). */
  sectors: number;
  readOnly: boolean;
}

/** The transport state (features and config space) for a disk of `sectors` sectors. */
export function createBlockState(o: BlockStateOptions): SharedArrayBuffer {
  const config = new Uint8Array(CONFIG_BYTES);
  const v = new DataView(config.buffer);
  v.setBigUint64(0, BigInt(o.sectors), true); // capacity
  v.setUint32(8, BLOCK_SIZE_MAX, true); // size_max
  v.setUint32(12, BLOCK_QUEUE_SIZE - 2, true); // seg_max: header and status take two
  v.setUint32(20, SECTOR, true); // blk_size
  v.setUint32(48, BLOCK_MAX_WRITE_ZEROES, true); // max_write_zeroes_sectors
  v.setUint32(52, 1, true); // max_write_zeroes_seg
  // write_zeroes_may_unmap (56) stays 0: zeros are written, never unmapped.
  let features = bit(BLK_F.SIZE_MAX) | bit(BLK_F.SEG_MAX) | bit(BLK_F.BLK_SIZE) |
    bit(BLK_F.FLUSH) | bit(F.RING_INDIRECT_DESC) | bit(F.RING_EVENT_IDX);
  // DISCARD is not offered: a plain file cannot free space without hole punching.
  features |= o.readOnly ? bit(BLK_F.RO) : bit(BLK_F.WRITE_ZEROES);
  return createTransportState({
    deviceId: DEVICE_ID.BLOCK,
    deviceFeatures: features,
    queueMax: [BLOCK_QUEUE_SIZE],
    configBytes: CONFIG_BYTES,
    irq: o.irq,
    config,
  });
}

/** The 20-byte serial GET_ID returns: the file's base name, printable ASCII, NUL-padded. */
export function serialFromPath(path: string): Uint8Array {
  const base = path.split("/").filter((p) => p.length > 0).pop() ?? "disk";
  const out = new Uint8Array(BLK_ID_BYTES);
  let n = 0;
  for (const ch of base) {
    if (n === BLK_ID_BYTES) break;
    const c = ch.codePointAt(0)!;
    out[n++] = c >= 0x21 && c < 0x7f ? c : 0x5f; // '_'
  }
  return out;
}

export interface BlockOptions extends DeviceOptions {
  backend: BlockBackend;
  /** The GET_ID answer (default: from "disk"); usually serialFromPath(file). */
  serial?: Uint8Array;
}

/** A parsed request, or the status to answer a malformed one with. */
type Parsed =
  | { type: "in"; offset: number; data: Segment[]; len: number }
  | { type: "out"; offset: number; data: Segment[]; len: number }
  | { type: "flush" }
  | { type: "get-id"; data: Segment[]; len: number }
  | { type: "write-zeroes"; ranges: { offset: number; len: number }[] }
  | { type: "bad"; status: number; why: string | null };

/** Each request's name on the timeline (--trace). */
const REQUEST_NAME: Record<Parsed["type"], string> = {
  in: "read",
  out: "write",
  flush: "flush",
  "get-id": "get-id",
  "write-zeroes": "write-zeroes",
  bad: "bad request",
};

export class BlockDevice extends VirtioDevice {
  readonly backend: BlockBackend;
  readonly serial: Uint8Array;
  /** Requests completed, by outcome (for --verbose and tests). */
  readonly stats = { ok: 0, ioerr: 0, unsupp: 0, reads: 0, writes: 0, flushes: 0 };
  /** Usable bytes: the backend's size (the config's capacity never exceeds it). */
  readonly #size: number;
  /** IO_PIECE zero bytes for WRITE_ZEROES, allocated on first use. */
  #zeros: Uint8Array | null = null;

  constructor(
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: BlockOptions,
  ) {
    super("block", ram, state, control, opts);
    this.backend = opts.backend;
    this.serial = opts.serial ?? serialFromPath("disk");
    const cfg = new DataView(this.transport.readConfig(0, 8).buffer);
    const cfgBytes = Number(cfg.getBigUint64(0, true)) * SECTOR;
    this.#size = Math.min(cfgBytes, this.backend.size);
    if (cfgBytes > this.backend.size) {
      this.logError(
        `capacity ${cfgBytes} bytes exceeds the backend's ${this.backend.size}; requests past it fail`,
      );
    }
  }

  protected processQueue(_q: number, vq: VirtQueue): void {
    for (;;) {
      const r = vq.pop();
      if (r.kind === "empty") return;
      if (r.kind === "error") return this.queueFailed(0, r, vq);
      this.#serve(vq, r.chain);
      if (this.broken || this.stale) return;
    }
  }

  #serve(vq: VirtQueue, c: Chain): void {
    if (c.writeLen < 1) {
      // Nowhere to put a status: the spec's way out is NEEDS_RESET (§2.1.2).
      this.complete(vq, c.head, 0);
      this.countError("no-status-byte");
      this.fail(`request ${c.head} has no device-writable status byte`);
      return;
    }
    const req = this.#parse(c);
    this.traceRequest(0, c, REQUEST_NAME[req.type], "offset" in req ? req.offset / SECTOR : 0);
    let status: number = BLK_S.OK;
    let written = 0;
    if (req.type === "bad") {
      status = req.status;
      if (req.why) this.logError(`request ${c.head}: ${req.why}`);
    } else {
      try {
        written = this.#execute(req);
      } catch (e) {
        status = BLK_S.IOERR;
        written = 0;
        this.logError(
          `request ${c.head} (${req.type}): I/O error: ${e instanceof Error ? e.message : e}`,
        );
      }
    }
    if (status === BLK_S.OK) this.stats.ok++;
    else if (status === BLK_S.IOERR) this.stats.ioerr++;
    else this.stats.unsupp++;
    // The status byte is the last writable byte of the chain.
    const [s] = sliceSegments(c.writable, c.writeLen - 1, 1);
    this.ram.bytes[s.off] = status;
    this.complete(vq, c.head, written + 1);
  }

  /** What the chain asks for, checked against the disk; no side effects. */
  #parse(c: Chain): Parsed {
    const bad = (status: number, why: string | null): Parsed => ({ type: "bad", status, why });
    if (c.readLen < 16) {
      return bad(
        BLK_S.IOERR,
        `header is ${c.readLen} device-readable bytes, not 16 (in a writable buffer?)`,
      );
    }
    const h = new DataView(gatherBytes(this.ram, c.readable, 0, 16).buffer);
    const type = h.getUint32(0, true);
    const sectorLo = h.getUint32(8, true), sectorHi = h.getUint32(12, true);
    const payloadIn = c.readLen - 16; // device-readable bytes after the header
    const payloadOut = c.writeLen - 1; // device-writable bytes before the status
    // A sector number past 2^40 is past any disk we can serve; keep the arithmetic exact.
    const offset = sectorHi >= 0x100 ? Infinity : (sectorHi * 0x1_0000_0000 + sectorLo) * SECTOR;
    const inRange = (len: number) => offset + len <= this.#size;
    switch (type) {
      case BLK_T.IN:
        if (payloadIn > 0) {
          return bad(
            BLK_S.IOERR,
            `read with ${payloadIn} device-readable data bytes (read into a read-only buffer)`,
          );
        }
        if (payloadOut % SECTOR !== 0) {
          return bad(BLK_S.IOERR, `read of ${payloadOut} bytes, not whole sectors`);
        }
        if (!inRange(payloadOut)) return bad(BLK_S.IOERR, null); // past the end: an honest IOERR
        return {
          type: "in",
          offset,
          data: sliceSegments(c.writable, 0, payloadOut),
          len: payloadOut,
        };
      case BLK_T.OUT:
        if (payloadOut > 0) {
          return bad(BLK_S.IOERR, `write with ${payloadOut} device-writable data bytes`);
        }
        if (this.backend.readOnly) return bad(BLK_S.IOERR, null);
        if (payloadIn % SECTOR !== 0) {
          return bad(BLK_S.IOERR, `write of ${payloadIn} bytes, not whole sectors`);
        }
        if (!inRange(payloadIn)) return bad(BLK_S.IOERR, null);
        return {
          type: "out",
          offset,
          data: sliceSegments(c.readable, 16, payloadIn),
          len: payloadIn,
        };
      case BLK_T.FLUSH:
        return { type: "flush" };
      case BLK_T.GET_ID: {
        const len = Math.min(payloadOut, BLK_ID_BYTES);
        return { type: "get-id", data: sliceSegments(c.writable, 0, len), len };
      }
      case BLK_T.WRITE_ZEROES: {
        if (this.backend.readOnly) return bad(BLK_S.IOERR, null);
        if (payloadIn === 0 || payloadIn % 16 !== 0) {
          return bad(
            BLK_S.IOERR,
            `write-zeroes with ${payloadIn} bytes of segments, not a multiple of 16`,
          );
        }
        if (payloadIn / 16 > 1) {
          return bad(BLK_S.UNSUPP, `write-zeroes with ${payloadIn / 16} segments (max 1)`);
        }
        const seg = new DataView(gatherBytes(this.ram, c.readable, 16, 16).buffer);
        const lo = seg.getUint32(0, true), hi = seg.getUint32(4, true);
        const num = seg.getUint32(8, true), flags = seg.getUint32(12, true);
        if (flags & ~1) return bad(BLK_S.UNSUPP, `write-zeroes flags 0x${flags.toString(16)}`);
        if (num > BLOCK_MAX_WRITE_ZEROES) return bad(BLK_S.IOERR, `write-zeroes of ${num} sectors`);
        const off = hi >= 0x100 ? Infinity : (hi * 0x1_0000_0000 + lo) * SECTOR;
        if (off + num * SECTOR > this.#size) return bad(BLK_S.IOERR, null);
        return { type: "write-zeroes", ranges: [{ offset: off, len: num * SECTOR }] };
      }
      default:
        return bad(BLK_S.UNSUPP, null);
    }
  }

  /** IO_PIECE bytes for runs of small segments (allocated at the first such request). */
  #bounceBuf: Uint8Array | null = null;
  get #bounce(): Uint8Array {
    return this.#bounceBuf ??= new Uint8Array(IO_PIECE);
  }

  /**
   * Move a request's data between guest RAM and the file at `offset`. Runs of
   * small segments (a direct read's 4 KiB user pages, scattered in RAM) are
   * one file read into the bounce buffer then copied out, or gathered and
   * written once: 256 seek+read pairs per MiB cost 2-4x one read and 256
   * copies (2026-12-03). A larger segment goes straight, IO_PIECE at a time.
   */
  #move(data: { off: number; len: number }[], offset: number, write: boolean): void {
    const ram = this.ram.bytes;
    let at = offset;
    for (let i = 0; i < data.length;) {
      // the run of segments from i whose lengths together fit in IO_PIECE
      let run = i, len = 0;
      while (run < data.length && len + data[run].len <= IO_PIECE) len += data[run++].len;
      if (run > i + 1) {
        const bounce = this.#bounce.subarray(0, len);
        if (write) {
          for (let j = i, o = 0; j < run; o += data[j].len, j++) {
            bounce.set(ram.subarray(data[j].off, data[j].off + data[j].len), o);
          }
          this.backend.write(at, bounce);
        } else {
          this.backend.read(at, bounce);
          for (let j = i, o = 0; j < run; o += data[j].len, j++) {
            ram.set(bounce.subarray(o, o + data[j].len), data[j].off);
          }
        }
        at += len;
        i = run;
        continue;
      }
      const s = data[i++];
      for (let done = 0; done < s.len; done += IO_PIECE) {
        const piece = ram.subarray(s.off + done, s.off + done + Math.min(IO_PIECE, s.len - done));
        if (write) this.backend.write(at + done, piece);
        else this.backend.read(at + done, piece);
      }
      at += s.len;
    }
  }

  /** Do a parsed request; returns bytes written into the chain before the status. Throws on I/O errors. */
  #execute(req: Exclude<Parsed, { type: "bad" }>): number {
    const ram = this.ram.bytes;
    switch (req.type) {
      case "in":
        // Between the file and guest RAM in pieces of at most IO_PIECE: a
        // segment's length is the guest's to choose (up to all of RAM), and
        // nothing on the way may hold more (a fault layer that corrupts a
        // write copies one piece).
        this.#move(req.data, req.offset, false);
        this.stats.reads++;
        return req.len;
      case "out":
        this.#move(req.data, req.offset, true);
        this.stats.writes++;
        return 0;
      case "flush":
        this.backend.flush();
        this.stats.flushes++;
        return 0;
      case "get-id": {
        let at = 0;
        for (const s of req.data) {
          ram.set(this.serial.subarray(at, at + s.len), s.off);
          at += s.len;
        }
        return req.len;
      }
      case "write-zeroes": {
        // One zero piece for the device's life, made on first use.
        const zeros = this.#zeros ??= new Uint8Array(IO_PIECE);
        for (const r of req.ranges) {
          for (let done = 0; done < r.len; done += IO_PIECE) {
            this.backend.write(
              r.offset + done,
              zeros.subarray(0, Math.min(IO_PIECE, r.len - done)),
            );
          }
        }
        return 0;
      }
    }
  }
}
