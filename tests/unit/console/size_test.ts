// virtio-console's terminal size (VIRTIO_CONSOLE_F_SIZE) through its
// registers: offered only with a size, cols/rows in the config space, a
// resize rewrites them (new ConfigGeneration) and raises a config interrupt,
// and one is raised when the driver goes live — only if the driver took the
// feature. Read next: devices/console.ts (createConsoleState, setConsoleSize).

import assert from "../../../testing/assert.ts";
import { createControlBlock, CTL } from "../../../machine/control.ts";
import {
  CONSOLE_F_SIZE,
  ConsoleDevice,
  createConsoleState,
  setConsoleSize,
} from "../../../devices/console.ts";
import { MmioTransport, REG } from "../../../devices/virtio/mmio.ts";
import { DriverQueue, driverSetup, FakeRam } from "../../../testing/virtio_driver.ts";

const IRQ = 1;
const CONFIG_INTERRUPT = 2;

function rig(size: { cols: number; rows: number } | null) {
  const mem = new FakeRam(1 << 18);
  const state = createConsoleState(IRQ, size);
  const control = createControlBlock();
  const mmio = new MmioTransport(state, control);
  const dev = new ConsoleDevice(mem.sab, state, control, { output: () => {}, log: () => {} });
  const rx = new DriverQueue(mem, 8), tx = new DriverQueue(mem, 8);
  const offered = () => {
    mmio.write(REG.DEVICE_FEATURES_SEL, 4, 0);
    return (mmio.read(REG.DEVICE_FEATURES, 4) >>> CONSOLE_F_SIZE) & 1;
  };
  const cols = () => mmio.read(REG.CONFIG, 2);
  const rows = () => mmio.read(REG.CONFIG + 2, 2);
  const status = () => mmio.read(REG.INTERRUPT_STATUS, 4);
  const ack = () => mmio.write(REG.INTERRUPT_ACK, 4, status());
  const line = () => Atomics.load(new Int32Array(control), CTL.LINE0 + IRQ);
  /** Driver setup, then a receive buffer posted: the device's first pass with the driver live. */
  const goLive = (features?: bigint) => {
    driverSetup(mmio, [rx, tx], features === undefined ? {} : { features });
    rx.add([{ len: 16, write: true }]);
    mmio.write(REG.QUEUE_NOTIFY, 4, 0);
    dev.service();
  };
  return { mmio, dev, offered, cols, rows, status, ack, line, goLive };
}

Deno.test("console size: offered with the terminal's size, cols at 0 and rows at 2", () => {
  const r = rig({ cols: 132, rows: 41 });
  assert.deepEqual(r.offered(), 1);
  assert.deepEqual([r.cols(), r.rows()], [132, 41]);
  // No terminal (a pipe): not offered, and a resize changes nothing.
  const p = rig(null);
  assert.deepEqual(p.offered(), 0);
  setConsoleSize(p.dev.transport, { cols: 80, rows: 24 });
  assert.deepEqual([p.cols(), p.rows(), p.status()], [0, 0, 0]);
});

Deno.test("console size: a config interrupt when the driver goes live, and on each resize", () => {
  const r = rig({ cols: 132, rows: 41 });
  r.goLive();
  // Linux reads cols/rows only on a config change: one is raised as it starts using the port.
  assert.ok(r.status() & CONFIG_INTERRUPT, "config interrupt once live");
  assert.deepEqual(r.line(), 1);
  r.ack();
  const gen = r.mmio.read(REG.CONFIG_GENERATION, 4);
  setConsoleSize(r.dev.transport, { cols: 100, rows: 30 });
  assert.deepEqual([r.cols(), r.rows()], [100, 30]);
  assert.notDeepEqual(r.mmio.read(REG.CONFIG_GENERATION, 4), gen, "ConfigGeneration moved");
  assert.ok(r.status() & CONFIG_INTERRUPT, "config interrupt on resize");
  assert.deepEqual(r.line(), 1);
  r.ack();
  // Out-of-range sizes are clamped to what a u16 holds, and never 0.
  setConsoleSize(r.dev.transport, { cols: 0, rows: 70000 });
  assert.deepEqual([r.cols(), r.rows()], [1, 65535]);
});

Deno.test("console size: a driver that did not take F_SIZE gets no config interrupts for it", () => {
  const r = rig({ cols: 132, rows: 41 });
  // Everything offered but F_SIZE: VERSION_1, INDIRECT_DESC, EVENT_IDX.
  r.goLive((1n << 32n) | (1n << 28n) | (1n << 29n));
  assert.ok(r.dev.transport.live(), "the driver is live");
  assert.deepEqual(r.status() & CONFIG_INTERRUPT, 0);
  setConsoleSize(r.dev.transport, { cols: 100, rows: 30 });
  assert.deepEqual(r.status() & CONFIG_INTERRUPT, 0);
  // The config space still says the size (§5.3.4: valid only with F_SIZE; harmless).
  assert.deepEqual([r.cols(), r.rows()], [100, 30]);
});
