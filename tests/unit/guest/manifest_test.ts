// The bundled guest's files against guest/MANIFEST.json (sizes, SHA-256), and
// the shape of each image: a RISC-V Image header, an uncompressed newc cpio,
// an ext2 disk, the default command line. Built by scripts/build-guest.sh;
// docs/guest.md says what each file is. The QEMU boot: guest_qemu_test.ts.
import assert from "../../../testing/assert.ts";
import { sha256Hex } from "../../../testing/sha256.ts";

const GUEST = new URL("../../../guest/", import.meta.url);

interface Manifest {
  built: string;
  sourceDateEpoch: number;
  debian: Record<string, string>;
  kernelRelease: string;
  cmdline: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

async function manifest(): Promise<Manifest> {
  return JSON.parse(await Deno.readTextFile(new URL("MANIFEST.json", GUEST)));
}

Deno.test("guest manifest: every listed file has its size and SHA-256", async () => {
  const m = await manifest();
  const names = Object.keys(m.files);
  for (const want of ["Image", "initramfs.cpio", "disk.img", "System.map", "kernel.config"]) {
    assert.ok(names.includes(want), `MANIFEST.json lists no ${want}`);
  }
  for (const [name, entry] of Object.entries(m.files)) {
    const bytes = await Deno.readFile(new URL(name, GUEST));
    assert.equal(bytes.length, entry.bytes, `${name}: size`);
    assert.equal(await sha256Hex(bytes), entry.sha256, `${name}: SHA-256`);
  }
  assert.match(m.debian["linux-source-6.12"], /^6\.12\./);
  assert.match(m.debian["busybox (source)"], /1\.35/);
  assert.match(m.kernelRelease, /^6\.12\./);
  assert.ok(!Number.isNaN(Date.parse(m.built)), `built: ${m.built}`);
});

Deno.test("guest manifest: cmdline.txt is one line and matches the manifest", async () => {
  const text = await Deno.readTextFile(new URL("cmdline.txt", GUEST));
  const lines = text.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1);
  assert.ok(lines[0].startsWith("console=hvc0 earlycon=sbi"), lines[0]);
  assert.equal((await manifest()).cmdline, lines[0]);
});

Deno.test("guest Image: RISC-V boot header (magic RSC\\x05, 2 MiB text offset)", async () => {
  const image = await Deno.readFile(new URL("Image", GUEST));
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  // arch/riscv/include/asm/image.h: text_offset at 8, image_size at 16, magic2 at 56.
  assert.deepEqual(Array.from(image.subarray(56, 60)), [0x52, 0x53, 0x43, 0x05]);
  assert.equal(view.getBigUint64(8, true), 0x200000n);
  const size = Number(view.getBigUint64(16, true));
  assert.ok(size >= image.length, `image_size ${size} < file ${image.length}`);
});

Deno.test("guest initramfs: uncompressed newc cpio with /init and busybox", async () => {
  const cpio = await Deno.readFile(new URL("initramfs.cpio", GUEST));
  const names = new Set<string>();
  let off = 0;
  for (;;) {
    const header = new TextDecoder().decode(cpio.subarray(off, off + 110));
    assert.equal(header.slice(0, 6), "070701", `newc magic at ${off}`);
    const field = (i: number) => parseInt(header.slice(6 + 8 * i, 14 + 8 * i), 16);
    const uid = field(2), gid = field(3), fileSize = field(6), nameSize = field(11);
    const name = new TextDecoder().decode(cpio.subarray(off + 110, off + 110 + nameSize - 1));
    if (name === "TRAILER!!!") break;
    assert.equal(uid, 0, `${name}: owner`);
    assert.equal(gid, 0, `${name}: group`);
    names.add(name);
    off = (off + 110 + nameSize + 3) & ~3;
    off = (off + fileSize + 3) & ~3;
    assert.ok(off < cpio.length, "cpio ends without a trailer");
  }
  for (const want of ["init", "bin/busybox", "sbin/init", "etc/inittab", "dev/console"]) {
    assert.ok(names.has(want), `initramfs lacks ${want}`);
  }
});

Deno.test("guest disk.img: ext2 superblock, 4 MiB", async () => {
  const disk = await Deno.readFile(new URL("disk.img", GUEST));
  assert.equal(disk.length, 4 * 1024 * 1024);
  const sb = new DataView(disk.buffer, 1024, 1024);
  assert.equal(sb.getUint16(56, true), 0xef53, "ext2 magic");
  // No has_journal (ext3) and no extents (ext4): a plain ext2 image.
  assert.equal(sb.getUint32(92, true) & 0x4, 0, "has_journal");
  assert.equal(sb.getUint32(96, true) & 0x40, 0, "extents");
});
