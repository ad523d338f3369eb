// Tests for launcher/loader.ts: Image and ELF kernels land where the kernel
// expects them, the initrd at the top of RAM and the device tree below it
// (naming the initrd), and every bad input is a LoadError saying what is wrong.

import assert from "../../../testing/assert.ts";
import {
  checkMemorySize,
  type GuestLayout,
  imageFileBytesFromMap,
  LoadError,
  loadGuest,
  MAX_MEM_MB,
} from "../../../launcher/loader.ts";
import { buildMachineFdt } from "../../../launcher/devicetree.ts";
import { parseFdt } from "../../../lib/fdt.ts";
import { KERNEL_BASE, RAM_BASE } from "../../../machine/memmap.ts";

const MiB = 1024 * 1024;

/** A RISC-V Image: 64-byte header + body; image_size may exceed the file (bss). */
function makeImage(body: number, imageSize: number, textOffset = 0x20_0000): Uint8Array {
  const b = new Uint8Array(64 + body);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x0000a0d1, true); // code0: c.li s4,-13 as in real Images
  v.setBigUint64(8, BigInt(textOffset), true);
  v.setBigUint64(16, BigInt(imageSize), true);
  v.setUint32(32, 2, true); // version 0.2
  b.set(new TextEncoder().encode("RISCV\0\0\0RSC\x05"), 0x30);
  for (let i = 64; i < b.length; i++) b[i] = (i * 7) & 0xff;
  return b;
}

interface Seg {
  vaddr: bigint;
  paddr: bigint;
  data: Uint8Array;
  memsz: number;
}

/** A minimal ELF64: header, program headers, segment bytes. */
function makeElf(
  segs: Seg[],
  entry: bigint,
  opts: { cls?: number; data?: number; machine?: number; type?: number } = {},
): Uint8Array {
  const phoff = 64, phsize = 56;
  let off = phoff + segs.length * phsize;
  const offsets = segs.map((s) => {
    const o = off;
    off += s.data.length;
    return o;
  });
  const b = new Uint8Array(off);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, opts.cls ?? 2, opts.data ?? 1, 1]);
  v.setUint16(16, opts.type ?? 2, true);
  v.setUint16(18, opts.machine ?? 243, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, entry, true);
  v.setBigUint64(32, BigInt(phoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(54, phsize, true);
  v.setUint16(56, segs.length, true);
  segs.forEach((s, i) => {
    const p = phoff + i * phsize;
    v.setUint32(p, 1, true); // PT_LOAD
    v.setUint32(p + 4, 7, true);
    v.setBigUint64(p + 8, BigInt(offsets[i]), true);
    v.setBigUint64(p + 16, s.vaddr, true);
    v.setBigUint64(p + 24, s.paddr, true);
    v.setBigUint64(p + 32, BigInt(s.data.length), true);
    v.setBigUint64(p + 40, BigInt(s.memsz), true);
    v.setBigUint64(p + 48, 0x1000n, true);
    b.set(s.data, offsets[i]);
  });
  return b;
}

const fill = (n: number, x: number) => new Uint8Array(n).fill(x);
const noFdt = () => new Uint8Array(256);

function ram(mb: number, junk = 0xaa): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(mb * MiB)).fill(junk);
}

function machineFdt(ramBytes: number) {
  return (l: GuestLayout) =>
    buildMachineFdt({
      ramBytes,
      bootargs: "console=hvc0",
      initrd: l.initrd ?? undefined,
      virtioSlots: [0],
    });
}

