// The virtio-mmio transport: the pinned state layout, register semantics as
// the cpu executes them (feature negotiation, queue setup, reset, interrupt
// ack → line low), and what the device side sees through the doorbell.
// Read next: devices/virtio/mmio.ts.

import assert from "../../../testing/assert.ts";
import { createControlBlock, CTL } from "../../../machine/control.ts";
import { F, STATUS } from "../../../devices/virtio/constants.ts";
import {
  CONFIG_OFFSET,
  createTransportState,
  DeviceTransport,
  EV,
  MMIO_MAGIC,
  MmioTransport,
  QUEUE_STRIDE,
  REG,
  STATE_BYTES,
  VENDOR_ID,
  VIRTIO_STATE_MAGIC,
  VIRTIO_STATE_VERSION,
  VQ,
  VS,
} from "../../../devices/virtio/mmio.ts";
import { DriverQueue, driverSetup, FakeRam } from "../../../testing/virtio_driver.ts";

const V1 = 1n << 32n;
const IRQ = 3;

function make(features = (1n << 5n) | (1n << BigInt(F.RING_EVENT_IDX))) {
  const config = new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
  const state = createTransportState({
    deviceId: 2,
    deviceFeatures: features,
    queueMax: [256, 64],
    configBytes: 12,
    irq: IRQ,
    config,
  });
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  return {
    state,
    ctl,
    mmio: new MmioTransport(state, control),
    dev: new DeviceTransport(state, control),
  };
}

const line = (ctl: Int32Array) => Atomics.load(ctl, CTL.LINE0 + IRQ);

Deno.test("virtio state layout is pinned", () => {
  assert.deepEqual(VIRTIO_STATE_MAGIC, 0x56494f53);
  assert.deepEqual(VIRTIO_STATE_VERSION, 1);
  assert.deepEqual([VS.DEVICE_ID, VS.DEVICE_FEATURES_LO, VS.STATUS, VS.INTERRUPT_STATUS], [
    2,
    4,
    15,
    16,
  ]);
  assert.deepEqual([VS.CONFIG_GEN, VS.NOTIFY_SEQ, VS.NOTIFY_BITS, VS.EVENT_BITS, VS.RESET_COUNT], [
    17,
    18,
    19,
    20,
    21,
  ]);
  assert.deepEqual([VS.BAD_ACCESSES, VS.DEVICE_BUSY, VS.SERVED_SEQ], [22, 23, 24]);
  assert.deepEqual([VS.QUEUE0, QUEUE_STRIDE, VQ.NUM_MAX, VQ.READY, VQ.DESC_LO, VQ.DEVICE_HI], [
    32,
    16,
    0,
    2,
    3,
    8,
  ]);
  assert.deepEqual(CONFIG_OFFSET, 640);
  assert.deepEqual(STATE_BYTES, 1024);
  assert.deepEqual([EV.STATUS, EV.RESET, EV.DRIVER_OK, EV.QUEUE_READY], [1, 2, 4, 8]);
});

Deno.test("createTransportState refuses bad options", () => {
  const ok = { deviceId: 2, deviceFeatures: 0n, queueMax: [8], configBytes: 0, irq: 1 };
  assert.throws(() => createTransportState({ ...ok, queueMax: [] }), /queues/);
  assert.throws(() => createTransportState({ ...ok, queueMax: [100] }), /power of two/);
  assert.throws(() => createTransportState({ ...ok, configBytes: 300 }), /config/);
  assert.throws(() => createTransportState({ ...ok, irq: 0 }), /irq/);
  assert.throws(() => createTransportState({ ...ok, deviceId: 0 }), /device id/);
  assert.throws(
    () => new MmioTransport(new SharedArrayBuffer(STATE_BYTES), createControlBlock()),
    /mismatch/,
  );
});

