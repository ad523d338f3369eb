// The virtio-net device (devices/net/net.ts) against a fake guest: a small RAM,
// the driver's side played through the real MMIO registers, and rings laid
// out by hand. No network and no worker: frames go to a recording backend.
// Read next: devices/net/net.ts.

import assert from "../../../testing/assert.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";
import { createControlBlock, CTL } from "../../../machine/control.ts";
import { MmioTransport, REG } from "../../../devices/virtio/mmio.ts";
import {
  STATUS,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from "../../../devices/virtio/constants.ts";
import { FakeNetDriver, RAM_BYTES } from "../../../testing/net_fakeguest.ts";
import {
  createNetState,
  defaultMac,
  NET_F,
  NET_HDR_LEN,
  NET_RX,
  NET_TX,
  NetDevice,
  parseMac,
} from "../../../devices/net/net.ts";

const IRQ = 3;
const MAC = parseMac("02:41:56:00:00:07");

/** A guest with the device set up and DRIVER_OK (unless told otherwise). */
function setup(opts: { holdFrames?: number; driverOk?: boolean; features?: bigint } = {}) {
  const ramSab = new SharedArrayBuffer(RAM_BYTES);
  const ctlSab = createControlBlock();
  const ctl = new Int32Array(ctlSab);
  const state = createNetState(IRQ, MAC);
  const sent: Uint8Array[] = [];
  let accept = true;
  const backend = {
    send(f: Uint8Array) {
      if (!accept) return false;
      sent.push(f.slice());
      return true;
    },
  };
  const logs: string[] = [];
  const dev = new NetDevice(ramSab, state, ctlSab, {
    backend,
    holdFrames: opts.holdFrames,
    log: (l) => logs.push(l),
  });
  const drv = new FakeNetDriver(ramSab, state, ctlSab, opts);
  dev.service();
  return {
    dev,
    state,
    control: ctlSab,
    mmio: drv.mmio,
    bytes: drv.bytes,
    rx: drv.rx,
    tx: drv.tx,
    sent,
    logs,
    ok: () => drv.driverOk(),
    line: () => Atomics.load(ctl, CTL.LINE0 + IRQ),
    ack: () => drv.write(REG.INTERRUPT_ACK, drv.mmio.read(REG.INTERRUPT_STATUS, 4)),
    notify: (q: number) => {
      drv.notify(q);
      dev.service();
    },
    setAccept: (v: boolean) => accept = v,
  };
}

function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 7 + seed) & 255;
  f.set([0x02, 0x41, 0x56, 0, 0, 7], 0);
  return f;
}

