// Unit tests for the firmware boot's devices and loading (docs/firmware.md):
// the CLINT (mtime, mtimecmp -> MTIP through the waker's machine-timer mode,
// msip), the ns16550a UART, QEMU's test/syscon device, the device-tree nodes,
// loadFirmware and the fw_dynamic handoff. The boots are firmware_*_e2e tests.

import assert from "../../../testing/assert.ts";
import { Clint, CLINT_MSIP, CLINT_MTIME, CLINT_MTIMECMP } from "../../../devices/clint.ts";
import { Uart } from "../../../devices/uart.ts";
import { Syscon, type SysconAction } from "../../../devices/syscon.ts";
import {
  armTimer,
  claimInput,
  createControlBlock,
  CTL,
  CTL64,
  guestTimeTicks,
  INPUT,
  MIP,
  releaseInput,
} from "../../../machine/control.ts";
import { Waker } from "../../../devices/waker.ts";
import { ByteRingReader, ByteRingWriter, createByteRing } from "../../../lib/ring.ts";
import { POLL_LAPSE_MS, PolledInput } from "../../../actors/cpu/polled_input.ts";
import { buildMachineFdt } from "../../../launcher/devicetree.ts";
import { type ParsedFdtNode, parseFdt } from "../../../lib/fdt.ts";
import {
  FW_DYNAMIC_MAGIC,
  LoadError,
  loadFirmware,
  writeFwDynamicInfo,
} from "../../../launcher/loader.ts";
import { KERNEL_BASE, RAM_BASE, TICKS_PER_MS } from "../../../machine/memmap.ts";

function clintMachine(ticks = 1000n) {
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  const clock = { t: ticks };
  const clint = new Clint(ctl, () => clock.t);
  const mip = () => Atomics.load(ctl, CTL.MIP);
  const deadline = () => new BigInt64Array(control)[CTL64.TIMER_DEADLINE / 8];
  return { control, ctl, clock, clint, mip, deadline };
}

const write64 = (c: Clint, off: number, v: bigint) => {
  assert.ok(c.write(off, 4, Number(v & 0xffff_ffffn)));
  assert.ok(c.write(off + 4, 4, Number(v >> 32n)));
};
const read64 = (c: Clint, off: number) =>
  BigInt(c.read(off, 4) >>> 0) | (BigInt(c.read(off + 4, 4) >>> 0) << 32n);

Deno.test("clint: mtime is the guest clock plus the skew; writing it moves the skew", () => {
  const { control, clint, clock } = clintMachine(0x1_2345_6789n);
  assert.equal(read64(clint, CLINT_MTIME), 0x1_2345_6789n);
  new BigInt64Array(control)[CTL64.CLOCK_SKEW / 8] = 100n;
  assert.equal(read64(clint, CLINT_MTIME), 0x1_2345_6789n + 100n);
  write64(clint, CLINT_MTIME, 0x5_0000_0000n);
  clock.t += 7n;
  assert.equal(read64(clint, CLINT_MTIME), 0x5_0000_0007n);
});

Deno.test("clint: mtimecmp hands the deadline to the waker; a due one raises MTIP at once", () => {
  const { ctl, clint, clock, mip, deadline } = clintMachine(5000n);
  assert.equal(read64(clint, CLINT_MTIMECMP), (1n << 64n) - 1n, "reset value: never");
  const seq = Atomics.load(ctl, CTL.TIMER_SEQ);
  write64(clint, CLINT_MTIMECMP, 9000n);
  assert.equal(deadline(), 9000n);
  assert.ok(Atomics.load(ctl, CTL.TIMER_SEQ) > seq, "the waker was told");
  assert.equal(mip() & MIP.MTIP, 0, "not due yet");
  assert.equal(read64(clint, CLINT_MTIMECMP), 9000n);
  clock.t = 9500n;
  write64(clint, CLINT_MTIMECMP, 9200n); // already past
  assert.equal(mip() & MIP.MTIP, MIP.MTIP);
  assert.equal(mip() & MIP.STIP, 0, "the machine timer never touches STIP");
  write64(clint, CLINT_MTIMECMP, (1n << 64n) - 1n); // "never": retires MTIP
  assert.equal(mip() & MIP.MTIP, 0);
  assert.equal(deadline(), -1n);
});

