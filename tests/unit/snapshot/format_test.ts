// The snapshot file format (machine/snapshot_format.ts) and the hart record
// (cpu/hart_state.ts) without a guest: a round trip, every kind of damage
// refused by name, zero pages left out, a decompression bomb stopped at its
// limit; a hart saved and loaded into a fresh one is the same hart, with its
// TLBs empty, and a bad record changes nothing. Which machines may be
// snapshotted: checkSnapshotable. The whole machine: tests/e2e/snapshot_test.ts.

import assert from "../../../testing/assert.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  gzip,
  loadRamPages,
  ramPages,
  SnapshotFormatError,
} from "../../../machine/snapshot_format.ts";
import { Hart } from "../../../cpu/hart.ts";
import { HartStateError, loadHart, saveHart } from "../../../cpu/hart_state.ts";
import { checkSnapshotable, SnapshotRefused } from "../../../launcher/snapshot.ts";
import { readCommandLine } from "../../../launcher/cli.ts";
import type { Prepared } from "../../../launcher/prepare.ts";

const join = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

Deno.test("snapshot format: a round trip, RAM without its zero pages", async () => {
  const ram = new Uint8Array(64 * 4096);
  ram[5 * 4096 + 7] = 0xaa;
  ram[63 * 4096] = 1;
  const pages = ramPages(ram);
  assert.deepEqual(pages.length, 2 * (4 + 4096));
  const file = join(
    await encodeSnapshot({ hello: "world" }, [
      { name: "ram", bytes: await gzip([pages]), encoding: "gzip" },
      { name: "raw", bytes: new Uint8Array([1, 2, 3]), encoding: "raw" },
    ]),
  );
  const back = await decodeSnapshot<{ hello: string }>(file);
  assert.deepEqual(back.header.hello, "world");
  assert.deepEqual(back.sections.get("raw"), new Uint8Array([1, 2, 3]));
  const ram2 = new Uint8Array(64 * 4096).fill(9);
  assert.deepEqual(loadRamPages(back.sections.get("ram")!, ram2), 2);
  assert.deepEqual(ram2, ram);
  // A page record past the end of RAM is refused.
  assert.throws(() => loadRamPages(pages, new Uint8Array(8 * 4096)), SnapshotFormatError);

  // Damage of every kind, refused with its reason.
  const refuse = async (bytes: Uint8Array, want: RegExp) => {
    await assert.rejects(() => decodeSnapshot(bytes), SnapshotFormatError, undefined);
    await decodeSnapshot(bytes).catch((e) => assert.match(e.message, want));
  };
  await refuse(file.subarray(0, 30), /truncated/);
  await refuse(file.subarray(0, file.length - 1), /truncated/);
  await refuse(join([file, new Uint8Array([0])]), /stray bytes/);
  const flip = (at: number) => {
    const c = file.slice();
    c[at] ^= 1;
    return c;
  };
  await refuse(flip(0), /bad magic/);
  await refuse(flip(8), /format version/);
  await refuse(flip(50), /header checksum/);
  await refuse(flip(file.length - 2), /section raw: checksum mismatch/);
});

Deno.test("snapshot format: a gzip section stops at its decompression limit", async () => {
  const big = new Uint8Array(8 * 2 ** 20); // 8 MiB of zeros: a few KiB of gzip
  const file = join(
    await encodeSnapshot({}, [{ name: "bomb", bytes: await gzip([big]), encoding: "gzip" }]),
  );
  await assert.rejects(() => decodeSnapshot(file, () => 2 ** 20), SnapshotFormatError);
  assert.deepEqual((await decodeSnapshot(file)).sections.get("bomb")!.length, big.length);
});

