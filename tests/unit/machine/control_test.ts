// Pins the control block (machine/control.ts): every word's index and every
// 64-bit slot's offset, the size, magic and version, that no two words
// overlap, and that docs/ipc.md's tables say the same. Changing a number here
// is a layout change: bump CONTROL_VERSION and update docs/ipc.md with it.
// Also checks the writers that live beside the layout (setIrqLine, armTimer, ...).
// Read next: tests/unit/devices/plic_registers_test.ts (what reads the LINE words).

import assert from "../../../testing/assert.ts";
import {
  armTimer,
  claimInput,
  CONTROL_BYTES,
  CONTROL_MAGIC,
  CONTROL_VERSION,
  createControlBlock,
  CTL,
  CTL64,
  FATE,
  fencesDone,
  fenceServed,
  HART,
  HART_WORDS,
  hartCount,
  hartWord,
  HSM,
  hsmState,
  INPUT,
  irqLine,
  lowerMip,
  MIP,
  openControlBlock,
  publishedInstret,
  publishInstret,
  raiseMip,
  releaseInput,
  requestFence,
  requestStop,
  sendIpi,
  setClockSkew,
  setFate,
  setHsmState,
  setIrqLine,
  startArgs,
  startHart,
  takeFences,
  takeIpis,
  wakeWord,
  wantInput,
} from "../../../machine/control.ts";
import { MAX_HARTS, PLIC_NDEV, TICKS_PER_MS, TIMEBASE_HZ } from "../../../machine/memmap.ts";

Deno.test("control block: every Int32 word index is pinned", () => {
  assert.deepEqual({ ...CTL }, {
    MAGIC: 0,
    VERSION: 1,
    WAKE: 2,
    MIP: 3,
    STOP: 4,
    FATE: 5,
    STDOUT_GONE: 6,
    TIMER_SEQ: 7,
    IRQ_DOORBELL: 8,
    PLIC_LOCK: 9,
    INSTRET_LO: 10,
    INSTRET_HI: 11,
    CPU_BEAT: 12,
    CPU_IDLE: 13,
    INPUT_OWNER: 14,
    INPUT_WANTED: 15,
    LINE0: 16,
    DETERMINISTIC: 48,
    IRQ_SERVED: 49,
    HARTS: 127,
    HART0: 128,
  });
});

Deno.test("control block: every 64-bit slot offset, the size, magic and version are pinned", () => {
  assert.deepEqual(
    { ...CTL64 },
    { TIMER_DEADLINE: 256, CLOCK_EPOCH_MS: 264, CLOCK_SKEW: 272, VIRTUAL_TICKS: 280, IRQ_DUE: 288 },
  );
  assert.equal(CONTROL_BYTES, 1024);
  assert.equal(CONTROL_MAGIC, 0x41564d43); // "AVMC"
  assert.equal(CONTROL_VERSION, 3);
  assert.deepEqual({ ...HART }, {
    WAKE: 0,
    MIP: 1,
    BEAT: 2,
    IDLE: 3,
    HSM: 4,
    IPI: 5,
    FENCE: 6,
    FENCE_REQ: 7,
    FENCE_DONE: 8,
    START_LO: 9,
    START_HI: 10,
    OPAQUE_LO: 11,
    OPAQUE_HI: 12,
  });
  assert.equal(HART_WORDS, 16);
  assert.deepEqual({ ...HSM }, {
    STARTED: 0,
    STOPPED: 1,
    START_PENDING: 2,
    STOP_PENDING: 3,
    SUSPENDED: 4,
  });
  assert.deepEqual({ ...FATE }, {
    RUNNING: 0,
    POWEROFF: 1,
    REBOOT: 2,
    CRASHED: 3,
    INTERNAL_ERROR: 4,
    STOPPED: 5,
  });
  assert.deepEqual({ ...MIP }, {
    SSIP: 1 << 1,
    MSIP: 1 << 3,
    STIP: 1 << 5,
    MTIP: 1 << 7,
    SEIP: 1 << 9,
    MEIP: 1 << 11,
  });
});

Deno.test("control block: no two words overlap, and all fit", () => {
  // [name, first byte, length]: LINE0 is PLIC_NDEV+1 words (source 0 unused but reserved).
  const spans: [string, number, number][] = Object.entries(CTL).map(([k, i]) => [
    k,
    i * 4,
    k === "LINE0" ? (PLIC_NDEV + 1) * 4 : k === "HART0" ? MAX_HARTS * HART_WORDS * 4 : 4,
  ]);
  assert.ok(Object.values(HART).every((w) => w < HART_WORDS), "a HART word outside its block");
  for (const [k, off] of Object.entries(CTL64)) {
    assert.equal(off % 8, 0, `${k} is not 8-byte aligned`);
    spans.push([k, off, 8]);
  }
  spans.sort((a, b) => a[1] - b[1]);
  for (let i = 0; i < spans.length; i++) {
    const [name, at, len] = spans[i];
    assert.ok(at >= 0 && at + len <= CONTROL_BYTES, `${name} outside the block`);
    if (i > 0) {
      const [prev, pAt, pLen] = spans[i - 1];
      assert.ok(pAt + pLen <= at, `${prev} overlaps ${name}`);
    }
  }
});