Deno.test("clint: msip drives MSIP; only aligned 32-bit accesses exist", () => {
  const { clint, mip } = clintMachine();
  assert.ok(clint.write(CLINT_MSIP, 4, 1));
  assert.equal(mip() & MIP.MSIP, MIP.MSIP);
  assert.equal(clint.read(CLINT_MSIP, 4), 1);
  assert.ok(clint.write(CLINT_MSIP, 4, 0));
  assert.equal(mip() & MIP.MSIP, 0);
  assert.equal(clint.read(CLINT_MSIP, 1), -1);
  assert.equal(clint.write(CLINT_MTIMECMP + 2, 4, 0), false);
});

Deno.test("waker: machine-timer mode raises MTIP (not STIP) when mtimecmp is due", async () => {
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  const w = new Waker(control, { timerBit: MIP.MTIP });
  w.start();
  try {
    armTimer(ctl, BigInt(guestTimeTicks(control)) + 20n * BigInt(TICKS_PER_MS), MIP.MTIP);
    const end = performance.now() + 5000;
    while (!(Atomics.load(ctl, CTL.MIP) & MIP.MTIP) && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(Atomics.load(ctl, CTL.MIP) & (MIP.MTIP | MIP.STIP), MIP.MTIP);
    armTimer(ctl, -1n, MIP.MTIP); // a new compare value retires it
    assert.equal(Atomics.load(ctl, CTL.MIP) & MIP.MTIP, 0);
  } finally {
    await w.stop();
  }
});

/** A UART fed as the cpu actor feeds it: the terminal's ring through PolledInput. */
function uartMachine() {
  const ring = createByteRing(256);
  const writer = new ByteRingWriter(ring);
  const ctl = new Int32Array(createControlBlock());
  let now = 0;
  const input = new PolledInput(ring, ctl, () => now);
  const out: number[] = [];
  const irq: boolean[] = [];
  const uart = new Uart({
    out: (b) => out.push(b),
    input,
    setIrq: (l) => irq.push(l),
  });
  return { uart, writer, out, irq, ctl, ring, input, tick: (ms: number) => void (now += ms) };
}

Deno.test("uart: transmit, line status, receive from the ring, divisor latch", () => {
  const { uart, writer, out } = uartMachine();
  assert.equal(uart.read(5, 1) & 0x61, 0x60, "THR empty, no data");
  for (const c of "hi") uart.write(0, 1, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...out), "hi");
  writer.write(new TextEncoder().encode("ab"));
  assert.equal(uart.read(5, 1) & 1, 1, "data ready");
  uart.write(2, 1, 0x07); // FIFO reset, as U-Boot's re-init: typed input survives
  assert.equal(uart.read(0, 1), 0x61);
  assert.equal(uart.read(0, 1), 0x62);
  assert.equal(uart.read(5, 1) & 1, 0);
  uart.write(3, 1, 0x83); // DLAB
  uart.write(0, 1, 0x12);
  uart.write(1, 1, 0x34);
  assert.equal(uart.read(0, 1), 0x12);
  assert.equal(uart.read(1, 1), 0x34);
  uart.write(3, 1, 0x03);
  assert.equal(out.length, 2, "divisor writes are not output");
  uart.write(7, 1, 0x5a);
  assert.equal(uart.read(7, 1), 0x5a, "scratch register");
});