/** A header (12 bytes, all zero but num_buffers) followed by the frame, at `addr`. */
function putTx(bytes: Uint8Array, addr: number, f: Uint8Array, hdr = new Uint8Array(NET_HDR_LEN)) {
  bytes.set(hdr, addr);
  bytes.set(f, addr + NET_HDR_LEN);
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("net device: config space carries the MAC and link up; the software offloads offered", () => {
  const g = setup({ driverOk: false });
  const cfg = Array.from({ length: 8 }, (_, i) => g.mmio.read(REG.CONFIG + i, 1));
  assert.deepEqual(cfg.slice(0, 6), Array.from(MAC));
  assert.equal(g.mmio.read(REG.CONFIG + 6, 2), 1); // VIRTIO_NET_S_LINK_UP
  assert.equal(g.mmio.read(REG.DEVICE_ID, 4), 1);
  const features = (state: SharedArrayBuffer) => {
    const m = new MmioTransport(state, createControlBlock());
    m.write(REG.DEVICE_FEATURES_SEL, 4, 0);
    const lo = m.read(REG.DEVICE_FEATURES, 4);
    m.write(REG.DEVICE_FEATURES_SEL, 4, 1);
    return [lo, m.read(REG.DEVICE_FEATURES, 4)];
  };
  const [lo, hi] = features(createNetState(IRQ, MAC));
  assert.ok(lo & (1 << NET_F.MAC) && lo & (1 << NET_F.STATUS));
  assert.equal(hi & 1, 1); // VERSION_1
  // Offloads done by the device: CSUM, GUEST_CSUM, HOST_TSO4/6, HOST_ECN.
  for (const b of [0, 1, 11, 12, 13]) assert.ok(lo & (1 << b), `feature bit ${b} not offered`);
  // No receive segmentation, no UFO, no GSO-any, no mergeable buffers, no control queue.
  for (const b of [6, 7, 8, 9, 10, 14, 15, 17, 22]) {
    assert.equal(lo & (1 << b), 0, `feature bit ${b} offered`);
  }
  const [lo2] = features(createNetState(IRQ, MAC, { offloads: false }));
  for (const b of [0, 1, 11, 12, 13]) {
    assert.equal(lo2 & (1 << b), 0, `bit ${b} with offloads off`);
  }
  assert.deepEqual(Array.from(g.dev.mac), Array.from(MAC));
  g.dev.setLink(false);
  assert.equal(g.mmio.read(REG.CONFIG + 6, 2), 0);
  assert.equal(g.mmio.read(REG.INTERRUPT_STATUS, 4) & 2, 2); // config change
});

Deno.test("net device: tx strips the header, sends whole frames, completes every chain", () => {
  const g = setup();
  const a = frame(60, 1), b = frame(1514, 2), c = frame(300, 3);
  putTx(g.bytes, 0x10000, a);
  g.tx.add([{ addr: RAM_BASE + 0x10000, len: NET_HDR_LEN + a.length }]);
  // Header alone, then the frame.
  putTx(g.bytes, 0x11000, b);
  g.tx.add([{ addr: RAM_BASE + 0x11000, len: NET_HDR_LEN }, {
    addr: RAM_BASE + 0x11000 + NET_HDR_LEN,
    len: b.length,
  }]);
  // Scattered at odd places, header split across buffers.
  putTx(g.bytes, 0x13000, c);
  g.tx.add([{ addr: RAM_BASE + 0x13000, len: 5 }, { addr: RAM_BASE + 0x13005, len: 100 }, {
    addr: RAM_BASE + 0x13069,
    len: NET_HDR_LEN + c.length - 105,
  }]);
  g.notify(NET_TX);
  assert.deepEqual(g.sent, [a, b, c]);
  assert.deepEqual(g.tx.takeUsed().map((u) => u.len), [0, 0, 0]);
  assert.equal(g.dev.stats.txFrames, 3);
  assert.equal(g.dev.stats.txBytes, 60 + 1514 + 300);
  assert.equal(g.line(), 1);
});

Deno.test("net device: tx drops too short, too long, offload headers and backend refusals, counted", () => {
  const g = setup();
  putTx(g.bytes, 0x10000, frame(13, 1));
  g.tx.add([{ addr: RAM_BASE + 0x10000, len: NET_HDR_LEN + 13 }]);
  putTx(g.bytes, 0x11000, frame(1515, 1));
  g.tx.add([{ addr: RAM_BASE + 0x11000, len: NET_HDR_LEN + 1515 }]);
  const gso = new Uint8Array(NET_HDR_LEN);
  gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4, never negotiated
  putTx(g.bytes, 0x12000, frame(100, 1), gso);
  g.tx.add([{ addr: RAM_BASE + 0x12000, len: NET_HDR_LEN + 100 }]);
  const csum = new Uint8Array(NET_HDR_LEN);
  csum[0] = 1; // NEEDS_CSUM
  putTx(g.bytes, 0x13000, frame(100, 1), csum);
  g.tx.add([{ addr: RAM_BASE + 0x13000, len: NET_HDR_LEN + 100 }]);
  g.notify(NET_TX);
  g.setAccept(false);
  putTx(g.bytes, 0x14000, frame(100, 1));
  g.tx.add([{ addr: RAM_BASE + 0x14000, len: NET_HDR_LEN + 100 }]);
  g.notify(NET_TX);
  assert.equal(g.sent.length, 0);
  const s = g.dev.stats;
  assert.deepEqual(
    [s.txDroppedShort, s.txDroppedLong, s.txDroppedHeader, s.txDroppedBackend, s.txFrames],
    [1, 1, 2, 1, 0],
  );
  assert.equal(g.tx.takeUsed().length, 5); // every chain went back to the guest
  assert.equal(g.dev.broken, false);
});

Deno.test("net device: rx fills posted buffers with header + frame; frames wait for buffers", async () => {
  const g = setup();
  const a = frame(42, 1), b = frame(1514, 2), c = frame(98, 3);
  g.dev.receive(a); // nothing posted yet: held
  assert.equal(g.dev.held, 1);
  g.rx.add([{ addr: RAM_BASE + 0x20000, len: 1526, write: true }]);
  g.rx.add([{ addr: RAM_BASE + 0x21000, len: 6, write: true }, {
    addr: RAM_BASE + 0x21100,
    len: 1520,
    write: true,
  }]);
  g.notify(NET_RX);
  assert.equal(g.dev.held, 0);
  let used = g.rx.takeUsed();
  assert.deepEqual(used, [{ id: 0, len: NET_HDR_LEN + a.length }]);
  const hdr = g.bytes.slice(0x20000, 0x20000 + NET_HDR_LEN);
  assert.deepEqual(Array.from(hdr), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]); // num_buffers = 1
  assert.deepEqual(g.bytes.slice(0x20000 + NET_HDR_LEN, 0x20000 + NET_HDR_LEN + a.length), a);
  assert.equal(g.line(), 1);
  g.ack();
  assert.equal(g.line(), 0);
  // A buffer is posted: the next frame goes straight in (header split across buffers),
  // and its interrupt follows once the backend's batch is done.
  g.dev.receive(b);
  used = g.rx.takeUsed();
  assert.deepEqual(used, [{ id: 1, len: NET_HDR_LEN + b.length }]);
  assert.deepEqual(g.bytes.slice(0x21000, 0x21006), new Uint8Array(6));
  assert.deepEqual(g.bytes.slice(0x21100, 0x21100 + 6), new Uint8Array([0, 0, 0, 0, 1, 0]));
  assert.deepEqual(g.bytes.slice(0x21106, 0x21106 + b.length), b);
  assert.equal(g.line(), 0);
  await tick();
  assert.equal(g.line(), 1);
  g.dev.receive(c);
  assert.equal(g.dev.held, 1);
  assert.equal(g.dev.stats.rxFrames, 2);
  assert.equal(g.dev.stats.rxBytes, 42 + 1514);
});

