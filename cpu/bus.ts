// The hart's only window on the machine besides RAM: a small bus interface for
// physical addresses outside RAM (MMIO), and hooks for the things the host
// serves (ecall as a hypercall, wfi). The CPU knows no devices: the cpu actor
// (actors/cpu/cpu_actor.ts) plugs the machine's MMIO map in here; tests and the
// user-mode runner (scripts/run-user.ts) plug in their own.
// Read next: cpu/hart.ts.

/** MMIO access to physical addresses that are not guest RAM. */
export interface Bus {
  /**
   * Load `size` (1, 2 or 4) bytes at physical `addr`. Returns the value
   * zero-extended (0 .. 2^32-1), or -1 for an access fault. 8-byte MMIO
   * accesses are split by the hart into two 4-byte accesses, low word first.
   */
  read(addr: number, size: 1 | 2 | 4): number;
  /** Store `size` bytes; `value` holds the low `size` bytes. false = access fault. */
  write(addr: number, size: 1 | 2 | 4, value: number): boolean;
}

/** A bus with nothing on it: every MMIO access faults. */
export const EMPTY_BUS: Bus = {
  read: () => -1,
  write: () => false,
};
