// The ,snapshot overlay backend (devices/block/overlay.ts) on real files: the
// base is never written, reads merge the overlay's sectors over the base's,
// a write that covers only part of a sector keeps the rest of it, and a
// second backend on the same overlay and bitmap (a restarted block worker)
// sees every earlier write. The whole-guest test is tests/e2e/snapshot_test.ts.

import assert from "../../../testing/assert.ts";
import { readCommandLine, UsageError } from "../../../launcher/cli.ts";
import { FileBackend, SECTOR } from "../../../devices/block/backend.ts";
import {
  createOverlay,
  openOverlayBackend,
  overlayHas,
  overlayMapBytes,
} from "../../../devices/block/overlay.ts";

function baseFile(sectors: number): string {
  const path = Deno.makeTempFileSync({ prefix: "actorvm-ovl-base-" });
  const bytes = new Uint8Array(sectors * SECTOR);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;
  Deno.writeFileSync(path, bytes);
  return path;
}

Deno.test("overlay: writes land in the overlay, the base stays byte for byte", () => {
  const base = baseFile(64);
  const before = Deno.readFileSync(base);
  const ov = createOverlay(64 * SECTOR, base);
  try {
    assert.deepEqual(ov.map.byteLength, overlayMapBytes(64 * SECTOR));
    assert.deepEqual((Deno.statSync(ov.path).mode ?? 0) & 0o777, 0o600);
    const disk = openOverlayBackend(base, ov.path, ov.map);
    // Whole sectors 3..4.
    disk.write(3 * SECTOR, new Uint8Array(2 * SECTOR).fill(0xaa));
    // Part of sector 10: bytes 100..299, then its next bytes from another call.
    disk.write(10 * SECTOR + 100, new Uint8Array(200).fill(0xbb));
    disk.write(10 * SECTOR + 300, new Uint8Array(20).fill(0xcc));
    // A write spanning a sector boundary, unaligned at both ends.
    disk.write(20 * SECTOR + 500, new Uint8Array(600).fill(0xdd));

    const got = new Uint8Array(64 * SECTOR);
    disk.read(0, got);
    const want = before.slice();
    want.fill(0xaa, 3 * SECTOR, 5 * SECTOR);
    want.fill(0xbb, 10 * SECTOR + 100, 10 * SECTOR + 300);
    want.fill(0xcc, 10 * SECTOR + 300, 10 * SECTOR + 320);
    want.fill(0xdd, 20 * SECTOR + 500, 20 * SECTOR + 1100);
    assert.deepEqual(got, want);
    // Unaligned reads across the overlay/base boundary agree too.
    const piece = new Uint8Array(777);
    disk.read(2 * SECTOR + 123, piece);
    assert.deepEqual(piece, want.subarray(2 * SECTOR + 123, 2 * SECTOR + 900));

    const map = new Int32Array(ov.map);
    const marked = [...Array(64).keys()].filter((s) => overlayHas(map, s));
    assert.deepEqual(marked, [3, 4, 10, 20, 21, 22]);
    assert.deepEqual(Deno.readFileSync(base), before, "the base file changed");
    assert.throws(() => disk.write(63 * SECTOR, new Uint8Array(2 * SECTOR)), RangeError);
    disk.close();

    // A restarted worker: a new backend on the same overlay and bitmap.
    const again = openOverlayBackend(base, ov.path, ov.map);
    const got2 = new Uint8Array(64 * SECTOR);
    again.read(0, got2);
    assert.deepEqual(got2, want);
    again.close();
  } finally {
    ov.remove();
    ov.remove(); // idempotent
    Deno.removeSync(base);
  }
  assert.throws(() => Deno.statSync(ov.path), Deno.errors.NotFound);
});

Deno.test("overlay: the base is opened read-only, even when its mode forbids writing", () => {
  const base = baseFile(8);
  Deno.chmodSync(base, 0o444);
  const ov = createOverlay(8 * SECTOR, base);
  try {
    const disk = openOverlayBackend(base, ov.path, ov.map);
    assert.deepEqual(disk.readOnly, false);
    disk.write(0, new Uint8Array(SECTOR).fill(1));
    disk.close();
    // A plain read-write open of the same file is refused: ,snapshot is the way to write "over" it.
    assert.throws(() => FileBackend.open(base), /read-only/);
  } finally {
    ov.remove();
    Deno.removeSync(base);
  }
});

Deno.test("overlay: the command line takes ,snapshot and refuses it with ,ro", () => {
  const o = readCommandLine(["--block=a.img,snapshot", "--block=b.img"]);
  assert.ok(typeof o !== "string");
  assert.deepEqual(o.blocks, [
    { path: "a.img", readOnly: false, snapshot: true },
    { path: "b.img", readOnly: false },
  ]);
  assert.throws(() => readCommandLine(["--block=a.img,ro,snapshot"]), UsageError);
  assert.throws(() => readCommandLine(["--block=a.img,snap"]), /use ,ro or ,snapshot/);
});
