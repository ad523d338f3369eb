// The block actor's protocol: virtio-blk on one file, served by its own
// worker — lguest's block I/O thread. The worker opens the file itself (the
// launcher has already probed it, so bad paths fail before boot), and a
// restarted worker reopens it and resumes from the queue indexes in guest RAM.
// Read next: actors/block/block_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";
import type { FileIdentity } from "../../devices/block/backend.ts";

export interface BlockConfig {
  path: string;
  readOnly: boolean;
  /**
   * `,snapshot`: the overlay file the guest's writes go to; `path` is then
   * opened read-only and never written (devices/block/overlay.ts).
   */
  overlay?: string;
  /** The file the launcher probed: the worker refuses to open another one at `path`. */
  identity?: FileIdentity;
  ramBase: number;
  /** Bytes of the `ram` buffer that are guest RAM: the hart's state follows them (cpu/jit/). */
  ramBytes: number;
  verbose: boolean;
  /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
  faults?: FaultConfig;
}

export interface BlockStats {
  ok: number;
  ioerr: number;
  unsupp: number;
  reads: number;
  writes: number;
  flushes: number;
  errors: number;
}

export interface BlockProtocol {
  /**
   * snapshot: stop touching guest RAM (between passes: nothing half done) and
   * say what the actor holds that shared memory does not; thaw: serve again.
   * The machine snapshot's pair (launcher/snapshot.ts, docs/snapshot.md).
   */
  request: { kind: "stats" } | { kind: "snapshot" } | { kind: "thaw" };
  /** A block actor holds nothing outside guest RAM, its slot and the overlay: `{}`. */
  reply: { stats: BlockStats; snapshot: Record<string, never>; thaw: void };
  cast: never;
  event: { kind: "log"; text: string } | FaultEvent;
  config: BlockConfig;
  buffers: {
    ram: SharedArrayBuffer;
    state: SharedArrayBuffer;
    control: SharedArrayBuffer;
    /** The DMA bitmap: pages this device wrote, for the translator (devices/virtio/ram.ts). */
    dmaDirty?: SharedArrayBuffer;
    /** A `,snapshot` disk's written-sectors bitmap (with config.overlay). */
    overlayMap?: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
  };
}

export const BLOCK = defineRole<BlockProtocol>("block", 1);
