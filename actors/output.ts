// The guest's output to the host's standard output, shared by every actor that
// prints for the guest (the console actor, and the cpu's SBI console and UART),
// and the one watcher that spots strings in it (the ready and panic lines).
// A stdout that fails — a closed pipe (`| head -1`), a full disk (`>/dev/full`),
// a terminal gone — must not kill the machine: as QEMU's char backends do, the
// output is discarded from then on, said once per process (CTL.STDOUT_GONE).
// A machine booted from the library (launcher/library.ts) hands each writer an
// output byte ring instead (OutputSink): the launcher drains it into a
// ReadableStream, and a full ring makes the writer wait, so a reader that
// does not read holds the guest back rather than growing a buffer.
// Read next: actors/console/console_actor.ts, actors/cpu/cpu_actor.ts (the writers).

import { ByteRingWriter, RING } from "../lib/ring.ts";
import { CTL } from "../machine/control.ts";
import { tracer } from "../lib/trace.ts";

let closed = false;
/** The control block, shared by every writer of this machine (shareStdoutState). */
let shared: Int32Array | null = null;

/**
 * Share the "stdout failed" state with the machine's other writers through
 * its control block, so the line saying so is printed once, not per writer.
 */
export function shareStdoutState(control: SharedArrayBuffer): void {
  shared = new Int32Array(control);
}
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `bytes` to stdout; once stdout has failed, drop them. False once failed. */
export function writeStdout(
  bytes: Uint8Array,
  out: Pick<typeof Deno.stdout, "writeSync"> = Deno.stdout,
): boolean {
  if (closed || (shared !== null && Atomics.load(shared, CTL.STDOUT_GONE) !== 0)) return false;
  let off = 0;
  while (off < bytes.length) {
    try {
      off += out.writeSync(bytes.subarray(off));
    } catch (e) {
      // A non-blocking stdout (O_NONBLOCK set by another program on the same
      // terminal) is full for now: wait a moment, as a blocking write would.
      if (e instanceof Deno.errors.WouldBlock || e instanceof Deno.errors.Interrupted) {
        Atomics.wait(nap, 0, 0, 1);
        continue;
      }
      if (!(e instanceof Error)) throw e;
      closed = true;
      // Only the first writer to find it says so (the others see the word).
      if (shared !== null && Atomics.exchange(shared, CTL.STDOUT_GONE, 1) !== 0) return false;
      const why = e instanceof Deno.errors.BrokenPipe ? "is closed" : `failed (${e.message})`;
      console.error(`actorvm: standard output ${why}: the guest's output is discarded from now on`);
      return false;
    }
  }
  return true;
}

/**
 * Where one writer's guest output goes: stdout (writeStdout, the CLI: no ring
 * given), or an output byte ring the launcher drains (the library). A full
 * ring waits for room — blocking this worker, as a blocking stdout write
 * would — until `stopped()` says the machine is stopping; then the rest is
 * dropped, since nobody will read it. `idle` brackets each wait (the cpu marks
 * itself idle, so the launcher's watchdog does not take a reader that does
 * not read for a hung cpu).
 */
export class OutputSink {
  private readonly ring: ByteRingWriter | null;

  constructor(
    ring: SharedArrayBuffer | undefined,
    private readonly stopped: () => boolean = () => false,
    private readonly idle: (waiting: boolean) => void = () => {},
  ) {
    this.ring = ring ? new ByteRingWriter(ring) : null;
  }

  /** Write all of `bytes` (or drop them: a failed stdout, a stopping machine). */
  write(bytes: Uint8Array): void {
    const ring = this.ring;
    if (!ring) {
      writeStdout(bytes);
      return;
    }
    let off = 0;
    for (;;) {
      const n = ring.write(bytes.subarray(off));
      // The reader waits on two rings at once and may have missed the
      // sleeping flag (launcher/library.ts): wake it whenever bytes went in.
      if (n > 0) Atomics.notify(ring.words, RING.HEAD);
      off += n;
      if (off >= bytes.length || this.stopped()) return;
      this.idle(true);
      ring.waitForSpace(100);
      this.idle(false);
    }
  }
}

/**
 * Watches a byte stream for strings, across chunk boundaries: the one watcher
 * behind the console actor's `seen` events and the cpu's SBI console and UART
 * (the ready line, the panic lines). Matches UTF-8 bytes in place — output is
 * never copied whole or decoded — and keeps only a tail as long as the longest
 * string not yet seen, less one byte. Each string is reported once.
 */
export class OutputWatch {
  /** Strings not yet seen, with their UTF-8 bytes. */
  private pending: { text: string; bytes: Uint8Array }[];
  private tail: Uint8Array;
  private tailLen = 0;

  constructor(texts: readonly string[]) {
    const enc = new TextEncoder();
    this.pending = [...new Set(texts)].filter((t) => t.length > 0)
      .map((text) => ({ text, bytes: enc.encode(text) }));
    this.tail = new Uint8Array(Math.max(0, ...this.pending.map((w) => w.bytes.length - 1)));
  }

  /** Whether any string is still unseen (feeding is then pointless). */
  get watching(): boolean {
    return this.pending.length > 0;
  }

  /** Feed the next chunk; returns the strings seen for the first time in it. */
  feed(bytes: Uint8Array): string[] {
    if (this.pending.length === 0 || bytes.length === 0) return [];
    const hits = this.pending.filter((w) => this.occursIn(w.bytes, bytes));
    if (hits.length > 0) this.pending = this.pending.filter((w) => !hits.includes(w));
    // --trace: a watched line (the boot's milestones: "Linux version", the ready line).
    for (const w of hits) tracer?.instant(tracer.named(w.text, { cat: "milestone", ph: "i" }));
    this.keepTail(bytes);
    return hits.map((w) => w.text);
  }

  /** Keep the last tail.length bytes of tail + bytes. */
  private keepTail(bytes: Uint8Array): void {
    const keep = this.tail.length;
    if (bytes.length >= keep) {
      this.tail.set(bytes.subarray(bytes.length - keep));
      this.tailLen = keep;
      return;
    }
    const old = Math.min(this.tailLen, keep - bytes.length);
    this.tail.copyWithin(0, this.tailLen - old, this.tailLen);
    this.tail.set(bytes, old);
    this.tailLen = old + bytes.length;
  }

  /** Whether `needle` occurs in tail + bytes, without building that string. */
  private occursIn(needle: Uint8Array, bytes: Uint8Array): boolean {
    const n = needle.length, tail = this.tail, tailLen = this.tailLen;
    const at = (i: number) => i < tailLen ? tail[i] : bytes[i - tailLen];
    // Matches that start in the tail: at most n - 1 starting points.
    for (let i = Math.max(0, tailLen - n + 1); i < tailLen; i++) {
      if (i + n > tailLen + bytes.length) break;
      let j = 0;
      while (j < n && at(i + j) === needle[j]) j++;
      if (j === n) return true;
    }
    for (let i = bytes.indexOf(needle[0]); i >= 0 && i + n <= bytes.length;) {
      let j = 1;
      while (j < n && bytes[i + j] === needle[j]) j++;
      if (j === n) return true;
      i = bytes.indexOf(needle[0], i + 1);
    }
    return false;
  }
}
