// Guest RAM as the device actors see it: views over the one SharedArrayBuffer
// and `offset()`, the single check every guest-physical address and length
// goes through before a device touches RAM (lguest's `check_pointer`).
// Read next: devices/virtio/queue.ts (the only caller that walks guest data).

import { RAM_BASE } from "../../machine/memmap.ts";

export class GuestRam {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** For Atomics on 16-bit ring indexes (aligned offsets only). */
  readonly u16: Uint16Array;
  /** Guest-physical address of byte 0. */
  readonly base: number;
  readonly size: number;

  constructor(sab: SharedArrayBuffer, base: number = RAM_BASE) {
    if (sab.byteLength % 8 !== 0) throw new RangeError("guest RAM size must be a multiple of 8");
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
    this.u16 = new Uint16Array(sab);
    this.base = base;
    this.size = sab.byteLength;
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
}

/** A 64-bit guest address from two 32-bit halves; exact below 2^53, else unsafe (fails offset()). */
export const addr64 = (lo: number, hi: number): number => (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