Deno.test("loader: Image at RAM_BASE+text_offset, initrd at the top, FDT below it", () => {
  const r = ram(32);
  const img = makeImage(200_000, 300_000);
  const initrd = fill(123_457, 0x5a);
  let seen: GuestLayout | null = null;
  const g = loadGuest({
    ram: r,
    kernel: img,
    initrd,
    buildFdt: (l) => {
      seen = l;
      return machineFdt(r.length)(l);
    },
  });
  assert.equal(g.kind, "image");
  assert.equal(g.entry, KERNEL_BASE);
  assert.equal(g.kernelStart, KERNEL_BASE);
  assert.equal(g.kernelEnd, KERNEL_BASE + 300_000, "image_size, not the file size");
  const k = KERNEL_BASE - RAM_BASE;
  assert.deepEqual(r.subarray(k, k + img.length), img);
  assert.ok(r.subarray(k + img.length, k + 300_000).every((x) => x === 0), "bss cleared");
  assert.equal(r[k + 300_000], 0xaa, "nothing written past image_size");

  const top = RAM_BASE + 32 * MiB;
  assert.equal(g.initrdStart % 4096, 0, "initrd page aligned");
  assert.equal(g.initrdEnd, g.initrdStart + initrd.length);
  assert.ok(g.initrdEnd <= top && top - g.initrdStart < initrd.length + 4096, "at the top");
  assert.deepEqual(r.subarray(g.initrdStart - RAM_BASE, g.initrdEnd - RAM_BASE), initrd);
  assert.deepEqual(seen!.initrd, { start: g.initrdStart, end: g.initrdEnd });

  assert.equal(g.fdtAddr % 8, 0);
  assert.ok(g.fdtAddr + g.fdtBytes <= g.initrdStart && g.fdtAddr >= g.kernelEnd);
  const blob = r.slice(g.fdtAddr - RAM_BASE, g.fdtAddr - RAM_BASE + g.fdtBytes);
  const chosen = parseFdt(blob).root.children.find((c) => c.name === "chosen")!;
  const u64 = (p: Uint8Array) => new DataView(p.buffer).getBigUint64(0);
  assert.equal(u64(chosen.props.get("linux,initrd-start")!), BigInt(g.initrdStart));
  assert.equal(u64(chosen.props.get("linux,initrd-end")!), BigInt(g.initrdEnd));
});

Deno.test("loader: no initrd puts the FDT at the top of RAM and passes null", () => {
  const r = ram(16);
  let initrd: GuestLayout["initrd"] | undefined;
  const g = loadGuest({
    ram: r.buffer as SharedArrayBuffer,
    kernel: makeImage(1000, 0),
    buildFdt: (l) => {
      initrd = l.initrd;
      return new Uint8Array(5000);
    },
  });
  assert.equal(initrd, null);
  assert.equal(g.initrdStart, 0);
  assert.equal(g.initrdEnd, 0);
  assert.equal(g.fdtAddr, RAM_BASE + 16 * MiB - 8192);
  assert.equal(g.kernelEnd, KERNEL_BASE + 1064, "image_size 0: the file's length");
});

Deno.test("loader: ELF64 bare-metal program at its p_paddr, bss zeroed, entry physical", () => {
  const r = ram(16);
  const text = fill(5000, 0x11), data = fill(3000, 0x22);
  const elf = makeElf([
    { vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: text, memsz: 5000 },
    { vaddr: 0x8010_0000n, paddr: 0x8010_0000n, data, memsz: 10_000 },
  ], 0x8000_0010n);
  const g = loadGuest({ ram: r, kernel: elf, buildFdt: noFdt });
  assert.equal(g.kind, "elf");
  assert.equal(g.entry, 0x8000_0010);
  assert.equal(g.kernelStart, 0x8000_0000);
  assert.equal(g.kernelEnd, 0x8010_0000 + 10_000);
  assert.deepEqual(r.subarray(0, 5000), text);
  assert.deepEqual(r.subarray(0x10_0000, 0x10_0000 + 3000), data);
  assert.ok(r.subarray(0x10_0000 + 3000, 0x10_0000 + 10_000).every((x) => x === 0));
  assert.equal(r[0x10_0000 + 10_000], 0xaa);
});

Deno.test("loader: a vmlinux-style ELF (virtual link address) goes to KERNEL_BASE", () => {
  const r = ram(16);
  const text = fill(0x3000, 0x33), data = fill(0x800, 0x44);
  // As Linux links it: vaddr in the top 2 GiB, p_paddr = offset from _start.
  const elf = makeElf([
    { vaddr: 0xffff_ffff_8000_0000n, paddr: 0n, data: text, memsz: 0x3000 },
    { vaddr: 0xffff_ffff_8000_4000n, paddr: 0x4000n, data, memsz: 0x2000 },
  ], 0xffff_ffff_8000_0000n);
  const g = loadGuest({ ram: r, kernel: elf, buildFdt: noFdt });
  assert.equal(g.entry, KERNEL_BASE);
  assert.equal(g.kernelEnd, KERNEL_BASE + 0x6000);
  const k = KERNEL_BASE - RAM_BASE;
  assert.deepEqual(r.subarray(k, k + 0x3000), text);
  assert.deepEqual(r.subarray(k + 0x4000, k + 0x4800), data);
  assert.ok(r.subarray(k + 0x4800, k + 0x6000).every((x) => x === 0));
});