Deno.test("uart: interrupts — rx data and THR empty drive the line; IIR says which", () => {
  const { uart, writer, irq } = uartMachine();
  uart.write(1, 1, 0x01); // IER: rx data
  assert.deepEqual(irq, []);
  writer.write(new Uint8Array([0x41]));
  uart.update(); // what the cpu does between batches
  assert.deepEqual(irq, [true]);
  assert.equal(uart.read(2, 1) & 0x0f, 0x04, "IIR: rx data");
  uart.read(0, 1);
  assert.deepEqual(irq, [true, false]);
  uart.write(1, 1, 0x02); // IER: THR empty -> pending at once
  assert.equal(irq.at(-1), true);
  assert.equal(uart.read(2, 1) & 0x0f, 0x02, "IIR: THR empty");
  assert.equal(irq.at(-1), false, "reading IIR acknowledged it");
  assert.equal(uart.read(2, 1) & 0x0f, 0x01, "IIR: none");
});

Deno.test("uart input: nothing leaves the ring until the guest reads RBR, and a peek never takes the ring from hvc0", () => {
  const { uart, writer, ctl, ring } = uartMachine();
  writer.write(new TextEncoder().encode("xy"));
  // The virtio console holds the ring (the guest uses hvc0): a line-status
  // poll, which firmware does before every byte it sends, sees nothing and
  // does not ask for the ring.
  assert.ok(claimInput(ctl, INPUT.CONSOLE));
  assert.equal(uart.read(5, 1) & 1, 0);
  assert.equal(ctl[CTL.INPUT_WANTED], 0);
  // An RBR read is the guest asking: the console actor is asked to let go.
  assert.equal(uart.read(0, 1), 0);
  assert.equal(ctl[CTL.INPUT_WANTED], 1);
  assert.equal(new ByteRingReader(ring).available, 2, "both bytes still in the ring");
  releaseInput(ctl, INPUT.CONSOLE); // what the console actor does at its next look
  assert.equal(uart.read(5, 1) & 1, 1, "now ours: data ready");
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.CPU);
  assert.equal(ctl[CTL.INPUT_WANTED], 0, "claimed: no longer asking");
  assert.equal(uart.read(0, 1), 0x78);
  assert.equal(uart.read(0, 1), 0x79);
});

Deno.test("polled input: SBI reads claim the ring; the cpu lets go after POLL_LAPSE_MS without a poll", () => {
  const { writer, ctl, ring, input, tick } = uartMachine();
  const dst = new Uint8Array(8);
  writer.write(new TextEncoder().encode("abc"));
  assert.equal(input.read(dst.subarray(0, 1)), 1, "console_getchar: one byte");
  assert.equal(dst[0], 0x61);
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.CPU);
  tick(POLL_LAPSE_MS - 1);
  input.idle();
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.CPU, "still polled recently");
  tick(1);
  input.idle();
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.NOBODY, "let go");
  // The virtio console takes over where the cpu stopped: no byte twice, none lost.
  assert.ok(claimInput(ctl, INPUT.CONSOLE));
  const r = new ByteRingReader(ring);
  assert.equal(r.read(dst), 2);
  assert.equal(new TextDecoder().decode(dst.subarray(0, 2)), "bc");
  assert.equal(input.read(dst), 0, "held by the console: nothing for the SBI");
  assert.equal(ctl[CTL.INPUT_WANTED], 1);
  tick(POLL_LAPSE_MS);
  input.idle();
  assert.equal(ctl[CTL.INPUT_WANTED], 0, "a guest that stopped polling stops asking");
});

Deno.test("syscon: QEMU's test device powers off, resets, and reports failure codes", () => {
  const seen: SysconAction[] = [];
  const s = new Syscon((a) => seen.push(a));
  assert.ok(s.write(0, 2, 0x5555)); // OpenSBI writes a halfword
  assert.ok(s.write(0, 4, 0x7777));
  assert.ok(s.write(0, 4, (3 << 16) | 0x3333));
  assert.ok(s.write(0, 4, 0x1234)); // not a command: nothing
  assert.ok(s.write(4, 4, 0x5555)); // not the register: nothing
  assert.deepEqual(seen, [{ kind: "poweroff" }, { kind: "reset" }, { kind: "fail", code: 3 }]);
  assert.equal(s.write(0x1000, 4, 0x5555), false, "outside the device");
});

