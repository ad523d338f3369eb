// Deterministic mode, record and replay with the real guest (docs/replay.md).
// One recording is driven the way a person types: each command sent when the
// prompt of the last one came back, so when input arrives depends on the host's
// timing; the commands read timing and randomness (/proc/interrupts, the
// clock, /dev/urandom, a sleep) and write a disk with sync. Replayed three
// times from the log with no input, on fresh copies of the disk: the same
// output bytes, the same final instruction count and the same disk each time.
// A chaos run (a probabilistic block and irq fault plan) replays exactly,
// injections included. A tampered log is refused with the line it differs
// at. And with no log at all, two --deterministic boots with the same seed
// and an input script keyed on instruction counts print the same bytes. A
// ping over a tap, inside a network namespace the test makes, replays too.
// Read next: actors/cpu/deterministic.ts, machine/replay_log.ts.

import assert from "../../testing/assert.ts";
import {
  bundledBoot,
  finalCount,
  GuestSession,
  READY_LINE,
  runToEnd,
} from "../../testing/guest_session.ts";
import { netnsUnavailable, withNetns } from "../../testing/netns.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const DISK = new URL("../../guest/disk.img", import.meta.url).pathname;

const faultLines = (err: string) => err.split("\n").filter((l) => l.includes("actorvm: fault"));

async function freshDisk(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.copyFile(DISK, path);
  return path;
}

const COMMANDS = [
  "dmesg -n 1",
  "cat /proc/interrupts",
  "date +%s%N; cat /proc/uptime",
  "head -c 16 /dev/urandom | md5sum",
  "sleep 0.3; cat /proc/uptime",
  "for i in 1 2 3 4; do echo w$i | dd of=/dev/vda bs=512 seek=$i conv=fsync 2>/dev/null; sync; done",
  "dd if=/dev/vda bs=512 skip=1 count=4 iflag=direct 2>/dev/null | md5sum",
];

/** Record a session typed command by command; returns its stdout and the final count. */
async function record(dir: string, args: string[]): Promise<{ out: string; count: number }> {
  const s = new GuestSession({ args: [`--record=${dir}/run.log`, ...args, ...bundledBoot([])] });
  try {
    await s.waitFor(READY_LINE, 60_000);
    for (const c of COMMANDS) await s.run(c);
    await s.send("poweroff\n");
    const st = await s.exit(30_000);
    assert.equal(st.code, 0, `record: exit status; stderr:\n${s.stderr}`);
    return { out: s.output, count: finalCount(s.stderr) };
  } finally {
    await s.close();
  }
}

