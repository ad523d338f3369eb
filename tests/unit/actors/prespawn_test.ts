// A worker started before it is asked for (launcher/prespawn.ts does this for
// the cpu): the first spawn of its module adopts it, handshake and start as
// ever; its start goes out with its hello, yet a module with the wrong role is
// still refused; an error while it loaded, before anyone listened, fails the
// spawn instead of the process; a handshake-only probe leaves it be; an
// unadopted one is dropped. Runtime under test: actors/runtime/spawn.ts.

import assert from "../../../testing/assert.ts";
import { failureOf } from "../../../testing/actors/failure.ts";
import {
  dropPrespawned,
  isPrespawned,
  prespawnWorker,
  spawnActor,
} from "../../../actors/runtime/spawn.ts";
import { ECHO, type EchoProtocol, MEM_STARTS } from "../../../testing/actors/echo_protocol.ts";

const ECHO_A = new URL("../../../testing/actors/echo.worker.ts", import.meta.url);
const WRONG_ROLE = new URL("../../../testing/actors/wrong_role.worker.ts", import.meta.url);
const THROWS = new URL("../../../testing/actors/throws_at_load.worker.ts", import.meta.url);

function start(url: URL, mem = new SharedArrayBuffer(64), handshakeOnly = false) {
  return spawnActor<EchoProtocol>({
    url,
    descriptor: ECHO,
    buffers: { mem },
    config: {},
    handshakeOnly,
  });
}

Deno.test("the first spawn of a prespawned module adopts its worker; the next makes its own", async () => {
  prespawnWorker(ECHO_A, "echo (early)");
  assert.ok(isPrespawned(ECHO_A));
  const mem = new SharedArrayBuffer(64);
  const a = await start(ECHO_A, mem);
  const b = await start(ECHO_A, mem);
  try {
    assert.ok(!isPrespawned(ECHO_A));
    assert.equal(await a.request({ kind: "workerName" }), "echo (early)");
    assert.equal(await b.request({ kind: "workerName" }), `console#${b.stamp}`);
    // Both ran their start handler with the buffers of their spawn.
    assert.equal(Atomics.load(new Int32Array(mem), MEM_STARTS), 2);
    assert.equal(await a.request({ kind: "echo", text: "hi" }), "echo-a: hi");
  } finally {
    a.terminate();
    b.terminate();
  }
});

Deno.test("an adopted worker of the wrong role is refused by its hello, start sent or not", async () => {
  prespawnWorker(WRONG_ROLE, "wrong (early)");
  const f = await failureOf(start(WRONG_ROLE));
  assert.equal(f.kind, "handshake");
  assert.ok(f.kind === "handshake" && f.got.role === "net" && f.want.role === "console");
  assert.ok(!isPrespawned(WRONG_ROLE));
});

Deno.test("a module that threw while loading unadopted fails the spawn, not the process", async () => {
  prespawnWorker(THROWS, "throws (early)");
  // Let it load and fail before anyone adopts it: only the keeping listener hears it.
  await new Promise((r) => setTimeout(r, 500));
  const f = await failureOf(start(THROWS));
  assert.equal(f.kind, "crashed");
  assert.ok(f.kind === "crashed" && /fails to load/.test(f.reason), JSON.stringify(f));
});

Deno.test("a handshake-only probe leaves the prespawned worker for the real spawn", async () => {
  prespawnWorker(ECHO_A, "echo (early)");
  const probe = await start(ECHO_A, new SharedArrayBuffer(64), true);
  probe.terminate();
  assert.ok(isPrespawned(ECHO_A));
  const a = await start(ECHO_A);
  try {
    assert.equal(await a.request({ kind: "workerName" }), "echo (early)");
  } finally {
    a.terminate();
  }
});

Deno.test("dropPrespawned ends the workers nobody adopted", () => {
  prespawnWorker(ECHO_A, "echo (early)");
  prespawnWorker(ECHO_A, "echo (second)"); // one per module: this does nothing
  dropPrespawned();
  assert.ok(!isPrespawned(ECHO_A));
});