Deno.test("identification registers and feature words", () => {
  const { mmio } = make();
  assert.deepEqual(mmio.read(REG.MAGIC_VALUE, 4), MMIO_MAGIC);
  assert.deepEqual(mmio.read(REG.VERSION, 4), 2);
  assert.deepEqual(mmio.read(REG.DEVICE_ID, 4), 2);
  assert.deepEqual(mmio.read(REG.VENDOR_ID, 4), VENDOR_ID);
  mmio.write(REG.DEVICE_FEATURES_SEL, 4, 0);
  assert.deepEqual(mmio.read(REG.DEVICE_FEATURES, 4), (1 << 5) | (1 << 29));
  mmio.write(REG.DEVICE_FEATURES_SEL, 4, 1);
  assert.deepEqual(mmio.read(REG.DEVICE_FEATURES, 4), 1, "VERSION_1 is always offered");
  mmio.write(REG.DEVICE_FEATURES_SEL, 4, 2);
  assert.deepEqual(mmio.read(REG.DEVICE_FEATURES, 4), 0);
  // No shared memory regions: length -1.
  assert.deepEqual(mmio.read(REG.SHM_LEN_LOW, 4), 0xffffffff);
});

Deno.test("feature negotiation: FEATURES_OK sticks only for an offered set with VERSION_1", () => {
  const { mmio, dev } = make();
  const negotiate = (features: bigint) => {
    mmio.write(REG.STATUS, 4, 0);
    mmio.write(REG.STATUS, 4, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    for (const sel of [0, 1]) {
      mmio.write(REG.DRIVER_FEATURES_SEL, 4, sel);
      mmio.write(REG.DRIVER_FEATURES, 4, Number((features >> BigInt(32 * sel)) & 0xffffffffn));
    }
    mmio.write(REG.STATUS, 4, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    return (mmio.read(REG.STATUS, 4) & STATUS.FEATURES_OK) !== 0;
  };
  assert.ok(negotiate(V1 | (1n << 5n)));
  assert.deepEqual(dev.driverFeatures(), V1 | (1n << 5n));
  assert.ok(dev.hasFeature(5) && dev.hasFeature(32) && !dev.hasFeature(29));
  assert.ok(!negotiate(1n << 5n), "without VERSION_1");
  assert.ok(!negotiate(V1 | (1n << 6n)), "a feature not offered");
  assert.ok(!negotiate(V1 | (1n << 40n)), "a high feature not offered");
  assert.ok(negotiate(V1));
  // Frozen after FEATURES_OK.
  mmio.write(REG.DRIVER_FEATURES_SEL, 4, 0);
  mmio.write(REG.DRIVER_FEATURES, 4, 1 << 29);
  assert.deepEqual(dev.driverFeatures(), V1);
});

Deno.test("queue setup through the registers, frozen while ready", () => {
  const { mmio, dev } = make();
  mmio.write(REG.QUEUE_SEL, 4, 1);
  assert.deepEqual(mmio.read(REG.QUEUE_NUM_MAX, 4), 64);
  assert.deepEqual(mmio.read(REG.QUEUE_READY, 4), 0);
  mmio.write(REG.QUEUE_NUM, 4, 32);
  mmio.write(REG.QUEUE_DESC_LOW, 4, 0x8000_1000);
  mmio.write(REG.QUEUE_DESC_HIGH, 4, 1);
  mmio.write(REG.QUEUE_DRIVER_LOW, 4, 0x8000_2000);
  mmio.write(REG.QUEUE_DEVICE_LOW, 4, 0x8000_3000);
  mmio.write(REG.QUEUE_READY, 4, 1);
  assert.deepEqual(dev.queue(1), {
    max: 64,
    size: 32,
    ready: true,
    desc: 0x1_8000_1000,
    driver: 0x8000_2000,
    device: 0x8000_3000,
  });
  assert.deepEqual(dev.nextEvents().events & EV.QUEUE_READY, EV.QUEUE_READY);
  mmio.write(REG.QUEUE_NUM, 4, 16);
  mmio.write(REG.QUEUE_DESC_LOW, 4, 0);
  assert.deepEqual(dev.queue(1).size, 32, "ignored while ready");
  assert.deepEqual(dev.queue(1).desc, 0x1_8000_1000);
  // A queue that does not exist.
  mmio.write(REG.QUEUE_SEL, 4, 5);
  assert.deepEqual(mmio.read(REG.QUEUE_NUM_MAX, 4), 0);
  mmio.write(REG.QUEUE_READY, 4, 1);
  assert.deepEqual(mmio.read(REG.QUEUE_READY, 4), 0);
  assert.deepEqual(dev.queue(5).ready, false);
});

Deno.test("QueueNotify rings the doorbell with the queue bit", async () => {
  const { mmio, dev } = make();
  const seq = dev.doorbellSeq();
  mmio.write(REG.QUEUE_NOTIFY, 4, 1);
  mmio.write(REG.QUEUE_NOTIFY, 4, 0);
  mmio.write(REG.QUEUE_NOTIFY, 4, 7); // no such queue: ignored
  assert.deepEqual(dev.doorbellSeq(), seq + 2);
  assert.deepEqual(dev.nextEvents(), { queues: 0b11, events: 0 });
  assert.deepEqual(dev.nextEvents(), { queues: 0, events: 0 });
  // waitEvents sleeps until the next notification.
  const waiting = dev.waitEvents(5000);
  queueMicrotask(() => mmio.write(REG.QUEUE_NOTIFY, 4, 1));
  assert.deepEqual(await waiting, { queues: 0b10, events: 0 });
  // And times out empty when nothing comes.
  assert.deepEqual(await dev.waitEvents(10), { queues: 0, events: 0 });
});

Deno.test("interrupts: level high until every bit is acknowledged", () => {
  const { mmio, dev, ctl } = make();
  assert.deepEqual(line(ctl), 0);
  dev.interrupt("used");
  assert.deepEqual(line(ctl), 1);
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 1);
  dev.interrupt("config");
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 3);
  mmio.write(REG.INTERRUPT_ACK, 4, 1);
  assert.deepEqual(line(ctl), 1, "config bit still set");
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 2);
  mmio.write(REG.INTERRUPT_ACK, 4, 2);
  assert.deepEqual(line(ctl), 0);
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 0);
});

