// The net actor's protocol: what the launcher hands the net worker (guest RAM,
// the slot's transport state, the control block, and which backend to adopt)
// and what it can ask of it. The backend is opened by the launcher before boot
// (actors/net/setup.ts), so bad options fail early, and a restarted worker
// adopts the same tap fd or sharenet socket; a user network's passt is started
// by the worker itself, from a spec the launcher checked. Read next: actors/net/net_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";
import type { BackendStats } from "../../devices/net/backend.ts";
import type { NetStats } from "../../devices/net/net.ts";
import type { SharenetMember } from "../../devices/net/sharenet.ts";
import type { PasstSpec } from "../../devices/net/passt.ts";

/** A backend already opened in this process, described as plain data. */
export type NetBackendSpec =
  | { kind: "tap"; fd: number; name: string }
  | { kind: "sharenet"; member: SharenetMember }
  /** --net=user: the worker starts and supervises its own passt (devices/net/passt.ts). */
  | { kind: "user"; passt: PasstSpec };

export interface NetConfig {
  backend: NetBackendSpec;
  /** Bound on received frames held while the guest posts no buffers (default 256). */
  holdFrames?: number;
  /** Trace notifications and interrupts (--verbose). */
  verbose?: boolean;
  /** Guest-physical address of RAM byte 0 (default RAM_BASE). */
  ramBase?: number;
  /** Bytes of the `ram` buffer that are guest RAM (default all; the launcher always says). */
  ramBytes?: number;
  /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
  faults?: FaultConfig;
}

export interface NetActorStats {
  device: NetStats;
  backend: BackendStats;
  /** Frames waiting for receive buffers right now. */
  held: number;
  /** Guest mistakes seen by the device. */
  errors: number;
}

export interface NetProtocol {
  /**
   * snapshot: stop touching guest RAM (between passes: nothing half done) and
   * say what the actor holds that shared memory does not; thaw: serve again.
   * The machine snapshot's pair (launcher/snapshot.ts, docs/snapshot.md).
   */
  request: { kind: "stats" } | { kind: "snapshot" } | { kind: "thaw" };
  /**
   * heldFrames: received frames waiting for guest buffers. They are not
   * saved (a network may drop frames; a restored machine's backend is new).
   */
  reply: { stats: NetActorStats; snapshot: { heldFrames: number }; thaw: void };
  /** Set the link state the guest sees (a fault plan can pull the cable). */
  cast: { kind: "link"; up: boolean };
  event:
    | { kind: "log"; text: string }
    /** The backend stopped receiving; the link is reported down to the guest. */
    | { kind: "backend-failed"; message: string }
    | FaultEvent;
  config: NetConfig;
  buffers: {
    ram: SharedArrayBuffer;
    state: SharedArrayBuffer;
    control: SharedArrayBuffer;
    /** The DMA bitmap: pages this device wrote, for the translator (devices/virtio/ram.ts). */
    dmaDirty?: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
    /**
     * Deterministic mode (docs/replay.md): frames the backend received go to
     * the cpu through framesFromHost, and reach the device only from
     * framesToGuest, in a pass the cpu waits for. Byte rings of frames, each
     * after its length (2 bytes, little-endian), written in one piece.
     */
    framesFromHost?: SharedArrayBuffer;
    framesToGuest?: SharedArrayBuffer;
  };
}

export const NET = defineRole<NetProtocol>("net", 1);