Deno.test({
  name: "replay: a typed, timing- and randomness-dependent session replays three times identically",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-replay-" });
    try {
      const recDisk = await freshDisk(dir, "rec.img");
      const rec = await record(dir, [`--block=${recDisk}`]);
      assert.match(rec.out, /virtio0/);
      assert.match(rec.out, /[0-9a-f]{32} {2}-/);
      const log = await Deno.readTextFile(`${dir}/run.log`);
      assert.ok(log.split("\n").some((l) => l.startsWith('{"k":"in"') && !l.includes('"at":0,')));
      const afterRecord = await Deno.readFile(recDisk);
      const outs: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const disk = await freshDisk(dir, `rep${i}.img`);
        const r = await runToEnd([
          `--replay=${dir}/run.log`,
          `--block=${disk}`,
          ...bundledBoot([]),
        ]);
        assert.equal(r.code, 0, `replay ${i}: stderr:\n${r.err}`);
        assert.equal(finalCount(r.err), rec.count, `replay ${i}: final instruction count`);
        assert.deepEqual(await Deno.readFile(disk), afterRecord, `replay ${i}: the disk`);
        outs.push(r.out);
      }
      // The recording's stdout went through the session's text decoder: compare as text too.
      const text = new TextDecoder().decode(outs[0]);
      assert.equal(text, rec.out, "replay 0 against the recording");
      assert.deepEqual(outs[1], outs[0], "replay 1 against replay 0");
      assert.deepEqual(outs[2], outs[0], "replay 2 against replay 0");

      // Tampered: a notify moved by one instruction is named with its line.
      const lines = log.split("\n");
      const io = lines.findIndex((l, i) => i > 40 && l.startsWith('{"k":"io"'));
      const ev = JSON.parse(lines[io]);
      const moved = [...lines];
      moved[io] = JSON.stringify({ ...ev, at: ev.at + 1 });
      await Deno.writeTextFile(`${dir}/moved.log`, moved.join("\n"));
      const disk = await freshDisk(dir, "t1.img");
      const t = await runToEnd([
        `--replay=${dir}/moved.log`,
        `--block=${disk}`,
        ...bundledBoot([]),
      ]);
      assert.equal(t.code, 1, t.err);
      assert.match(
        t.err,
        new RegExp(`replay diverged at .*moved\\.log, line ${io + 1}: the log has notify`),
      );

      // Tampered: a typed input moved by one instruction: the run goes another way, and says where.
      const inp = lines.findIndex((l) => l.startsWith('{"k":"in"') && !l.includes('"at":0,'));
      const iev = JSON.parse(lines[inp]);
      const moved2 = [...lines];
      moved2[inp] = JSON.stringify({ ...iev, at: iev.at + 1 });
      await Deno.writeTextFile(`${dir}/moved2.log`, moved2.join("\n"));
      const disk2 = await freshDisk(dir, "t2.img");
      const t2 = await runToEnd([
        `--replay=${dir}/moved2.log`,
        `--block=${disk2}`,
        ...bundledBoot([]),
      ]);
      assert.equal(t2.code, 1, t2.err);
      const at = t2.err.match(/replay diverged at .*moved2\.log, line (\d+)/);
      assert.ok(at, t2.err);
      assert.ok(Number(at[1]) > inp, `named line ${at[1]}, the input is on line ${inp + 1}`);

      // A replay on a disk other than the one recorded is refused before it starts.
      const other = await freshDisk(dir, "other.img");
      const f = await Deno.open(other, { write: true }); // one byte changed in place
      await f.write(new Uint8Array([0x55]));
      f.close();
      const o = await runToEnd([`--replay=${dir}/run.log`, `--block=${other}`, ...bundledBoot([])]);
      assert.equal(o.code, 2, o.err);
      assert.match(o.err, /--block=.*other\.img is not the one recorded/);
      // ... and so is one on the other tier.
      const j = await runToEnd([
        `--replay=${dir}/run.log`,
        "--jit=off",
        `--block=${disk}`,
        ...bundledBoot([]),
      ]);
      assert.equal(j.code, 2, j.err);
      assert.match(j.err, /recorded with --jit=on: replay on the same tier/);
      // ... and one with another paging mode (the log says --mmu; an old log means sv48).
      const m = await runToEnd([
        `--replay=${dir}/run.log`,
        "--mmu=sv57",
        `--block=${disk}`,
        ...bundledBoot([]),
      ]);
      assert.equal(m.code, 2, m.err);
      assert.match(m.err, /recorded with --mmu=sv48, this run has --mmu=sv57/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "replay: a run under a probabilistic block and irq fault plan replays exactly",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-replay-chaos-" });
    try {
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [
            { layer: "block", effect: "corrupt", when: { op: "read", probability: 0.3 } },
            { layer: "block", effect: "ioerr", when: { op: "write", probability: 0.2 } },
            { layer: "irq", effect: "delay", ms: 3, when: { probability: 0.2 } },
            { layer: "irq", effect: "duplicate", ms: 1, when: { probability: 0.1 } },
          ],
        }),
      );
      const script = [
        "dmesg -n 1",
        "for i in 1 2 3 4 5 6; do echo w$i | dd of=/dev/vda bs=512 seek=$i conv=fsync 2>&1 | tail -1; sync; done",
        "blockdev --setra 0 /dev/vda; for b in 1 2 3 4 5 6; do dd if=/dev/vda bs=4096 skip=$b count=1 iflag=direct 2>/dev/null | md5sum; done",
        "cat /proc/interrupts",
        "poweroff",
      ].join("\n") + "\n";
      const plan = [`--faults=${dir}/plan.json`];
      const recDisk = await freshDisk(dir, "rec.img");
      // Recorded from a pipe (all of it there at once), with the plan and a seed.
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MOD,
          `--record=${dir}/chaos.log`,
          "--seed=7",
          ...plan,
          `--block=${recDisk}`,
          ...bundledBoot([]),
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(script));
      await w.close();
      const [st, recOut, recErr] = await Promise.all([
        child.status,
        new Response(child.stdout).bytes(),
        new Response(child.stderr).text(),
      ]);
      assert.equal(st.code, 0, recErr);
      const injected = faultLines(recErr);
      assert.ok(injected.some((l) => l.includes("block corrupt")), recErr);
      assert.ok(injected.some((l) => l.includes("irq delay")), recErr);
      const afterRecord = await Deno.readFile(recDisk);
      for (let i = 0; i < 2; i++) {
        const disk = await freshDisk(dir, `rep${i}.img`);
        // No --seed: a replay takes the recording's.
        const r = await runToEnd([
          `--replay=${dir}/chaos.log`,
          ...plan,
          `--block=${disk}`,
          ...bundledBoot([]),
        ]);
        assert.equal(r.code, 0, r.err);
        assert.deepEqual(r.out, recOut, `replay ${i}: the output`);
        assert.deepEqual(faultLines(r.err), injected, `replay ${i}: the injections`);
        assert.equal(finalCount(r.err), finalCount(recErr));
        assert.deepEqual(await Deno.readFile(disk), afterRecord, `replay ${i}: the disk`);
      }
      // Without the plan the replay is refused: the log says it had one.
      const disk = await freshDisk(dir, "noplan.img");
      const r = await runToEnd([
        `--replay=${dir}/chaos.log`,
        `--block=${disk}`,
        ...bundledBoot([]),
      ]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /the fault plan is not the one recorded/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deterministic: the same seed and input script, no log, give the same bytes twice",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-det-" });
    try {
      const b64 = (s: string) => btoa(s);
      // Input keyed on instruction counts: at the start (held until the shell
      // reads), and again long after the guest went idle at its prompt.
      await Deno.writeTextFile(
        `${dir}/script.jsonl`,
        [
          {
            k: "in",
            at: 0,
            b: b64("dmesg -n 1; head -c 8 /dev/urandom | md5sum; cat /proc/uptime\n"),
          },
          {
            k: "in",
            at: 600_000_000,
            b: b64("cat /proc/interrupts; cat /proc/uptime; poweroff\n"),
          },
        ].map((e) => JSON.stringify(e)).join("\n") + "\n",
      );
      const runs = [];
      for (const seed of [5, 5, 6]) {
        runs.push(
          await runToEnd([
            "--deterministic",
            `--seed=${seed}`,
            `--input-script=${dir}/script.jsonl`,
            ...bundledBoot([]),
          ]),
        );
      }
      for (const r of runs) assert.equal(r.code, 0, r.err);
      assert.deepEqual(runs[1].out, runs[0].out, "same seed, same script: same bytes");
      assert.equal(finalCount(runs[1].err), finalCount(runs[0].err));
      const text = new TextDecoder().decode(runs[0].out);
      assert.match(text, /virtio0/);
      // The seed reaches the guest's entropy: another seed, another random line.
      const sum = (t: string) => t.match(/[0-9a-f]{32} {2}-/)?.[0];
      assert.ok(sum(text), text);
      assert.notEqual(sum(new TextDecoder().decode(runs[2].out)), sum(text));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const netSkip = await netnsUnavailable();

Deno.test({
  name:
    "replay: a ping over a tap (in a namespace made for the test) records and replays three times",
  ignore: netSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "actorvm-replay-net-" });
      try {
        const net = ["--tunnet=10.213.40.1/24"];
        const s = new GuestSession({
          args: [`--record=${dir}/net.log`, ...net, ...bundledBoot([])],
          netns: ns.name,
        });
        let recorded: string;
        let count: number;
        try {
          await s.waitFor(READY_LINE, 60_000);
          await s.run("dmesg -n 1; ip addr add 10.213.40.2/24 dev eth0; ip link set eth0 up");
          assert.match(await s.run("ping -c 3 -W 5 10.213.40.1"), / 0% packet loss/);
          await s.send("poweroff\n");
          const st = await s.exit(30_000);
          assert.equal(st.code, 0, s.stderr);
          recorded = s.output;
          count = finalCount(s.stderr);
        } finally {
          await s.close();
        }
        const log = await Deno.readTextFile(`${dir}/net.log`);
        assert.ok(log.includes('{"k":"net"'), "received frames are logged");
        for (let i = 0; i < 3; i++) {
          // The replay's tap gets the host's real answers again: they are not read.
          const child = ns.spawn([
            Deno.execPath(),
            "run",
            "-A",
            MOD,
            `--replay=${dir}/net.log`,
            ...net,
            ...bundledBoot([]),
          ]);
          const [st, out, err] = await Promise.all([
            child.status,
            new Response(child.stdout).text(),
            new Response(child.stderr).text(),
          ]);
          assert.equal(st.code, 0, err);
          assert.equal(out, recorded, `replay ${i}: the output`);
          assert.equal(finalCount(err), count, `replay ${i}: the final count`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
});

Deno.test({
  name: "deterministic: what cannot be made deterministic, and bad logs, are refused before boot",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-det-refuse-" });
    try {
      await Deno.writeTextFile(
        `${dir}/bad.log`,
        '{"k":"actorvm-replay","v":1}\n{"k":"io","at":5}\n',
      );
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [{ layer: "console", effect: "drop", when: { probability: 0.5 } }],
        }),
      );
      const cases: [string[], RegExp][] = [
        [
          ["--deterministic", `--share=${dir}`],
          /--deterministic: --share is not supported in deterministic mode/,
        ],
        [["--record=x.log", "--bios=x.bin"], /--record: --bios is not supported/],
        [["--replay=x.log", "--gdb=1234"], /--replay: --gdb is not supported/],
        // (--restore and --control are allowed: tests/e2e/replay_snapshot_test.ts.)
        [["--record=x.log", "--smp=2"], /--record: --smp=2 is not supported/],
        [["--record=a.log", "--replay=b.log"], /one --record or --replay only/],
        [[`--input-script=${dir}/s`], /--input-script is for --deterministic/],
        [[`--replay=${dir}/none.log`], /--replay=.*none\.log: no such file/],
        [[`--replay=${dir}/bad.log`], /bad\.log, line 2: notify without slot/],
        [
          ["--deterministic", `--faults=${dir}/plan.json`],
          /the fault plan's console rules are not supported/,
        ],
      ];
      for (const [args, re] of cases) {
        const r = await runToEnd([...args, ...bundledBoot([])], { limitMs: 60_000 });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
        assert.match(r.err, re, args.join(" "));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "replay: guest work hot enough to be translated records and replays exactly (the translator's tier)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-replay-jit-" });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, `--record=${dir}/busy.log`, "--verbose", ...bundledBoot([])],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(
        new TextEncoder().encode(
          "i=0; while [ $i -lt 12000 ]; do i=$((i+1)); done; echo $i\npoweroff\n",
        ),
      );
      await w.close();
      const [st, out, err] = await Promise.all([
        child.status,
        new Response(child.stdout).bytes(),
        new Response(child.stderr).text(),
      ]);
      assert.equal(st.code, 0, err);
      assert.match(new TextDecoder().decode(out), /12000/);
      const translated = (e: string) => e.match(/translator: (\d+) pages translated/)?.[1];
      assert.ok(Number(translated(err)) > 0, `the translator ran:\n${err}`);
      const r = await runToEnd([`--replay=${dir}/busy.log`, "--verbose", ...bundledBoot([])]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out, out, "the output");
      assert.equal(finalCount(r.err), finalCount(err), "the final count");
      assert.equal(translated(r.err), translated(err), "the same pages translated");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
