// The console actor's protocol: virtio-console on the slot's transport state.
// Input arrives through a byte ring filled by the launcher's one stdin reader
// (launcher/terminal.ts), so a restarted console loses nothing typed; output
// goes straight to this process's stdout, or into an output ring for a
// machine booted from the library. Read next: actors/console/console_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";

export interface ConsoleConfig {
  ramBase: number;
  /** Bytes of the `ram` buffer that are guest RAM: the hart's state follows them (cpu/jit/). */
  ramBytes: number;
  verbose: boolean;
  /** Strings to watch for in the guest's output; each sighting is reported once as "seen". */
  watch?: string[];
  /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
  faults?: FaultConfig;
  /**
   * Restored from a machine snapshot whose console the guest had used: take
   * typed input for it at once, without waiting for the guest to transmit.
   */
  restoredInUse?: boolean;
}

export interface ConsoleStats {
  bytesIn: number;
  bytesOut: number;
  held: number;
  droppedInput: number;
  errors: number;
}

/** What a console actor holds outside shared memory, for a machine snapshot. */
export interface ConsoleSnapshot {
  /** The guest has used hvc0 (it transmitted): typed input goes to it. */
  inUse: boolean;
  /** Typed bytes taken from the input ring and not yet in a guest buffer. */
  heldInput: number[];
}

export interface ConsoleProtocol {
  /**
   * snapshot: stop touching guest RAM (between passes: nothing half done) and
   * say what the actor holds that shared memory does not; thaw: serve again.
   * The machine snapshot's pair (launcher/snapshot.ts, docs/snapshot.md).
   */
  request: { kind: "stats" } | { kind: "snapshot" } | { kind: "thaw" };
  reply: { stats: ConsoleStats; snapshot: ConsoleSnapshot; thaw: void };
  cast: never;
  event: { kind: "log"; text: string } | { kind: "seen"; text: string } | FaultEvent;
  config: ConsoleConfig;
  buffers: {
    ram: SharedArrayBuffer;
    state: SharedArrayBuffer;
    control: SharedArrayBuffer;
    /** The DMA bitmap: pages this device wrote, for the translator (devices/virtio/ram.ts). */
    dmaDirty?: SharedArrayBuffer;
    /** Byte ring (lib/ring.ts): the launcher writes stdin bytes, this actor reads. */
    input: SharedArrayBuffer;
    /**
     * Byte ring for the guest's output (a library machine, launcher/library.ts):
     * this actor writes, the launcher reads. Absent: output goes to stdout.
     */
    output?: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
  };
}

export const CONSOLE = defineRole<ConsoleProtocol>("console", 1);