Deno.test("control block: docs/ipc.md's tables name every word at its index and offset", async () => {
  const doc = await Deno.readTextFile(new URL("../../../docs/ipc.md", import.meta.url));
  const section = doc.slice(doc.indexOf("## The control block"));
  const rows = section.split("\n").filter((l) => l.startsWith("|")).map((l) =>
    l.split("|").slice(1, -1).map((c) => c.trim())
  );
  const names = (cell: string) => [...cell.matchAll(/`([A-Z0-9_]+)/g)].map((m) => m[1]);
  for (const [k, i] of Object.entries(CTL)) {
    const want = k === "LINE0" ? "16+n" : k === "HART0" ? "128+16h+w" : String(i);
    const row = rows.find((r) => r[0] === want);
    assert.ok(row, `docs/ipc.md has no row for index ${want} (${k})`);
    assert.ok(names(row[2]).includes(k), `docs/ipc.md row ${want} names ${row[2]}, want ${k}`);
  }
  for (const [k, off] of Object.entries(CTL64)) {
    const row = rows.find((r) => r[0] === String(off));
    assert.ok(row, `docs/ipc.md has no row for byte ${off} (${k})`);
    assert.ok(names(row[2]).includes(k), `docs/ipc.md byte ${off} names ${row[2]}, want ${k}`);
  }
  // Index 6 was FATE_DETAIL, documented but never written: removed; it is STDOUT_GONE now.
  assert.ok(!("FATE_DETAIL" in CTL));
});

Deno.test("control block: created initialised, and opened only with the right magic and version", () => {
  const sab = createControlBlock();
  assert.equal(sab.byteLength, CONTROL_BYTES);
  const ctl = openControlBlock(sab);
  assert.equal(ctl[CTL.MAGIC], CONTROL_MAGIC);
  assert.equal(ctl[CTL.VERSION], CONTROL_VERSION);
  assert.equal(new BigInt64Array(sab)[CTL64.TIMER_DEADLINE / 8], -1n);
  const epoch = new Float64Array(sab)[CTL64.CLOCK_EPOCH_MS / 8];
  assert.ok(Math.abs(epoch - Date.now()) < 60_000, `epoch ${epoch}`);
  assert.throws(() => openControlBlock(new SharedArrayBuffer(CONTROL_BYTES)), /mismatch/);
  ctl[CTL.VERSION] = CONTROL_VERSION + 1;
  assert.throws(() => openControlBlock(sab), /mismatch/);
});

Deno.test("timebase: one number, every tick rate derived from it", () => {
  assert.equal(TIMEBASE_HZ, 10_000_000);
  assert.equal(TICKS_PER_MS * 1000, TIMEBASE_HZ);
});

Deno.test("setIrqLine and irqLine: a level, the doorbell rung only when it changes", () => {
  const ctl = openControlBlock(createControlBlock());
  const bell = () => Atomics.load(ctl, CTL.IRQ_DOORBELL);
  setIrqLine(ctl, 3, 1);
  assert.equal(ctl[CTL.LINE0 + 3], 1);
  assert.equal(bell(), 1);
  setIrqLine(ctl, 3, true); // no change, no ring
  assert.equal(bell(), 1);
  const line = irqLine(ctl.buffer as SharedArrayBuffer, 3);
  line.set(false);
  assert.equal(ctl[CTL.LINE0 + 3], 0);
  assert.equal(bell(), 2);
  irqLine(ctl, PLIC_NDEV).set(true);
  assert.equal(ctl[CTL.LINE0 + PLIC_NDEV], 1);
  assert.throws(() => setIrqLine(ctl, 0, 1), /no interrupt source 0/);
  assert.throws(() => irqLine(ctl, PLIC_NDEV + 1), /no interrupt source/);
});

Deno.test("armTimer: retires the timer bit, stores the deadline, then bumps TIMER_SEQ", () => {
  const sab = createControlBlock();
  const ctl = openControlBlock(sab);
  const deadline = () => new BigInt64Array(sab)[CTL64.TIMER_DEADLINE / 8];
  raiseMip(ctl, MIP.STIP | MIP.SEIP);
  armTimer(ctl, 1234n);
  assert.equal(ctl[CTL.MIP], MIP.SEIP);
  assert.equal(deadline(), 1234n);
  assert.equal(ctl[CTL.TIMER_SEQ], 1);
  raiseMip(ctl, MIP.MTIP, false);
  armTimer(ctl, -5n, MIP.MTIP); // any negative deadline is "none"
  assert.equal(ctl[CTL.MIP], MIP.SEIP);
  assert.equal(deadline(), -1n);
  assert.equal(ctl[CTL.TIMER_SEQ], 2);
});

Deno.test("mip, stop, instret, skew and fate writers", () => {
  const sab = createControlBlock();
  const ctl = openControlBlock(sab);
  raiseMip(ctl, MIP.SEIP);
  assert.equal(ctl[CTL.WAKE], 1, "a raised line wakes the cpu");
  raiseMip(ctl, MIP.MSIP, false);
  assert.equal(ctl[CTL.WAKE], 1, "the cpu's own models do not");
  lowerMip(ctl, MIP.SEIP);
  assert.equal(ctl[CTL.MIP], MIP.MSIP);
  assert.equal(ctl[CTL.WAKE], 1);
  requestStop(ctl, FATE.STOPPED);
  assert.equal(ctl[CTL.STOP], FATE.STOPPED);
  assert.equal(ctl[CTL.WAKE], 2);
  for (const n of [0, 5, 2 ** 31, 2 ** 40 + 7, 2 ** 53 - 1]) {
    publishInstret(ctl, n);
    assert.equal(publishedInstret(ctl), n);
  }
  setClockSkew(ctl, -42n);
  assert.equal(new BigInt64Array(sab)[CTL64.CLOCK_SKEW / 8], -42n);
  setFate(ctl, FATE.POWEROFF);
  assert.equal(ctl[CTL.FATE], FATE.POWEROFF);
});

Deno.test("input ring ownership: one reader at a time, claimed from nobody, released only by its holder", () => {
  const ctl = openControlBlock(createControlBlock());
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.NOBODY);
  assert.ok(claimInput(ctl, INPUT.CONSOLE));
  assert.ok(claimInput(ctl, INPUT.CONSOLE), "the holder claiming again still holds it");
  assert.ok(!claimInput(ctl, INPUT.CPU), "held by the console: the cpu cannot take it");
  releaseInput(ctl, INPUT.CPU); // not the holder: nothing happens
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.CONSOLE);
  wantInput(ctl, true);
  assert.equal(ctl[CTL.INPUT_WANTED], 1);
  releaseInput(ctl, INPUT.CONSOLE);
  assert.equal(ctl[CTL.INPUT_OWNER], INPUT.NOBODY);
  assert.ok(claimInput(ctl, INPUT.CPU));
  wantInput(ctl, false);
  assert.equal(ctl[CTL.INPUT_WANTED], 0);
  assert.ok(!claimInput(ctl, INPUT.CONSOLE));
});

Deno.test("control block: the harts' words — HSM start, IPIs and fence tickets", () => {
  const ctl = openControlBlock(createControlBlock(4));
  assert.equal(hartCount(ctl), 4);
  assert.equal(hartCount(openControlBlock(createControlBlock())), 1);
  assert.throws(() => createControlBlock(MAX_HARTS + 1), /harts/);
  // Hart 0 runs from the reset; the others wait for hart_start.
  assert.equal(hsmState(ctl, 0), HSM.STARTED);
  assert.equal(hsmState(ctl, 3), HSM.STOPPED);
  const wake = Atomics.load(ctl, wakeWord(2));
  assert.ok(startHart(ctl, 2, 0x8020_1000n, 0xffff_ffff_8000_0000n));
  assert.equal(hsmState(ctl, 2), HSM.START_PENDING);
  assert.equal(Atomics.load(ctl, wakeWord(2)), wake + 1, "the started hart is woken");
  assert.deepEqual(startArgs(ctl, 2), { addr: 0x8020_1000n, opaque: 0xffff_ffff_8000_0000n });
  assert.ok(!startHart(ctl, 2, 0n, 0n), "a hart not stopped cannot be started again");
  setHsmState(ctl, 2, HSM.STARTED);
  assert.equal(hsmState(ctl, 2), HSM.STARTED);
  // IPIs wait in the target's word until taken, once.
  sendIpi(ctl, 1);
  sendIpi(ctl, 1);
  assert.equal(takeIpis(ctl, 1), MIP.SSIP);
  assert.equal(takeIpis(ctl, 1), 0);
  assert.equal(takeIpis(ctl, 0), 0, "nothing for another hart");
  // Fences: the asker's ticket is served once the target says done up to it.
  const t1 = requestFence(ctl, 3, 2);
  const t2 = requestFence(ctl, 3, 1);
  assert.ok(!fenceServed(ctl, 3, t1));
  const got = takeFences(ctl, 3);
  assert.equal(got.bits, 3, "both requests' bits, merged");
  fencesDone(ctl, 3, got.req);
  assert.ok(fenceServed(ctl, 3, t1) && fenceServed(ctl, 3, t2));
  assert.deepEqual(takeFences(ctl, 3), { bits: 0, req: 0 }, "nothing left");
  assert.equal(hartWord(1, HART.IPI), CTL.HART0 + HART_WORDS + HART.IPI);
});
