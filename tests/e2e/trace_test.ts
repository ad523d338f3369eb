// --trace end to end: one real boot with a disk, a fault plan (one bad
// sector, one kill of the block actor) and a swapped interrupt controller
// (examples/irq_logger) writes a timeline; the test reads it as a viewer
// would and checks its structure (slices nest per track, async spans and
// flow arrows have both ends) and that every kind of event the issue names is
// there; scripts/trace-summary.ts then summarises it and draws its SVG. The
// same boot stays under a few MB. A --trace path that cannot be written is
// refused before anything boots. From the library, bootMachine({ trace })
// writes the same file (in a child `deno run` of this file, as a user's
// program would run it), and a second traced machine in that process is refused.
// Read next: launcher/trace_file.ts, docs/trace.md.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE, runMod } from "../../testing/guest_session.ts";
import { summarize, type TraceEvent } from "../../scripts/trace-summary.ts";
import { bootMachine, InputError } from "../../mod.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The file's structure, as Perfetto and chrome://tracing need it; returns the events. */
function checkStructure(doc: { traceEvents: TraceEvent[] }): TraceEvent[] {
  const ev = doc.traceEvents;
  assert.ok(Array.isArray(ev) && ev.length > 0, "a traceEvents array");
  const names = new Map<number, string>();
  for (const e of ev) {
    assert.equal(typeof e.name, "string");
    assert.match(e.ph, /^[XibestfM]$/, `known phase in ${JSON.stringify(e)}`);
    assert.equal(e.pid, 1);
    assert.equal(typeof e.tid, "number");
    if (e.ph === "M") {
      if (e.name === "thread_name") names.set(e.tid!, String(e.args?.name));
      continue;
    }
    assert.ok(Number.isFinite(e.ts) && e.ts! >= 0, `a time in ${JSON.stringify(e)}`);
    if (e.ph === "X") assert.ok(Number.isFinite(e.dur) && e.dur! >= 0, "a slice has a duration");
  }
  // Slices on one track nest: sorted by start (longer first), each one ends
  // within every slice still open when it starts.
  const byTid = new Map<number, TraceEvent[]>();
  for (const e of ev) if (e.ph === "X") byTid.set(e.tid!, [...(byTid.get(e.tid!) ?? []), e]);
  for (const [tid, list] of byTid) {
    assert.ok(names.has(tid), `track ${tid} is named`);
    list.sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
    const open: number[] = [];
    for (const e of list) {
      while (open.length && open[open.length - 1] <= e.ts!) open.pop();
      const end = e.ts! + e.dur!;
      if (open.length) {
        assert.ok(
          end <= open[open.length - 1] + 0.02,
          `${e.name} at ${e.ts} on ${names.get(tid)} overlaps an enclosing slice`,
        );
      }
      open.push(end);
    }
  }
  // Async spans: each id begins once and ends once, not before it began.
  const spans = new Map<string, { b?: number; e?: number }>();
  for (const e of ev) {
    if (e.ph !== "b" && e.ph !== "e") continue;
    const key = `${e.cat}/${e.id}`;
    const s = spans.get(key) ?? {};
    assert.equal(s[e.ph], undefined, `${key} ${e.ph} twice`);
    s[e.ph] = e.ts;
    spans.set(key, s);
  }
  for (const [key, s] of spans) {
    assert.ok(s.b !== undefined && s.e !== undefined, `async span ${key} has both ends`);
    assert.ok(s.e! >= s.b!, `async span ${key} ends after it begins`);
  }
  // Flow arrows: one start and one finish per id, steps only in between.
  const flows = new Map<number, string[]>();
  for (const e of ev) {
    if (e.ph === "s" || e.ph === "t" || e.ph === "f") {
      flows.set(Number(e.id), [...(flows.get(Number(e.id)) ?? []), e.ph]);
    }
  }
  for (const [id, phs] of flows) {
    assert.equal(phs.filter((p) => p === "s").length, 1, `flow ${id} starts once`);
    assert.equal(phs.filter((p) => p === "f").length, 1, `flow ${id} finishes once`);
  }
  return ev;
}

