// QEMU virt's test/syscon device (`sifive,test0`) at 0x100000: one register
// whose writes end the machine — 0x5555 power off, 0x7777 reset, 0x3333 fail
// with a code in the top 16 bits. OpenSBI's reset driver and Linux's
// syscon-poweroff use it on firmware boots. Read next: docs/firmware.md.

/** Where QEMU virt puts it (not in machine/memmap.ts: only firmware boots have it). */
export const SYSCON_BASE = 0x0010_0000;
export const SYSCON_SIZE = 0x1000;

export const SYSCON_FAIL = 0x3333;
export const SYSCON_PASS = 0x5555;
export const SYSCON_RESET = 0x7777;

export type SysconAction =
  | { kind: "poweroff" }
  | { kind: "reset" }
  | { kind: "fail"; code: number };

/** The register; `onAction` is told of each finishing write (the cpu stops the hart). */
export class Syscon {
  constructor(readonly onAction: (a: SysconAction) => void) {}

  read(off: number, size: number): number {
    if (off + size > SYSCON_SIZE) return -1;
    return 0;
  }

  write(off: number, size: number, value: number): boolean {
    if (off + size > SYSCON_SIZE) return false;
    // The register at 0 acts on a 32-bit write, or a 16-bit one (OpenSBI's
    // sifive_test driver writes a halfword: no failure code then).
    if (off !== 0 || size === 1) return true;
    const code = value & 0xffff;
    if (code === SYSCON_PASS) this.onAction({ kind: "poweroff" });
    else if (code === SYSCON_RESET) this.onAction({ kind: "reset" });
    else if (code === SYSCON_FAIL) this.onAction({ kind: "fail", code: value >>> 16 });
    return true;
  }
}
