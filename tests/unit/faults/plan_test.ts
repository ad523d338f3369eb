// Fault plans without a guest: the parser's errors name the rule and field,
// the engine's choices are a function of (seed, rule, event) and carry on
// across a restart (shared counters), and each layer does what docs/faults.md
// says: block IOERR/corrupt/kill, irq drop/delay/duplicate on a real PLIC
// state, net reorder/duplicate, console kill leaving the byte in the ring. The
// launcher refuses a malformed plan and a wrong swapped module with status 2.

import { fileURLToPath } from "node:url";
import assert from "../../../testing/assert.ts";
import {
  chance,
  createFaultCounters,
  FaultEngine,
  NO_PROGRESS_KILLS,
} from "../../../faults/engine.ts";
import {
  type FaultConfig,
  type FaultEvent,
  type FaultPlan,
  parsePlan,
} from "../../../faults/plan.ts";
import { FaultRun } from "../../../faults/layers/plan_run.ts";
import { FaultyBackend } from "../../../faults/layers/block.ts";
import { FaultyPlicGateway } from "../../../faults/layers/irq.ts";
import { FaultyNetBackend } from "../../../faults/layers/net.ts";
import { ConsoleInputFaults } from "../../../faults/layers/console.ts";
import { wakerFaultHook } from "../../../faults/layers/waker.ts";
import type { BlockBackend } from "../../../devices/block/backend.ts";
import type { FrameSink, NetBackend } from "../../../devices/net/backend.ts";
import { newStats } from "../../../devices/net/backend.ts";
import { createControlBlock, CTL, MIP, setIrqLine } from "../../../machine/control.ts";
import { createPlicState, PLIC, PlicRegisters } from "../../../devices/plic.ts";
import { ByteRingReader, ByteRingWriter, createByteRing } from "../../../lib/ring.ts";

const MOD = fileURLToPath(new URL("../../../mod.ts", import.meta.url));

function engineFor(
  plan: FaultPlan,
  layer: FaultConfig["rules"][number]["layer"],
  opts: { seed?: number; counters?: SharedArrayBuffer; device?: number } = {},
) {
  const events: FaultEvent[] = [];
  const kills: string[] = [];
  const counters = opts.counters ?? createFaultCounters(plan);
  const engine = new FaultEngine(
    layer,
    { seed: opts.seed ?? 1, rules: plan.rules, device: opts.device ?? 0 },
    counters,
    undefined,
    {
      report: (e) => events.push(e),
      kill: (r) => {
        kills.push(r);
        throw new Error("killed"); // a real kill never returns (ctx.exit)
      },
      nowMs: () => 0,
    },
  );
  return { engine, events, kills, counters };
}

