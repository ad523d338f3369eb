// Tests devices/plic.ts across threads, as the machine runs it: a device
// worker raising lines, the interrupt-controller worker running the gateway,
// and this thread as the cpu claiming and completing. Every assertion must be
// claimed exactly once: no lost interrupt, no duplicate.

import assert from "../../../testing/assert.ts";
import { createPlicState, PLIC_REG, PlicRegisters } from "../../../devices/plic.ts";
import { createControlBlock, CTL, MIP, setIrqLine } from "../../../machine/control.ts";

const PLIC_URL = new URL("../../../devices/plic.ts", import.meta.url).href;
const CONTROL_URL = new URL("../../../machine/control.ts", import.meta.url).href;

// Workers are built from source text so they need no files of their own.
const GATEWAY_SRC = `
import { PlicGateway } from "${PLIC_URL}";
self.onmessage = async (e) => {
  if (e.data.kind === "start") {
    const gw = new PlicGateway(e.data.state, e.data.control);
    self.gw = gw;
    gw.start();
    self.postMessage({ kind: "ready" });
  } else if (e.data.kind === "stop") {
    await self.gw.stop();
    self.postMessage({ kind: "stopped" });
  }
};`;

const DEVICE_SRC = `
import { setIrqLine } from "${CONTROL_URL}";
self.postMessage({ kind: "ready" });
self.onmessage = (e) => {
  const { control, acks, rounds, sources } = e.data;
  const ctl = new Int32Array(control), a = new Int32Array(acks);
  for (let r = 0; r < rounds; r++) {
    for (const src of sources) setIrqLine(ctl, src, 1);
    for (const src of sources) {
      while (Atomics.load(a, src) < r + 1) {
        if (Atomics.wait(a, src, r, 10000) === "timed-out") {
          self.postMessage({ kind: "error", text: "round " + r + ": source " + src + " never acked" });
          return;
        }
      }
    }
  }
  self.postMessage({ kind: "done" });
};`;

function spawn(src: string): Worker {
  return new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })), {
    type: "module",
  });
}

function next(w: Worker): Promise<{ kind: string; text?: string }> {
  return new Promise((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
}

Deno.test("plic across workers: every assertion claimed exactly once", async () => {
  const control = createControlBlock();
  const state = createPlicState();
  const ctl = new Int32Array(control);
  const acks = new SharedArrayBuffer(4 * 32);
  const a = new Int32Array(acks);
  const regs = new PlicRegisters(state, control);
  const sources = [1, 2, 3, 5, 8, 31];
  const rounds = 1500;
  sources.forEach((src, i) => regs.write(PLIC_REG.PRIORITY + 4 * src, 4, 1 + (i % 7)));
  regs.write(PLIC_REG.ENABLE + PLIC_REG.ENABLE_STRIDE * 1, 4, 0xffff_fffe);

  const gateway = spawn(GATEWAY_SRC);
  const device = spawn(DEVICE_SRC);
  try {
    const deviceReady = next(device); // listen at once: a message with no listener is lost
    const gwReady = next(gateway);
    gateway.postMessage({ kind: "start", state, control });
    assert.equal((await gwReady).kind, "ready");
    assert.equal((await deviceReady).kind, "ready");
    const deviceDone = next(device);
    device.postMessage({ control, acks, rounds, sources });

    // The cpu: sleep on WAKE until SEIP, claim, ack the device, complete.
    const claims = new Map<number, number>();
    let total = 0, emptyClaims = 0, unasserted = 0;
    while (total < rounds * sources.length) {
      const seen = Atomics.load(ctl, CTL.WAKE);
      if ((Atomics.load(ctl, CTL.MIP) & MIP.SEIP) === 0) {
        const r = Atomics.wait(ctl, CTL.WAKE, seen, 10_000);
        assert.notEqual(r, "timed-out", `stalled after ${total} interrupts: one was lost`);
        continue;
      }
      const src = regs.claim(1);
      if (src === 0) {
        emptyClaims++;
        continue;
      }
      if (Atomics.load(ctl, CTL.LINE0 + src) === 0) unasserted++;
      claims.set(src, (claims.get(src) ?? 0) + 1);
      total++;
      setIrqLine(ctl, src, 0); // the driver acknowledges at the device...
      Atomics.add(a, src, 1);
      Atomics.notify(a, src);
      regs.complete(1, src); // ...then completes at the PLIC
    }
    const msg = await deviceDone;
    assert.equal(msg.kind, "done", msg.text);
    assert.equal(emptyClaims, 0, "SEIP was set but nothing could be claimed");
    assert.equal(unasserted, 0, "claimed a source whose line was low (a duplicate)");
    for (const src of sources) assert.equal(claims.get(src), rounds, `source ${src}`);
    assert.equal(regs.read(PLIC_REG.PENDING, 4), 0, "nothing left pending");
    assert.equal(Atomics.load(ctl, CTL.MIP) & MIP.SEIP, 0);
    assert.equal(Atomics.load(ctl, CTL.PLIC_LOCK), 0, "lock released");

    const stopped = next(gateway);
    gateway.postMessage({ kind: "stop" });
    assert.equal((await stopped).kind, "stopped");
  } finally {
    gateway.terminate();
    device.terminate();
  }
});
