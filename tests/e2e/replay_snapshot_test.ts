// A recording that starts from a snapshot, and its replay (docs/replay.md,
// "Snapshots"), with the real guest. One deterministic boot, driven through
// its control socket (status, pause and resume are allowed in this mode),
// gives two snapshots at the shell. From the first, a session piped in at
// once — the clock, /dev/urandom, a sleep, a disk write with sync read back —
// is recorded, and replayed twice: the same bytes and the same final
// instruction count each time, and each replay's --snapshot-at halfway
// writes the same machine. The replay is refused with the other
// snapshot, and without one. And the two directions between the modes: a
// normal run may restore the deterministic snapshot (and snapshot itself),
// a deterministic run refuses that normal-mode snapshot.
// Read next: tests/e2e/replay_test.ts (recordings from a boot).

import assert from "../../testing/assert.ts";
import {
  bundledBoot,
  finalCount,
  GuestSession,
  READY_LINE,
  runToEnd,
} from "../../testing/guest_session.ts";
import { sha256Hex } from "../../testing/sha256.ts";
import { control } from "../../testing/control_socket.ts";
import { decodeSnapshot } from "../../machine/snapshot_format.ts";
import { CTL, CTL64 } from "../../machine/control.ts";

const DISK = new URL("../../guest/disk.img", import.meta.url).pathname;

/** What the recorded session types: timing, randomness and the disk, then poweroff. */
const SESSION = [
  "date +%s; cat /proc/uptime",
  "head -c 16 /dev/urandom | md5sum",
  "sleep 0.3; cat /proc/uptime",
  "for i in 1 2 3; do echo w$i | dd of=/dev/vda bs=512 seek=$i conv=fsync 2>/dev/null; sync; done",
  "dd if=/dev/vda bs=512 skip=1 count=3 iflag=direct 2>/dev/null | md5sum",
  "poweroff",
].join("\n") + "\n";

