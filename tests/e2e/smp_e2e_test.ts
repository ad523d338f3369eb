// --smp from the top (docs/smp.md): the bundled SMP kernel on 2 and 4 harts,
// each a cpu actor in its own worker. One boot per hart count serves every
// check: nproc and /proc/cpuinfo agree with --smp; a multi-threaded program
// (tests/programs/src/smp.c, served over 9p from tests/programs/bin) hammers
// shared counters with amoadd.w/.d, lr/sc.w/.d loops and a mutex and must end
// with exact totals; 10^5 rounds of the message-passing and store-buffering
// litmus tests show no outcome RVWMO forbids; and a secondary goes offline
// and back through sysfs (SBI HSM hart_stop, then hart_start) and works after.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { bootMachine } from "../../mod.ts";

const PROGRAMS = new URL("../programs/bin", import.meta.url).pathname;

/** Boot the SMP kernel on `harts` harts with the test programs at /mnt/progs. */
async function bootSmp(harts: number): Promise<GuestSession> {
  const g = new GuestSession({
    args: [
      `--smp=${harts}`,
      `--share=${PROGRAMS},ro,tag=progs`,
      ...bundledBoot(["actorvm.share=progs:/mnt/progs"], 128, "variants/Image-smp"),
    ],
  });
  await g.waitFor(READY_LINE, 120_000);
  await g.run("dmesg -n 1");
  return g;
}

const counters = (threads: number, n: number) =>
  `counters: ${threads} threads x ${n}: amoadd.w ${threads * n} amoadd.d ${threads * n} ` +
  `lr/sc.w ${threads * n} lr/sc.d ${threads * n} mutex ${threads * n}: ok\n`;

Deno.test({
  name: "smp e2e: 2 harts — nproc, cpuinfo, exact shared counters, RVWMO litmus, hotplug",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const g = await bootSmp(2);
    try {
      assert.equal(await g.run("nproc"), "2\n");
      assert.equal(await g.run("grep -c ^processor /proc/cpuinfo"), "2\n");
      assert.equal(
        await g.run("grep -E '^hart[[:space:]]*:' /proc/cpuinfo | tr -d '\\t'"),
        "hart: 0\nhart: 1\n",
      );
      assert.equal(await g.run("cat /sys/devices/system/cpu/online"), "0-1\n");
      assert.equal(await g.run("/mnt/progs/smp counters 4 20000", 180_000), counters(4, 20000));
      assert.equal(
        await g.run("/mnt/progs/smp litmus 100000", 300_000),
        "litmus: 100000 iterations: MP forbidden 0, SB forbidden 0: ok\n",
      );
      // Hotplug: offline (the kernel asks SBI HSM hart_stop on hart 1), then back.
      await g.run("echo 0 > /sys/devices/system/cpu/cpu1/online");
      assert.equal(await g.run("cat /sys/devices/system/cpu/online"), "0\n");
      assert.equal(await g.run("nproc"), "1\n");
      await g.run("echo 1 > /sys/devices/system/cpu/cpu1/online");
      assert.equal(await g.run("cat /sys/devices/system/cpu/online"), "0-1\n");
      assert.equal(await g.run("nproc"), "2\n");
      assert.equal(await g.run("/mnt/progs/smp counters 2 5000", 180_000), counters(2, 5000));
      await g.poweroff(20_000);
      assert.doesNotMatch(g.output, /rcu.*stall|Oops|BUG:/);
    } finally {
      await g.close();
    }
  },
});

Deno.test({
  name: "smp e2e: 4 harts — nproc, cpuinfo and exact shared counters",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const g = await bootSmp(4);
    try {
      assert.equal(await g.run("nproc"), "4\n");
      assert.equal(await g.run("grep -c ^processor /proc/cpuinfo"), "4\n");
      assert.equal(await g.run("cat /sys/devices/system/cpu/online"), "0-3\n");
      assert.equal(await g.run("/mnt/progs/smp counters 8 5000", 180_000), counters(8, 5000));
      await g.poweroff(20_000);
      assert.doesNotMatch(g.output, /rcu.*stall|Oops|BUG:/);
    } finally {
      await g.close();
    }
  },
});

Deno.test({
  name:
    "smp e2e: a fault plan delays every 4th IPI by 20 ms; the guest still computes exact totals",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const plan = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(
      plan,
      JSON.stringify({
        seed: 7,
        rules: [{ layer: "ipi", effect: "delay", ms: 20, when: { every: 4 } }],
      }),
    );
    const g = new GuestSession({
      args: [
        "--smp=2",
        `--faults=${plan}`,
        `--share=${PROGRAMS},ro,tag=progs`,
        ...bundledBoot(["actorvm.share=progs:/mnt/progs"], 128, "variants/Image-smp"),
      ],
    });
    try {
      await g.waitFor(READY_LINE, 120_000);
      await g.run("dmesg -n 1");
      assert.equal(await g.run("/mnt/progs/smp counters 4 5000", 180_000), counters(4, 5000));
      await g.poweroff(20_000);
      // The launcher's tally names the ipi rule and how often it hit.
      assert.match(g.stderr, /rule 0 ipi delay ×[1-9]/);
    } finally {
      await g.close();
      await Deno.remove(plan);
    }
  },
});

Deno.test({
  name: "smp e2e: a library machine (bootMachine) with --smp=2 drains every hart's output",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Each hart's worker writes the SBI console to its own output ring (launcher/boot.ts).
    const m = await bootMachine({ args: ["--smp=2"] });
    const boot = await m.waitFor(READY_LINE, 120_000);
    assert.match(boot, /smp: Brought up 1 node, 2 CPUs/);
    await m.send("nproc\n");
    await m.waitFor(/\n2\r?\n/, 30_000);
    await m.send("poweroff\n");
    const r = await m.result;
    assert.equal(r.exitCode, 0);
  },
});

Deno.test("smp e2e: a crashing secondary hart's actor ends the run with status 1, naming the hart", async () => {
  const worker = new URL("../../testing/actors/crashing_secondary.worker.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../mod.ts", import.meta.url).pathname,
      "--smp=2",
      "--actor",
      `cpu=${worker.pathname}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, err);
  assert.match(
    err,
    /cpu \(hart 1\) actor crashed: .*crashing_secondary: hart 1 fell over on purpose/,
  );
  assert.match(err, /guest emulator failure: the cpu \(hart 1\) actor failed/);
});
