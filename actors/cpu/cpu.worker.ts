/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The cpu actor's worker: wires actors/cpu/cpu_actor.ts to its port. After the
// start handshake it runs the hart — off the event loop, until the guest's
// fate — then reports the fate as an event and goes back to its event loop,
// where a stop request can end it.
import { serveActor } from "../runtime/protocol.ts";
import { runCpu } from "./cpu_actor.ts";
import { CPU } from "./protocol.ts";

serveActor(CPU, {
  start(ctx) {
    // Let the "ready" reply go out first: runCpu does not return until the guest's fate.
    setTimeout(() => runCpu(ctx.config, ctx.buffers, (m) => ctx.emit(m)), 0);
  },
  request: {},
  cast: {},
});