function find(n: ParsedFdtNode, path: string[]): ParsedFdtNode | undefined {
  if (path.length === 0) return n;
  const c = n.children.find((c) => c.name === path[0]);
  return c && find(c, path.slice(1));
}
const u32 = (b: Uint8Array | undefined) => new DataView(b!.buffer, b!.byteOffset).getUint32(0);

Deno.test("fdt: a firmware machine has the CLINT, the UART and QEMU's test/syscon nodes", () => {
  const blob = buildMachineFdt({
    ramBytes: 64 << 20,
    bootargs: "",
    virtioSlots: [0],
    clint: true,
    uart: true,
    syscon: true,
  });
  const { root } = parseFdt(blob);
  const test = find(root, ["soc", "test@100000"])!;
  assert.ok(test, "test@100000");
  assert.match(new TextDecoder().decode(test.props.get("compatible")), /sifive,test0/);
  const off = find(root, ["poweroff"])!;
  assert.equal(u32(off.props.get("regmap")), u32(test.props.get("phandle")));
  assert.equal(u32(off.props.get("value")), 0x5555);
  assert.equal(u32(find(root, ["reboot"])!.props.get("value")), 0x7777);
  assert.ok(find(root, ["soc", "clint@2000000"]));
  assert.ok(find(root, ["soc", "serial@10000000"]));
  const plain = parseFdt(buildMachineFdt({ ramBytes: 64 << 20, bootargs: "", virtioSlots: [0] }));
  assert.equal(find(plain.root, ["soc", "test@100000"]), undefined, "direct boots have none");
});

Deno.test("loader: firmware raw at RAM_BASE, ELF at its addresses, never over the kernel", () => {
  const ram = new Uint8Array(16 << 20);
  const raw = new Uint8Array([1, 2, 3, 4]);
  const fw = loadFirmware(ram, raw, "fw.bin", KERNEL_BASE);
  assert.deepEqual(fw, { kind: "raw", entry: RAM_BASE, start: RAM_BASE, end: RAM_BASE + 4 });
  assert.deepEqual([...ram.subarray(0, 4)], [1, 2, 3, 4]);
  assert.throws(
    () => loadFirmware(ram, new Uint8Array(3 << 20), "big.bin", KERNEL_BASE),
    (e) => e instanceof LoadError && /past the kernel's start 0x80200000/.test(e.message),
  );
  assert.throws(() => loadFirmware(ram, new Uint8Array(0), "empty", KERNEL_BASE), LoadError);
  writeFwDynamicInfo(ram, RAM_BASE + 0x1000, KERNEL_BASE, 0);
  const v = new DataView(ram.buffer, 0x1000);
  assert.equal(v.getBigUint64(0, true), BigInt(FW_DYNAMIC_MAGIC));
  assert.equal(v.getBigUint64(8, true), 2n);
  assert.equal(v.getBigUint64(16, true), BigInt(KERNEL_BASE));
  assert.equal(v.getBigUint64(24, true), 1n, "next mode S");
});

const ELF = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf";
const haveElf = (() => {
  try {
    return Deno.statSync(ELF).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "loader: OpenSBI's fw_jump.elf loads at 0x80000000 like fw_jump.bin",
  ignore: !haveElf,
  fn() {
    const a = new Uint8Array(8 << 20), b = new Uint8Array(8 << 20);
    const elf = loadFirmware(a, Deno.readFileSync(ELF), ELF, KERNEL_BASE);
    const bin = loadFirmware(b, Deno.readFileSync(ELF.replace(".elf", ".bin")), "bin", KERNEL_BASE);
    assert.equal(elf.kind, "elf");
    assert.equal(elf.entry, RAM_BASE);
    assert.deepEqual(a.subarray(0, bin.end - RAM_BASE), b.subarray(0, bin.end - RAM_BASE));
  },
});
