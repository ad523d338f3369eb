// The interrupt controller actor's protocol (role "irq"): it is handed the
// control block (line words, doorbell, MIP) and the PLIC state, and serves as
// the PLIC's gateway — line levels in, pending bits and SEIP/MEIP out. The
// register side (claim/complete) runs in the cpu: docs/adr/0001.
// Read next: actors/irq/irq_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";

export interface IrqConfig {
  /** Log every interrupt that becomes pending (--verbose). */
  verbose: boolean;
  /** The fault plan's rules for this actor (faults/plan.ts); none without --faults. */
  faults?: FaultConfig;
}

export interface IrqStats {
  /** Interrupts that became pending, per source (index = source). */
  raised: number[];
}

export interface IrqProtocol {
  /**
   * snapshot: what the actor holds outside shared memory — nothing: its state
   * is the control block and the PLIC state (launcher/snapshot.ts); thaw: a no-op.
   */
  request: { kind: "stats" } | { kind: "snapshot" } | { kind: "thaw" };
  reply: { stats: IrqStats; snapshot: Record<string, never>; thaw: void };
  cast: never;
  event: { kind: "log"; text: string } | FaultEvent;
  config: IrqConfig;
  buffers: {
    control: SharedArrayBuffer;
    plic: SharedArrayBuffer;
    /** The fault rules' shared counters (createFaultCounters); with config.faults. */
    faults?: SharedArrayBuffer;
  };
}

export const IRQ = defineRole<IrqProtocol>("irq", 1);
