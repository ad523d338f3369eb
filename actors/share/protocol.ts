// The share actor's protocol: one host directory served to the guest as a
// virtio-9p device (9P2000.L), by its own worker — a file server thread like
// lguest's block I/O thread. The launcher checks the directory before boot;
// the worker opens it itself, and a restarted worker reopens the guest's fids
// from the fid store (devices/p9/fidstore.ts) and resumes from the queue
// indexes in guest RAM. Read next: actors/share/share_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";
import type { ServerStats } from "../../devices/p9/server.ts";

export interface ShareConfig {
  /** The host directory. */
  path: string;
  /** The mount tag (also in the device's config space). */
  tag: string;
  /** `,ro`: every change is refused with EROFS. */
  readOnly: boolean;
  ramBase: number;
  verbose: boolean;
  /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
  faults?: FaultConfig;
}

export interface ShareStats extends ServerStats {
  /** Fids the guest holds. */
  fids: number;
  /** Guest mistakes seen by the device (queue errors, unanswerable chains). */
  deviceErrors: number;
}

export interface ShareProtocol {
  request: { kind: "stats" };
  reply: { stats: ShareStats };
  cast: never;
  event: { kind: "log"; text: string } | FaultEvent;
  config: ShareConfig;
  buffers: {
    ram: SharedArrayBuffer;
    state: SharedArrayBuffer;
    control: SharedArrayBuffer;
    /** The fid table, kept across restarts (devices/p9/fidstore.ts). */
    fids: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
  };
}

export const SHARE = defineRole<ShareProtocol>("share", 1);
