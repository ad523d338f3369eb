// The cpu's deterministic mode without a guest (actors/cpu/deterministic.ts):
// time is made of instructions, batches end at absolute quantum multiples and
// at timer deadlines, a wfi jumps to the next deadline (never back to a
// passed one), a script's input is put in the console's ring at its count,
// a replay that meets another wfi than the log's names the log's line, and
// a snapshot's state restored beside the hart continues guest time exactly.
// Read next: docs/replay.md.

import assert from "../../../testing/assert.ts";
import { Hart } from "../../../cpu/hart.ts";
import { createControlBlock } from "../../../machine/control.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";
import { ByteRingReader, createByteRing } from "../../../lib/ring.ts";
import {
  DET_QUANTUM,
  type DeterministicConfig,
  DeterministicCpu,
} from "../../../actors/cpu/deterministic.ts";
import {
  formatEvent,
  REPLAY_LOG_VERSION,
  type ReplayHeader,
  toBase64,
} from "../../../machine/replay_log.ts";

function rig(config: DeterministicConfig) {
  const hart = new Hart({ ram: new SharedArrayBuffer(1 << 16), ramBase: RAM_BASE });
  const consoleInput = createByteRing(1 << 12);
  // No virtio slots: input lands in the ring with no device to kick.
  const det = new DeterministicCpu({
    hart,
    control: createControlBlock(),
    slots: [],
    consoleSlot: 0,
    consoleInput,
    config,
  });
  return { hart, det, console: new ByteRingReader(consoleInput) };
}

Deno.test("deterministic cpu: time is instructions, batches end at quantum multiples and deadlines", () => {
  const { hart, det } = rig({ mode: "plain" });
  hart.instretN = 123;
  assert.equal(det.readTime(), 12n, "10 instructions a tick");
  assert.equal(det.readTime(7), 13n, "n instructions into a translated call");
  assert.equal(det.budget(1e9), DET_QUANTUM - 123, "to the next absolute multiple");
  assert.equal(det.budget(100), 100, "never past the caller's batch");
  det.sbiDeadline = 50n; // ticks: count 500
  assert.equal(det.budget(1e9), 500 - 123, "to the timer's count");
  assert.ok(det.beforeBatch());
  assert.equal(det.sbiDeadline, 50n, "not yet due");
  hart.instretN = 500;
  assert.ok(det.beforeBatch());
  assert.equal(det.sbiDeadline, -1n, "due: raised and retired");
});

Deno.test("deterministic cpu: wfi jumps to the next deadline, never back to a passed one", () => {
  const { hart, det } = rig({ mode: "plain" });
  hart.instretN = 1000;
  det.sbiDeadline = 1000n; // count 10,000
  assert.ok(det.onWfi());
  assert.equal(det.icount(), 10_000);
  assert.equal(det.idle, 9000);
  // A deadline already passed (its interrupt masked) and nothing else to come: the guest can never wake.
  det.sbiDeadline = 5n;
  assert.equal(det.onWfi(), false);
  assert.match(det.failure ?? "", /waits in wfi at 10000 with no timer armed and no input to come/);
});

Deno.test("deterministic cpu: a script's input reaches the console's ring at its count", () => {
  const b = (s: string) => toBase64(new TextEncoder().encode(s));
  const { hart, det, console } = rig({
    mode: "plain",
    logText: [{ k: "in", at: 300, b: b("ls\n") }, { k: "in", at: 90_000, b: b("id\n") }]
      .map((e) => JSON.stringify(e)).join("\n"),
    logName: "script",
  });
  assert.equal(det.budget(1e9), 300);
  assert.ok(det.beforeBatch());
  assert.equal(console.available, 0, "not before its count");
  hart.instretN = 300;
  assert.ok(det.beforeBatch());
  const got = new Uint8Array(8);
  assert.equal(new TextDecoder().decode(got.subarray(0, console.read(got))), "ls\n");
  // In wfi with no timer, time jumps to the next input.
  assert.ok(det.onWfi());
  assert.equal(det.icount(), 90_000);
});

Deno.test("deterministic cpu: a replay meeting another wfi than the log's names the line", () => {
  const header: ReplayHeader = {
    k: "actorvm-replay",
    v: REPLAY_LOG_VERSION,
    kernel: "",
    initrd: "",
    disks: [],
    faults: "",
    seed: 0,
    memMb: 16,
    cmdline: "",
    jit: false,
    macs: [],
  };
  const logText = [formatEvent(header), JSON.stringify({ k: "wfi", at: 10, to: 400 })].join("\n");
  const ok = rig({ mode: "replay", logText, logName: "a.log" });
  ok.hart.instretN = 10;
  assert.ok(ok.det.onWfi());
  assert.equal(ok.det.icount(), 400, "as far as the log says");
  const moved = rig({ mode: "replay", logText, logName: "a.log" });
  moved.hart.instretN = 11;
  assert.equal(moved.det.onWfi(), false);
  assert.match(
    moved.det.failure ?? "",
    /replay diverged at a\.log, line 2: the log has wfi at 10 idle until 400, the run did wfi at 11/,
  );
  assert.ok(moved.hart.stopRequested, "the hart is told to stop");
});

Deno.test("deterministic cpu: a snapshot's state, restored beside the hart, continues guest time exactly", () => {
  const a = rig({ mode: "plain" });
  a.hart.instretN = 40_123;
  a.det.sbiDeadline = 9_000n; // ticks: count 90,000
  assert.ok(a.det.onWfi(), "the hart waits: time skips to the deadline");
  assert.ok(a.det.beforeBatch(), "the next boundary raises the timer and retires it");
  a.hart.instretN += 7;
  const saved = a.det.snapshotState();
  assert.deepEqual(saved, { idle: 90_000 - 40_123, sbiDeadline: "-1", skew: "0" });
  // A fresh board (as a restore builds), the hart's count loaded, then the mode's state.
  const b = rig({ mode: "plain" });
  b.hart.instretN = a.hart.instretN;
  b.det.restoreState(JSON.parse(JSON.stringify(saved))); // through the snapshot's JSON header
  assert.equal(b.det.icount(), a.det.icount());
  assert.equal(b.det.readTime(), a.det.readTime());
  assert.equal(b.det.budget(1e9), a.det.budget(1e9), "the same batch boundaries from here on");
  // A pending SBI deadline and a skew survive too.
  a.det.sbiDeadline = 12_345n;
  const c = rig({ mode: "plain" });
  c.hart.instretN = a.hart.instretN;
  c.det.restoreState({ ...a.det.snapshotState(), skew: "5" });
  assert.equal(c.det.sbiDeadline, 12_345n);
  assert.equal(c.det.readTime(), a.det.readTime() + 5n);
});

Deno.test("deterministic cpu: a recording's wall-clock wait in wfi ends when a halt is asked for", () => {
  const { hart, det } = rig({ mode: "record" });
  hart.instretN = 1000;
  det.sbiDeadline = 1_000_000_000n; // 100 s of wall clock away at 10 ns an instruction
  let asked = 0;
  det.haltRequested = () => ++asked > 1; // the pause comes in during the first 1-second wait
  const t0 = performance.now();
  assert.ok(det.onWfi());
  assert.ok(performance.now() - t0 < 5000, "the wait ended for the halt, not at the deadline");
  assert.ok(
    det.idle > 0 && det.icount() < 10_000_000_000,
    "guest time went as far as the wall clock",
  );
});
