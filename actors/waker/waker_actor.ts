// The waker actor's handlers: the clock-event loop of devices/waker.ts on the
// control block, with the fault plan's waker hook (faults/layers/waker.ts)
// deciding about each due event when there is a plan. It sleeps in
// Atomics.waitAsync, so an idle guest costs nothing here, and it still
// answers messages. The worker file (actors/waker/waker.worker.ts) only wires
// these to its port. Read next: devices/waker.ts (the loop).

import type { ActorHandlers } from "../runtime/protocol.ts";
import { Waker } from "../../devices/waker.ts";
import { MIP } from "../../machine/control.ts";
import type { WakerProtocol } from "./protocol.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { wakerFaultHook } from "../../faults/layers/waker.ts";
import { type EventDef, TBOARD, traceNow, tracer } from "../../lib/trace.ts";

/** --trace: a clock event fired, the end of the cpu's "timer arm" arrow. */
const FIRE: EventDef = {
  name: "timer fire",
  cat: "timer",
  ph: "i",
  args: ["deadline", "late_ticks"],
};

export function wakerHandlers(): ActorHandlers<WakerProtocol> {
  let waker: Waker | null = null;
  let faults: FaultEngine | null = null;
  return {
    start(ctx) {
      faults = armFaults("waker", ctx);
      waker = new Waker(ctx.buffers.control, {
        beforeFire: wakerFaultHook(faults),
        timerBit: ctx.config.machineTimer ? MIP.MTIP : MIP.STIP,
        onFire: tracer === null ? undefined : (ev) => {
          const t = tracer!;
          const id = Atomics.exchange(t.board, TBOARD.TIMER_FLOW, 0);
          const now = traceNow();
          t.record(FIRE, now, now, id, 0, 0, Number(ev.deadline), Number(ev.now - ev.deadline));
        },
      });
      void waker.start();
    },
    request: {
      stats: () => ({ fired: waker?.stats.fired ?? 0 }),
      // The deadline and the clock are control-block words: nothing to hold.
      snapshot: () => ({}),
      thaw: () => {},
    },
    cast: {},
    async stop() {
      faults?.dispose();
      await waker?.stop();
    },
  };
}
