// The file backend: every way a --block file can be unusable gets a
// BlockOpenError with a clear message; reads and writes stay inside the
// usable size, so the file never grows.
// Read next: devices/block/backend.ts.

import assert from "../../../testing/assert.ts";
import {
  BlockOpenError,
  type BlockOpenErrorReason,
  FileBackend,
  probeBlockFile,
} from "../../../devices/block/backend.ts";

function openError(path: string, readOnly: boolean): { reason: BlockOpenErrorReason; msg: string } {
  try {
    probeBlockFile(path, readOnly);
  } catch (e) {
    if (e instanceof BlockOpenError) return { reason: e.reason, msg: e.message };
    throw e;
  }
  throw new Error(`${path} opened`);
}

Deno.test("block backend: files that cannot be disks", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const missing = openError(`${dir}/nope.img`, false);
    assert.deepEqual(missing.reason, "not-found");
    assert.ok(missing.msg.includes("nope.img") && missing.msg.includes("no such file"));

    assert.deepEqual(openError(dir, false).reason, "directory");
    assert.deepEqual(openError(dir, true).reason, "directory");

    const ro = `${dir}/ro.img`;
    Deno.writeFileSync(ro, new Uint8Array(4096));
    Deno.chmodSync(ro, 0o444);
    const e = openError(ro, false);
    assert.deepEqual(e.reason, "read-only");
    assert.ok(e.msg.includes(",ro"), e.msg);
    assert.deepEqual(probeBlockFile(ro, true).sectors, 8, "fine with ,ro");

    const empty = `${dir}/empty.img`;
    Deno.writeFileSync(empty, new Uint8Array(100));
    assert.deepEqual(openError(empty, false).reason, "too-small");

    assert.deepEqual(openError("/dev/null", true).reason, "not-a-file");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("block backend: a size not a multiple of 512 is rounded down with a warning", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(512 * 3 + 100));
    const p = probeBlockFile(path, false);
    assert.deepEqual([p.fileSize, p.size, p.sectors], [1636, 1536, 3]);
    assert.deepEqual(p.warnings.length, 1);
    assert.ok(p.warnings[0].includes("not a multiple of 512"), p.warnings[0]);
    const b = FileBackend.open(path);
    assert.deepEqual(b.size, 1536);
    // The tail past the last whole sector is never touched.
    assert.throws(() => b.read(1536, new Uint8Array(1)), /outside/);
    assert.throws(() => b.write(1024, new Uint8Array(1024)), /outside/);
    b.close();
    assert.deepEqual(Deno.statSync(path).size, 1636, "the file never grows");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("block backend: read, write, flush; a read-only backend refuses writes", () => {
  const path = Deno.makeTempFileSync();
  try {
    const init = new Uint8Array(2048).map((_, i) => i & 0xff);
    Deno.writeFileSync(path, init);
    const b = FileBackend.open(path);
    const buf = new Uint8Array(new SharedArrayBuffer(16), 4, 8);
    b.read(1000, buf);
    assert.deepEqual(Array.from(buf), Array.from(init.subarray(1000, 1008)));
    b.write(512, new Uint8Array([9, 9, 9]));
    b.flush();
    b.close();
    assert.deepEqual(Array.from(Deno.readFileSync(path).subarray(511, 515)), [255, 9, 9, 9]);
    const r = FileBackend.open(path, { readOnly: true });
    assert.ok(r.readOnly);
    assert.throws(() => r.write(0, new Uint8Array(1)), /read-only/);
    r.close();
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("block backend: a disk deleted or replaced under us fails every flush, warning once", () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const how of ["deleted", "replaced"] as const) {
      const path = `${dir}/${how}.img`;
      Deno.writeFileSync(path, new Uint8Array(4096));
      const warnings: string[] = [];
      const b = FileBackend.open(path, { warn: (l) => warnings.push(l) });
      b.write(0, new Uint8Array(512).fill(1));
      b.flush();
      assert.deepEqual(
        [b.lost, warnings.length],
        [null, 0],
        "still ours: the flush is an fdatasync",
      );
      if (how === "deleted") {
        Deno.removeSync(path);
      } else {
        // What an editor or `cp new.img disk.img && mv` does: a new inode at the path.
        Deno.writeFileSync(`${path}.new`, new Uint8Array(4096));
        Deno.renameSync(`${path}.new`, path);
      }
      b.write(512, new Uint8Array(512).fill(2)); // writes still land (in the orphan)
      assert.throws(() => b.flush(), new RegExp(`${how}.img was ${how}.*: flush refused`));
      assert.throws(() => b.flush(), /flush refused/, "and every later flush");
      assert.deepEqual(warnings.length, 1, warnings.join("\n"));
      assert.ok(warnings[0].includes(path) && warnings[0].includes(how), warnings[0]);
      assert.ok(b.lost!.startsWith(how), String(b.lost));
      b.close();
    }
    // The file lives on under another name, but not under the one the user gave.
    const p = `${dir}/linked.img`;
    Deno.writeFileSync(p, new Uint8Array(1024));
    Deno.linkSync(p, `${dir}/other-name.img`);
    const b = FileBackend.open(p, { warn: () => {} });
    Deno.removeSync(p);
    assert.throws(() => b.flush(), /deleted/);
    b.close();
    // A read-only disk never flushes, so it never fails one.
    const ro = `${dir}/ro.img`;
    Deno.writeFileSync(ro, new Uint8Array(1024));
    const r = FileBackend.open(ro, { readOnly: true, warn: () => {} });
    Deno.removeSync(ro);
    r.flush();
    r.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("block backend: a reopen (a restarted worker) refuses a file that replaced the disk", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/d.img`;
    Deno.writeFileSync(path, new Uint8Array(2048));
    const { identity } = probeBlockFile(path, false);
    FileBackend.open(path, { expect: identity }).close();
    Deno.writeFileSync(`${path}.new`, new Uint8Array(2048));
    Deno.renameSync(`${path}.new`, path);
    let err: unknown = null;
    try {
      FileBackend.open(path, { expect: identity }).close();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof BlockOpenError, String(err));
    assert.deepEqual(err.reason, "changed");
    assert.ok(err.message.includes("no longer the file this run started with"), err.message);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
