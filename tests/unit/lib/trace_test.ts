// The timeline's rings and file (lib/trace.ts, launcher/trace_file.ts), with
// no guest: records round-trip with their definitions, a full ring drops and
// counts instead of blocking, a restarted producer on the same ring carries
// on (its event ids continue the dictionary), and the file closes what was
// left open so it always pairs. The real boot: tests/e2e/trace_test.ts.

import assert from "../../../testing/assert.ts";
import {
  createTraceBoard,
  createTraceRing,
  type EventDef,
  REC,
  TBOARD,
  Tracer,
  TraceReader,
  TRING,
} from "../../../lib/trace.ts";
import { TraceFile } from "../../../launcher/trace_file.ts";

const A: EventDef = { name: "a", cat: "test", ph: "X", args: ["n"] };
const B: EventDef = { name: "b", cat: "test", ph: "i" };

Deno.test("trace ring: records round-trip with their definitions and arguments", () => {
  const ring = createTraceRing(8), board = createTraceBoard();
  const t = new Tracer(ring, board);
  assert.ok(t.record(A, 10, 12, 0, 0, 0, 42));
  t.instant(B);
  const got: [string, number, number, number][] = [];
  const n = new TraceReader(ring).drain((r, o, def) =>
    got.push([def.name, r[o + REC.TS], r[o + REC.END], r[o + REC.ARG0]])
  );
  assert.equal(n, 2);
  assert.deepEqual(got[0], ["a", 10, 12, 42]);
  assert.equal(got[1][0], "b");
});

Deno.test("trace ring: a full ring drops and counts, and takes records again once drained", () => {
  const ring = createTraceRing(4), board = createTraceBoard();
  const t = new Tracer(ring, board);
  for (let i = 0; i < 4; i++) assert.ok(t.record(A, i, i, 0, 0, 0, i));
  assert.equal(t.record(A, 9, 9, 0, 0, 0, 9), false);
  const r = new TraceReader(ring);
  assert.equal(r.dropped, 1);
  const seen: number[] = [];
  r.drain((rec, o) => seen.push(rec[o + REC.ARG0]));
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.ok(t.record(A, 5, 5, 0, 0, 0, 5));
  r.drain((rec, o) => seen.push(rec[o + REC.ARG0]));
  assert.deepEqual(seen, [0, 1, 2, 3, 5]);
});

Deno.test("trace ring: a restarted producer continues the dictionary; flow ids stay unique", () => {
  const ring = createTraceRing(16), board = createTraceBoard();
  const first = new Tracer(ring, board);
  first.instant(B);
  const f1 = first.flowId();
  const second = new Tracer(ring, board); // the restarted actor, same ring
  second.instant(A);
  second.instant(B);
  assert.notEqual(second.flowId(), f1);
  const names: string[] = [];
  new TraceReader(ring).drain((_r, _o, def) => names.push(def.name));
  assert.deepEqual(names, ["b", "a", "b"]);
  assert.equal(new Int32Array(ring)[TRING.DICT_COUNT], 3);
});

Deno.test("trace board: a notify is handed over once, an interrupt's id is shared", () => {
  const board = createTraceBoard();
  const cpu = new Tracer(createTraceRing(8), board);
  const dev = new Tracer(createTraceRing(8), board);
  const id = cpu.notified(2, 1);
  assert.ok(id > 0);
  assert.equal(cpu.notified(2, 1), 0, "a second notify before the pick-up starts no new arrow");
  const got = dev.takeNotify(2, 1);
  assert.equal(got.flow, id);
  assert.ok(got.at > 0);
  assert.equal(dev.takeNotify(2, 1).flow, 0);
  Atomics.store(dev.board, TBOARD.IRQ_SPAN + 3, 77);
  assert.equal(Atomics.load(cpu.board, TBOARD.IRQ_SPAN + 3), 77);
});

Deno.test("trace file: valid JSON; what was left open is closed and marked unfinished", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const f = new TraceFile(path);
    const t = new Tracer(f.ring("dev"), f.board);
    const now = performance.timeOrigin + performance.now();
    const flow = t.flowId();
    t.record({ name: "start", cat: "x", ph: "i" }, now, now, 0, flow, 0); // no flow end
    t.record({ name: "irq", cat: "irq", ph: "b" }, now, now, 0, 0, 5); // no async end
    t.record(A, now, now + 1, 0, 0, 0, 1);
    const stats = f.close();
    assert.equal(stats.dropped, 0);
    const doc = JSON.parse(await Deno.readTextFile(path));
    const ev = doc.traceEvents as { ph: string; name: string; id?: unknown; args?: object }[];
    assert.ok(ev.some((e) => e.ph === "X" && e.name === "a"));
    assert.ok(ev.some((e) => e.ph === "e" && e.id === "irq:5" && "unfinished" in e.args!));
    assert.ok(ev.some((e) => e.ph === "f" && e.id === flow));
    assert.ok(ev.some((e) => e.name === "thread_name"));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("trace layouts: the ring header and the board words are pinned", () => {
  assert.deepEqual(
    { ...TRING },
    {
      MAGIC: 0,
      VERSION: 1,
      CAPACITY: 2,
      HEAD: 4,
      TAIL: 8,
      DROPPED: 12,
      DICT_BYTES: 13,
      DICT_COUNT: 14,
    },
  );
  assert.deepEqual(
    { ...TBOARD },
    {
      MAGIC: 0,
      VERSION: 1,
      FLOW_SEQ: 2,
      TIMER_FLOW: 3,
      INPUT_FLOW: 4,
      IRQ_SPAN: 8,
      NOTIFY_FLOW: 72,
      WORDS: 584,
    },
  );
  assert.equal(REC.ARG0 + 6, 12, "a record is 12 float64s, six of them arguments");
  const ring = new Int32Array(createTraceRing(8));
  assert.equal(ring[TRING.MAGIC], 0x41565452);
  assert.equal(new Int32Array(createTraceBoard())[TBOARD.MAGIC], 0x41565442);
});
