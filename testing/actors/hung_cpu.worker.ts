/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A cpu actor that answers the handshake, then hangs in a busy loop without
// ever finishing a batch: the launcher's watchdog must notice and end the
// run (tests/e2e/launcher_watchdog_test.ts).
import { serveActor } from "../../actors/runtime/protocol.ts";
import { CPU } from "../../actors/cpu/protocol.ts";

serveActor(CPU, {
  start() {
    setTimeout(() => {
      for (;;) {
        // hung: no heartbeat, not in wfi
      }
    }, 0);
  },
  request: {},
  cast: {},
});
