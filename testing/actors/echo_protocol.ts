// A small test actor's protocol and handlers, used by the runtime's tests:
// it answers requests, throws on demand, sleeps past timeouts, crashes in
// several ways, and reads/writes a shared Int32 buffer so a test can see that
// a restarted instance shares memory with the one it replaced.
// Worker files: echo.worker.ts, echo_b.worker.ts, wrong_*.worker.ts.

import {
  type ActorContext,
  type ActorHandlers,
  defineRole,
} from "../../actors/runtime/protocol.ts";

export interface EchoProtocol {
  request:
    | { kind: "echo"; text: string }
    | { kind: "who" }
    | { kind: "fail"; message: string }
    | { kind: "sleep"; ms: number }
    | { kind: "peek"; index: number }
    /** The name the Worker was made with (a prespawned worker's differs: actors/runtime/spawn.ts). */
    | { kind: "workerName" };
  reply: {
    echo: string;
    who: string;
    fail: never;
    sleep: number;
    peek: number;
    workerName: string;
  };
  cast:
    | { kind: "poke"; index: number; value: number }
    | { kind: "crash"; how: "throw" | "reject" | "timer" | "exit" }
    /** Block the event loop (Atomics.wait) for `ms`: a hung actor for heartbeat tests. */
    | { kind: "hang"; ms: number };
  event: { kind: "poked"; index: number; value: number };
  /** emitAtStart: emit `poked` (index -1) from the start handler, before "ready" goes out. */
  config: { label?: string; emitAtStart?: boolean };
  buffers: { mem: SharedArrayBuffer };
}

/** Played as the console role so the registry tests can swap a machine role. */
export const ECHO = defineRole<EchoProtocol>("console", 1);

/** Word 0 of `mem` counts starts, word 1 graceful stops; the rest is free for tests. */
export const MEM_STARTS = 0;
export const MEM_STOPS = 1;

export function echoHandlers(label: string): ActorHandlers<EchoProtocol> {
  let mem: Int32Array;
  const name = (ctx: ActorContext<EchoProtocol>) => ctx.config.label ?? label;
  return {
    start(ctx) {
      mem = new Int32Array(ctx.buffers.mem);
      Atomics.add(mem, MEM_STARTS, 1);
      if (ctx.config.emitAtStart) ctx.emit({ kind: "poked", index: -1, value: 0 });
    },
    request: {
      echo: (m, ctx) => `${name(ctx)}: ${m.text}`,
      who: (_m, ctx) => name(ctx),
      fail: (m) => {
        throw new TypeError(m.message);
      },
      sleep: (m) => new Promise((r) => setTimeout(() => r(m.ms), m.ms)),
      peek: (m) => Atomics.load(mem, m.index),
      workerName: () => (globalThis as { name?: string }).name ?? "",
    },
    cast: {
      poke(m, ctx) {
        Atomics.store(mem, m.index, m.value);
        ctx.emit({ kind: "poked", index: m.index, value: m.value });
      },
      crash(m, ctx) {
        switch (m.how) {
          case "throw":
            throw new Error("asked to crash");
          case "reject":
            void Promise.reject(new Error("asked to reject"));
            return;
          case "timer":
            setTimeout(() => {
              throw new Error("asked to crash later");
            }, 0);
            return;
          case "exit":
            ctx.exit("asked to exit");
            return;
        }
      },
      hang(m) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
      },
    },
    stop() {
      Atomics.add(mem, MEM_STOPS, 1);
    },
  };
}