Deno.test("net device: the hold queue is bounded; overflow is dropped and counted, order kept", () => {
  const g = setup({ holdFrames: 4 });
  for (let i = 0; i < 7; i++) g.dev.receive(frame(60, i));
  assert.equal(g.dev.held, 4);
  assert.equal(g.dev.stats.rxDroppedFull, 3);
  for (let i = 0; i < 4; i++) {
    g.rx.add([{ addr: RAM_BASE + 0x20000 + i * 0x800, len: 1526, write: true }]);
  }
  g.notify(NET_RX);
  assert.equal(g.rx.takeUsed().length, 4);
  for (let i = 0; i < 4; i++) {
    const at = 0x20000 + i * 0x800 + NET_HDR_LEN;
    assert.deepEqual(g.bytes.slice(at, at + 60), frame(60, i), `frame ${i}`);
  }
});

Deno.test("net device: frames before DRIVER_OK and bad frames from the backend are dropped", () => {
  const g = setup({ driverOk: false });
  g.dev.receive(frame(60, 1));
  assert.equal(g.dev.stats.rxDroppedNotReady, 1);
  g.ok();
  g.dev.service();
  g.dev.receive(frame(13, 1));
  g.dev.receive(frame(1515, 1));
  assert.equal(g.dev.stats.rxDroppedBad, 2);
  assert.equal(g.dev.held, 0);
});

