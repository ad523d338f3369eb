// Guest RAM as the device actors see it: views over the guest's memory and
// `offset()`, the single check every guest-physical address and length goes
// through before a device touches RAM (lguest's `check_pointer`). The buffer
// may be longer than RAM — with the translator (cpu/jit/) the hart's
// registers and TLBs follow RAM in the same memory — so every bound is the
// RAM size the launcher gives, never the buffer's length: no virtqueue can
// reach the hart's state. Pages a device wrote are marked in the DMA bitmap,
// which tells the translator that their code may be new.
// Read next: devices/virtio/queue.ts (the only caller that walks guest data).

import { RAM_BASE } from "../../machine/memmap.ts";

export class GuestRam {
  /** Exactly the RAM bytes (never the state after them). */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** For Atomics on 16-bit ring indexes (aligned offsets only). */
  readonly u16: Uint16Array;
  /** Guest-physical address of byte 0. */
  readonly base: number;
  /** Bytes of guest RAM. */
  readonly size: number;
  /** One bit per RAM page written by a device (null: nobody translates code). */
  readonly dmaDirty: Int32Array | null;

  constructor(
    sab: SharedArrayBuffer,
    base: number = RAM_BASE,
    /** Bytes of `sab` that are guest RAM (default: all of it, for a buffer that is only RAM). */
    size: number = sab.byteLength,
    dmaDirty: Int32Array | null = null,
  ) {
    if (!(Number.isSafeInteger(size) && size > 0 && size % 8 === 0 && size <= sab.byteLength)) {
      throw new RangeError(
        `guest RAM size ${size} must be a positive multiple of 8 within its buffer (${sab.byteLength})`,
      );
    }
    if (dmaDirty !== null && dmaDirty.length * 32 * 4096 < size) {
      throw new RangeError("the DMA bitmap does not cover guest RAM");
    }
    this.bytes = new Uint8Array(sab, 0, size);
    this.view = new DataView(sab, 0, size);
    this.u16 = new Uint16Array(sab, 0, size >>> 1);
    this.base = base;
    this.size = size;
    this.dmaDirty = dmaDirty;
  }

  /**
   * The RAM offset of guest-physical range [addr, addr+len), or -1 if any
   * byte of it lies outside RAM (or the numbers are not sane integers).
   */
  offset(addr: number, len: number): number {
    if (!(len >= 0 && len <= this.size) || !Number.isSafeInteger(addr)) return -1;
    const off = addr - this.base;
    if (!(off >= 0 && off <= this.size - len)) return -1;
    return off;
  }

  /** A device finished writing RAM bytes [off, off + len): mark their pages for the translator. */
  noteWritten(off: number, len: number): void {
    const d = this.dmaDirty;
    if (d === null || len <= 0) return;
    for (let p = Math.floor(off / 4096), end = Math.floor((off + len - 1) / 4096); p <= end; p++) {
      Atomics.or(d, p >>> 5, 1 << (p & 31));
    }
  }
}

/** Int32 words of a DMA bitmap for `ramBytes` of RAM (one bit per 4 KiB page). */
export const dmaBitmapWords = (ramBytes: number): number => Math.ceil(ramBytes / 4096 / 32);

/** A 64-bit guest address from two 32-bit halves; exact below 2^53, else unsafe (fails offset()). */
export const addr64 = (lo: number, hi: number): number => (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
