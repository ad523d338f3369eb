// actorvm as a library: boot a machine from code and drive its console. The
// same run as the CLI (launcher/machine.ts runMachine, the same options), but
// the console is a pair of Web Streams instead of the process's terminal: no
// stdin reader, raw mode, signal handler or Deno.exit, so several machines
// run side by side in one process. Output comes through one byte ring per
// writer (the console actor; the cpu's SBI console and UART — actors/output.ts
// OutputSink), drained here on demand: a reader that does not read fills the
// rings and the guest's writes wait (bounded memory, nothing lost). Input goes
// through the same path and backpressure as typed input.
// Read next: launcher/machine.ts (the run), actors/output.ts (the writers).

import { ByteRingReader } from "../lib/ring.ts";
import { FATE } from "../machine/control.ts";
import type { Registry } from "../actors/runtime/registry.ts";
import { machineRegistry, type MachineRole } from "../actors/roles.ts";
import {
  isLoopbackHost,
  type LaunchOptions,
  type MmuMode,
  parseCommandLine,
  parseGdbAddress,
  UsageError,
} from "./cli.ts";
import { runMachine } from "./machine.ts";
import type { ConsolePort, MachineHooks } from "./boot.ts";
import type { MachineOutcome } from "./fate.ts";

/** How to boot a machine from code. */
export interface BootOptions {
  /**
   * The command line, as the CLI takes it after `mod.ts`: options, then
   * optionally `<mem-in-mb> <kernel> [kernel args...]`. Default: `[]`, the
   * bundled guest. Ignored when `options` is given.
   */
  args?: string[];
  /** Options already parsed (parseCommandLine's result, perhaps edited). */
  options?: LaunchOptions;
  /**
   * The translator (cpu/jit/): true (the default) runs hot guest code as
   * WebAssembly, false interprets every instruction (as `--jit=off`).
   * Overrides `args`/`options` when given.
   */
  jit?: boolean;
  /**
   * The widest paging mode the harts offer, as `--mmu=`: "sv48" (the
   * default), "sv39" or "sv57". Overrides `args`/`options` when given.
   */
  mmu?: MmuMode;
  /** The actor modules (swap a role with `registry.swap`); default: the built-in ones. */
  registry?: Registry<MachineRole>;
  /** Emulator messages (default: stderr, as `actorvm: ...`). */
  log?: (line: string) => void;
  /** Supervisor events, watched strings and their callback: as MachineHooks. */
  hooks?: Pick<MachineHooks, "onActorEvent" | "watch" | "onSeen">;
  /**
   * Write a timeline of the run to this file, as `--trace=<file.json>` does
   * (docs/trace.md). One traced machine per process at a time.
   */
  trace?: string;
  /**
   * A gdbstub, as --gdb / --gdb-wait / --gdb-allow-remote: `listen` is
   * `[<host>:]<port>` (port 0 picks a free one: see Machine.gdb).
   */
  gdb?: { listen: string; wait?: boolean; allowRemote?: boolean };
  /** Start from this machine snapshot, as `--restore=<file>` (docs/snapshot.md). */
  restore?: string;
  /** Also serve the control socket at this path, as `--control=<path>`. */
  control?: string;
}

/** The guest's fate, as the CLI reports it. */
export interface MachineResult extends MachineOutcome {
  /** The fate in words: "powered off", "rebooted", "died", "emulator failure" or "stopped". */
  status: string;
}

import { type ControlEvent, type ControlStatus, fateName, type MachineControl } from "./control.ts";
import type { SnapshotOptions, SnapshotResult } from "./snapshot.ts";
export { fateName };

/** Bytes of output kept for one waitFor: a pattern must match within this much text. */
const WAIT_TEXT_BYTES = 1 << 20;

/**
 * The output side: each boot's rings, read on demand. Bytes a waitFor read
 * past its match are put back in front.
 */
class OutputSource {
  private rings: ByteRingReader[] = [];
  private ended = false;
  private readonly buf = new Uint8Array(64 * 1024);
  /** Bytes read and given back (waitFor's read past its match), served first. */
  putBack: Uint8Array | null = null;

  boot(rings: SharedArrayBuffer[]): void {
    // The previous boot's writers are gone: what they left is read first.
    this.rings.push(...rings.map((r) => new ByteRingReader(r)));
  }

  end(): void {
    this.ended = true;
  }

