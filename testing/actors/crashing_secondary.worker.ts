/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A cpu actor for tests/e2e/smp_e2e_test.ts: hart 0 is the real cpu actor;
// any other hart falls over (throws) as soon as the kernel asks SBI HSM to
// start it. The launcher must stop the machine, naming the hart, status 1.

import { serveActor } from "../../actors/runtime/protocol.ts";
import { CPU } from "../../actors/cpu/protocol.ts";
import { cpuHandlers } from "../../actors/cpu/cpu_actor.ts";
import { HSM, hsmState } from "../../machine/control.ts";

const real = cpuHandlers();

serveActor(CPU, {
  start(ctx) {
    const me = ctx.config.hartId;
    if (me === 0) return real.start?.(ctx);
    const ctl = new Int32Array(ctx.buffers.control);
    const poll = setInterval(() => {
      if (hsmState(ctl, me) !== HSM.START_PENDING) return;
      clearInterval(poll);
      throw new Error(`crashing_secondary: hart ${me} fell over on purpose`);
    }, 5);
  },
  request: {},
  cast: {},
});