Deno.test("loader: every bad input is a LoadError that says what is wrong", () => {
  const seg = [{ vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: fill(64, 1), memsz: 64 }];
  const load = (kernel: Uint8Array, mb = 16, initrd?: Uint8Array, fdt = 256) =>
    loadGuest({ ram: ram(mb, 0), kernel, initrd, buildFdt: () => new Uint8Array(fdt) });
  const bad: [() => unknown, RegExp][] = [
    [() => load(new Uint8Array(0)), /kernel: the file is empty \(0 bytes\)/],
    [() => load(new Uint8Array(10)), /not a RISC-V kernel/],
    [() => load(new TextEncoder().encode("#!/bin/sh\necho hello\n".repeat(5))), /not a RISC-V/],
    [() => load(makeElf(seg, 0x8000_0000n, { cls: 1 })), /32-bit \(ELFCLASS32\).*want a 64-bit/],
    [() => load(makeElf(seg, 0x8000_0000n, { data: 2 })), /big-endian/],
    [() => load(makeElf(seg, 0x8000_0000n, { machine: 62 })), /for x86-64 \(e_machine 62\)/],
    [() => load(makeElf(seg, 0x8000_0000n, { machine: 183 })), /for AArch64/],
    [() => load(makeElf(seg, 0x8000_0000n, { type: 1 })), /ELF type 1 is not an executable/],
    [() => load(makeElf([], 0x8000_0000n)), /no PT_LOAD/],
    [
      () => load(makeElf([{ ...seg[0], paddr: 0x1000n }], 0x1000n)),
      /segment 0 at 0x1000.*outside RAM/,
    ],
    [
      () => load(makeElf([{ ...seg[0], paddr: 0x80ff_0000n, memsz: 2 * MiB }], 0x80ff_0000n)),
      /memory too small: .*segment 0.*needs at least 18 MB of RAM, have 16 MB/,
    ],
    [() => load(makeElf(seg, 0x9000_0000n)), /entry point 0x90000000 is in no loaded segment/],
    [
      () => load(makeElf(seg, 0x8000_0000n).subarray(0, 130)),
      /truncated: ELF segment 0 ends at byte 184, the file has 130/,
    ],
    [
      () => load(makeElf(seg, 0x8000_0000n).subarray(0, 100)),
      /truncated: ELF program headers end at byte 120, the file has 100/,
    ],
    // The first 100 KB of a 4 MB kernel: less than half of image_size.
    [
      () => load(makeImage(100_000 - 64, 4 * MiB)),
      /kernel: truncated: the header says 4194304 bytes \(image_size\), the file has 100000/,
    ],
    [() => load(makeImage(100, 0), 16, new Uint8Array(0)), /the initrd is empty \(0 bytes\)/],
    [() => load(makeImage(100, 50)), /image_size 50 but the file has 164 bytes/],
    [() => load(makeImage(100, 0, 0x7fff_0000_0000)), /Image at 0x7fff80000000.*outside RAM/],
    [
      () => load(makeImage(5 * MiB, 10 * MiB), 16, new Uint8Array(5 * MiB)),
      /memory too small: kernel ends at 0x80c00000.*initrd 5\.0 MiB, device tree 4 KiB: need at least 18 MB, have 16 MB/,
    ],
    [
      () => load(makeImage(5 * MiB, 10 * MiB), 16, new Uint8Array(3 * MiB), 2 * MiB),
      /memory too small: .*device tree 2\.0 MiB: need at least 17 MB/,
    ],
  ];
  for (const [f, re] of bad) {
    assert.throws(f, (e: Error) => {
      assert.ok(e instanceof LoadError, `LoadError, got ${e}`);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("loader: a System.map that matches the Image finds a cut anywhere; others are ignored", () => {
  // image_size 0x30000 (_end - _start), file 0x28040 bytes (_edata - _start).
  const map = (end: number) =>
    [
      "ffffffff80000000 T _start",
      "ffffffff80001000 t some_function",
      "ffffffff80028040 D _edata",
      "ffffffff80028040 B __bss_start",
      `ffffffff8${end.toString(16).padStart(7, "0")} B _end`,
    ].join("\n") + "\n";
  const whole = makeImage(0x28000, 0x30000);
  const load = (kernel: Uint8Array, systemMap: string | null) =>
    loadGuest({
      ram: ram(16, 0),
      kernel,
      kernelName: "guest/Image",
      systemMap,
      buildFdt: () => new Uint8Array(256),
    });
  assert.equal(imageFileBytesFromMap(map(0x30000), 0x30000n), 0x28040);
  assert.equal(imageFileBytesFromMap(map(0x40000), 0x30000n), null, "another kernel's map");
  assert.equal(imageFileBytesFromMap("garbage\n\0\xff", 0x30000n), null);
  load(whole, map(0x30000)); // the whole file loads
  // 4 KiB short: above half of image_size, so only the map can tell.
  const cut = whole.subarray(0, whole.length - 4096);
  load(cut, null);
  load(cut, map(0x40000));
  assert.throws(
    () => load(cut, map(0x30000)),
    /guest\/Image: truncated: the header says 196608 bytes \(image_size\) and its System\.map puts the end of the file at 163904 bytes \(_edata\), the file has 159808/,
  );
});

Deno.test("loader: the bundled kernel whole loads; its first 100 KB, or all but 4 KiB with its System.map, do not", () => {
  const image = Deno.readFileSync(new URL("../../../guest/Image", import.meta.url));
  const map = Deno.readTextFileSync(new URL("../../../guest/System.map", import.meta.url));
  const load = (kernel: Uint8Array, systemMap: string | null) =>
    loadGuest({ ram: ram(64, 0), kernel, systemMap, buildFdt: () => new Uint8Array(256) });
  load(image, map);
  assert.throws(
    () => load(image.subarray(0, 100_000), null),
    /truncated: the header says \d+ bytes/,
  );
  assert.throws(
    () => load(image.subarray(0, image.length - 4096), map),
    new RegExp(`_edata\\), the file has ${image.length - 4096}$`),
  );
});

Deno.test("loader: memory sizes", () => {
  assert.equal(checkMemorySize(128), 128 * MiB);
  assert.throws(() => checkMemorySize(0), /whole number of megabytes/);
  assert.throws(() => checkMemorySize(1.5), /whole number/);
  assert.throws(() => checkMemorySize(NaN), /whole number/);
  assert.throws(() => checkMemorySize(4), /4 MB is too small: a Linux guest needs 16 MB/);
  assert.throws(
    () => checkMemorySize(MAX_MEM_MB + 1),
    /more than a SharedArrayBuffer can hold \(at most 16384 MB\)/,
  );
});

const GUEST = new URL("../../../guest/", import.meta.url);
const read = (p: string) => {
  try {
    return Deno.readFileSync(new URL(p, GUEST));
  } catch {
    return null;
  }
};
const image = read("Image");

Deno.test({
  name: "loader: the bundled guest/Image" + (image ? "" : " (SKIPPED: guest/Image not built)"),
  ignore: !image,
  fn: () => {
    const r = ram(128, 0);
    const initrd = read("initramfs.cpio") ?? undefined;
    const g = loadGuest({
      ram: r,
      kernel: image!,
      kernelName: "guest/Image",
      initrd,
      buildFdt: machineFdt(r.length),
    });
    assert.equal(g.kind, "image");
    assert.equal(g.entry, KERNEL_BASE);
    const imageSize = Number(new DataView(image!.buffer).getBigUint64(16, true));
    assert.equal(g.kernelEnd, KERNEL_BASE + imageSize);
    assert.deepEqual(
      r.subarray(KERNEL_BASE - RAM_BASE, KERNEL_BASE - RAM_BASE + 64),
      image!.slice(0, 64),
    );
    assert.ok(g.fdtAddr > g.kernelEnd && g.fdtAddr < (initrd ? g.initrdStart : Infinity));
    // Too little memory for it is refused, naming the size needed.
    assert.throws(
      () =>
        loadGuest({ ram: ram(4, 0), kernel: image!, kernelName: "guest/Image", buildFdt: noFdt }),
      /memory too small: guest\/Image's Image .* needs at least \d+ MB of RAM, have 4 MB/,
    );

    // The vmlinux from the same build, if still around, loads to the same bytes.
    const vmlinux = read("build/linux-source-6.12/vmlinux");
    if (!vmlinux) return;
    const r2 = ram(128, 0);
    const g2 = loadGuest({ ram: r2, kernel: vmlinux, kernelName: "vmlinux", buildFdt: noFdt });
    if (g2.kernelEnd !== g.kernelEnd) return; // a different build: nothing to compare
    console.log("guest/Image and vmlinux from one build: comparing what they load");
    assert.equal(g2.kind, "elf");
    assert.equal(g2.entry, KERNEL_BASE);
    const k = KERNEL_BASE - RAM_BASE;
    assert.deepEqual(r2.subarray(k, g.kernelEnd - RAM_BASE), r.subarray(k, g.kernelEnd - RAM_BASE));
  },
});
