// The interrupt controller actor's handlers: the PLIC gateway (devices/plic.ts)
// on the shared state, woken by the interrupt-line doorbell; with a fault plan,
// a gateway that asks the plan before it forwards (faults/layers/irq.ts).
// The worker file (actors/irq/irq.worker.ts) only wires these to its port.
// Read next: devices/plic.ts (the gateway), faults/layers/irq.ts.

import type { ActorHandlers } from "../runtime/protocol.ts";
import { PLIC_NDEV } from "../../machine/memmap.ts";
import { CTL } from "../../machine/control.ts";
import { PlicGateway } from "../../devices/plic.ts";
import type { IrqProtocol } from "./protocol.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { FaultyPlicGateway } from "../../faults/layers/irq.ts";

export function irqHandlers(): ActorHandlers<IrqProtocol> {
  let gateway: PlicGateway | null = null;
  let faults: FaultEngine | null = null;
  const raised = new Array<number>(PLIC_NDEV + 1).fill(0);
  return {
    start(ctx) {
      faults = armFaults("irq", ctx);
      gateway = faults.active
        ? new FaultyPlicGateway(ctx.buffers.plic, ctx.buffers.control, faults)
        : new PlicGateway(ctx.buffers.plic, ctx.buffers.control);
      const onRaise = (sources: number[]) => {
        for (const s of sources) raised[s]++;
        if (ctx.config.verbose) ctx.emit({ kind: "log", text: `irq: raise ${sources.join(",")}` });
      };
      // Deterministic mode: every pass published for the cpu, which waits for it (docs/replay.md).
      const ctl = new Int32Array(ctx.buffers.control);
      if (Atomics.load(ctl, CTL.DETERMINISTIC) !== 0) void gateway.startDeterministic(onRaise);
      else void gateway.start(onRaise);
    },
    request: {
      stats: () => ({ raised: [...raised] }),
      // The PLIC's state and the lines are shared memory: nothing to hold.
      snapshot: () => ({}),
      thaw: () => {},
    },
    cast: {},
    async stop() {
      faults?.dispose();
      await gateway?.stop();
    },
  };
}
