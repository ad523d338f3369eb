// `--block=<file>,snapshot` from the top: the bundled guest mounts a
// ,snapshot disk, writes files across many blocks and syncs; it reads them
// back after dropping its page cache (so from the overlay, through the
// device); after poweroff the base file is byte for byte what it was and the
// overlay file is gone. And a plain writable disk: a snapshot is refused, or
// with disks: "copy" saves it whole, and a clone sees it as it was while the
// file goes on without it. The overlay itself: tests/unit/block/overlay_test.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { debugfsCat, E2FS_MISSING, e2fsck, mke2fs } from "../../testing/block_tools.ts";
import { bootMachine, exportSnapshotDisk, type Machine, SnapshotRefused } from "../../mod.ts";
import { sha256Hex } from "../../testing/sha256.ts";

Deno.test({
  name: "snapshot disk: the guest writes, reads back, and the base file is untouched",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-snapdisk-" });
    let g: GuestSession | null = null;
    try {
      await Deno.mkdir(`${dir}/src`);
      await Deno.writeTextFile(`${dir}/src/hello.txt`, "from the base\n");
      const img = `${dir}/base.img`;
      await mke2fs(`${dir}/src`, img, "8M");
      const before = await sha256Hex(await Deno.readFile(img));
      await Deno.mkdir(`${dir}/tmp`);
      g = new GuestSession({
        args: [`--block=${img},snapshot`, "--verbose", ...bundledBoot(["actorvm.mount=1"])],
        env: { TMPDIR: `${dir}/tmp` },
      });
      await g.waitFor(READY_LINE, 60_000);
      assert.match(g.stderr, /on .*base\.img \(snapshot overlay .*actorvm-overlay-base\.img-/);
      const overlays = [...Deno.readDirSync(`${dir}/tmp`)].map((e) => e.name);
      assert.deepEqual(overlays.length, 1, `one overlay file: ${overlays}`);
      await g.run("dmesg -n 1");
      // The guest sees a writable disk.
      assert.deepEqual(await g.run("cat /sys/block/vda/ro"), "0\n");
      await g.run(
        "echo changed >> /mnt/hello.txt && dd if=/dev/urandom of=/mnt/r.bin bs=1k count=64 " +
          "2>/dev/null && seq 1 3000 > /mnt/seq.txt && sync",
      );
      const sumR = await g.run("sha256sum /mnt/r.bin | cut -c1-64");
      await g.run("echo 3 > /proc/sys/vm/drop_caches");
      assert.deepEqual(await g.run("cat /mnt/hello.txt"), "from the base\nchanged\n");
      assert.deepEqual(await g.run("sha256sum /mnt/r.bin | cut -c1-64"), sumR);
      assert.deepEqual(await g.run("tail -n 1 /mnt/seq.txt"), "3000\n");
      await g.send("poweroff\n");
      const st = await g.exit(60_000);
      assert.deepEqual(st.code, 0, `exit status; stderr:\n${g.stderr}`);
      assert.deepEqual(await sha256Hex(await Deno.readFile(img)), before, "the base changed");
      assert.deepEqual((await e2fsck(img)).code, 0);
      assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)].length, 0, "the overlay was removed");
    } finally {
      await g?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "snapshot disk: a plain writable disk is refused, or copied whole with disks: copy",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-snapcopy-" });
    const vms: Machine[] = [];
    try {
      await Deno.mkdir(`${dir}/src`);
      const img = `${dir}/plain.img`;
      await mke2fs(`${dir}/src`, img, "8M");
      const vm = await bootMachine({
        args: [`--block=${img}`, ...bundledBoot(["actorvm.mount=1"])],
        log: () => {},
      });
      vms.push(vm);
      await vm.waitFor(READY_LINE, 90_000);
      await vm.send("echo at-snapshot > /mnt/f; sync; echo w-$((1))\n");
      await vm.waitFor("w-1\r\n");
      await assert.rejects(
        () => vm.snapshot(`${dir}/refused.snap`),
        SnapshotRefused,
        "plain writable disk",
      );
      assert.throws(() => Deno.statSync(`${dir}/refused.snap`), Deno.errors.NotFound);
      const r = await vm.snapshot(`${dir}/copy.snap`, { disks: "copy" });
      assert.ok(r.bytes > 0);
      // The original goes on and changes its file after the snapshot.
      await vm.send("echo after-snapshot > /mnt/f; sync; echo w-$((2))\n");
      await vm.waitFor("w-2\r\n");
      await vm.send("poweroff\n");
      await vm.output.pipeTo(new WritableStream());
      assert.deepEqual((await vm.result).exitCode, 0);
      assert.deepEqual(await debugfsCat(img, "/f"), "after-snapshot\n");
      const fileHash = await sha256Hex(await Deno.readFile(img));

      // The clone sees the disk as it was at the snapshot; the file is not written.
      const clone = await bootMachine({ restore: `${dir}/copy.snap`, log: () => {} });
      vms.push(clone);
      await clone.send("echo 3 > /proc/sys/vm/drop_caches; cat /mnt/f; echo w-$((3))\n");
      assert.match(await clone.waitFor("w-3\r\n"), /at-snapshot\r\n/);
      await clone.send("echo clone > /mnt/g; sync; poweroff\n");
      await clone.output.pipeTo(new WritableStream());
      assert.deepEqual((await clone.result).exitCode, 0);
      assert.deepEqual(
        await sha256Hex(await Deno.readFile(img)),
        fileHash,
        "the clone wrote the file",
      );
      await exportSnapshotDisk(`${dir}/copy.snap`, 0, `${dir}/out.img`);
      assert.deepEqual(await debugfsCat(`${dir}/out.img`, "/f"), "at-snapshot\n");
    } finally {
      for (const m of vms) await m.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