Deno.test("hart state: saved and loaded, the same hart with empty TLBs", () => {
  const mk = () => new Hart({ ram: new SharedArrayBuffer(1 << 20), ramBase: 0x8000_0000 });
  const a = mk();
  a.priv = 1;
  for (let r = 1; r < 32; r++) a.x[r] = BigInt(r) * 0x1_0000_0001n - 5n;
  for (let r = 0; r < 32; r++) a.fpu.bits[r] = -BigInt(r + 1);
  a.fpu.frm = 3;
  a.fpu.fflags = 0x11;
  a.pc = 0xffffffff80001234n;
  a.csrWrite(0x180, (8n << 60n) | (5n << 44n) | 0x80123n); // satp: Sv39, ASID 5
  a.csrWrite(0x105, 0xffffffff80000100n); // stvec
  a.csrWrite(0x141, 0xffffffff80000200n); // sepc
  a.csrWrite(0x140, 0x1234n); // sscratch
  a.stimecmp = 123456789n;
  a.sstcEnabled = true;
  a.resValid = true;
  a.resAddr = 0x8000_1000;
  a.instretN = 987654;
  a.minstretOffset = 42n;
  const s = saveHart(a);
  const json = JSON.parse(JSON.stringify(s)); // it crosses a file as JSON
  const b = mk();
  b.rTag[3] = 1; // a stale TLB entry: a load must drop it
  loadHart(b, json);
  assert.deepEqual(saveHart(b), s);
  assert.deepEqual(b.pc, a.pc);
  assert.deepEqual(b.priv, 1);
  assert.deepEqual(b.satpAsid, 5);
  assert.deepEqual(b.csrRead(0x180), a.csrRead(0x180));
  assert.ok(Number.isNaN(b.rTag[3]), "the TLB is empty after a load");

  // A bad record changes nothing.
  const c = mk();
  const before = saveHart(c);
  assert.throws(() => loadHart(c, { ...json, x: json.x.slice(1) }), HartStateError);
  assert.throws(() => loadHart(c, { ...json, pc: "not hex" }), HartStateError);
  assert.throws(() => loadHart(c, { ...json, version: 2 }), /version 2/);
  assert.throws(() => loadHart(c, { ...json, priv: 2 }), HartStateError);
  assert.deepEqual(saveHart(c), before);
});

Deno.test("hart state: an Sv57 satp loads only into a hart built with Sv57", () => {
  const mk = (sv57: boolean) =>
    new Hart({ ram: new SharedArrayBuffer(1 << 20), ramBase: 0x8000_0000, sv57 });
  const a = mk(true);
  a.csrWrite(0x180, (10n << 60n) | (3n << 44n) | 0x80123n);
  const s = saveHart(a);
  const b = mk(true);
  loadHart(b, s);
  assert.equal(b.satpMode, 10);
  assert.equal(b.csrRead(0x180), a.csrRead(0x180));
  const c = mk(false);
  const before = saveHart(c);
  assert.throws(() => loadHart(c, s), /satp mode 10.*--mmu=sv57/);
  assert.deepEqual(saveHart(c), before, "nothing changed");
});

Deno.test("snapshot: a plain writable disk, a share or several harts are refused, ,snapshot and ,ro are not", () => {
  const o = readCommandLine([]);
  assert.ok(typeof o !== "string");
  const p = (disks: { readOnly: boolean; overlay?: boolean }[]) =>
    ({
      disks: disks.map((d, i) => ({
        path: `d${i}.img`,
        readOnly: d.readOnly,
        ...(d.overlay ? { overlay: {} } : {}),
      })),
    }) as unknown as Prepared;
  checkSnapshotable(o, p([{ readOnly: true }, { readOnly: false, overlay: true }]));
  assert.throws(
    () => checkSnapshotable(o, p([{ readOnly: false }])),
    SnapshotRefused,
    "d0.img is a plain writable disk",
  );
  assert.throws(
    () => checkSnapshotable({ ...o, shares: [{ path: "/x", tag: "s", readOnly: true }] }, p([])),
    /--share/,
  );
  assert.throws(() => checkSnapshotable({ ...o, smp: 2 }, p([])), /2 harts/);
});
