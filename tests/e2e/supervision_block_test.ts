// Supervision end to end: the block actor is killed 20 times while the guest
// writes and syncs files on an ext2 disk — half of the times just before a
// write reaches the file, half just after it did but before the request was
// completed — so each restarted actor must serve the in-flight requests again
// from the used ring (no acknowledged write lost, none completed twice). After
// poweroff, e2fsck on the host finds the image clean and every synced file
// holds what the guest wrote (read with debugfs).
// Read next: actors/runtime/supervisor.ts, devices/virtio/queue.ts (resuming).

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { debugfsRead, E2FS_MISSING, e2fsck, mke2fs } from "../../testing/block_tools.ts";

const FILES = 40;
/** What the guest writes to /mnt/f<i>: `yes "file <i> line" | head -c <n>`. */
function content(i: number): Uint8Array {
  const line = `file ${i} line\n`;
  return new TextEncoder().encode(line.repeat(Math.ceil(size(i) / line.length)).slice(0, size(i)));
}
const size = (i: number) => 3000 + i * 997;

Deno.test({
  name: "supervision e2e: block actor killed 20 times mid-write; fsck clean, every file intact",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-kill-" });
    let s: GuestSession | null = null;
    try {
      await Deno.mkdir(`${dir}/root`);
      const img = `${dir}/disk.img`;
      await mke2fs(`${dir}/root`, img, "8M");
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          comment: "kill the block actor 20 times: just before a write reaches the file " +
            "(every 5th), or just after it did, before the request completes (every 3rd)",
          restart: { block: { maxRestarts: 40, windowMs: 10000, backoffMs: 5 } },
          rules: [
            {
              layer: "block",
              effect: "kill",
              before: true,
              when: { op: "write", every: 5, count: 10 },
            },
            { layer: "block", effect: "kill", when: { op: "write", every: 3, count: 10 } },
          ],
        }),
      );
      s = new GuestSession({
        args: [
          `--faults=${dir}/plan.json`,
          `--block=${img}`,
          ...bundledBoot(["actorvm.mount=1"]),
        ],
      });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      await s.run(
        `i=1; while [ $i -le ${FILES} ]; do ` +
          `yes "file $i line" | head -c $((3000 + i * 997)) > /mnt/f$i; sync; i=$((i+1)); done`,
        120_000,
      );
      // The guest saw no I/O error and no broken ring.
      assert.deepEqual(
        (await s.run("dmesg | grep -ci 'error\\|not a head\\|vring' || true")).trim(),
        "0",
      );
      await s.send("poweroff\n");
      const st = await s.exit(60_000);
      assert.deepEqual(st.code, 0, `exit status; stderr:\n${s.stderr}`);
      assert.match(s.stderr, /block actor restarted \(20\)/);
      assert.match(s.stderr, /20 injected: rule 0 block kill ×10, rule 1 block kill ×10/);
      assert.ok(!/block actor restarted \(21\)/.test(s.stderr), "exactly 20 kills");
      const fsck = await e2fsck(img);
      assert.deepEqual(fsck.code, 0, `e2fsck -fn:\n${fsck.text}`);
      for (let i = 1; i <= FILES; i++) {
        assert.deepEqual(await debugfsRead(img, `/f${i}`), content(i), `/f${i}`);
      }
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
