// The CLINT (SiFive core-local interruptor, `riscv,clint0`) for firmware boots:
// msip, mtimecmp and mtime of hart 0, executed by the cpu actor on its bus.
// MSIP is set here at once; MTIP goes through the waker in its machine-timer
// mode (machine/control.ts armTimer with MIP.MTIP), exactly as SBI set_timer
// drives STIP on the direct path. Read next: devices/waker.ts, docs/firmware.md.

import { armTimer, CTL, CTL64, lowerMip, MIP, raiseMip, setClockSkew } from "../machine/control.ts";

/** Register offsets (hart 0), as on QEMU virt and the SiFive CLINT. */
export const CLINT_MSIP = 0x0000;
export const CLINT_MTIMECMP = 0x4000;
export const CLINT_MTIME = 0xbff8;

const U64 = (1n << 64n) - 1n;
const LO = 0xffff_ffffn;

/**
 * One hart's CLINT on the control block. `rawTicks` is guest time before the
 * clock skew (machine/control.ts guestTimeTicks); mtime = rawTicks + CTL64.CLOCK_SKEW,
 * the same value the hart's `time` CSR and the waker see. Only aligned 32-bit
 * accesses are accepted (the hart splits 64-bit ones, low word first); others fault.
 */
export class Clint {
  /** mtimecmp as an unsigned 64-bit value; reset value all ones (never). */
  mtimecmp = U64;
  readonly #ctl: Int32Array;
  readonly #ctl64: BigInt64Array;
  readonly #rawTicks: () => bigint;
  /** mtime latched by a read of its low word, so the high word read next matches it. */
  #latched: bigint | null = null;

  constructor(ctl: Int32Array, rawTicks: () => bigint) {
    this.#ctl = ctl;
    this.#ctl64 = new BigInt64Array(ctl.buffer, 0, CTL64.CLOCK_SKEW / 8 + 1);
    this.#rawTicks = rawTicks;
  }

  /** mtime now, skew included (unsigned 64-bit). */
  mtime(): bigint {
    return BigInt.asUintN(64, this.#rawTicks() + Atomics.load(this.#ctl64, CTL64.CLOCK_SKEW / 8));
  }

  read(off: number, size: number): number {
    if (size !== 4 || (off & 3) !== 0) return -1;
    if (off === CLINT_MSIP) return (Atomics.load(this.#ctl, CTL.MIP) & MIP.MSIP) ? 1 : 0;
    if (off === CLINT_MTIMECMP) return Number(this.mtimecmp & LO);
    if (off === CLINT_MTIMECMP + 4) return Number(this.mtimecmp >> 32n);
    if (off === CLINT_MTIME) {
      const t = this.mtime();
      this.#latched = t;
      return Number(t & LO);
    }
    if (off === CLINT_MTIME + 4) {
      const t = this.#latched ?? this.mtime();
      this.#latched = null;
      return Number(t >> 32n);
    }
    return 0; // other harts' registers: none on this machine
  }

  write(off: number, size: number, value: number): boolean {
    if (size !== 4 || (off & 3) !== 0) return false;
    const v = BigInt(value >>> 0);
    if (off === CLINT_MSIP) {
      // Only bit 0 exists: the machine software interrupt of hart 0.
      // The cpu runs this model itself and re-reads CTL.MIP after the store: no wake.
      if (value & 1) raiseMip(this.#ctl, MIP.MSIP, false);
      else lowerMip(this.#ctl, MIP.MSIP);
    } else if (off === CLINT_MTIMECMP || off === CLINT_MTIMECMP + 4) {
      this.mtimecmp = off === CLINT_MTIMECMP
        ? (this.mtimecmp & ~LO & U64) | v
        : (this.mtimecmp & LO) | (v << 32n);
      this.#armTimer();
    } else if (off === CLINT_MTIME || off === CLINT_MTIME + 4) {
      // Writing mtime moves the machine's clock: the skew word is shared by
      // the hart's `time` CSR and the waker, so all three stay in step.
      const now = this.mtime();
      const want = off === CLINT_MTIME ? (now & ~LO & U64) | v : (now & LO) | (v << 32n);
      setClockSkew(this.#ctl, want - this.#rawTicks());
      this.#armTimer();
    }
    return true; // other offsets: reserved, writes ignored
  }

  /**
   * MTIP is the level mtime >= mtimecmp. A new compare value retires the old
   * interrupt and hands the deadline to the waker; one already due is raised
   * here at once, so the hart sees it after this very instruction.
   */
  #armTimer(): void {
    const cmp = this.mtimecmp;
    // Deadlines past 2^63 are "never" for the waker (its deadline word is signed).
    armTimer(this.#ctl, cmp >= 1n << 63n ? -1n : cmp, MIP.MTIP);
    if (cmp < 1n << 63n && this.mtime() >= cmp) raiseMip(this.#ctl, MIP.MTIP, false);
  }
}