Deno.test("plan: errors name the rule, the field and what is allowed", () => {
  const cases: [string, RegExp][] = [
    ["{", /not JSON/],
    [`{"rules": 3}`, /"rules" must be an array/],
    [`{"rules": [], "speed": 1}`, /unknown key "speed"/],
    [`{"rules": [{"layer": "disk", "effect": "ioerr"}]}`, /rule 0 .*"layer" must be one of block/],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr"}, {"layer": "irq", "effect": "ioerr"}]}`,
      /rule 1 .*"effect" for layer irq must be one of drop, delay, duplicate, kill/,
    ],
    [`{"rules": [{"layer": "block", "effect": "delay"}]}`, /rule 0 .*needs "ms"/],
    [
      `{"rules": [{"layer": "irq", "effect": "drop", "when": {"sectors": [1, 2]}}]}`,
      /when.sectors applies to block only/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"sectors": [5, 2]}}]}`,
      /first <= last/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"probability": 2}}]}`,
      /probability must be/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"nth": 0}}]}`,
      /when.nth must be an integer >= 1/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"nth": 2, "every": 3}}]}`,
      /cannot be combined/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"atMs": 5}}]}`,
      /atMs is for "kill"/,
    ],
    [
      `{"rules": [{"layer": "waker", "effect": "skew", "ms": 5, "when": {"nth": 1}}]}`,
      /takes no "when"/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "ioerr", "when": {"sector": 5}}]}`,
      /unknown trigger "sector"/,
    ],
    [`{"rules": [], "restart": {"block": {"maxRestarts": -1}}}`, /restart.block.maxRestarts/],
    [
      `{"rules": [{"layer": "irq", "effect": "kill", "before": true}]}`,
      /"before" is for block kill only/,
    ],
    // Times past what setTimeout can wait (it would fire after 1 ms), counts past the Int32 counters.
    [
      `{"rules": [{"layer": "block", "effect": "kill", "when": {"atMs": 2147483648}}]}`,
      /rule 0 .*when.atMs must be at most 2147483647 ms \(2\^31−1 ms, about 24.8 days/,
    ],
    [
      `{"rules": [{"layer": "net", "effect": "drop", "when": {"untilMs": 1e12}}]}`,
      /when.untilMs must be at most 2147483647 ms/,
    ],
    [
      `{"rules": [{"layer": "net", "effect": "drop", "when": {"afterMs": 3000000000}}]}`,
      /when.afterMs must be at most 2147483647 ms/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "kill", "when": {"every": 4294967296}}]}`,
      /when.every must be at most 2147483647/,
    ],
    [
      `{"rules": [{"layer": "block", "effect": "kill", "when": {"count": 1e20}}]}`,
      /when.count must be at most 2147483647/,
    ],
    [
      `{"rules": [], "restart": {"block": {"backoffMs": 2147483648}}}`,
      /restart.block.backoffMs: at most 2147483647 ms/,
    ],
    [`{"rules": [], "restart": {"net": {"windowMs": 1e15}}}`, /restart.net.windowMs: at most/],
    [
      `{"rules": [], "restart": {"net": {"maxRestarts": 1e10}}}`,
      /restart.net.maxRestarts: at most/,
    ],
    [`{"seed": 1e300, "rules": []}`, /"seed" must be a non-negative integer/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePlan(text, "plan.json"), re, text);
  }
  // The largest values are fine.
  const big = parsePlan(
    `{"rules": [{"layer": "block", "effect": "kill", "when": {"atMs": 2147483647}}],
      "restart": {"block": {"backoffMs": 2147483647, "windowMs": 2147483647}}}`,
  );
  assert.deepEqual(big.rules[0].when.atMs, 2147483647);
  const ok = parsePlan(
    `{"seed": 9, "rules": [{"layer": "block", "effect": "ioerr", "when": {"sectors": [8, 8]}}],
      "restart": {"block": {"maxRestarts": 30}}}`,
  );
  assert.deepEqual(ok.seed, 9);
  assert.deepEqual(ok.rules[0].index, 0);
  assert.deepEqual(ok.restart.block, { maxRestarts: 30 });
});

Deno.test("engine: nth, every, count, probability; counters survive a restart", () => {
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "block", effect: "ioerr", when: { nth: 3 } },
      { layer: "block", effect: "delay", ms: 1, when: { every: 2, count: 2 } },
      { layer: "block", effect: "corrupt", when: { probability: 0.5 } },
    ],
  }));
  const a = engineFor(plan, "block", { seed: 42 });
  const hits: (string | null)[] = [];
  for (let i = 0; i < 10; i++) hits.push(a.engine.decide({ detail: `${i}` })?.rule.effect ?? null);
  // Event 2 is rule 1's 2nd match; event 3 is rule 0's; 4 is rule 1's 4th (its last allowed).
  assert.deepEqual(hits[1], "delay");
  assert.deepEqual(hits[2], "ioerr");
  assert.deepEqual(hits[3], "delay");
  // Rule 2 counts every event even when an earlier rule won: it fires where chance() < 0.5.
  for (let k = 1; k <= 10; k++) {
    if (k === 2 || k === 3 || k === 4) continue;
    assert.deepEqual(hits[k - 1], chance(42, 2, k) < 0.5 ? "corrupt" : null, `event ${k}`);
  }
  // A second engine on the same counters (a restarted actor) carries on: no second ioerr.
  const b = engineFor(plan, "block", { seed: 42, counters: a.counters });
  for (let i = 0; i < 10; i++) {
    assert.notDeepEqual(b.engine.decide({ detail: "" })?.rule.effect, "ioerr");
  }
  // Same seed, fresh counters: the same decisions; another seed: other ones.
  const c = engineFor(plan, "block", { seed: 42 });
  const again = Array.from(
    { length: 10 },
    () => c.engine.decide({ detail: "" })?.rule.effect ?? null,
  );
  assert.deepEqual(again, hits);
  let differ = false;
  for (let k = 1; k <= 64; k++) {
    if ((chance(42, 2, k) < 0.5) !== (chance(43, 2, k) < 0.5)) differ = true;
  }
  assert.ok(differ, "the seed changes the choices");
});

class MemDisk implements BlockBackend {
  readonly bytes = new Uint8Array(64 * 512).map((_, i) => i * 7);
  readonly size = this.bytes.length;
  readonly readOnly = false;
  read(o: number, b: Uint8Array) {
    b.set(this.bytes.subarray(o, o + b.length));
  }
  write(o: number, d: Uint8Array) {
    this.bytes.set(d, o);
  }
  flush() {}
  close() {}
}

Deno.test("block layer: IOERR on a sector range, corrupted reads, kill after the write", () => {
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "block", effect: "ioerr", when: { sectors: [10, 10] } },
      { layer: "block", effect: "corrupt", when: { op: "read", sectors: [20, 21] } },
      { layer: "block", effect: "kill", when: { op: "write", nth: 1 } },
    ],
  }));
  const { engine, events, kills } = engineFor(plan, "block");
  const disk = new MemDisk();
  const be = new FaultyBackend(disk, engine);
  const buf = new Uint8Array(1024);
  assert.throws(() => be.read(9 * 512, buf), /fault plan rule 0: read sector 9\+2/);
  be.read(0, buf); // outside every range
  assert.deepEqual(buf, disk.bytes.slice(0, 1024));
  be.read(20 * 512, buf);
  const want = disk.bytes.slice(20 * 512, 22 * 512);
  let diff = 0;
  for (let i = 0; i < 1024; i++) if (buf[i] !== want[i]) diff++;
  assert.deepEqual(diff, 2, "one byte of each sector corrupted");
  // The write reaches the disk, then the actor dies before completing it.
  const data = new Uint8Array(512).fill(0xee);
  assert.throws(() => be.write(30 * 512, data), /killed/);
  assert.deepEqual(disk.bytes.slice(30 * 512, 31 * 512), data);
  assert.deepEqual(kills.length, 1);
  assert.deepEqual(events.map((e) => `${e.rule}:${e.effect}:${e.detail}`), [
    "0:ioerr:read sector 9+2",
    "1:corrupt:read sector 20+2",
    "2:kill:write sector 30+1",
  ]);
});

Deno.test("block layer: a kill rule that re-kills the same request on every retry is disarmed", () => {
  // every 3rd write, after it reached the file: a request of 4 data segments
  // is killed at its 3rd segment on every retry (the 501-kills case).
  const plan = parsePlan(JSON.stringify({
    rules: [{ layer: "block", effect: "kill", when: { op: "write", every: 3 } }],
  }));
  const counters = createFaultCounters(plan);
  const events: FaultEvent[] = [];
  let kills = 0;
  const instance = (completed: () => number) =>
    new FaultyBackend(
      new MemDisk(),
      new FaultEngine("block", { seed: 1, rules: plan.rules, device: 0 }, counters, undefined, {
        report: (e) => events.push(e),
        kill: () => {
          kills++;
          throw new Error("killed");
        },
        nowMs: () => 0,
        progress: completed,
      }),
    );
  const seg = new Uint8Array(512);
  /** One instance serves the request (4 segments); true if it completed it. */
  const serve = (be: FaultyBackend) => {
    try {
      for (let s = 0; s < 4; s++) be.write(s * 512, seg);
      return true;
    } catch {
      return false;
    }
  };
  // The first instance did work (the boot's requests) before its kill: not counted.
  let done = 0;
  assert.ok(!serve(instance(() => 1)));
  // Each restart replays the request and dies before completing anything.
  let restarts = 0;
  while (!serve(instance(() => done))) {
    restarts++;
    assert.ok(restarts < 50, "never disarmed");
  }
  done++;
  assert.deepEqual(restarts, NO_PROGRESS_KILLS, "10 kills without progress, then no more");
  assert.deepEqual(kills, NO_PROGRESS_KILLS + 1);
  const off = events.filter((e) => e.effect === "disarmed");
  assert.deepEqual(off.length, 1, "reported once");
  assert.match(off[0].detail, /last 10 kills each hit a restarted block actor before it had/);
  // Disarmed for good: a restarted actor (same counters) does not kill again.
  const later = instance(() => 5);
  for (let i = 0; i < 12; i++) later.write(0, seg);
  assert.deepEqual(kills, NO_PROGRESS_KILLS + 1);
  // The launcher prints it once and names it in the summary; it is not an injection.
  const run = FaultRun.fromPlan(plan, 1, "p.json");
  for (const e of events) run.record("block", e);
  assert.deepEqual(run.record("block", off[0]), null, "said once");
  assert.deepEqual(
    run.summary(),
    "fault plan p.json (seed 1): 11 injected: rule 0 block kill ×11; " +
      "disarmed for making no progress: rule 0",
  );
});

Deno.test("block layer: kills with progress in between are never disarmed", () => {
  const plan = parsePlan(JSON.stringify({
    rules: [{ layer: "block", effect: "kill", when: { op: "write", every: 2 } }],
  }));
  const counters = createFaultCounters(plan);
  let kills = 0;
  for (let i = 0; i < 40; i++) {
    // Each instance completes a request (one write), then is killed on the next.
    let completed = 0;
    const be = new FaultyBackend(
      new MemDisk(),
      new FaultEngine("block", { seed: 1, rules: plan.rules, device: 0 }, counters, undefined, {
        report: () => {},
        kill: () => {
          kills++;
          throw new Error("killed");
        },
        progress: () => completed,
      }),
    );
    be.write(0, new Uint8Array(512));
    completed++;
    assert.throws(() => be.write(512, new Uint8Array(512)), /killed/);
  }
  assert.deepEqual(kills, 40);
});

Deno.test("irq layer: a dropped interrupt waits for the line to fall; delay and duplicate", async () => {
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  const plic = createPlicState();
  const regs = new PlicRegisters(plic, control);
  // S-mode context 1: enable sources 1..3 at priority 1, threshold 0.
  for (const src of [1, 2, 3]) regs.write(src * 4, 4, 1);
  regs.write(0x2000 + 0x80, 4, 0b1110);
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "irq", effect: "drop", when: { sources: [1], nth: 1 } },
      { layer: "irq", effect: "delay", ms: 30, when: { sources: [2] } },
      { layer: "irq", effect: "duplicate", ms: 1, when: { sources: [3], nth: 1 } },
    ],
  }));
  const { engine } = engineFor(plan, "irq");
  const g = new FaultyPlicGateway(plic, control, engine);
  const pending = () => new Int32Array(plic)[PLIC.PENDING];
  setIrqLine(ctl, 1, 1);
  assert.deepEqual(g.updateLines(), []);
  assert.deepEqual(g.updateLines(), [], "still dropped while the line stays high");
  setIrqLine(ctl, 1, 0);
  g.updateLines();
  setIrqLine(ctl, 1, 1);
  assert.deepEqual(g.updateLines(), [1], "a new assertion after the line fell goes through");
  assert.deepEqual(regs.claim(1), 1);
  setIrqLine(ctl, 1, 0);
  regs.complete(1, 1);
  // Delay: nothing now, pending after ~30 ms.
  setIrqLine(ctl, 2, 1);
  assert.deepEqual(g.updateLines(), []);
  assert.deepEqual(pending() & 4, 0);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(pending() & 4, 4, "delayed interrupt pending");
  assert.ok((Atomics.load(ctl, CTL.MIP) & MIP.SEIP) !== 0);
  assert.deepEqual(regs.claim(1), 2);
  setIrqLine(ctl, 2, 0);
  regs.complete(1, 2);
  // Duplicate: forwarded, then once more after the guest completed it.
  setIrqLine(ctl, 3, 1);
  assert.deepEqual(g.updateLines(), [3]);
  assert.deepEqual(regs.claim(1), 3);
  setIrqLine(ctl, 3, 0); // the guest acknowledged the device
  regs.complete(1, 3);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(regs.claim(1), 3, "the duplicate arrives with the line low");
  regs.complete(1, 3);
  assert.deepEqual(regs.claim(1), 0);
  await g.stop();
});

class FakeNet implements NetBackend {
  readonly description = "fake";
  readonly stats = newStats();
  readonly macKey = "fake";
  readonly offloads = false;
  sent: number[] = [];
  sink: FrameSink = () => {};
  start(onFrame: FrameSink) {
    this.sink = onFrame;
  }
  send(f: Uint8Array) {
    this.sent.push(f[0]);
    return true;
  }
  async close() {}
}

Deno.test("net layer: reorder swaps a frame with the next; duplicate and drop", async () => {
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "net", effect: "reorder", when: { dir: "tx", nth: 2 } },
      { layer: "net", effect: "duplicate", when: { dir: "rx", nth: 1 } },
      { layer: "net", effect: "drop", when: { dir: "rx", nth: 2 } },
    ],
  }));
  const { engine } = engineFor(plan, "net");
  const inner = new FakeNet();
  const be = new FaultyNetBackend(inner, engine);
  const got: number[] = [];
  be.start((f) => got.push(f[0]));
  for (const n of [1, 2, 3, 4]) be.send(new Uint8Array([n]));
  assert.deepEqual(inner.sent, [1, 3, 2, 4]);
  for (const n of [7, 8, 9]) inner.sink(new Uint8Array([n]));
  assert.deepEqual(got, [7, 7, 9]);
  await be.close();
});

Deno.test("console layer: a kill leaves its byte in the ring; drop skips one", () => {
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "console", effect: "kill", when: { nth: 3 } },
      { layer: "console", effect: "drop", when: { nth: 6 } },
    ],
  }));
  const ring = createByteRing(64);
  new ByteRingWriter(ring).write(new TextEncoder().encode("abcdefg"));
  const counters = createFaultCounters(plan);
  const out: string[] = [];
  const deliver = (b: Uint8Array) => out.push(new TextDecoder().decode(b));
  const first = engineFor(plan, "console", { counters });
  assert.throws(
    () => new ConsoleInputFaults(first.engine, deliver).take(new ByteRingReader(ring)),
    /killed/,
  );
  // The restarted actor (same counters) reads on from "c": nothing typed is lost.
  const second = engineFor(plan, "console", { counters });
  new ConsoleInputFaults(second.engine, deliver).take(new ByteRingReader(ring));
  // "ab" went out before the kill; the second instance's events are 4.. (c, d, e = 6th: dropped).
  assert.deepEqual(out.join(""), "abcdfg");
});

Deno.test("launcher: a malformed plan or a wrong swapped module is refused before boot (status 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      `{"rules": [{"layer": "block", "effect": "ioerr"}, {"layer": "net", "effect": "corrupt"}]}`,
    );
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, err: new TextDecoder().decode(out.stderr) };
    };
    const bad = await run(`--faults=${dir}/bad.json`);
    assert.deepEqual(bad.code, 2, bad.err);
    assert.match(
      bad.err,
      /bad\.json: rule 1 .*"effect" for layer net must be one of drop, duplicate/,
    );
    // A kill planned for a month from now would fire at once if let through.
    await Deno.writeTextFile(
      `${dir}/late.json`,
      `{"rules": [{"layer": "block", "effect": "kill", "when": {"atMs": 2592000000}}]}`,
    );
    const late = await run(`--faults=${dir}/late.json`);
    assert.deepEqual(late.code, 2, late.err);
    assert.match(late.err, /late\.json: rule 0 .*when.atMs must be at most 2147483647 ms/);
    assert.ok(!/TimeoutOverflowWarning/.test(late.err), late.err);
    const missing = await run(`--faults=${dir}/none.json`);
    assert.deepEqual(missing.code, 2);
    assert.match(missing.err, /none\.json: cannot be read/);
    const wrong = await run("--actor", "waker=testing/actors/wrong_role.worker.ts");
    assert.deepEqual(wrong.code, 2, wrong.err);
    assert.match(wrong.err, /--actor waker: .*role/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("net and console delay keep order; waker hook drops, postpones, fires", async () => {
  const plan = parsePlan(JSON.stringify({
    rules: [
      { layer: "net", effect: "delay", ms: 20, when: { dir: "rx", nth: 1 } },
      { layer: "console", effect: "delay", ms: 20, when: { nth: 2 } },
      { layer: "waker", effect: "drop", when: { nth: 1 } },
      { layer: "waker", effect: "delay", ms: 3, when: { nth: 2 } },
    ],
  }));
  // net: a delayed rx frame arrives after the ones behind it (delay is not order-keeping on a wire).
  const inner = new FakeNet();
  const be = new FaultyNetBackend(inner, engineFor(plan, "net").engine);
  const got: number[] = [];
  be.start((f) => got.push(f[0]));
  inner.sink(new Uint8Array([1]));
  inner.sink(new Uint8Array([2]));
  assert.deepEqual(got, [2]);
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(got, [2, 1]);
  await be.close();
  // console: the stream pauses at the 2nd byte, and everything after it waits behind it.
  const ring = createByteRing(64);
  new ByteRingWriter(ring).write(new TextEncoder().encode("xyz"));
  const out: string[] = [];
  const c = new ConsoleInputFaults(
    engineFor(plan, "console").engine,
    (b) => out.push(new TextDecoder().decode(b)),
  );
  assert.deepEqual(c.take(new ByteRingReader(ring)), 3);
  assert.deepEqual(out, ["x"]);
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(out, ["x", "yz"]);
  c.dispose();
  // waker: the 1st due event is dropped, the 2nd postponed 3 ms (30 000 ticks), the 3rd fires.
  const hook = wakerFaultHook(engineFor(plan, "waker").engine)!;
  const ev = { deadline: 100n, now: 1000n, seq: 1 };
  assert.deepEqual(hook(ev), "drop");
  assert.deepEqual(hook(ev), 31_000n);
  assert.deepEqual(hook(ev), "fire");
});
