// The 9P2000.L server on real host directories, through real virtio chains
// over guest RAM (testing/p9_client.ts): the operations v9fs uses, errno
// values, the read-only mode, the fid table surviving a restart, and every
// escape at the protocol level — "..", names with "/", a symlink to the
// outside walked through, opened or created over, a hard link to an outside
// file, and a directory swapped for a symlink while walks and creates run.
// The guest's view of the same: tests/e2e/share_e2e_test.ts.

import assert from "../../../testing/assert.ts";
import { P9Server } from "../../../devices/p9/server.ts";
import { E } from "../../../devices/p9/host.ts";
import { QT, T } from "../../../devices/p9/wire.ts";
import { P9TestClient } from "../../../testing/p9_client.ts";

/** rm -r that waits out the swapping loop's last mv/ln (killing bash leaves its child running). */
async function removeTree(dir: string): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const RDONLY = 0, WRONLY = 1, RDWR = 2, TRUNC = 0o1000;

/** A share and an outside directory beside it, with a secret and links to it. */
async function fixture() {
  const top = await Deno.makeTempDir({ prefix: "actorvm-9p-unit-" });
  const share = `${top}/share`, outside = `${top}/outside`;
  await Deno.mkdir(`${share}/sub/deep`, { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${outside}/secret`, "secret\n");
  await Deno.writeTextFile(`${share}/hello`, "hello\n");
  await Deno.symlink(outside, `${share}/outlink`);
  await Deno.symlink("/etc/passwd", `${share}/passwd`);
  await Deno.symlink(`${outside}/secret`, `${share}/planted`);
  await Deno.link(`${outside}/secret`, `${share}/hardlink`);
  const outsideBefore = async () => {
    const names = [];
    for await (const e of Deno.readDir(outside)) names.push(e.name);
    return { names: names.sort(), secret: await Deno.readTextFile(`${outside}/secret`) };
  };
  const before = await outsideBefore();
  return {
    top,
    share,
    outside,
    /** The outside is exactly as it was. */
    async unchanged() {
      assert.deepEqual(await outsideBefore(), before);
    },
    async cleanup() {
      await removeTree(top);
    },
  };
}

function session(share: string, readOnly = false) {
  const server = new P9Server(share, { readOnly });
  const c = new P9TestClient(server);
  assert.deepEqual(c.version(), 512000);
  c.attach(0);
  return { server, c };
}

Deno.test("9p: version, attach, walk, getattr, read, write, readdir, mkdir, rename, unlink", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    // A large msize is clamped to what the virtio transport can use.
    assert.deepEqual(c.version(1 << 30), 512000);
    c.attach(0);
    const [q] = c.walk(0, 1, ["hello"]);
    assert.deepEqual(q.type, QT.FILE);
    assert.deepEqual(q.path, BigInt((await Deno.stat(`${f.share}/hello`)).ino!));
    // getattr: mode, size.
    const g = c.ok(T.GETATTR, (w) => w.u32(1).u64(0x3fff));
    g.u64();
    g.u8(), g.u32(), g.i64();
    assert.deepEqual(g.u32() & 0o170777, 0o100644);
    g.u32(), g.u32(), g.u64(), g.u64();
    assert.deepEqual(g.u64(), 6);
    c.lopen(1, RDONLY);
    assert.deepEqual(new TextDecoder().decode(c.read(1, 0, 100)), "hello\n");
    // A read split over many reply buffers (Linux's zero-copy pages).
    assert.deepEqual(new TextDecoder().decode(c.read(1, 1, 100, 7)), "ello\n");
    c.clunk(1);
    // Create, write 300 KiB, read back in pieces.
    c.walk(0, 2, []);
    c.lcreate(2, "new.bin", RDWR);
    const data = new Uint8Array(300 * 1024).map((_, i) => (i * 7) & 0xff);
    let at = 0;
    while (at < data.length) at += c.write(2, at, data.subarray(at, at + 65536));
    assert.deepEqual(await Deno.readFile(`${f.share}/new.bin`), data);
    const back = c.read(2, 0, data.length, 75);
    assert.deepEqual(back, data);
    c.ok(T.FSYNC, (w) => w.u32(2).u32(0));
    c.clunk(2);
    // mkdir, symlink, readlink, renameat, link, unlinkat.
    c.ok(T.MKDIR, (w) => w.u32(0).str("d").u32(0o755).u32(0));
    c.ok(T.SYMLINK, (w) => w.u32(0).str("l").str("new.bin").u32(0));
    c.walk(0, 3, ["l"]);
    assert.deepEqual(c.ok(T.READLINK, (w) => w.u32(3)).str(), "new.bin");
    c.clunk(3);
    c.walk(0, 4, ["d"]);
    c.ok(T.RENAMEAT, (w) => w.u32(0).str("new.bin").u32(4).str("moved.bin"));
    assert.deepEqual((await Deno.stat(`${f.share}/d/moved.bin`)).size, data.length);
    c.walk(4, 5, ["moved.bin"]);
    c.ok(T.LINK, (w) => w.u32(0).u32(5).str("linked"));
    assert.deepEqual((await Deno.stat(`${f.share}/linked`)).nlink, 2);
    c.ok(T.UNLINKAT, (w) => w.u32(0).str("linked").u32(0));
    assert.deepEqual(c.err(T.UNLINKAT, (w) => w.u32(0).str("d").u32(0)), E.EISDIR);
    assert.deepEqual(c.err(T.UNLINKAT, (w) => w.u32(0).str("d").u32(0x200)), E.ENOTEMPTY);
    c.walk(0, 6, []);
    assert.deepEqual(c.readdir(6), [
      "d",
      "hardlink",
      "hello",
      "l",
      "outlink",
      "passwd",
      "planted",
      "sub",
    ]);
    // Errors map to errno values.
    assert.deepEqual(c.err(T.WALK, (w) => w.u32(0).u32(7).u16(1).str("nope")), E.ENOENT);
    assert.deepEqual(c.err(T.CLUNK, (w) => w.u32(99)), E.EBADF);
    assert.deepEqual(c.err(T.XATTRWALK, (w) => w.u32(0).u32(8).str("user.x")), E.EOPNOTSUPP);
    assert.deepEqual(
      c.err(T.MKNOD, (w) => w.u32(0).str("fifo").u32(0o10644).u32(0).u32(0).u32(0)),
      E.EPERM,
    );
    assert.deepEqual(
      c.err(T.MKDIR, (w) => w.u32(0).str("d").u32(0o755).u32(0)),
      E.EEXIST,
    );
    // A fifo on the host is never opened (it would block the server): not by lopen, not by lcreate.
    await new Deno.Command("mkfifo", { args: [`${f.share}/fifo`] }).output();
    c.walk(0, 21, ["fifo"]);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(21).u32(WRONLY)), E.EOPNOTSUPP);
    c.walk(0, 22, []);
    // Writing: ENXIO (no reader, O_NONBLOCK); reading: opened, then refused as not a file.
    assert.deepEqual(
      c.err(T.LCREATE, (w) => w.u32(22).str("fifo").u32(WRONLY).u32(0o644).u32(0)),
      6,
    );
    assert.deepEqual(
      c.err(T.LCREATE, (w) => w.u32(22).str("fifo").u32(RDONLY).u32(0o644).u32(0)),
      E.EOPNOTSUPP,
    );
    // No set-uid or set-gid file is made on the host, by create or by chmod.
    c.walk(0, 20, []);
    c.lcreate(20, "suid", RDWR, 0o6755);
    assert.deepEqual((await Deno.stat(`${f.share}/suid`)).mode! & 0o7777, 0o755);
    c.ok(
      T.SETATTR,
      (w) => w.u32(20).u32(1).u32(0o4777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0),
    );
    assert.deepEqual((await Deno.stat(`${f.share}/suid`)).mode! & 0o7777, 0o777);
    // statfs answers.
    const s = c.ok(T.STATFS, (w) => w.u32(0));
    s.u32();
    assert.ok(s.u32() > 0);
    // Flush of a request long answered.
    c.ok(T.FLUSH, (w) => w.u16(1));
    // A partial walk returns the qids it got and makes no fid.
    assert.deepEqual(c.walk(0, 9, ["sub", "nope"]).length, 1);
    assert.deepEqual(c.err(T.CLUNK, (w) => w.u32(9)), E.EBADF);
  } finally {
    server.close();
    await f.cleanup();
  }
});

Deno.test("9p escapes: .., names with /, symlinks to the outside, a hard link to an outside file", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    const root = c.walk(0, 1, [])[0];
    void root;
    // ".." at the root stays at the root; "sub/deep/../../.." too.
    const rootIno = BigInt((await Deno.stat(f.share)).ino!);
    assert.deepEqual(c.walk(0, 2, [".."])[0].path, rootIno);
    const qs = c.walk(0, 3, ["sub", "deep", "..", "..", "..", ".."]);
    assert.deepEqual(qs[qs.length - 1].path, rootIno);
    assert.deepEqual(c.readdir(3).includes("hello"), true);
    // Names are single components.
    for (const bad of ["a/b", "/etc", "", "x\0y"]) {
      assert.deepEqual(
        c.err(T.WALK, (w) => w.u32(0).u32(4).u16(1).str(bad)),
        E.EINVAL,
        `walk ${JSON.stringify(bad)}`,
      );
      assert.deepEqual(
        c.err(T.LCREATE, (w) => w.u32(0).str(bad).u32(RDWR).u32(0o644).u32(0)),
        E.EINVAL,
      );
    }
    c.walk(0, 4, []);
    assert.deepEqual(
      c.err(T.LCREATE, (w) => w.u32(4).str("..").u32(RDWR).u32(0o644).u32(0)),
      E.EINVAL,
    );
    assert.deepEqual(c.err(T.MKDIR, (w) => w.u32(0).str("..").u32(0o755).u32(0)), E.EINVAL);
    assert.deepEqual(
      c.err(T.RENAMEAT, (w) => w.u32(0).str("hello").u32(0).str("../x")),
      E.EINVAL,
    );
    // A symlink to the outside: the walk stops at the link (ENOTDIR beyond it).
    const partial = c.walk(0, 5, ["outlink", "secret"]);
    assert.deepEqual(partial.length, 1);
    assert.deepEqual(partial[0].type, QT.SYMLINK);
    // Walking to the link itself works; opening it does not follow it.
    c.walk(0, 6, ["planted"]);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(6).u32(RDWR)), E.ELOOP);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(6).u32(RDONLY)), E.ELOOP);
    c.walk(0, 7, ["passwd"]);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(7).u32(RDONLY)), E.ELOOP);
    // Creating over a planted symlink is refused, not followed.
    c.walk(0, 8, []);
    assert.deepEqual(
      c.err(T.LCREATE, (w) => w.u32(8).str("planted").u32(RDWR | TRUNC).u32(0o644).u32(0)),
      E.ELOOP,
    );
    // setattr on a symlink changes the link at most, never its target.
    c.ok(
      T.SETATTR,
      (w) => w.u32(6).u32(0x30).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0),
    );
    assert.deepEqual(
      c.err(
        T.SETATTR,
        (w) => w.u32(6).u32(1).u32(0o777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0),
      ),
      E.EOPNOTSUPP,
    );
    // The hard link to the outside secret: readable, never changed.
    c.walk(0, 9, ["hardlink"]);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(9).u32(WRONLY)), E.EACCES);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(9).u32(RDONLY | TRUNC)), E.EACCES);
    for (const valid of [1, 2, 8, 0x30]) {
      assert.deepEqual(
        c.err(
          T.SETATTR,
          (w) =>
            w.u32(9).u32(valid).u32(0o777).u32(1000).u32(1000).u64(0).u64(0).u64(0).u64(0).u64(0),
        ),
        E.EACCES,
      );
    }
    c.walk(0, 10, []);
    assert.deepEqual(
      c.err(T.LCREATE, (w) => w.u32(10).str("hardlink").u32(WRONLY).u32(0o644).u32(0)),
      E.EACCES,
    );
    c.lopen(9, RDONLY);
    assert.deepEqual(new TextDecoder().decode(c.read(9, 0, 100)), "secret\n");
    // Link the symlink (as itself), rename it, remove it: all inside.
    c.walk(0, 11, ["outlink"]);
    c.ok(T.LINK, (w) => w.u32(0).u32(11).str("outlink2"));
    assert.deepEqual(await Deno.readLink(`${f.share}/outlink2`), f.outside);
    c.ok(T.REMOVE, (w) => w.u32(11));
    assert.deepEqual(await Deno.readLink(`${f.share}/outlink2`), f.outside);
    await f.unchanged();
  } finally {
    server.close();
    await f.cleanup();
  }
});

Deno.test("9p escapes: a directory swapped for a symlink to the outside during walks and creates", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  await Deno.mkdir(`${f.share}/race`);
  await Deno.writeTextFile(`${f.share}/race/inside`, "in\n");
  const swapper = new Deno.Command("bash", {
    args: [
      "-c",
      `cd '${f.share}'; while :; do mv race race.d; ln -s '${f.outside}' race; rm race; mv race.d race; done`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let created = 0, refused = 0;
    for (let i = 0; i < 1000; i++) {
      const fid = 100 + (i % 50);
      // Walk two names in one message, then create and open by the fids.
      const w = c.rpc(T.WALK, (w) => w.u32(0).u32(fid).u16(2).str("race").str("secret"));
      if (w.type === T.WALK + 1 && w.body.u16() === 2) {
        throw new Error("walked into the outside directory");
      }
      const d = c.rpc(T.WALK, (w) => w.u32(0).u32(fid).u16(1).str("race"));
      if (d.type !== T.WALK + 1) continue;
      const r = c.rpc(
        T.LCREATE,
        (w) => w.u32(fid).str(`w${i}`).u32(RDWR).u32(0o644).u32(0),
      );
      if (r.type === T.LCREATE + 1) {
        created++;
        c.write(fid, 0, new TextEncoder().encode("x"));
      } else refused++;
      const o = c.rpc(T.WALK, (w) => w.u32(fid).u32(fid + 1000).u16(1).str("secret"));
      if (o.type === T.WALK + 1 && o.body.u16() === 1) {
        throw new Error("walked from a fid into the outside directory");
      }
      c.rpc(T.CLUNK, (w) => w.u32(fid));
      c.rpc(T.CLUNK, (w) => w.u32(fid + 1000));
    }
    // Both sides of the race happened, and the outside never changed.
    assert.ok(created > 0, `created ${created}, refused ${refused}`);
    await f.unchanged();
  } finally {
    swapper.kill("SIGKILL");
    await swapper.status;
    server.close();
    await f.cleanup();
  }
});

Deno.test("9p: locks are the host's (flock for the whole file, OFD for ranges), one owner per fid", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    const lock = (fid: number, type: number, start: number, len: number) =>
      c.ok(T.LOCK, (w) => w.u32(fid).u8(type).u32(0).u64(start).u64(len).u32(1).str("g")).u8();
    c.walk(0, 1, ["hello"]);
    c.lopen(1, RDWR);
    c.walk(0, 2, ["hello"]);
    c.lopen(2, RDWR);
    assert.deepEqual(lock(1, 1, 0, 10), 0); // fid 1 write-locks 0..9
    assert.deepEqual(lock(2, 1, 5, 10), 1); // fid 2 is blocked there
    assert.deepEqual(lock(2, 1, 10, 10), 0); // and not past it
    // getlock names the conflicting range.
    const g = c.ok(T.GETLOCK, (w) => w.u32(2).u8(0).u64(0).u64(0).u32(1).str("g"));
    assert.deepEqual([g.u8(), g.u64(), g.u64()], [1, 0, 10]);
    assert.deepEqual(lock(1, 2, 0, 10), 0); // unlock
    assert.deepEqual(lock(2, 1, 5, 10), 0);
    // Clunking a fid drops its locks.
    c.clunk(2);
    assert.deepEqual(lock(1, 1, 0, 100), 0);
    // The whole file (flock) may be locked exclusively through a read-only fid.
    c.walk(0, 3, ["hello"]);
    c.lopen(3, RDONLY);
    c.walk(0, 4, ["hello"]);
    c.lopen(4, RDONLY);
    assert.deepEqual(lock(3, 1, 0, 0), 0);
    assert.deepEqual(lock(4, 0, 0, 0), 1);
    assert.deepEqual(lock(3, 2, 0, 0), 0);
    assert.deepEqual(lock(4, 0, 0, 0), 0);
    assert.deepEqual(
      c.err(T.LOCK, (w) => w.u32(0).u8(1).u32(0).u64(0).u64(0).u32(1).str("g")),
      E.EBADF,
    );
  } finally {
    server.close();
    await f.cleanup();
  }
});

Deno.test("9p: a read-only share refuses every change with EROFS and reads fine", async () => {
  const f = await fixture();
  const { server, c } = session(f.share, true);
  try {
    c.walk(0, 1, ["hello"]);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(1).u32(WRONLY)), E.EROFS);
    assert.deepEqual(c.err(T.LOPEN, (w) => w.u32(1).u32(RDONLY | TRUNC)), E.EROFS);
    c.walk(0, 2, []);
    const refusals: [number, (w: import("../../../devices/p9/wire.ts").Writer) => void][] = [
      [T.LCREATE, (w) => w.u32(2).str("x").u32(RDWR).u32(0o644).u32(0)],
      [T.MKDIR, (w) => w.u32(0).str("x").u32(0o755).u32(0)],
      [T.SYMLINK, (w) => w.u32(0).str("x").str("y").u32(0)],
      [T.MKNOD, (w) => w.u32(0).str("x").u32(0o10644).u32(0).u32(0).u32(0)],
      [T.UNLINKAT, (w) => w.u32(0).str("hello").u32(0)],
      [T.RENAMEAT, (w) => w.u32(0).str("hello").u32(0).str("x")],
      [T.RENAME, (w) => w.u32(1).u32(0).str("x")],
      [T.LINK, (w) => w.u32(0).u32(1).str("x")],
      [T.SETATTR, (w) => w.u32(1).u32(8).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0)],
      [
        T.SETATTR,
        (w) => w.u32(1).u32(1).u32(0o777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0),
      ],
    ];
    for (const [type, body] of refusals) {
      assert.deepEqual(c.err(type, body), E.EROFS, `type ${type}`);
    }
    c.walk(0, 3, ["hello"]);
    assert.deepEqual(c.err(T.REMOVE, (w) => w.u32(3)), E.EROFS);
    c.lopen(1, RDONLY);
    assert.deepEqual(c.err(T.WRITE, (w) => w.u32(1).u64(0).u32(1).u8(0x41)), E.EROFS);
    assert.deepEqual(new TextDecoder().decode(c.read(1, 0, 10)), "hello\n");
    assert.deepEqual(await Deno.readTextFile(`${f.share}/hello`), "hello\n");
  } finally {
    server.close();
    await f.cleanup();
  }
});

Deno.test("9p: a server whose worker died adopts its fds (the process's) and goes on", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    c.walk(0, 1, ["sub"]);
    c.walk(0, 2, []);
    c.lcreate(2, "tmp", RDWR);
    c.write(2, 0, new TextEncoder().encode("kept "));
    // Open and unlinked: only its fd still reaches it.
    await Deno.remove(`${f.share}/tmp`);
    const saved = server.exportFids();
    // No close(): a dead worker closes nothing; its fds are the process's.
    const again = new P9Server(f.share, { readOnly: false });
    assert.deepEqual(again.importFids(saved, server.msize), 3);
    const c2 = new P9TestClient(again);
    c2.write(2, 5, new TextEncoder().encode("across"));
    assert.deepEqual(new TextDecoder().decode(c2.read(2, 0, 100)), "kept across");
    assert.deepEqual(c2.walk(1, 3, ["deep"]).length, 1);
    // The old root fd was closed by the new server: nothing is left behind.
    assert.deepEqual(again.fidCount, 4);
    again.close();
  } finally {
    await f.cleanup();
  }
});

Deno.test("9p: a restarted server reopens the saved fids and goes on", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    c.walk(0, 1, ["sub"]);
    c.walk(0, 2, []);
    c.lcreate(2, "open.txt", RDWR);
    c.write(2, 0, new TextEncoder().encode("before "));
    // A file open for writing, then (as a guest's renameat could) the host
    // hard link to the outside secret renamed over its name: a restart must
    // not reopen that name for writing.
    c.walk(0, 4, []);
    c.lcreate(4, "victim", WRONLY);
    const saved = server.exportFids();
    server.close();
    await Deno.rename(`${f.share}/hardlink`, `${f.share}/victim`);
    const again = new P9Server(f.share, { readOnly: false });
    assert.deepEqual(again.importFids(saved, server.msize), 3);
    const c2 = new P9TestClient(again);
    c2.write(2, 7, new TextEncoder().encode("after"));
    assert.deepEqual(new TextDecoder().decode(c2.read(2, 0, 100)), "before after");
    assert.deepEqual(c2.walk(1, 3, ["deep"]).length, 1);
    assert.deepEqual(c2.err(T.WRITE, (w) => w.u32(4).u64(0).u32(1).u8(0x41)), E.EBADF);
    await f.unchanged();
    // A clone of a fid whose file was unlinked is the same file.
    await Deno.remove(`${f.share}/open.txt`);
    c2.walk(2, 5, []);
    c2.lopen(5, RDONLY);
    assert.deepEqual(new TextDecoder().decode(c2.read(5, 0, 100)), "before after");
    again.close();
  } finally {
    await f.cleanup();
  }
});

Deno.test("9p: malformed requests get Rlerror(EINVAL), never a throw", async () => {
  const f = await fixture();
  const { server, c } = session(f.share);
  try {
    const msg = (bytes: number[]) => c.parse(c.send(new Uint8Array(bytes)));
    // Size field larger than the chain.
    let r = msg([100, 0, 0, 0, T.WALK, 1, 0]);
    assert.deepEqual([r.type, r.errno], [T.LERROR + 1, E.EINVAL]);
    // A walk cut short in its names.
    r = msg([13, 0, 0, 0, T.WALK, 2, 0, 0, 0, 0, 0, 1, 0]);
    assert.deepEqual([r.type, r.tag, r.errno], [T.LERROR + 1, 2, E.EINVAL]);
    // A write claiming more data than it carries.
    r = msg([23, 0, 0, 0, T.WRITE, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
    assert.deepEqual(r.errno, E.EINVAL);
    // No header at all, or no room for a reply: nothing written.
    assert.deepEqual(c.send(new Uint8Array([1, 2, 3])).length, 0);
    assert.deepEqual(c.send(new Uint8Array([7, 0, 0, 0, T.CLUNK, 0, 0]), 5).length, 0);
    // An unknown type.
    r = msg([7, 0, 0, 0, 250, 4, 0]);
    assert.deepEqual(r.errno, E.EOPNOTSUPP);
    assert.deepEqual(server.stats.malformed >= 3, true);
  } finally {
    server.close();
    await f.cleanup();
  }
});
