// The guest's output to the host's standard output, shared by every actor that
// prints for the guest (the console actor, and the cpu's SBI console and UART).
// A stdout that fails — a closed pipe (`| head -1`), a full disk (`>/dev/full`),
// a terminal gone — must not kill the machine: as QEMU's char backends do, the
// output is discarded from then on, said once per writer.
// Read next: actors/console/console.worker.ts, actors/cpu/cpu_actor.ts (the writers).

let closed = false;
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Write all of `bytes` to stdout; once stdout has failed, drop them. False once failed. */
export function writeStdout(
  bytes: Uint8Array,
  out: Pick<typeof Deno.stdout, "writeSync"> = Deno.stdout,
): boolean {
  if (closed) return false;
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
      const why = e instanceof Deno.errors.BrokenPipe ? "is closed" : `failed (${e.message})`;
      console.error(`actorvm: standard output ${why}: the guest's output is discarded from now on`);
      return false;
    }
  }
  return true;
}

/** Watches a byte stream for one ASCII string, across chunk boundaries. */
export class OutputWatch {
  seen = false;
  private tail = "";
  // One character per byte, so a multi-byte character cannot hide an ASCII match.
  private readonly decoder = new TextDecoder("latin1");
  constructor(private readonly needle: string) {}

  /** Feed the next chunk; true once the string has been seen (in this chunk or before). */
  feed(bytes: Uint8Array): boolean {
    if (this.seen) return true;
    const text = this.tail + this.decoder.decode(bytes);
    if (text.includes(this.needle)) return this.seen = true;
    this.tail = text.slice(-(this.needle.length - 1));
    return false;
  }
}
