// The launcher's side of the console: the one stdin reader of the whole run
// (DENO-FACTS: a reader must outlive any console actor restart, or an orphaned
// read swallows input), raw mode while the guest runs, and the terminal put
// back on every way out. Three ^C within one second stop the emulator, as in
// lguest; a single ^C is just a byte for the guest.
// Read next: launcher/machine.ts (where these bytes go: the console's byte ring).

const CTRL_C = 0x03;

export interface TerminalHooks {
  /** Bytes typed (or piped) for the guest. */
  input(bytes: Uint8Array): void;
  /** Three ^C within a second. */
  interrupt(): void;
  /** SIGINT/SIGTERM/SIGHUP arrived: the launcher should stop the machine. */
  signal(name: Deno.Signal): void;
}

export class Terminal {
  readonly isTerminal = Deno.stdin.isTerminal();
  private raw = false;
  private ctrlC: number[] = [];
  private readonly handlers: [Deno.Signal, () => void][] = [];
  private reading = false;

  constructor(private readonly hooks: TerminalHooks) {}

  /** Raw mode (if a terminal), signal handlers that restore it, and the reader. */
  start(): void {
    if (this.isTerminal) {
      Deno.stdin.setRaw(true);
      this.raw = true;
    }
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as Deno.Signal[]) {
      const h = () => {
        this.restore();
        this.hooks.signal(sig);
      };
      Deno.addSignalListener(sig, h);
      this.handlers.push([sig, h]);
    }
    if (!this.reading) {
      this.reading = true;
      this.readLoop();
    }
  }

  private async readLoop(): Promise<void> {
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        return; // stdin closed under us: the guest keeps running
      }
      if (n === null) return; // end of a pipe or file: the guest keeps running
      const bytes = buf.slice(0, n);
      this.hooks.input(bytes);
      if (this.sawTripleCtrlC(bytes)) {
        this.restore();
        this.hooks.interrupt();
        return;
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

  /** Restore and drop the signal handlers. */
  close(): void {
    this.restore();
    for (const [sig, h] of this.handlers) Deno.removeSignalListener(sig, h);
    this.handlers.length = 0;
  }
}
