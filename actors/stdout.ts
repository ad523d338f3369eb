// The guest's output to the host's standard output, shared by every actor that
// prints for the guest (the console actor, and the cpu's SBI console and UART).
// A closed stdout (`| head -1`, a terminal gone) must not kill the machine: as
// QEMU's char backends do, the output is discarded from then on, said once.
// Read next: devices/console.worker.ts, actors/cpu_actor.ts (the writers).

let closed = false;

/** Write all of `bytes` to stdout; after a broken pipe, drop them. False once closed. */
export function writeStdout(
  bytes: Uint8Array,
  out: Pick<typeof Deno.stdout, "writeSync"> = Deno.stdout,
): boolean {
  if (closed) return false;
  let off = 0;
  try {
    while (off < bytes.length) off += out.writeSync(bytes.subarray(off));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    closed = true;
    console.error(
      "actorvm: standard output is closed: the guest's output is discarded from now on",
    );
    return false;
  }
  return true;
}

/** Whether a broken pipe has been seen (for tests). */
export function stdoutClosed(): boolean {
  return closed;
}
