// Disk files that change under a running guest (docs/block.md, "Durability"):
// one boot with two raw disks; on the host, vda's file is deleted and vdb's is
// replaced by another file (a rename over it). The guest's next fsync on each
// fails with an I/O error, and so does every later one; the emulator warns
// once per disk on stderr; the replacement file is never written. Backend-level
// checks: tests/unit/block/backend_test.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";

/** A dd that writes one sector and fsyncs; prints its status as `rc=N`. */
const ddSync = (dev: string, seek: number) =>
  `printf 'guest-data' | dd of=/dev/${dev} bs=512 seek=${seek} conv=sync,fsync 2>&1; echo rc=$?`;

Deno.test({
  name: "block: a disk deleted or replaced under the guest fails its flushes, warned once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-blkchg-" });
    let g: GuestSession | null = null;
    try {
      const a = `${dir}/a.raw`, b = `${dir}/b.raw`;
      await Deno.writeFile(a, new Uint8Array(64 * 512));
      await Deno.writeFile(b, new Uint8Array(64 * 512));
      g = new GuestSession({ args: [`--block=${a}`, `--block=${b}`, ...bundledBoot()] });
      await g.waitFor(READY_LINE, 60_000);
      await g.run("dmesg -n 1");

      // While the files are ours, a flushed write is fine.
      assert.match(await g.run(ddSync("vda", 1)), /rc=0/);
      assert.match(await g.run(ddSync("vdb", 1)), /rc=0/);

      await Deno.remove(a);
      const replacement = new Uint8Array(64 * 512).fill(0x77);
      await Deno.writeFile(`${b}.new`, replacement);
      await Deno.rename(`${b}.new`, b);

      for (const dev of ["vda", "vdb"]) {
        const first = await g.run(ddSync(dev, 2));
        assert.match(first, new RegExp(`/dev/${dev}: Input/output error\nrc=1`), first);
        // And later: data written since cannot be made durable where the user expects it.
        const again = await g.run(ddSync(dev, 3));
        assert.match(again, /Input\/output error\nrc=1/, `${dev} again: ${again}`);
      }
      const warned = (what: string) =>
        g!.stderr.split("\n").filter((l) => l.includes("WARNING") && l.includes(what));
      assert.deepEqual(warned(`disk ${a} was deleted`).length, 1, g.stderr);
      assert.deepEqual(warned(`disk ${b} was replaced by another file`).length, 1, g.stderr);
      assert.ok(warned("every flush").length === 2, g.stderr);

      await g.send("poweroff\n");
      const st = await g.exit(60_000);
      assert.deepEqual(st.code, 0, `exit status; stderr:\n${g.stderr}`);
      assert.deepEqual(await Deno.readFile(b), replacement, "the file that replaced vdb untouched");
    } finally {
      await g?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