Deno.test("reset clears the driver's state, lowers the line and tells the device", () => {
  const mem = new FakeRam(1 << 16);
  const { mmio, dev, ctl } = make();
  const q0 = new DriverQueue(mem, 8), q1 = new DriverQueue(mem, 8);
  const st = driverSetup(mmio, [q0, q1]);
  assert.deepEqual(st, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.ok(dev.live());
  const ev = dev.nextEvents();
  assert.ok((ev.events & EV.DRIVER_OK) !== 0 && (ev.events & EV.RESET) !== 0);
  const epoch = dev.resetCount();
  dev.interrupt("used");
  mmio.write(REG.STATUS, 4, 0);
  assert.deepEqual(mmio.read(REG.STATUS, 4), 0);
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 0);
  assert.deepEqual(line(ctl), 0);
  assert.deepEqual(dev.resetCount(), epoch + 1);
  assert.deepEqual(dev.nextEvents().events & EV.RESET, EV.RESET);
  assert.deepEqual(dev.driverFeatures(), 0n);
  assert.deepEqual(dev.queue(0), {
    size: 0,
    max: 256,
    ready: false,
    desc: 0,
    driver: 0,
    device: 0,
  });
  assert.ok(!dev.live());
});

Deno.test("DEVICE_NEEDS_RESET survives driver status writes until reset", () => {
  const mem = new FakeRam(1 << 16);
  const { mmio, dev, ctl } = make();
  driverSetup(mmio, [new DriverQueue(mem, 8), new DriverQueue(mem, 8)]);
  dev.needsReset();
  assert.deepEqual(mmio.read(REG.STATUS, 4) & STATUS.DEVICE_NEEDS_RESET, STATUS.DEVICE_NEEDS_RESET);
  assert.deepEqual(mmio.read(REG.INTERRUPT_STATUS, 4), 2, "a config-change interrupt");
  assert.deepEqual(line(ctl), 1);
  assert.ok(!dev.live());
  mmio.write(REG.STATUS, 4, 0xf);
  assert.deepEqual(mmio.read(REG.STATUS, 4), 0x4f);
  mmio.write(REG.STATUS, 4, 0);
  assert.deepEqual(mmio.read(REG.STATUS, 4), 0);
});

