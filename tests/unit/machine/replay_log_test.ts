// The record/replay log's reader (machine/replay_log.ts): a log round-trips,
// every mistake is refused naming its line, a script holds only inputs, and
// two checks are the same only when every field is. Read next: docs/replay.md.

import assert from "../../../testing/assert.ts";
import {
  describeEvent,
  formatEvent,
  parseInputScript,
  parseReplayLog,
  REPLAY_LOG_VERSION,
  type ReplayHeader,
  ReplayLogError,
  sameCheck,
  toBase64,
} from "../../../machine/replay_log.ts";

const HEADER: ReplayHeader = {
  k: "actorvm-replay",
  v: REPLAY_LOG_VERSION,
  kernel: "k",
  initrd: "",
  disks: [],
  faults: "",
  seed: 3,
  memMb: 128,
  cmdline: "console=hvc0",
  jit: true,
  macs: [],
};

const log = (...events: unknown[]) =>
  [formatEvent(HEADER), ...events.map((e) => JSON.stringify(e))].join("\n") + "\n";

Deno.test("replay log: inputs and checks read back in order, bytes decoded", () => {
  const bytes = new Uint8Array([0, 1, 2, 255, 10]);
  const l = parseReplayLog(
    log(
      { k: "in", at: 0, b: toBase64(bytes) },
      { k: "io", at: 10, s: 0, q: 1 },
      { k: "wfi", at: 20, to: 500 },
      { k: "end", at: 600, fate: 1, reason: "poweroff" },
    ),
  );
  assert.deepEqual(l.header, HEADER);
  assert.equal(l.inputs.length, 1);
  assert.deepEqual(l.inputs[0].bytes, bytes);
  assert.equal(l.inputs[0].line, 2);
  assert.deepEqual(l.checks.map((c) => [c.ev.k, c.line]), [["io", 3], ["wfi", 4], ["end", 5]]);
});

Deno.test("replay log: every mistake is refused with its line", () => {
  const bad = (text: string, re: RegExp) =>
    assert.throws(() => parseReplayLog(text, "x.log"), (e: unknown) => {
      assert.ok(e instanceof ReplayLogError);
      assert.match((e as Error).message, re);
      return true;
    });
  bad("", /x\.log is empty/);
  bad('{"k":"other"}\n', /line 1: not an actorvm replay log/);
  bad(JSON.stringify({ ...HEADER, v: 99 }) + "\n", /line 1: log format version 99/);
  bad(
    log({ k: "io", at: 5, s: 0, q: 1 }, { k: "io", at: 4, s: 0, q: 1 }),
    /line 3: "at" 4 goes back/,
  );
  bad(log({ k: "in", at: 5, b: "***" }), /line 2: "b" is not base64/);
  bad(log({ k: "in", at: 5, b: "" }), /line 2: input of 0 bytes/);
  bad(log({ k: "wfi", at: 5, to: 4 }), /line 2: wfi without "to" >= "at"/);
  bad(log({ k: "io", at: -1, s: 0, q: 1 }), /line 2: "at" is not an instruction count/);
  bad(log({ k: "jump", at: 1 }), /line 2: unknown event kind "jump"/);
  bad(log({ k: "io", at: 1 }), /line 2: notify without slot/);
  bad(formatEvent(HEADER) + "\n{oops\n", /line 2: not a JSON object/);
});

Deno.test("replay log: a script holds only inputs, its lines counted from 1", () => {
  const s = parseInputScript(
    `{"k":"in","at":7,"b":"${toBase64(new TextEncoder().encode("ls\n"))}"}\n`,
    "s",
  );
  assert.equal(s.length, 1);
  assert.equal(s[0].line, 1);
  assert.equal(new TextDecoder().decode(s[0].bytes), "ls\n");
  assert.throws(
    () => parseInputScript(`{"k":"io","at":1,"s":0,"q":0}\n`, "s"),
    /s, line 1: a script holds only "in"/,
  );
});

Deno.test("replay log: checks are the same only when every field is, and read as words", () => {
  const a = { k: "io", at: 10, s: 0, q: 1 } as const;
  assert.ok(sameCheck(a, { ...a }));
  assert.ok(!sameCheck(a, { ...a, at: 11 }));
  assert.ok(!sameCheck(a, { ...a, q: 0 }));
  assert.ok(!sameCheck({ k: "wfi", at: 1, to: 5 }, { k: "wfi", at: 1, to: 6 }));
  assert.ok(
    !sameCheck({ k: "end", at: 1, fate: 1, reason: "" }, { k: "end", at: 1, fate: 5, reason: "" }),
  );
  assert.ok(!sameCheck(a, { k: "wfi", at: 10, to: 10 }));
  assert.equal(describeEvent(a), "notify of slot 0 queue 1 in the batch from 10");
  assert.equal(describeEvent({ k: "wfi", at: 1, to: 5 }), "wfi at 1 idle until 5");
});
