// HTIF, Spike's host-target interface, as riscv-tests and many bare-metal
// programs use it: two 64-bit words in guest RAM named by the ELF's `tohost`
// and `fromhost` symbols. The program stores a command in tohost; the host
// sees it (here: the cpu polls after every batch, as Spike does between its
// steps), clears tohost, acts, and answers in fromhost. A command is
// device (bits 63..56) | command (55..48) | payload (47..0):
//   device 0, command 0, payload odd   exit with status payload >> 1 (0 = pass)
//   device 0, command 0, payload even  a syscall block at that address
//                                      (riscv-tests' benchmarks: 64 write, 93 exit)
//   device 1, command 1                putchar(payload & 0xff), answered 0x100 | char
// Read next: docs/firmware.md ("HTIF"), actors/cpu/cpu_actor.ts (the polling).

/** What the machine does for HTIF commands. */
export interface HtifHost {
  /** Bytes for the console (device 1's putchar, syscall write to fd 1 or 2). */
  write(bytes: Uint8Array): void;
  /** The program ended with `code` (0 = pass). */
  exit(code: number): void;
  /** Something the host cannot serve: said once per kind, the program goes on. */
  warn(text: string): void;
}

const SYS_WRITE = 64n;
const SYS_EXIT = 93n;
const PAYLOAD = (1n << 48n) - 1n;

export class Htif {
  private readonly ram: DataView;
  private readonly warned = new Set<string>();

  /**
   * `ram` is guest RAM from physical `ramBase` (a Uint8Array over exactly the
   * RAM: with the translator the buffer goes on past it into the hart's own
   * state, which the guest must not reach); `tohost`/`fromhost` are the
   * symbols' physical addresses (8-aligned, inside RAM: the loader checks).
   */
  constructor(
    ram: Uint8Array,
    private readonly ramBase: number,
    private readonly tohost: number,
    private readonly fromhost: number,
    private readonly host: HtifHost,
  ) {
    this.ram = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }

  /** Serve a pending command, if any. Returns true when one was served. */
  poll(): boolean {
    const cmd = this.ram.getBigUint64(this.tohost - this.ramBase, true);
    if (cmd === 0n) return false;
    this.ram.setBigUint64(this.tohost - this.ramBase, 0n, true);
    const device = Number(cmd >> 56n);
    const command = Number((cmd >> 48n) & 0xffn);
    const payload = cmd & PAYLOAD;
    if (device === 0 && command === 0) {
      if (payload & 1n) {
        this.host.exit(Number(payload >> 1n));
        return true;
      }
      this.syscall(payload);
      return true;
    }
    if (device === 1 && command === 1) {
      this.host.write(new Uint8Array([Number(payload & 0xffn)]));
      this.respond(device, command, 0x100n | (payload & 0xffn));
      return true;
    }
    this.warnOnce(`htif: no device ${device} command ${command} (tohost 0x${cmd.toString(16)})`);
    return true;
  }

  /** The syscall block: eight 64-bit words, [0] = number, [1..3] = arguments, [0] = result. */
  private syscall(addr: bigint): void {
    const at = this.ramOffset(addr, 64);
    if (at < 0) {
      this.warnOnce(`htif: syscall block at 0x${addr.toString(16)} is outside RAM`);
      return;
    }
    const word = (i: number) => this.ram.getBigUint64(at + 8 * i, true);
    const which = word(0);
    let result = -38n; // -ENOSYS
    if (which === SYS_EXIT) {
      this.host.exit(Number(BigInt.asUintN(32, word(1))));
      return;
    } else if (which === SYS_WRITE && (word(1) === 1n || word(1) === 2n)) {
      const len = word(3);
      const buf = len <= 1n << 20n ? this.ramOffset(word(2), Number(len)) : -1;
      if (buf < 0) result = -14n; // -EFAULT
      else {
        this.host.write(
          new Uint8Array(this.ram.buffer, this.ram.byteOffset + buf, Number(len)).slice(),
        );
        result = len;
      }
    } else {
      this.warnOnce(`htif: syscall ${which} is not served`);
    }
    this.ram.setBigUint64(at, BigInt.asUintN(64, result), true);
    this.respond(0, 0, 1n);
  }

  private respond(device: number, command: number, value: bigint): void {
    const v = (BigInt(device) << 56n) | (BigInt(command) << 48n) | (value & PAYLOAD);
    this.ram.setBigUint64(this.fromhost - this.ramBase, v, true);
  }

  /** RAM offset of [addr, addr + len), or -1 when it is not all RAM. */
  private ramOffset(addr: bigint, len: number): number {
    const off = addr - BigInt(this.ramBase);
    return off >= 0n && off + BigInt(len) <= BigInt(this.ram.byteLength) ? Number(off) : -1;
  }

  private warnOnce(text: string): void {
    if (this.warned.has(text)) return;
    this.warned.add(text);
    this.host.warn(text);
  }
}
