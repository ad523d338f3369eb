/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The interrupt controller actor's worker: runs the PLIC gateway
// (devices/plic.ts) on the shared state, woken by the interrupt-line doorbell.
import { serveActor } from "../runtime/protocol.ts";
import { PLIC_NDEV } from "../../machine/memmap.ts";
import { PlicGateway } from "../../devices/plic.ts";
import { IRQ } from "./protocol.ts";
import { FaultEngine } from "../../faults/engine.ts";
import { FaultyPlicGateway } from "../../faults/layers/irq.ts";

let gateway: PlicGateway | null = null;
const raised = new Array<number>(PLIC_NDEV + 1).fill(0);

serveActor(IRQ, {
  start(ctx) {
    // The fault plan's irq layer (if any) is a gateway that asks before it forwards.
    const faults = new FaultEngine(
      "irq",
      ctx.config.faults,
      ctx.buffers.faults,
      ctx.buffers.control,
      {
        report: (e) => ctx.emit(e),
        kill: (reason) => ctx.exit(reason),
      },
    );
    gateway = faults.active
      ? new FaultyPlicGateway(ctx.buffers.plic, ctx.buffers.control, faults)
      : new PlicGateway(ctx.buffers.plic, ctx.buffers.control);
    faults.armTimedKills();
    void gateway.start((sources) => {
      for (const s of sources) raised[s]++;
      if (ctx.config.verbose) ctx.emit({ kind: "log", text: `irq: raise ${sources.join(",")}` });
    });
  },
  request: {
    stats: () => ({ raised: [...raised] }),
  },
  cast: {},
  async stop() {
    await gateway?.stop();
  },
});