Deno.test("net device: malformed and small rx buffers are returned empty, never fatal", () => {
  const g = setup();
  g.rx.add([{ addr: RAM_BASE + 0x20000, len: 1526 }]); // device-readable: wrong for rx
  g.rx.add([{ addr: RAM_BASE + 0x21000, len: 20, write: true }]); // no room for header + Ethernet header
  g.rx.add([{ addr: RAM_BASE + 0x22000, len: 100, write: true }]); // too small for this frame
  g.rx.add([{ addr: RAM_BASE + 0x23000, len: 1526, write: true }]);
  g.notify(NET_RX);
  g.dev.receive(frame(200, 1)); // skips two bad buffers, dropped by the small one
  g.dev.receive(frame(60, 2));
  const used = g.rx.takeUsed();
  assert.deepEqual(used, [{ id: 0, len: 0 }, { id: 1, len: 0 }, { id: 2, len: 0 }, {
    id: 3,
    len: NET_HDR_LEN + 60,
  }]);
  assert.equal(g.dev.stats.malformedChains, 2);
  assert.equal(g.dev.stats.rxDroppedTooBig, 1);
  assert.equal(g.dev.broken, false);
  assert.ok(g.logs.length >= 2);
  // tx: a chain with a device-writable part.
  g.tx.add([{ addr: RAM_BASE + 0x24000, len: 100, write: true }]);
  g.notify(NET_TX);
  assert.deepEqual(g.tx.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(g.dev.stats.malformedChains, 3);
});

Deno.test("net device: a descriptor loop sets NEEDS_RESET; a reset brings it back clean", () => {
  const g = setup();
  g.dev.receive(frame(60, 1)); // held
  // Two descriptors pointing at each other.
  const flags = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE;
  g.rx.setDesc(0, { addr: RAM_BASE + 0x20000, len: 100, flags, next: 1 });
  g.rx.setDesc(1, { addr: RAM_BASE + 0x20100, len: 100, flags, next: 0 });
  g.rx.publish(0);
  g.notify(NET_RX);
  assert.equal(g.dev.broken, true);
  assert.ok(g.mmio.read(REG.STATUS, 4) & STATUS.DEVICE_NEEDS_RESET);
  g.dev.receive(frame(60, 2));
  assert.ok(g.dev.stats.rxDroppedNotReady >= 1);
  // The driver resets the device: held frames are gone, nothing throws.
  g.mmio.write(REG.STATUS, 4, 0);
  g.dev.service();
  assert.equal(g.dev.broken, false);
  assert.equal(g.dev.held, 0);
});

Deno.test("net device: default MACs are stable, local, unicast and differ by key", () => {
  const a = defaultMac("tap:avm0"), b = defaultMac("tap:avm1");
  assert.deepEqual(a, defaultMac("tap:avm0"));
  assert.notDeepEqual(a, b);
  assert.equal(a[0], 0x02); // locally administered, unicast
  assert.throws(() => parseMac("01:00:5e:00:00:01"), /multicast/);
  assert.throws(() => parseMac("02:00:00:00:00"), /six hex bytes/);
  assert.throws(() => parseMac("00:00:00:00:00:00"), /all-zero/);
});

Deno.test("net device: a frame between a driver re-init and the next pass never hits the old rings", () => {
  const g = setup();
  g.rx.add([{ addr: RAM_BASE + 0x20000, len: 1526, write: true }]);
  g.notify(NET_RX);
  // The driver resets and sets the device up again (new rings elsewhere)
  // without the device having run a pass in between.
  const ram = g.bytes;
  const before = ram.slice(0x20000, 0x20000 + 1526);
  const drv = new FakeNetDriver(ram.buffer as SharedArrayBuffer, g.state, g.control, {
    ringBase: 0x8000,
  });
  drv.rx.add([{ addr: RAM_BASE + 0x30000, len: 1526, write: true }]);
  g.dev.receive(frame(60, 9));
  assert.deepEqual(ram.slice(0x20000, 0x20000 + 1526), before, "old buffer written");
  assert.deepEqual(drv.rx.takeUsed(), [{ id: 0, len: NET_HDR_LEN + 60 }]);
  assert.deepEqual(ram.slice(0x30000 + NET_HDR_LEN, 0x30000 + NET_HDR_LEN + 60), frame(60, 9));
});
