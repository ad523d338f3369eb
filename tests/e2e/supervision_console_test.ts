// Supervision end to end, one boot: the waker is killed at a set time during
// the boot and restarted (timers keep working); the console actor is killed in the middle
// of a typed command line and restarted — the command still runs and the
// session goes on (the byte it died on stayed in the input ring); the block
// actor, with a plan that allows it no restart, dies on a read — the
// launcher sets DEVICE_NEEDS_RESET and raises a config interrupt, the guest
// sees the bit in the device status, the reader hangs but the rest of the
// guest and the emulator keep running. A second, short boot kills the
// interrupt controller: the machine stops with a clear reason and status 1.
// Read next: actors/runtime/supervisor.ts, launcher/boot.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";

const KERNEL = [
  ...bundledBoot([]),
];

Deno.test({
  name: "supervision e2e: console killed mid-line resumes; block past its policy gets NEEDS_RESET",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-sup-" });
    let s: GuestSession | null = null;
    try {
      await Deno.writeFile(`${dir}/disk.raw`, new Uint8Array(4 << 20));
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          restart: { block: { maxRestarts: 0 } },
          rules: [
            { layer: "console", effect: "kill", when: { nth: 20 } },
            { layer: "block", effect: "kill", when: { op: "read", sectors: [4000, 4000] } },
            { layer: "waker", effect: "kill", when: { atMs: 500 } },
          ],
        }),
      );
      s = new GuestSession({
        args: [`--faults=${dir}/plan.json`, `--block=${dir}/disk.raw`, ...KERNEL],
      });
      await s.waitFor(READY_LINE, 60_000);
      // The first line typed is ~50 bytes: the console dies on its 20th.
      assert.deepEqual((await s.run("echo hello-$((6*7))")).trim(), "hello-42");
      assert.match(
        s.stderr,
        /console actor crashed: killed by fault plan rule 0 \(console, match 20\)/,
      );
      assert.match(s.stderr, /console actor restarted \(1\)/);
      assert.deepEqual((await s.run("echo second; echo line")).trim(), "second\nline");
      // The waker was killed at 500 ms of guest time, during the boot, and restarted: timers go on.
      assert.match(
        s.stderr,
        /waker actor crashed: killed by fault plan rule 2 \(waker, at 500 ms\)/,
      );
      assert.match(s.stderr, /waker actor restarted \(1\)/);
      assert.deepEqual((await s.run("sleep 1; echo slept")).trim(), "slept");
      await s.run("dmesg -n 1");
      // Block 500 = sector 4000: the read kills the block actor, which may not restart.
      await s.run(
        "(dd if=/dev/vda of=/dev/null bs=4096 skip=500 count=1; echo dd-done) >/tmp/dd.out 2>&1 & true",
      );
      const deadline = Date.now() + 20_000;
      while (!/set DEVICE_NEEDS_RESET/.test(s.stderr) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(s.stderr, /block actor: gave up: .*past its policy \(no restarts\)/);
      assert.match(
        s.stderr,
        /virtio-blk \/dev\/vda: set DEVICE_NEEDS_RESET and raised a config interrupt; the machine keeps running/,
      );
      // The guest is alive and its driver sees DEVICE_NEEDS_RESET (0x40) in the status.
      const status = Number((await s.run("cat /sys/bus/virtio/devices/virtio1/status")).trim());
      assert.ok((status & 0x40) !== 0, `status 0x${status.toString(16)}`);
      assert.deepEqual((await s.run("cat /tmp/dd.out; echo still-here")).trim(), "still-here");
      // A normal poweroff waits on the stuck reader; the forced one goes straight to the SBI.
      await s.send("poweroff -f\n");
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "supervision e2e: a crash of the interrupt controller stops the machine (status 1)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-sup-" });
    let s: GuestSession | null = null;
    try {
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({ rules: [{ layer: "irq", effect: "kill", when: { nth: 5 } }] }),
      );
      s = new GuestSession({ args: [`--faults=${dir}/plan.json`, ...KERNEL] });
      const st = await s.exit(60_000);
      assert.deepEqual(st.code, 1, s.stderr);
      assert.match(s.stderr, /irq actor crashed: killed by fault plan rule 0 \(irq, match 5\)/);
      assert.match(
        s.stderr,
        /guest emulator failure: the irq actor \(interrupt controller\) crashed/,
      );
      assert.ok(!s.output.includes(READY_LINE), "the guest did not get far");
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
