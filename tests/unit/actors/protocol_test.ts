// Request/reply across a real worker: replies, typed failures for a handler
// that throws, a timeout, an unknown kind and a dead actor; events; a module
// that throws while loading or never answers the handshake; graceful stop.
// Runtime under test: actors/runtime/spawn.ts, actors/runtime/protocol.ts.

import assert from "../../../testing/assert.ts";
import { failureOf } from "../../../testing/actors/failure.ts";
import type { ActorHandlers } from "../../../actors/runtime/protocol.ts";
import { spawnActor } from "../../../actors/runtime/spawn.ts";
import {
  ECHO,
  echoHandlers,
  type EchoProtocol,
  MEM_STARTS,
  MEM_STOPS,
} from "../../../testing/actors/echo_protocol.ts";

const ECHO_A = new URL("../../../testing/actors/echo.worker.ts", import.meta.url);

function start(url: URL = ECHO_A, mem = new SharedArrayBuffer(64)) {
  return spawnActor<EchoProtocol>({ url, descriptor: ECHO, buffers: { mem }, config: {} });
}

Deno.test("request gets its typed reply; start ran with the shared buffer", async () => {
  const mem = new SharedArrayBuffer(64);
  const a = await start(ECHO_A, mem);
  try {
    assert.equal(await a.request({ kind: "echo", text: "hi" }), "echo-a: hi");
    assert.equal(new Int32Array(mem)[MEM_STARTS], 1);
    new Int32Array(mem)[5] = 42;
    assert.equal(await a.request({ kind: "peek", index: 5 }), 42);
  } finally {
    a.terminate();
  }
});

Deno.test("an exception in a handler comes back as a remote failure, actor lives on", async () => {
  const a = await start();
  try {
    const f = await failureOf(a.request({ kind: "fail", message: "no such sector" }));
    assert.equal(f.kind, "remote");
    assert.ok(f.kind === "remote" && f.error.name === "TypeError");
    assert.ok(f.kind === "remote" && f.error.message === "no such sector");
    assert.equal(await a.request({ kind: "who" }), "echo-a");
  } finally {
    a.terminate();
  }
});

Deno.test("a slow reply becomes a timeout failure and its late reply is dropped", async () => {
  const a = await start();
  try {
    const f = await failureOf(a.request({ kind: "sleep", ms: 300 }, { timeoutMs: 50 }));
    assert.deepEqual(f, { kind: "timeout", what: 'request "sleep"', ms: 50 });
    // The late reply arrives meanwhile and must not settle anything else.
    assert.equal(await a.request({ kind: "sleep", ms: 400 }), 400);
  } finally {
    a.terminate();
  }
});

Deno.test("an unknown request kind is a remote failure naming it", async () => {
  const a = await start();
  try {
    // deno-lint-ignore no-explicit-any
    const f = await failureOf(a.request({ kind: "format-disk" } as any));
    assert.ok(f.kind === "remote" && /no request "format-disk"/.test(f.error.message));
  } finally {
    a.terminate();
  }
});

Deno.test("requests in flight when the actor dies fail as crashed, with its error", async () => {
  const a = await start();
  const died = new Promise<string>((r) => a.onDeath((d) => r(d.reason)));
  const inFlight = a.request({ kind: "sleep", ms: 5000 });
  a.cast({ kind: "crash", how: "throw" });
  const f = await failureOf(inFlight);
  assert.equal(f.kind, "crashed");
  assert.match(await died, /asked to crash/);
  assert.ok(f.kind === "crashed" && f.error?.stack?.includes("echo_protocol.ts"));
  assert.equal((await failureOf(a.request({ kind: "who" }))).kind, "crashed");
  assert.equal(a.cast({ kind: "poke", index: 2, value: 1 }), false);
});

Deno.test("every way of dying is one death notice", async () => {
  for (const how of ["throw", "reject", "timer", "exit"] as const) {
    const a = await start();
    const d = await new Promise<string>((r) => {
      a.onDeath((d) => r(d.reason));
      a.cast({ kind: "crash", how });
    });
    assert.match(d, /asked to (crash|reject|crash later|exit)/, how);
  }
});

Deno.test("an event emitted in the start handler, before ready, reaches the first listener", async () => {
  // (A device serving a doorbell rung before it was up logs from its start
  // handler; the supervisor subscribes only after "ready".)
  const a = await spawnActor<EchoProtocol>({
    url: ECHO_A,
    descriptor: ECHO,
    buffers: { mem: new SharedArrayBuffer(64) },
    config: { emitAtStart: true },
  });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ev = await Promise.race([
      new Promise((r) => a.onEvent(r)),
      new Promise((r) => timer = setTimeout(() => r("no event within 5 s"), 5000)),
    ]);
    clearTimeout(timer);
    assert.deepEqual(ev, { kind: "poked", index: -1, value: 0 });
  } finally {
    a.terminate();
  }
});

Deno.test("events reach the parent", async () => {
  const a = await start();
  try {
    const ev = new Promise((r) => a.onEvent(r));
    a.cast({ kind: "poke", index: 3, value: 7 });
    assert.deepEqual(await ev, { kind: "poked", index: 3, value: 7 });
  } finally {
    a.terminate();
  }
});

Deno.test("graceful stop runs the actor's stop handler", async () => {
  const mem = new SharedArrayBuffer(64);
  const a = await start(ECHO_A, mem);
  const d = await a.stop();
  assert.equal(d.expected, true);
  assert.equal(d.reason, "stopped");
  assert.equal(new Int32Array(mem)[MEM_STOPS], 1);
});

Deno.test("a module that throws while loading fails its start, process unharmed", async () => {
  const url = new URL("../../../testing/actors/throws_at_load.worker.ts", import.meta.url);
  const f = await failureOf(start(url));
  assert.ok(f.kind === "crashed" && /this module fails to load/.test(f.reason), JSON.stringify(f));
});

Deno.test("a module that never answers the handshake times out, saying so", async () => {
  const url = new URL("../../../testing/actors/not_an_actor.worker.ts", import.meta.url);
  const f = await failureOf(
    spawnActor<EchoProtocol>({
      url,
      descriptor: ECHO,
      buffers: { mem: new SharedArrayBuffer(8) },
      config: {},
      startTimeoutMs: 300,
    }),
  );
  assert.equal(f.kind, "timeout");
  assert.ok(f.kind === "timeout" && f.what.includes("handshake") && f.what.includes(url.href));
});

Deno.test("handlers must cover every kind with the declared reply type (compile time)", () => {
  const good = echoHandlers("x");
  const missing: ActorHandlers<EchoProtocol> = {
    // @ts-expect-error: the "who" request handler is missing.
    request: {
      echo: good.request.echo,
      fail: good.request.fail,
      sleep: good.request.sleep,
      peek: good.request.peek,
    },
    cast: good.cast,
  };
  const wrongReply: ActorHandlers<EchoProtocol> = {
    // @ts-expect-error: "echo" must reply with a string.
    request: { ...good.request, echo: () => 5 },
    cast: good.cast,
  };
  assert.ok(missing && wrongReply);
});
