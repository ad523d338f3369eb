// Supervision end to end for the share: a fault plan kills the share actor 10
// times while the guest reads, creates, appends to and renames files on it,
// each kill after a request was taken off the queue and before it was served.
// Each restarted actor takes over the guest's fids from the fid store (and the
// dead one's fds) and serves the request again, so the guest never notices: every command succeeds and
// the host holds exactly what the guest wrote. A second plan answers chosen
// requests with EIO, and the guest sees an I/O error, not a hang.
// Read next: actors/share/share_actor.ts, devices/p9/fidstore.ts, faults/layers/share.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";

Deno.test({
  name: "supervision e2e: share actor killed 10 times mid-work; the guest never notices",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-9p-kill-" });
    let s: GuestSession | null = null;
    try {
      await Deno.mkdir(`${dir}/share`);
      await Deno.writeTextFile(`${dir}/share/in.txt`, "input line\n".repeat(1000));
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          comment: "kill the share actor every 37th 9P request, 10 times",
          restart: { share: { maxRestarts: 20, windowMs: 10000, backoffMs: 5 } },
          rules: [{ layer: "share", effect: "kill", when: { every: 37, count: 10 } }],
        }),
      );
      s = new GuestSession({
        args: [
          `--faults=${dir}/plan.json`,
          `--share=${dir}/share,tag=s`,
          ...bundledBoot(["actorvm.share=s"]),
        ],
      });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      const fds = () => [...Deno.readDirSync(`/proc/${s!.child.pid}/fd`)].length;
      const fdsBefore = fds();
      const out = await s.run(
        "cd /mnt/s && mkdir d && i=0; while [ $i -lt 40 ]; do " +
          "cat in.txt > d/c$i && echo $i >> log && mv d/c$i d/m$i && i=$((i+1)); done; " +
          "cat d/m* | wc -l; wc -l < log",
        120_000,
      );
      assert.deepEqual(out.trim().split(/\s+/), ["40000", "40"]);
      for (let i = 0; i < 40; i++) {
        assert.deepEqual(
          await Deno.readTextFile(`${dir}/share/d/m${i}`),
          "input line\n".repeat(1000),
        );
      }
      assert.deepEqual(
        await Deno.readTextFile(`${dir}/share/log`),
        Array.from({ length: 40 }, (_, i) => `${i}\n`).join(""),
      );
      const restarts = s.stderr.match(/share actor restarted/g) ?? [];
      assert.deepEqual(restarts.length, 10, s.stderr);
      assert.match(s.stderr, /virtio-9p s: restarted; reopened \d+ of \d+ fids/);
      // Each new actor took over the dead one's fds (the process's): none piled up.
      assert.ok(fds() < fdsBefore + 20, `fds ${fdsBefore} before, ${fds()} after 10 restarts`);
      await s.poweroff();
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "faults e2e: a share ioerr rule gives the guest EIO, and the share works on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-9p-eio-" });
    let s: GuestSession | null = null;
    try {
      await Deno.mkdir(`${dir}/share`);
      await Deno.writeTextFile(`${dir}/share/f`, "fine\n");
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [{ layer: "share", effect: "ioerr", when: { op: "read", probability: 0.3 } }],
        }),
      );
      s = new GuestSession({
        args: [
          `--faults=${dir}/plan.json`,
          "--seed=5",
          `--share=${dir}/share,tag=s`,
          ...bundledBoot(["actorvm.share=s"]),
        ],
      });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      const out = await s.run(
        "i=0; while [ $i -lt 30 ]; do cat /mnt/s/f 2>&1; i=$((i+1)); done; true",
        60_000,
      );
      assert.match(out, /fine/);
      assert.match(out, /Input\/output error/);
      assert.match(s.stderr, /rule 0: share ioerr/);
      await s.poweroff();
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