Deno.test({
  name: "replay from a snapshot: record from a deterministic snapshot, replay twice, refusals",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-rsnap-" });
    try {
      const disk = `${dir}/disk.img`;
      await Deno.copyFile(DISK, disk);
      const sock = `${dir}/ctl.sock`;
      const snapA = `${dir}/a.snap`, snapB = `${dir}/b.snap`;
      // One deterministic boot, two snapshots at the shell.
      const s = new GuestSession({
        args: [
          "--deterministic",
          `--control=${sock}`,
          `--block=${disk},snapshot`,
          ...bundledBoot(),
        ],
      });
      try {
        await s.waitFor(READY_LINE, 60_000);
        await s.run("dmesg -n 1");
        const st = await control(sock, "status");
        assert.equal((st.return as Record<string, unknown>).status, "running", JSON.stringify(st));
        assert.ok("return" in await control(sock, "pause"));
        const paused = await control(sock, "status");
        assert.equal((paused.return as Record<string, unknown>).status, "paused");
        assert.ok("return" in await control(sock, "resume"));
        const a = await control(sock, "snapshot", { path: snapA });
        assert.ok("return" in a, JSON.stringify(a));
        assert.match(await s.run("echo $((6*7))"), /42/);
        assert.ok("return" in await control(sock, "snapshot", { path: snapB }));
        assert.ok("return" in await control(sock, "quit"));
        assert.equal((await s.exit(30_000)).code, 130, s.stderr);
      } finally {
        await s.close();
      }
      // The snapshot says it was taken in deterministic mode, with the cpu's state.
      const raw = await Deno.readFile(snapA);
      const hlen = new DataView(raw.buffer).getUint32(12, true);
      const header = JSON.parse(new TextDecoder().decode(raw.subarray(48, 48 + hlen)));
      assert.equal(header.deterministic.seed, 0);
      assert.equal(header.deterministic.icount, header.instret + header.deterministic.idle);
      assert.ok(header.deterministic.idle > 0, "the shell waited in wfi: guest time skipped");

      // Recorded from snapshot A, with the whole session piped in at once.
      const rec = await runToEnd([`--record=${dir}/run.log`, `--restore=${snapA}`], {
        input: SESSION,
      });
      assert.equal(rec.code, 0, rec.err);
      const recText = new TextDecoder().decode(rec.out);
      assert.match(recText, /[0-9a-f]{32} {2}-/);
      const count = finalCount(rec.err);
      assert.ok(count > header.instret, `the run went on from the snapshot's count`);
      const logHeader = JSON.parse((await Deno.readTextFile(`${dir}/run.log`)).split("\n")[0]);
      assert.equal(logHeader.snapshot, await sha256Hex(raw), "the log names the snapshot");
      // Replayed twice from the same snapshot: the same bytes, the same count; each
      // replay snapshots itself halfway (--snapshot-at), at the same boundary, the same machine.
      const half = Math.round((header.instret + count) / 2);
      const mids: { header: Record<string, unknown>; sections: Map<string, Uint8Array> }[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await runToEnd([
          `--replay=${dir}/run.log`,
          `--restore=${snapA}`,
          `--snapshot-at=${half}:${dir}/mid${i}.snap`,
        ]);
        assert.equal(r.code, 0, `replay ${i}: ${r.err}`);
        assert.deepEqual(r.out, rec.out, `replay ${i}: the output`);
        assert.equal(finalCount(r.err), count, `replay ${i}: the final instruction count`);
        const at = r.err.match(/--snapshot-at: .*mid\d\.snap at (\d+) instructions/);
        assert.ok(at && Number(at[1]) >= half && Number(at[1]) < half + 40_000, r.err);
        const m = await decodeSnapshot<Record<string, unknown>>(
          await Deno.readFile(`${dir}/mid${i}.snap`),
          () => 2 ** 32,
        );
        assert.equal(m.header.instret, Number(at[1]));
        delete m.header.created;
        delete m.header.sections; // their checksums: the sections are compared below
        // The control block's clock epoch is the host's (a restore never takes it): not compared.
        const control = m.sections.get("control")!;
        control.fill(0, CTL64.CLOCK_EPOCH_MS, CTL64.CLOCK_EPOCH_MS + 8);
        // Nor are its wake-up tickets and heartbeat: counts of notifications between
        // workers (a device finishing, the waker), which follow the host's timing, not
        // the guest's state (the guest sees the words they announce, compared here).
        for (const w of [CTL.WAKE, CTL.TIMER_SEQ, CTL.IRQ_DOORBELL, CTL.CPU_BEAT, CTL.CPU_IDLE]) {
          control.fill(0, 4 * w, 4 * w + 4);
        }
        mids.push({ header: m.header, sections: m.sections });
      }
      assert.deepEqual(mids[1].header, mids[0].header, "the halfway snapshots' headers");
      for (const [name, bytes] of mids[0].sections) {
        const other = mids[1].sections.get(name)!;
        const at = bytes.findIndex((b, i) => other[i] !== b);
        assert.ok(
          other.length === bytes.length && at < 0,
          `the halfway snapshots' ${name} differ at byte ${at}: ${bytes[at]} vs ${other[at]}`,
        );
      }
      // Another snapshot, or none: refused before anything starts, saying what differs.
      const other = await runToEnd([`--replay=${dir}/run.log`, `--restore=${snapB}`]);
      assert.equal(other.code, 2, other.err);
      assert.match(other.err, /--restore=.*b\.snap is not the snapshot recorded from/);
      const none = await runToEnd([`--replay=${dir}/run.log`, ...bundledBoot()]);
      assert.equal(none.code, 2, none.err);
      assert.match(none.err, /recorded from a snapshot .* give that snapshot, --restore=/);

      // --snapshot-at names a moment only in deterministic mode; a malformed one is a usage error.
      const normal = await runToEnd([`--snapshot-at=5:${dir}/x.snap`, ...bundledBoot()]);
      assert.equal(normal.code, 2, normal.err);
      assert.match(normal.err, /--snapshot-at needs deterministic mode/);
      const bad = await runToEnd(["--deterministic", "--snapshot-at=x.snap", ...bundledBoot()]);
      assert.equal(bad.code, 2, bad.err);
      assert.match(bad.err, /--snapshot-at=x\.snap: want <instructions>:<file>/);

      // A normal run may restore the deterministic snapshot, and snapshot itself...
      const snapN = `${dir}/n.snap`;
      const n = new GuestSession({ args: [`--restore=${snapA}`, `--control=${sock}`] });
      try {
        assert.match(await n.run("echo $((6*7))"), /42/);
        assert.ok("return" in await control(sock, "snapshot", { path: snapN }));
        await n.send("poweroff\n");
        assert.equal((await n.exit(30_000)).code, 0, n.stderr);
      } finally {
        await n.close();
      }
      // ...which a deterministic run refuses: its clock was the host's.
      const det = await runToEnd(["--deterministic", `--restore=${snapN}`]);
      assert.equal(det.code, 2, det.err);
      assert.match(det.err, /n\.snap: taken in normal mode; a deterministic run/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