  /** The next output bytes (a fresh copy), or null once the run is over and all is read. */
  async read(): Promise<Uint8Array | null> {
    if (this.putBack) {
      const b = this.putBack;
      this.putBack = null;
      return b;
    }
    for (;;) {
      for (const r of this.rings) {
        const n = r.read(this.buf);
        if (n > 0) return this.buf.slice(0, n);
      }
      if (this.ended) return null;
      // The writers notify on every write (actors/output.ts); the bound covers
      // the end of the run, which no write announces.
      await Promise.race(this.rings.slice(-2).map((r) => r.waitForDataAsync(100)));
      if (this.rings.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * A running machine, from bootMachine. Its console is `output` and `input`;
 * `waitFor` and `send` are helpers on them. Every machine runs to a fate:
 * `result` resolves with it (it never rejects).
 */
export interface Machine {
  /**
   * The guest's console output (virtio console, SBI console, UART), as it
   * comes. Not read ahead: while nobody reads, the guest's console writes
   * wait (at most 64 KiB per writer is held). Cancel it to discard output.
   */
  readonly output: ReadableStream<Uint8Array>;
  /**
   * Bytes for the guest, as if typed at its terminal (they go to the console
   * the guest reads, as typed input does). A write resolves once the
   * machine's input ring took it all: a guest that does not read holds it back.
   */
  readonly input: WritableStream<Uint8Array>;
  /** The guest's fate: powered off, rebooted (with --no-reboot), died, stopped. */
  readonly result: Promise<MachineResult>;
  /**
   * Read the output until `pattern` appears; resolve with the text read, up
   * to and including the match (what follows stays unread). Rejects after
   * `timeoutMs` (default 60 s) or if the run ends first; the text read so
   * far is then consumed. Not while `output` has a reader.
   */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Type `data` (a string is UTF-8 encoded); resolves once the machine took it all. */
  send(data: string | Uint8Array): Promise<void>;
  /** Where the gdbstub listens (BootOptions.gdb), or null without one. */
  readonly gdb: { host: string; port: number } | null;
  /** Stop the machine (as three ^C would) and resolve with its fate. */
  stop(): Promise<MachineResult>;
  /** Running, paused, between boots or ended; the boot number and instructions retired. */
  status(): ControlStatus;
  /** Halt the hart at an instruction boundary (the guest's clock stands still). */
  pause(): Promise<void>;
  /** Let a paused machine run on. */
  resume(): Promise<void>;
  /**
   * Write a snapshot of the machine to `path` (docs/snapshot.md); resolves
   * once the file is complete, with the machine running on (or still paused).
   * Rejects, the machine unharmed, if it cannot be snapshotted (a plain
   * writable disk: use `,snapshot`, or `{ disks: "copy" }` to save it whole;
   * a --share).
   */
  snapshot(path: string, opts?: SnapshotOptions): Promise<SnapshotResult>;
  /** Events as the control socket sends them (fate, actor restarts, pauses); returns the unsubscribe. */
  onEvent(fn: (e: ControlEvent) => void): () => void;
  /** `await using vm = await bootMachine()`: stopped at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The guest side of a library machine, as runMachine opens it. */
type Guest = Parameters<ConsolePort["open"]>[0];

class LibraryMachine implements Machine {
  readonly output: ReadableStream<Uint8Array>;
  readonly input: WritableStream<Uint8Array>;
  readonly result: Promise<MachineResult>;
  gdb: { host: string; port: number } | null = null;

  readonly #source: OutputSource;
  readonly #stop: () => void;
  readonly #control: MachineControl;
  /** The read a timed-out waitFor left outstanding: the next reader takes it. */
  #pending: Promise<Uint8Array | null> | null = null;

  constructor(
    source: OutputSource,
    guest: Guest,
    result: Promise<MachineResult>,
    control: MachineControl,
  ) {
    this.#control = control;
    this.#source = source;
    this.#stop = guest.stop;
    this.result = result;
    let ended = false;
    void result.then(() => ended = true);
    // highWaterMark 0: nothing is read ahead, so waitFor and a reader of
    // `output` never disagree about which bytes were consumed.
    const take = () => {
      const p = this.#pending ?? source.read();
      this.#pending = null;
      return p;
    };
    this.output = new ReadableStream<Uint8Array>({
      async pull(c) {
        const b = await take();
        if (b) c.enqueue(b);
        else c.close();
      },
      cancel() {
        // Nobody will read: drain and discard, so the guest's writes never wait.
        void (async () => {
          while (await take() !== null) { /* discard */ }
        })();
      },
    }, { highWaterMark: 0 });
    this.input = new WritableStream<Uint8Array>({
      async write(chunk) {
        let rest = chunk;
        for (;;) {
          rest = rest.subarray(guest.input(rest));
          if (rest.length === 0) return;
          if (ended) throw new Error("the machine has stopped: input not taken");
          await guest.room();
        }
      },
    });
  }

  async waitFor(pattern: string | RegExp, timeoutMs = 60_000): Promise<string> {
    if (this.output.locked) throw new TypeError("waitFor: the output stream has a reader");
    const re = typeof pattern === "string" ? null : new RegExp(pattern.source, pattern.flags);
    const decoder = new TextDecoder();
    let text = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    // One read outstanding at a time: a timed-out wait leaves it to the next reader.
    try {
      for (;;) {
        const next = this.#pending ??= this.#source.read();
        const b = await Promise.race([next, timeout]);
        if (b === "timeout") {
          throw new Error(
            `waitFor ${pattern}: not seen within ${timeoutMs} ms; last output: ` +
              JSON.stringify(text.slice(-200)),
          );
        }
        this.#pending = null;
        if (b === null) {
          throw new Error(
            `waitFor ${pattern}: the run ended first; last output: ` +
              JSON.stringify(text.slice(-200)),
          );
        }
        // Decoded per chunk so a match's end maps back to a byte offset in it.
        const chunk = decoder.decode(b, { stream: true });
        const from = Math.max(
          0,
          text.length - (typeof pattern === "string" ? pattern.length : text.length),
        );
        text += chunk;
        const end = matchEnd(text, pattern, re, from);
        if (end >= 0) {
          // The bytes after the match, and any incomplete UTF-8 sequence the decoder holds.
          const after = new TextEncoder().encode(text.slice(end)).length + incompleteTail(b);
          if (after > 0 && after <= b.length) this.#source.putBack = b.subarray(b.length - after);
          return text.slice(0, end);
        }
        if (text.length > WAIT_TEXT_BYTES) text = text.slice(-WAIT_TEXT_BYTES);
      }
    } finally {
      clearTimeout(timer);
    }
  }
  async send(data: string | Uint8Array): Promise<void> {
    const w = this.input.getWriter();
    try {
      await w.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
    } finally {
      w.releaseLock();
    }
  }

  stop(): Promise<MachineResult> {
    this.#stop();
    return this.result;
  }

  status(): ControlStatus {
    return this.#control.status();
  }
  pause(): Promise<void> {
    return this.#control.pause();
  }
  resume(): Promise<void> {
    return this.#control.resume();
  }
  snapshot(path: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
    return this.#control.snapshot(path, opts);
  }
  onEvent(fn: (e: ControlEvent) => void): () => void {
    return this.#control.listen(fn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Bytes at the end of `b` that start a UTF-8 sequence `b` does not finish. */
function incompleteTail(b: Uint8Array): number {
  for (let i = 1; i <= Math.min(3, b.length); i++) {
    const c = b[b.length - i];
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > i ? i : 0;
  }
  return 0;
}

/** Where `pattern` ends in `text` (searching from `from`), or -1. */
function matchEnd(text: string, pattern: string | RegExp, re: RegExp | null, from: number): number {
  if (re === null) {
    const at = text.indexOf(pattern as string, from);
    return at < 0 ? -1 : at + (pattern as string).length;
  }
  re.lastIndex = 0;
  const m = re.exec(text);
  return m ? m.index + m[0].length : -1;
}

/**
 * Boot a machine from code, with the same options as the CLI; resolves once
 * it is running, with its console as streams and its fate as a promise.
 * Throws UsageError for a bad command line and InputError for a bad input
 * (a missing kernel, a locked disk), before anything starts.
 */
export async function bootMachine(opts: BootOptions = {}): Promise<Machine> {
  const parsed = opts.options ?? parseCommandLine(opts.args ?? []);
  if (parsed === null) throw new UsageError("--help is for the command line");
  let o = opts.trace !== undefined ? { ...parsed, trace: opts.trace } : parsed;
  if (opts.jit !== undefined) o = { ...o, jit: opts.jit };
  if (opts.mmu !== undefined) {
    if (opts.mmu !== "sv39" && opts.mmu !== "sv48" && opts.mmu !== "sv57") {
      throw new UsageError(`mmu: ${opts.mmu}: want sv39, sv48 or sv57`);
    }
    o = { ...o, mmu: opts.mmu };
  }
  if (opts.gdb) {
    const at = parseGdbAddress(opts.gdb.listen);
    if (!opts.gdb.allowRemote && !isLoopbackHost(at.host)) {
      throw new UsageError(
        `gdb: ${at.host} is not a loopback address (allowRemote: true to allow)`,
      );
    }
    o = { ...o, gdb: at, gdbWait: opts.gdb.wait ?? false };
  }
  if (opts.restore !== undefined) o = { ...o, restore: opts.restore };
  if (opts.control !== undefined) o = { ...o, control: opts.control };
  let gdbAt: { host: string; port: number } | null = null;
  const log = opts.log ?? ((s: string) => console.error(`actorvm: ${s}`));
  const source = new OutputSource();
  let opened!: (m: Machine) => void;
  const started = new Promise<Machine>((r) => opened = r);
  let settled!: (r: MachineResult) => void;
  let running = false;
  const result = new Promise<MachineResult>((r) => settled = r);
  const port: ConsolePort = {
    open(guest) {
      running = true;
      const m = new LibraryMachine(source, guest, result, control!);
      m.gdb = gdbAt;
      opened(m);
    },
    boot: (rings) => source.boot(rings),
    close: () => source.end(),
  };
  let control: MachineControl | null = null;
  const run = runMachine(o, opts.registry ?? machineRegistry(), {
    ...opts.hooks,
    controlReady: (c) => control = c,
    log,
    console: port,
    gdbListening: (host, p) => gdbAt = { host, port: p },
  }).then(
    (out) => settled({ ...out, status: fateName(out.fate) }),
    (e) => {
      source.end();
      if (!running) throw e; // before the start: bootMachine rejects with it
      const reason = `internal error: ${e instanceof Error ? e.stack : e}`;
      settled({
        fate: FATE.INTERNAL_ERROR,
        reason,
        exitCode: 1,
        instret: 0,
        status: fateName(FATE.INTERNAL_ERROR),
      });
    },
  );
  const m = await Promise.race([started, run.then(() => null)]);
  if (m === null) throw new Error("the machine ended before it started");
  return m;
}
