/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The cpu actor's worker: wires actors/cpu_actor.ts to its port. The first
// message starts the hart; this worker then stays busy until the guest's fate.
import { runCpu } from "./cpu_actor.ts";
import type { CpuIn, CpuOut } from "./cpu_protocol.ts";

self.onmessage = (e: MessageEvent<CpuIn>) => {
  const msg = e.data;
  switch (msg.kind) {
    case "start":
      runCpu(msg, (m: CpuOut) => self.postMessage(m));
      break;
    default: {
      const _: never = msg.kind;
    }
  }
};
