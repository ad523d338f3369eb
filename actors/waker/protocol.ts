// The waker actor's protocol: it is handed the control block and owns the
// guest's clock event — it reads the deadline the cpu stores on SBI
// set_timer, sleeps until then, and raises STIP with the one wake primitive.
// Read next: actors/waker/waker_actor.ts, devices/waker.ts (the logic).

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";

export interface WakerStats {
  /** Timer interrupts raised. */
  fired: number;
}

export interface WakerProtocol {
  /**
   * snapshot: what the actor holds outside shared memory — nothing: its state
   * is the control block (launcher/snapshot.ts); thaw: a no-op.
   */
  request: { kind: "stats" } | { kind: "snapshot" } | { kind: "thaw" };
  reply: { stats: WakerStats; snapshot: Record<string, never>; thaw: void };
  cast: never;
  event: { kind: "log"; text: string } | FaultEvent;
  config: {
    /** Raise MTIP instead of STIP: a firmware boot's CLINT timer (docs/firmware.md). */
    machineTimer?: boolean;
    /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
    faults?: FaultConfig;
  };
  buffers: {
    control: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
  };
}

export const WAKER = defineRole<WakerProtocol>("waker", 1);
