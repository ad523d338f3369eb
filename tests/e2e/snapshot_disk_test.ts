// `--block=<file>,snapshot` from the top: the bundled guest mounts a
// ,snapshot disk, writes files across many blocks and syncs; it reads them
// back after dropping its page cache (so from the overlay, through the
// device); after poweroff the base file is byte for byte what it was and the
// overlay file is gone. The overlay itself: tests/unit/block/overlay_test.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { E2FS_MISSING, e2fsck, mke2fs } from "../../testing/block_tools.ts";
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
