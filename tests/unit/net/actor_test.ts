// The net actor end to end without a guest kernel: two net workers
// (actors/net/net.worker.ts) on one --sharenet segment, each driven by a fake
// guest on this thread through the real MMIO registers and doorbells. A frame
// transmitted by one guest must land in the other's receive buffer.
// Unix sockets in a temporary directory only: no network is touched.
// Read next: actors/net/net_actor.ts.

import assert from "../../../testing/assert.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";
import { createControlBlock } from "../../../machine/control.ts";
import { spawnActor } from "../../../actors/runtime/spawn.ts";
import {
  createNetState,
  macToString,
  NET_HDR_LEN,
  NET_RX,
  NET_TX,
} from "../../../devices/net/net.ts";
import { NET } from "../../../actors/net/protocol.ts";
import { prepareNet } from "../../../actors/net/setup.ts";
import { FakeNetDriver, RAM_BYTES } from "../../../testing/net_fakeguest.ts";

const WORKER = new URL("../../../actors/net/net.worker.ts", import.meta.url);

async function guest(sharenet: string, irq: number) {
  const [net] = await prepareNet({ tunnet: null, sharenet, mac: null });
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const control = createControlBlock();
  const state = createNetState(irq, net.mac);
  const spawn = () =>
    spawnActor({
      url: WORKER,
      descriptor: NET,
      buffers: { ram, state, control },
      config: { backend: net.spec },
    });
  const g = { net, link: await spawn(), drv: new FakeNetDriver(ram, state, control), spawn };
  return g;
}

/** A broadcast test frame from `mac` with a recognisable payload. */
function testFrame(mac: Uint8Array, seed: number): Uint8Array {
  const f = new Uint8Array(100);
  f.fill(0xff, 0, 6);
  f.set(mac, 6);
  f.set([0x88, 0xb5], 12);
  for (let i = 14; i < f.length; i++) f[i] = (i + seed) & 255;
  return f;
}

/** Wait (politely) until the driver's queue has used entries. */
async function used(q: { takeUsed(): { id: number; len: number }[] }, what: string) {
  const deadline = performance.now() + 5000;
  for (;;) {
    const u = q.takeUsed();
    if (u.length > 0) return u;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("net actor: two workers on one sharenet segment exchange frames", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "avm-netactor-" });
  const a = await guest(`${dir}/seg`, 1);
  const b = await guest(`${dir}/seg`, 2);
  try {
    assert.notEqual(macToString(a.net.mac), macToString(b.net.mac));
    assert.deepEqual(a.drv.mac(), Array.from(a.net.mac));
    // b posts receive buffers; a broadcasts a frame.
    b.drv.rx.add([{ addr: RAM_BASE + 0x40000, len: 1526, write: true }]);
    b.drv.notify(NET_RX);
    const f = testFrame(a.net.mac, 0);
    a.drv.transmit(0x50000, f);
    a.drv.notify(NET_TX);
    assert.deepEqual(await used(a.drv.tx, "a's tx completion"), [{ id: 0, len: 0 }]);
    assert.deepEqual(await used(b.drv.rx, "b's rx"), [{ id: 0, len: NET_HDR_LEN + f.length }]);
    assert.deepEqual(
      b.drv.bytes.slice(0x40000 + NET_HDR_LEN, 0x40000 + NET_HDR_LEN + f.length),
      f,
    );
    const sa = await a.link.request({ kind: "stats" });
    const sb = await b.link.request({ kind: "stats" });
    assert.equal(sa.device.txFrames, 1);
    assert.equal(sa.backend.txFrames, 1);
    assert.equal(sb.device.rxFrames, 1);
    assert.equal(sb.backend.rxFrames, 1);
  } finally {
    for (const g of [a, b]) {
      await g.link.stop();
      g.net.release();
    }
    assert.deepEqual([...Deno.readDirSync(`${dir}/seg`)].map((e) => e.name), ["lock"]);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("net actor: a terminated net worker is replaced on the same segment membership", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "avm-netactor-" });
  const a = await guest(`${dir}/seg`, 1);
  const b = await guest(`${dir}/seg`, 2);
  try {
    // Kill b's worker outright (its poll is pending) and start another on the same state.
    b.link.terminate("test kill");
    b.link = await b.spawn();
    b.drv.rx.add([{ addr: RAM_BASE + 0x40000, len: 1526, write: true }]);
    b.drv.notify(NET_RX);
    const f = testFrame(a.net.mac, 5);
    a.drv.transmit(0x50000, f);
    a.drv.notify(NET_TX);
    assert.deepEqual(await used(b.drv.rx, "b's rx after restart"), [{
      id: 0,
      len: NET_HDR_LEN + f.length,
    }]);
    assert.deepEqual(
      b.drv.bytes.slice(0x40000 + NET_HDR_LEN, 0x40000 + NET_HDR_LEN + f.length),
      f,
    );
  } finally {
    for (const g of [a, b]) {
      await g.link.stop();
      g.net.release();
    }
    Deno.removeSync(dir, { recursive: true });
  }
});
