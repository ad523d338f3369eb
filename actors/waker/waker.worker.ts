/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The waker actor's worker: runs the clock-event loop of devices/waker.ts on
// the control block. It sleeps in Atomics.waitAsync, so an idle guest costs
// nothing here, and it still answers messages.
import { serveActor } from "../runtime/protocol.ts";
import { Waker } from "../../devices/waker.ts";
import { MIP } from "../../machine/control.ts";
import { WAKER } from "./protocol.ts";
import { FaultEngine } from "../../faults/engine.ts";
import { wakerFaultHook } from "../../faults/layers/waker.ts";

let waker: Waker | null = null;

serveActor(WAKER, {
  start(ctx) {
    // The fault plan's waker layer (if any) decides about each due event.
    const faults = new FaultEngine(
      "waker",
      ctx.config.faults,
      ctx.buffers.faults,
      ctx.buffers.control,
      {
        report: (e) => ctx.emit(e),
        kill: (reason) => ctx.exit(reason),
      },
    );
    waker = new Waker(ctx.buffers.control, {
      beforeFire: wakerFaultHook(faults),
      timerBit: ctx.config.machineTimer ? MIP.MTIP : MIP.STIP,
    });
    faults.armTimedKills();
    void waker.start();
  },
  request: {
    stats: () => ({ fired: waker?.stats.fired ?? 0 }),
  },
  cast: {},
  async stop() {
    await waker?.stop();
  },
});
