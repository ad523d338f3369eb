// The launcher's side of the console: the one stdin reader of the whole run
// (docs/deno-facts.md: a reader must outlive any console actor restart, or an orphaned
// read swallows input), raw mode while the guest runs, and the terminal put
// back on every way out. Three ^C within one second stop the emulator, as in
// lguest; a single ^C is just a byte for the guest.
// Input waits rather than being lost: what the guest is not taking is held
// here. From a pipe or file, reading stops until the held bytes are taken (a
// paste or pipe of any size arrives whole, in order); from a terminal, reading
// goes on so three ^C are still seen, holding up to TERMINAL_HOLD_BYTES, and
// beyond that typed bytes are dropped, counted and reported.
// Every signal that would end the process stops the run instead, with the
// terminal put back (launcher/signals.ts lists them). The terminal's size
// goes to the guest's console (terminalSize), and SIGWINCH tells it of a resize.
// Read next: launcher/machine.ts (where these bytes go: the console's byte ring).

import { stopSignals } from "./signals.ts";

const CTRL_C = 0x03;
/** Bytes a terminal's reader holds while the guest is not taking input. */
export const TERMINAL_HOLD_BYTES = 1 << 20;

const GUARD_EVENTS = ["unload", "error", "unhandledrejection"];

/**
 * The size of the terminal this process runs in (Deno.consoleSize looks at
 * stdin, stdout and stderr), or null if none of them is a terminal.
 */
export function terminalSize(): { cols: number; rows: number } | null {
  try {
    const { columns, rows } = Deno.consoleSize();
    return columns > 0 && rows > 0 ? { cols: columns, rows } : null;
  } catch {
    return null;
  }
}

export interface TerminalHooks {
  /** Offer bytes typed (or piped) for the guest; returns how many it took (the rest is offered again). */
  input(bytes: Uint8Array): number;
  /** Resolves when input() may take more, or after a short while (then input() is simply tried again). */
  room(): Promise<void>;
  /** The first typed byte dropped because the guest took nothing while TERMINAL_HOLD_BYTES were held. */
  dropping?(): void;
  /** Three ^C within a second. */
  interrupt(): void;
  /** A signal that ends the run arrived (launcher/signals.ts): the launcher should stop the machine. */
  signal(name: Deno.Signal): void;
  /** The terminal was resized (SIGWINCH): its new size. */
  resize?(size: { cols: number; rows: number }): void;
}

export class Terminal {
  readonly isTerminal = Deno.stdin.isTerminal();
  private raw = false;
  private ctrlC: number[] = [];
  private readonly handlers: [Deno.Signal, () => void][] = [];
  private reading = false;
  /** Bytes read and not yet taken by input(), in order; the first from heldOff. */
  private held: Uint8Array[] = [];
  private heldOff = 0;
  private heldBytes = 0;
  /** The loop offering held bytes to input(), while there are any. */
  private delivering: Promise<void> | null = null;
  private closed = false;
  /** Typed bytes dropped because TERMINAL_HOLD_BYTES were already held. */
  dropped = 0;

  private readonly guard = () => this.restore();

  constructor(private readonly hooks: TerminalHooks) {}

  /** Raw mode (if a terminal), signal handlers that restore it, and the reader. */
  start(): void {
    if (this.isTerminal) {
      Deno.stdin.setRaw(true);
      this.raw = true;
    }
    for (const sig of stopSignals()) {
      const h = () => {
        this.restore();
        this.hooks.signal(sig);
      };
      Deno.addSignalListener(sig, h);
      this.handlers.push([sig, h]);
    }
    if (this.hooks.resize && Deno.build.os !== "windows") {
      const h = () => {
        const size = terminalSize();
        if (size) this.hooks.resize?.(size);
      };
      Deno.addSignalListener("SIGWINCH", h);
      this.handlers.push(["SIGWINCH", h]);
    }
    // A guard for the ways out that are not signals: Deno.exit() (unload), an
    // uncaught error or rejection (Deno then exits; the event is not handled).
    for (const ev of GUARD_EVENTS) globalThis.addEventListener(ev, this.guard);
    if (!this.reading) {
      this.reading = true;
      this.readLoop();
    }
  }

  private async readLoop(): Promise<void> {
    const buf = new Uint8Array(4096);
    for (;;) {
      // A pipe or file waits for the guest: stop reading until it took everything.
      if (!this.isTerminal && this.delivering) await this.delivering;
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        return; // stdin closed under us: the guest keeps running
      }
      if (n === null) return; // end of a pipe or file: the guest keeps running
      const bytes = buf.subarray(0, n);
      this.offer(bytes);
      if (this.sawTripleCtrlC(bytes)) {
        this.restore();
        this.hooks.interrupt();
        return;
      }
    }
  }

  /** Give `bytes` to the guest, holding (in order) what it does not take now. */
  private offer(bytes: Uint8Array): void {
    const taken = this.heldBytes === 0 ? this.hooks.input(bytes) : 0;
    let rest = bytes.subarray(taken);
    if (rest.length === 0) return;
    if (this.isTerminal) {
      const room = Math.max(0, TERMINAL_HOLD_BYTES - this.heldBytes);
      if (rest.length > room) {
        if (this.dropped === 0) this.hooks.dropping?.();
        this.dropped += rest.length - room;
        rest = rest.subarray(0, room);
        if (rest.length === 0) return;
      }
    }
    // A copy: the read buffer is reused.
    this.held.push(rest.slice());
    this.heldBytes += rest.length;
    this.delivering ??= this.deliver().finally(() => this.delivering = null);
  }

  /** Offer the held bytes until the guest has taken them all (or the terminal closes). */
  private async deliver(): Promise<void> {
    while (this.heldBytes > 0 && !this.closed) {
      await this.hooks.room();
      while (this.held.length > 0) {
        const chunk = this.held[0];
        const n = this.hooks.input(chunk.subarray(this.heldOff));
        this.heldOff += n;
        this.heldBytes -= n;
        if (this.heldOff < chunk.length) break;
        this.held.shift();
        this.heldOff = 0;
      }
    }
  }

  private sawTripleCtrlC(bytes: Uint8Array): boolean {
    const now = performance.now();
    for (const b of bytes) {
      if (b !== CTRL_C) continue;
      this.ctrlC.push(now);
      while (this.ctrlC.length > 0 && now - this.ctrlC[0] > 1000) this.ctrlC.shift();
      if (this.ctrlC.length >= 3) return true;
    }
    return false;
  }

  /** Put the terminal back as it was. Safe to call more than once. */
  restore(): void {
    if (this.raw) {
      try {
        Deno.stdin.setRaw(false);
      } catch {
        // stdin already gone: nothing to restore
      }
      this.raw = false;
    }
  }

  /** Restore and drop the signal handlers; held input is given up. */
  close(): void {
    this.closed = true;
    this.restore();
    for (const [sig, h] of this.handlers) Deno.removeSignalListener(sig, h);
    this.handlers.length = 0;
    for (const ev of GUARD_EVENTS) globalThis.removeEventListener(ev, this.guard);
  }
}
