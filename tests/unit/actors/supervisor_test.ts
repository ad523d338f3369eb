// The supervisor with real workers: a crashing actor is restarted within its
// policy and the replacement sees the same shared memory; past the policy it
// stops and says why; a clean stop runs the actor's stop handler; a module
// with the wrong protocol is refused without restarts. actors/runtime/supervisor.ts.

import assert from "../../../testing/assert.ts";
import { ActorFailure } from "../../../actors/runtime/protocol.ts";
import {
  type RestartPolicy,
  Supervisor,
  type SupervisorEvent,
} from "../../../actors/runtime/supervisor.ts";
import {
  ECHO,
  type EchoProtocol,
  MEM_STARTS,
  MEM_STOPS,
} from "../../../testing/actors/echo_protocol.ts";

const testing = (f: string) => new URL(`../../../testing/actors/${f}`, import.meta.url);
const QUICK: Partial<RestartPolicy> = { maxRestarts: 2, windowMs: 10_000, backoffMs: 0 };

function supervise(policy: Partial<RestartPolicy> = QUICK, file = "echo.worker.ts") {
  const mem = new SharedArrayBuffer(64);
  const sup = new Supervisor<EchoProtocol>({
    descriptor: ECHO,
    url: testing(file),
    buffers: { mem },
    config: {},
    policy,
  });
  const events: SupervisorEvent[] = [];
  sup.onEvent((e) => events.push(e));
  return { sup, mem: new Int32Array(mem), events };
}

function next(sup: Supervisor<EchoProtocol>, kind: SupervisorEvent["kind"]) {
  return new Promise<SupervisorEvent>((resolve) => {
    const off = sup.onEvent((e) => {
      if (e.kind === kind) {
        off();
        resolve(e);
      }
    });
  });
}

Deno.test("a crashing actor is restarted and the replacement sees the same memory", async () => {
  const { sup, mem, events } = supervise();
  await sup.start();
  assert.equal(sup.state, "running");
  const first = sup.stamp;
  mem[5] = 77; // written by the launcher side
  const poked = new Promise((r) => sup.onMessage(r));
  assert.equal(sup.send({ kind: "poke", index: 6, value: 88 }), true); // written by instance 1
  assert.deepEqual(await poked, { kind: "poked", index: 6, value: 88 });

  const restarted = next(sup, "restarted");
  sup.send({ kind: "crash", how: "throw" });
  await restarted;
  assert.equal(sup.state, "running");
  assert.notEqual(sup.stamp, first);
  assert.equal(await sup.request({ kind: "peek", index: 5 }), 77);
  assert.equal(await sup.request({ kind: "peek", index: 6 }), 88);
  assert.equal(mem[MEM_STARTS], 2);
  assert.deepEqual(events.map((e) => e.kind), ["started", "crashed", "restarted"]);
  const crashed = events[1];
  assert.ok(crashed.kind === "crashed" && /asked to crash/.test(crashed.reason));
  // Role events keep flowing from the replacement.
  const again = new Promise((r) => sup.onMessage(r));
  sup.send({ kind: "poke", index: 7, value: 1 });
  assert.deepEqual(await again, { kind: "poked", index: 7, value: 1 });
  await sup.stop();
});

Deno.test("past its policy the supervisor stops the actor and says why", async () => {
  const { sup, mem, events } = supervise();
  await sup.start();
  for (const how of ["throw", "reject"] as const) {
    const r = next(sup, "restarted");
    sup.send({ kind: "crash", how });
    await r;
  }
  const gaveUp = next(sup, "gave-up");
  sup.send({ kind: "crash", how: "exit" });
  const e = await gaveUp;
  assert.ok(e.kind === "gave-up");
  assert.match(
    e.reason,
    /console actor \(.*echo\.worker\.ts\) crashed 3 time\(s\) within 10 s, past its policy \(at most 2 restarts in 10 s\); last failure: asked to exit/,
  );
  assert.equal(sup.state, "stopped");
  assert.equal(sup.failure?.kind, "gave-up");
  assert.equal(mem[MEM_STARTS], 3);
  assert.equal(sup.send({ kind: "poke", index: 4, value: 1 }), false);
  await assert.rejects(
    sup.request({ kind: "who" }),
    (err) => err instanceof ActorFailure && err.failure.kind === "not-running",
  );
  assert.deepEqual(events.map((e) => e.kind), [
    "started",
    "crashed",
    "restarted",
    "crashed",
    "restarted",
    "crashed",
    "gave-up",
  ]);
});

Deno.test("a no-restart policy (the cpu's) gives up at the first crash", async () => {
  const { sup } = supervise({ maxRestarts: 0 });
  await sup.start();
  const gaveUp = next(sup, "gave-up");
  sup.send({ kind: "crash", how: "timer" });
  const e = await gaveUp;
  assert.ok(e.kind === "gave-up" && /policy \(no restarts\).*asked to crash later/.test(e.reason));
});

Deno.test("restarts older than the window do not count", async () => {
  const { sup } = supervise({ maxRestarts: 1, windowMs: 150, backoffMs: 0 });
  await sup.start();
  for (let i = 0; i < 3; i++) {
    const r = next(sup, "restarted");
    sup.send({ kind: "crash", how: "throw" });
    await r;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(sup.state, "running");
  await sup.stop();
});

Deno.test("a clean stop runs the stop handler and does not restart", async () => {
  const { sup, mem, events } = supervise();
  await sup.start();
  await sup.stop();
  assert.equal(sup.state, "stopped");
  assert.equal(sup.failure, undefined);
  assert.equal(mem[MEM_STOPS], 1);
  assert.equal(mem[MEM_STARTS], 1);
  assert.deepEqual(events.map((e) => e.kind), ["started", "stopped"]);
});

Deno.test("a module with the wrong protocol version is refused, never restarted", async () => {
  const { sup, mem } = supervise(QUICK, "wrong_version.worker.ts");
  await assert.rejects(sup.start(), (err) => {
    assert.ok(err instanceof ActorFailure && err.failure.kind === "handshake");
    assert.match(
      err.message,
      /wrong_version\.worker\.ts answered the handshake as role "console" protocol v2; role "console" needs protocol v1/,
    );
    return true;
  });
  assert.equal(sup.state, "stopped");
  assert.equal(mem[MEM_STARTS], 0);
});

Deno.test("a module that fails to load is retried within policy, then given up", async () => {
  const { sup, events } = supervise({ maxRestarts: 1 }, "throws_at_load.worker.ts");
  await assert.rejects(sup.start(), (err) => {
    assert.ok(err instanceof ActorFailure && err.failure.kind === "gave-up");
    assert.match(err.message, /crashed 2 time\(s\).*this module fails to load/);
    return true;
  });
  assert.deepEqual(events.map((e) => e.kind), ["crashed", "crashed", "gave-up"]);
});

Deno.test("a hung actor misses its heartbeat and is restarted", async () => {
  const { sup } = supervise({ ...QUICK, heartbeatMs: 200 });
  await sup.start();
  const crashed = next(sup, "crashed");
  const restarted = next(sup, "restarted");
  sup.send({ kind: "hang", ms: 1000 });
  const e = await crashed;
  assert.ok(e.kind === "crashed" && /no heartbeat answer within 200 ms/.test(e.reason));
  await restarted;
  assert.equal(await sup.request({ kind: "who" }), "echo-a");
  await sup.stop();
});
