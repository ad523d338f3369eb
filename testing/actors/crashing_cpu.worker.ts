/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A cpu actor for tests/e2e/supervision_cpu_test.ts: it answers the handshake as
// the cpu role, starts, and then throws — a cpu that crashes. The launcher
// must stop the machine with a clear reason and status 1.

import { serveActor } from "../../actors/runtime/protocol.ts";
import { CPU } from "../../actors/cpu/protocol.ts";

serveActor(CPU, {
  start() {
    setTimeout(() => {
      throw new Error("crashing_cpu: the hart fell over on purpose");
    }, 50);
  },
  request: {},
  cast: {},
});