Deno.test("config space: little-endian 1/2/4-byte reads, generation moves on device writes", () => {
  const { mmio, dev } = make();
  assert.deepEqual(mmio.read(0x100, 1), 0x11);
  assert.deepEqual(mmio.read(0x102, 2), 0x4433);
  assert.deepEqual(mmio.read(0x104, 4), 0x88776655);
  assert.deepEqual(mmio.read(0x10c, 4), 0, "past the config space");
  const g = mmio.read(REG.CONFIG_GENERATION, 4);
  dev.writeConfig(0, new Uint8Array([0xaa, 0xbb]));
  assert.deepEqual(mmio.read(0x100, 2), 0xbbaa);
  assert.deepEqual(mmio.read(REG.CONFIG_GENERATION, 4), g + 1);
  assert.throws(() => dev.writeConfig(10, new Uint8Array(4)), /outside/);
  // Driver writes to config are ignored (no writable fields offered).
  mmio.write(0x100, 1, 0x99);
  assert.deepEqual(mmio.read(0x100, 1), 0xaa);
  assert.deepEqual(Array.from(dev.readConfig(0, 3)), [0xaa, 0xbb, 0x33]);
});

Deno.test("wrong-width register accesses read 0, are ignored and counted", () => {
  const { mmio, state } = make();
  const s = new Int32Array(state);
  assert.deepEqual(mmio.read(REG.MAGIC_VALUE, 2), 0);
  assert.deepEqual(mmio.read(REG.DEVICE_ID + 1, 4), 0);
  assert.ok(mmio.write(REG.STATUS, 1, 1));
  assert.deepEqual(mmio.read(REG.STATUS, 4), 0);
  assert.deepEqual(mmio.read(0x101, 2), 0, "misaligned config read");
  assert.deepEqual(s[VS.BAD_ACCESSES], 4);
});

Deno.test("a device that died in the middle of a config write does not hang the cpu", () => {
  const { mmio, state } = make();
  const s = new Int32Array(state);
  Atomics.add(s, VS.CONFIG_GEN, 1); // odd: "writing", and nobody will finish
  assert.deepEqual(mmio.read(0x100, 1), 0x11);
  assert.deepEqual(mmio.read(REG.CONFIG_GENERATION, 4), 0);
});

Deno.test("a reset waits for a device pass under way, and not forever for a dead device", async () => {
  const { mmio, state } = make();
  const s = new Int32Array(state);
  const MARK = 30; // an unused word
  // The "device": busy until it sees the reset, then it finishes and marks.
  const code = `self.onmessage = (e) => {
    const s = new Int32Array(e.data);
    const seen = Atomics.load(s, ${VS.RESET_COUNT});
    Atomics.store(s, ${VS.DEVICE_BUSY}, 1);
    self.postMessage("busy");
    Atomics.wait(s, ${VS.RESET_COUNT}, seen, 5000);
    Atomics.store(s, ${MARK}, 42);
    Atomics.store(s, ${VS.DEVICE_BUSY}, 0);
    Atomics.notify(s, ${VS.DEVICE_BUSY});
  };`;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const w = new Worker(url, { type: "module" });
  try {
    const busy = new Promise((ok) => w.onmessage = ok);
    w.postMessage(state);
    await busy;
    mmio.write(REG.STATUS, 4, 0);
    assert.deepEqual(Atomics.load(s, MARK), 42, "the reset returned only after the pass ended");
  } finally {
    w.terminate();
    URL.revokeObjectURL(url);
  }
  // A device that died mid-pass: the reset goes on after RESET_WAIT_MS.
  Atomics.store(s, VS.DEVICE_BUSY, 1);
  mmio.write(REG.STATUS, 4, 1);
  mmio.write(REG.STATUS, 4, 0);
  assert.deepEqual(mmio.read(REG.STATUS, 4), 0);
});