Deno.test({
  name:
    "trace: a boot with a disk, a fault plan and a swapped actor gives a valid, complete timeline",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-trace-" });
    const trace = `${dir}/boot.json`;
    let g: GuestSession | null = null;
    try {
      const disk = `${dir}/disk.raw`;
      await Deno.writeFile(disk, new Uint8Array(4 * 1024 * 1024).fill(7));
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [
            { layer: "block", effect: "ioerr", when: { sectors: [2048, 2048] } },
            { layer: "block", effect: "kill", when: { op: "write", count: 1 } },
          ],
        }),
      );
      g = new GuestSession({
        args: [
          `--trace=${trace}`,
          `--block=${disk}`,
          `--faults=${dir}/plan.json`,
          "--actor",
          `irq=${ROOT}examples/irq_logger.worker.ts`,
          ...bundledBoot([]),
        ],
      });
      await g.waitFor(READY_LINE, 60_000);
      await g.run("dmesg -n 1");
      await g.run("dd if=/dev/vda of=/dev/null bs=4096 skip=256 count=1 2>/dev/null; true");
      await g.run("dd if=/dev/vda of=/dev/null bs=4096 count=64 2>/dev/null");
      await g.run("dd if=/dev/zero of=/dev/vda bs=4096 seek=100 count=4 oflag=direct 2>/dev/null");
      await g.run("dd if=/dev/vda of=/dev/null bs=4096 skip=300 count=8 iflag=direct 2>/dev/null");
      await g.poweroff(20_000);
      assert.match(g.stderr, /trace: \d+ events, [\d.]+ MB in /);
      assert.match(g.stderr, /block actor restarted/);

      const text = await Deno.readTextFile(trace);
      const doc = JSON.parse(text);
      const ev = checkStructure(doc);
      // Its clock: ts 0 and the process's start, both Unix ms, the start first.
      const clock = doc.otherData as { originEpochMs: number; processStartEpochMs: number };
      assert.ok(clock.processStartEpochMs > 1.7e12, JSON.stringify(doc.otherData));
      assert.ok(clock.originEpochMs >= clock.processStartEpochMs, JSON.stringify(doc.otherData));
      const tracks = new Map<number, string>();
      for (const e of ev) if (e.name === "thread_name") tracks.set(e.tid!, String(e.args?.name));
      const on = (track: string) => (e: TraceEvent) => tracks.get(e.tid!) === track;
      const has = (what: string, f: (e: TraceEvent) => boolean) =>
        assert.ok(ev.some(f), `the trace has ${what}`);
      for (
        const t of [
          "launcher",
          "cpu",
          "hart 0",
          "hart 0 traps",
          "irq",
          "waker",
          "console",
          "block 0",
        ]
      ) {
        assert.ok([...tracks.values()].includes(t), `a track for ${t}`);
      }
      // The hart: run, wfi, traps and SBI calls.
      has(
        "hart run spans with instret",
        (e) => on("hart 0")(e) && e.name === "run" && "instret" in e.args!,
      );
      has("wfi spans", (e) => on("hart 0")(e) && e.name === "wfi");
      has("trap spans", (e) => on("hart 0 traps")(e) && e.cat === "trap");
      has("interrupt spans", (e) => e.cat === "trap" && e.name.startsWith("interrupt"));
      // (Linux programs its timer through Sstc's stimecmp, not SBI TIME: the
      // SBI calls left are its probes at boot.)
      has("SBI calls", (e) => e.cat === "sbi" && e.name.startsWith("sbi "));
      // Virtqueue requests, notify to used ring, with their numbers.
      const reads = ev.filter((e) =>
        e.ph === "b" && e.cat === "request" && e.name.endsWith(" read")
      );
      assert.ok(reads.length > 0, "block read requests");
      for (const k of ["queue", "descriptors", "bytes", "detail"]) {
        assert.ok(k in reads[0].args!, k);
      }
      assert.ok(reads.some((e) => e.args!.detail === 2048), "the read of sector 2048");
      has("block writes", (e) => e.ph === "b" && e.cat === "request" && e.name.endsWith(" write"));
      has("console transmits", (e) => e.ph === "b" && e.name.endsWith("console transmit"));
      has("a notify with an arrow to the device", (e) => on("cpu")(e) && e.name === "notify");
      has("the device picking it up", (e) => on("block 0")(e) && e.name === "pick up notify");
      // Interrupts: raised, pending, claimed, completed.
      has("irq raised", (e) => e.name === "raise" && e.cat === "irq");
      has("irq pending (by the swapped irq actor)", (e) => on("irq")(e) && e.name === "pending");
      has("irq claimed", (e) => on("cpu")(e) && e.name === "claim");
      has("irq completed", (e) => on("cpu")(e) && e.name === "complete");
      has("an arrow step at pending", (e) => e.ph === "t" && on("irq")(e));
      // Timer, messages, supervision, faults, milestones.
      has("timer arm", (e) => on("cpu")(e) && e.name === "timer arm");
      has("timer fire", (e) => on("waker")(e) && e.name === "timer fire");
      has("a message arrow", (e) => e.cat === "message" && e.name.startsWith("take seen"));
      // Typed input: an arrow from the launcher's write to the console actor's read.
      const flowEnds = (ph: string, track: string) =>
        new Set(ev.filter((e) => e.ph === ph && on(track)(e)).map((e) => e.id));
      const typedFrom = flowEnds("s", "launcher");
      has("typed input", (e) => on("launcher")(e) && e.name === "input");
      has("input taken by the console", (e) => on("console")(e) && e.name === "input taken");
      assert.ok(
        [...flowEnds("f", "console")].some((id) => typedFrom.has(id)),
        "an input arrow from the launcher to the console",
      );
      has("a restart", (e) => on("block 0")(e) && e.name === "supervisor: restarted");
      has("a fault injection", (e) => e.cat === "fault" && e.name === "fault ioerr");
      has("a kill injection", (e) => e.cat === "fault" && e.name === "fault kill");
      has("first instruction", (e) => e.name === "first instruction");
      has("Linux version", (e) => e.cat === "milestone" && e.name === "Linux version");
      has("the ready line", (e) => e.cat === "milestone" && e.name === READY_LINE);
      // Bounded: a boot and a few commands are a few MB at most.
      assert.ok(text.length < 4_000_000, `trace is ${text.length} bytes`);

      // The summary reads it and finds each part.
      const s = summarize(ev, clock);
      assert.ok(s.processStartUs !== undefined && s.processStartUs < 0, `${s.processStartUs}`);
      assert.ok(s.tracks.some((t) => t.name === "hart 0" && t.busyUs > 0));
      assert.ok(Object.keys(s.requests).some((k) => k.endsWith("read")));
      assert.ok(s.interrupts.raiseToClaim.count > 0);
      assert.ok(s.pickups["block 0"]?.count > 0, "notify -> pick-up arrows of the disk");
      assert.ok(s.milestones.some((m) => m.name === READY_LINE));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}scripts/trace-summary.ts`, trace, "--svg", `${dir}/t.svg`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(said, /busy and idle, per track:/);
      assert.match(said, /from the process's start, [\d.]+ ms before/);
      assert.match(said, /first instruction {2}\[[\d.]+ ms\]/);
      assert.match(said, /raised -> claimed +n=\d+/);
      assert.match(said, /notify -> the device actor picks it up:\n +block 0 +n=\d+/);
      const svg = await Deno.readTextFile(`${dir}/t.svg`);
      assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<rect /);
      assert.match(svg, /<\/svg>\n$/);
    } finally {
      await g?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "trace: a --trace file that cannot be written stops the launcher before boot (status 2)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await runMod(["--trace=/nonexistent-dir/x.json", ...bundledBoot([])], 30_000);
    assert.equal(r.code, 2);
    assert.match(r.err, /--trace: cannot write "\/nonexistent-dir\/x.json"/);
  },
});

Deno.test({
  name: "trace: bootMachine({ trace }) writes the timeline; a second traced machine is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-trace-lib-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", fileURLToPath(import.meta.url), "--library", `${dir}/lib.json`],
        stdin: "null",
        signal: AbortSignal.timeout(240_000),
      }).output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, said);
      assert.match(said, /second traced machine refused: --trace: another machine/);
      const ev = checkStructure(JSON.parse(await Deno.readTextFile(`${dir}/lib.json`)));
      assert.ok(ev.some((e) => e.cat === "milestone" && e.name === READY_LINE), "the ready line");
      assert.ok(ev.some((e) => e.name === "run" && e.cat === "hart"), "the hart's run spans");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (import.meta.main && Deno.args[0] === "--library") {
  const m = await bootMachine({ trace: Deno.args[1] });
  await m.waitFor(READY_LINE, 120_000);
  await bootMachine({ trace: `${Deno.args[1]}.second` }).then(
    () => console.log("second traced machine booted"),
    (e) => console.log(`second traced machine refused: ${e instanceof InputError ? e.message : e}`),
  );
  await m.send("poweroff\n");
  await m.output.pipeTo(new WritableStream());
  console.log(`fate: ${(await m.result).status}`);
}

/** A 100 KiB tmpfs for the full-disk test, or null (not root, no mount). */
async function tinyFilesystem(dir: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=100k", "tmpfs", dir],
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "trace: a file system that fills up cuts the trace short, says so, and the guest runs on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-trace-full-" });
    if (!(await tinyFilesystem(dir))) {
      console.warn("trace full-disk test SKIPPED: cannot mount a tmpfs (needs root)");
      await Deno.remove(dir);
      return;
    }
    try {
      const g = new GuestSession({ args: [`--trace=${dir}/t.json`, ...bundledBoot([])] });
      try {
        await g.waitFor(READY_LINE, 60_000);
        assert.equal(await g.run("echo still-$((1+1))"), "still-2\n");
        await g.poweroff(20_000);
        assert.match(g.stderr, /trace: writing .*t\.json failed, the trace is cut short: No space/);
      } finally {
        await g.close();
      }
    } finally {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
