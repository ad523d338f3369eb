// virtio-blk from the top: mod.ts boots the bundled kernel with real disk
// files, the guest mounts and writes an ext2 image made by Debian's mke2fs,
// and the host checks the result with debugfs and e2fsck. One boot serves a
// read-write ext2 disk, a read-only one and a raw one with a ragged size.
// Also: bad --block files stop the launcher (status 2) before anything boots.
// Helpers: testing/guest_session.ts, testing/block_tools.ts. Device-level checks
// (past-the-end requests, malformed chains): tests/unit/block/device_test.ts.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { lockBlockFile } from "../../devices/block/backend.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import {
  debugfsCat,
  debugfsRead,
  E2FS_MISSING,
  e2fsck,
  mke2fs,
  pattern,
  seqText,
} from "../../testing/block_tools.ts";
import { sha256Hex } from "../../testing/sha256.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

if (E2FS_MISSING) {
  console.warn(`block e2e: ext2 tests SKIPPED: ${E2FS_MISSING} (apt-get install e2fsprogs)`);
}

Deno.test({
  name: "block e2e: ext2 read-write, a read-only disk and a raw disk in one boot",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-blk-" });
    let g: GuestSession | null = null;
    try {
      // vda: ext2, read-write, with a text file, a multi-block binary file and a subdirectory.
      await Deno.mkdir(`${dir}/a/sub`, { recursive: true });
      await Deno.writeTextFile(`${dir}/a/hello.txt`, "hello from the host\n");
      const blob = pattern(300 * 1024, 7);
      await Deno.writeFile(`${dir}/a/sub/blob.bin`, blob);
      const a = `${dir}/a.img`;
      await mke2fs(`${dir}/a`, a, "8M");
      // vdb: ext2, attached read-only; it must not change by one byte.
      await Deno.mkdir(`${dir}/b`);
      await Deno.writeTextFile(`${dir}/b/b.txt`, "the second disk\n");
      const b = `${dir}/b.img`;
      await mke2fs(`${dir}/b`, b, "4M");
      const bHash = await sha256Hex(await Deno.readFile(b));
      // vdc: raw, 128 sectors plus a 100-byte tail the device must never touch.
      const c = `${dir}/c.raw`;
      await Deno.writeFile(c, new Uint8Array(128 * 512 + 100).fill(0x5a));

      g = new GuestSession({
        args: [
          `--block=${a}`,
          `--block=${b},ro`,
          `--block=${c}`,
          ...bundledBoot(["actorvm.mount=1"]),
        ],
      });
      await g.waitFor(READY_LINE, 60_000);
      assert.match(g.stderr, /c\.raw: size 65636 is not a multiple of 512; using the first 65536/);
      await g.run("dmesg -n 1"); // kernel messages off the console: command output stays clean

      // Reading: known files, byte for byte.
      assert.deepEqual(await g.run("cat /mnt/hello.txt"), "hello from the host\n");
      const sum = await g.run("sha256sum /mnt/sub/blob.bin");
      assert.deepEqual(sum.split(" ")[0], await sha256Hex(blob));

      // Identity and sizes as the guest's driver sees them (serial via GET_ID).
      const ids = await g.run(
        "for d in vda vdb vdc; do echo $d $(cat /sys/block/$d/serial) " +
          "$(cat /sys/block/$d/ro) $(cat /sys/block/$d/size); done",
      );
      assert.deepEqual(ids, "vda a.img 0 16384\nvdb b.img 1 8192\nvdc c.raw 0 128\n");

      // Writing through ext2: new files across many blocks, an append, a removal.
      // (cp, not seq: busybox seq of 50,000 lines costs the interpreted guest seconds.)
      await g.run(
        "mkdir /mnt/out && cp /mnt/sub/blob.bin /mnt/out/copy.bin && seq 1 2000 > /mnt/out/seq.txt" +
          " && echo appended >> /mnt/hello.txt && rm /mnt/sub/blob.bin && sync",
      );

      // The read-only disk: mountable read-only, every way of writing refused.
      await g.run("mkdir -p /ro && mount -o ro /dev/vdb /ro");
      assert.deepEqual(await g.run("cat /ro/b.txt"), "the second disk\n");
      const ro = await g.run(
        "mount -o remount,rw /ro 2>&1; echo remount=$?; echo x > /ro/new 2>&1; echo create=$?;" +
          " dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>&1 | head -n 1; cat /ro/b.txt",
      );
      assert.match(ro, /remount=[1-9]/);
      assert.match(ro, /Read-only file system\s*\ncreate=1/);
      assert.match(ro, /dd: error writing '\/dev\/vdb': Operation not permitted/);
      assert.match(ro, /the second disk\n$/);
      await g.run("umount /ro");

      // The raw disk: a sector written at a known place, read back from the
      // device (busybox dd only does O_DIRECT with page-sized blocks, so drop
      // the guest's page cache instead), next to an untouched one.
      await g.run(
        "printf 'raw-sector' | dd of=/dev/vdc bs=512 seek=127 conv=sync,fsync 2>/dev/null",
      );
      assert.deepEqual(
        await g.run(
          "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vdc bs=512 skip=126 count=2 2>/dev/null" +
            " | tail -c 513 | head -c 11",
        ),
        "Zraw-sector",
      );

      // A graceful poweroff unmounts /mnt; wait for the exit status, not for a
      // "Power down" line (the guest resets its virtio devices before it).
      await g.send("poweroff\n");
      const st = await g.exit(60_000);
      assert.deepEqual(st.code, 0, `exit status; stderr:\n${g.stderr}`);

      // The host's view of vda.
      assert.deepEqual(await debugfsRead(a, "/out/copy.bin"), blob);
      assert.deepEqual(await debugfsCat(a, "/out/seq.txt"), seqText(1, 2000));
      assert.deepEqual(await debugfsCat(a, "/hello.txt"), "hello from the host\nappended\n");
      assert.ok((await debugfsCat(a, "/sub/blob.bin").catch(() => null)) === null, "blob removed");
      const fsckA = await e2fsck(a);
      assert.deepEqual(fsckA.code, 0, `e2fsck -fn ${a}:\n${fsckA.text}`);
      // vdb untouched, still clean.
      assert.deepEqual(await sha256Hex(await Deno.readFile(b)), bHash, "read-only image changed");
      assert.deepEqual((await e2fsck(b)).code, 0);
      // vdc: the sector landed at 127 * 512, the ragged tail and the size are untouched.
      const raw = await Deno.readFile(c);
      assert.deepEqual(raw.length, 128 * 512 + 100, "the file never grows");
      const want = new Uint8Array(512);
      want.set(new TextEncoder().encode("raw-sector"));
      assert.deepEqual(raw.subarray(127 * 512, 128 * 512), want);
      assert.ok(raw.subarray(0, 127 * 512).every((x) => x === 0x5a), "sectors 0..126 untouched");
      assert.ok(raw.subarray(128 * 512).every((x) => x === 0x5a), "the tail is untouched");
    } finally {
      await g?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Run mod.ts with these arguments; it must stop before booting. */
async function launch(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("block e2e: an unusable --block file stops the launcher with status 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "actorvm-blk-" });
  try {
    const cases: { name: string; args: string[]; want: RegExp }[] = [
      {
        name: "missing",
        args: [`--block=${dir}/missing.img`],
        want: /missing\.img: no such file/,
      },
      { name: "directory", args: [`--block=${dir}`], want: /is a directory, not a disk image/ },
    ];
    const tiny = `${dir}/tiny.img`;
    await Deno.writeFile(tiny, new Uint8Array(100));
    cases.push({
      name: "smaller than a sector",
      args: [`--block=${tiny}`],
      want: /tiny\.img: 100 bytes is smaller than one 512-byte sector/,
    });
    // Read-only by its mode bits: root could open it for writing anyway, so
    // the launcher looks at the mode itself and asks for ",ro".
    const ro = `${dir}/mode444.img`;
    await Deno.writeFile(ro, new Uint8Array(4096));
    await Deno.chmod(ro, 0o444);
    cases.push({
      name: "mode 0444 without ,ro",
      args: [`--block=${ro}`],
      want: /mode444\.img: the file is read-only \(mode 444\); use --block=.*mode444\.img,ro/,
    });
    // Read-only for real, even to root: the immutable attribute (EPERM on open
    // for writing). Needs chattr and a filesystem that has the attribute.
    const imm = `${dir}/immutable.img`;
    await Deno.writeFile(imm, new Uint8Array(4096));
    const immutable = await chattr("+i", imm);
    if (immutable) {
      cases.push({
        name: "immutable without ,ro",
        args: [`--block=${imm}`],
        want: /immutable\.img: cannot open for writing; use --block=.*immutable\.img,ro/,
      });
    } else {
      console.warn("block e2e: chattr +i unavailable here; the immutable-file case is skipped");
    }
    // One file named twice, read-write both times or once read-only: refused,
    // as is a file another emulator holds (here: this test holds its lock).
    const twice = `${dir}/twice.img`;
    await Deno.writeFile(twice, new Uint8Array(4096));
    cases.push(
      { name: "named twice", args: [`--block=${twice}`, `--block=${twice}`], want: IN_USE },
      { name: "rw and ro", args: [`--block=${twice},ro`, `--block=${twice}`], want: IN_USE },
    );
    const held = `${dir}/held.img`;
    await Deno.writeFile(held, new Uint8Array(4096));
    const holder = await Deno.open(held, { read: true });
    await holder.lock(false); // shared, as a ,ro user would: a read-write open must still fail
    cases.push({ name: "locked elsewhere", args: [`--block=${held}`], want: IN_USE });
    try {
      for (const c of cases) {
        const r = await launch(c.args);
        assert.deepEqual(r.code, 2, `${c.name}: exit status; stderr:\n${r.stderr}`);
        assert.match(r.stderr, c.want, c.name);
        assert.ok(!r.stderr.includes("internal error"), `${c.name}: ${r.stderr}`);
      }
    } finally {
      holder.close();
      if (immutable) await chattr("-i", imm);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const IN_USE = /: in use \(locked by another actorvm, or named twice by --block\)/;

Deno.test("block lock: read-write is exclusive, ,ro is shared, release lets the next one in", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(512));
    const r1 = lockBlockFile(path, true);
    const r2 = lockBlockFile(path, true);
    assert.throws(() => lockBlockFile(path, false), /in use/);
    r1.release();
    r1.release(); // idempotent
    assert.throws(() => lockBlockFile(path, false), /in use/, "one reader is still there");
    r2.release();
    const w = lockBlockFile(path, false);
    assert.throws(() => lockBlockFile(path, true), /in use/);
    w.release();
    lockBlockFile(path, true).release();
    assert.throws(() => lockBlockFile(`${path}.missing`, true), /no such file/);
  } finally {
    Deno.removeSync(path);
  }
});

async function chattr(flag: string, path: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("chattr", { args: [flag, path], stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}
