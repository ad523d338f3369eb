// Loading the guest, lguest's load_kernel() + load_initrd() for RISC-V: a
// kernel `Image` or an ELF64 `vmlinux` into guest RAM, the initrd at the top
// of RAM, and the device tree just below it, built by the caller once the
// addresses are known. Every failure is a LoadError that says what is wrong.
// Read next: launcher/devicetree.ts (the tree), machine/memmap.ts, docs/machine.md.

import { KERNEL_BASE, RAM_BASE } from "../machine/memmap.ts";
import {
  ElfError,
  EM_RISCV,
  ET_DYN,
  ET_EXEC,
  isElf,
  machineName,
  type ProgramHeader,
  PT_LOAD,
  readElfHeader,
  readProgramHeaders,
} from "../lib/elf.ts";

export class LoadError extends Error {
  override name = "LoadError";
}

/** The smallest guest we agree to boot, and the largest RAM a SharedArrayBuffer held here. */
export const MIN_MEM_MB = 16;
export const MAX_MEM_MB = 16 * 1024;
/** The hart addresses at most 4 GiB of RAM (cpu/hart.ts): refuse more here, not in the cpu actor. */
export const MAX_HART_MEM_MB = 4 * 1024;
export const PAGE = 4096;

/** Check `<mem-in-mb>`; returns the RAM size in bytes. */
export function checkMemorySize(mb: number): number {
  if (!Number.isInteger(mb) || mb <= 0) {
    throw new LoadError(`memory size ${mb}: want a whole number of megabytes`);
  }
  if (mb < MIN_MEM_MB) {
    throw new LoadError(`memory size ${mb} MB is too small: a Linux guest needs ${MIN_MEM_MB} MB`);
  }
  if (mb > MAX_MEM_MB) {
    throw new LoadError(
      `memory size ${mb} MB is more than a SharedArrayBuffer can hold (at most ${MAX_MEM_MB} MB)`,
    );
  }
  if (mb > MAX_HART_MEM_MB) {
    throw new LoadError(
      `memory size ${mb} MB is more than the hart can address (at most ${MAX_HART_MEM_MB} MB)`,
    );
  }
  return mb * 1024 * 1024;
}

/** A piece of the kernel to copy to physical `addr`, followed by `zero` bytes of bss. */
export interface Segment {
  addr: number;
  data: Uint8Array;
  memBytes: number;
}

export interface ParsedKernel {
  kind: "image" | "elf";
  entry: number;
  segments: Segment[];
}

/** Where things went, for the cpu (entry, a1 = fdtAddr) and for --verbose. */
export interface LoadedGuest {
  kind: "image" | "elf";
  entry: number;
  kernelStart: number;
  kernelEnd: number;
  /** 0 and 0 when there is no initrd. */
  initrdStart: number;
  initrdEnd: number;
  fdtAddr: number;
  fdtBytes: number;
}

/** What the device-tree callback learns: the initrd range (null when none). */
export interface GuestLayout {
  kernelStart: number;
  kernelEnd: number;
  initrd: { start: number; end: number } | null;
}

export interface LoadRequest {
  /** Guest RAM; physical address RAM_BASE is byte 0. */
  ram: SharedArrayBuffer | Uint8Array;
  kernel: Uint8Array;
  /** For messages ("guest/Image"); default "kernel". */
  kernelName?: string;
  initrd?: Uint8Array | null;
  /**
   * The kernel's System.map text, if the caller has one: when it matches an
   * Image (its _end - _start is the header's image_size) its _edata tells
   * the Image file's exact length, so a file cut anywhere is caught.
   */
  systemMap?: string | null;
  /** Build the device tree once the initrd's place is known. */
  buildFdt: (layout: GuestLayout) => Uint8Array;
}

const MiB = 1024 * 1024;
const hex = (n: number | bigint) => "0x" + n.toString(16);
const mib = (n: number) => n < MiB ? `${Math.ceil(n / 1024)} KiB` : `${(n / MiB).toFixed(1)} MiB`;
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number) => Math.floor(n / a) * a;

/** Load kernel, initrd and device tree into RAM; returns where each went. */
export function loadGuest(req: LoadRequest): LoadedGuest {
  const ram = req.ram instanceof Uint8Array ? req.ram : new Uint8Array(req.ram);
  const name = req.kernelName ?? "kernel";
  const ramEnd = RAM_BASE + ram.length;
  const k = parseKernel(req.kernel, name, ram.length, req.systemMap ?? null);

  let kernelStart = Infinity, kernelEnd = 0;
  for (const s of k.segments) {
    kernelStart = Math.min(kernelStart, s.addr);
    kernelEnd = Math.max(kernelEnd, s.addr + s.memBytes);
  }
  if (k.segments.length === 0) throw new LoadError(`${name}: no loadable segments`);

  // An empty initrd is not "no initrd": the guest would boot without its
  // root filesystem and panic. The launcher names the option; this is for callers.
  if (req.initrd && req.initrd.length === 0) throw new LoadError("the initrd is empty (0 bytes)");
  const initrd = req.initrd ?? null;
  const initrdBytes = initrd ? alignUp(initrd.length, PAGE) : 0;
  const need = (fdtBytes: number) => kernelEnd - RAM_BASE + initrdBytes + fdtBytes;
  // Before building the tree: is there room for the kernel and initrd at all?
  if (need(PAGE) > ram.length) throw tooSmall(name, kernelEnd, initrdBytes, PAGE, ram.length);

  const initrdStart = initrd ? alignDown(ramEnd - initrd.length, PAGE) : 0;
  const initrdEnd = initrd ? initrdStart + initrd.length : 0;
  const fdt = req.buildFdt({
    kernelStart,
    kernelEnd,
    initrd: initrd ? { start: initrdStart, end: initrdEnd } : null,
  });
  // The tree gets its own pages below the initrd (or the top of RAM): a
  // page-aligned slot, so it never shares a page with the initrd.
  const fdtSlot = alignUp(fdt.length, PAGE);
  const fdtAddr = (initrd ? initrdStart : alignDown(ramEnd, PAGE)) - fdtSlot;
  if (fdtAddr < kernelEnd) throw tooSmall(name, kernelEnd, initrdBytes, fdtSlot, ram.length);

  for (const s of k.segments) {
    const off = s.addr - RAM_BASE;
    ram.set(s.data, off);
    ram.fill(0, off + s.data.length, off + s.memBytes);
  }
  if (initrd) ram.set(initrd, initrdStart - RAM_BASE);
  ram.set(fdt, fdtAddr - RAM_BASE);
  return {
    kind: k.kind,
    entry: k.entry,
    kernelStart,
    kernelEnd,
    initrdStart,
    initrdEnd,
    fdtAddr,
    fdtBytes: fdt.length,
  };
}

function tooSmall(
  name: string,
  kernelEnd: number,
  initrdBytes: number,
  fdtBytes: number,
  have: number,
): LoadError {
  const need = kernelEnd - RAM_BASE + initrdBytes + fdtBytes;
  return new LoadError(
    `memory too small: ${name} ends at ${hex(kernelEnd)} (${mib(kernelEnd - RAM_BASE)} from ` +
      `the start of RAM), initrd ${mib(initrdBytes)}, device tree ${mib(fdtBytes)}: ` +
      `need at least ${Math.ceil(need / MiB)} MB, have ${have / MiB} MB`,
  );
}

/** Recognise and parse a kernel: RISC-V Image or ELF64 RISC-V. */
export function parseKernel(
  bytes: Uint8Array,
  name: string,
  ramBytes: number,
  systemMap: string | null = null,
): ParsedKernel {
  if (bytes.length === 0) throw new LoadError(`${name}: the file is empty (0 bytes)`);
  if (isElf(bytes)) return parseElf(bytes, name, ramBytes);
  if (isRiscvImage(bytes)) return parseImage(bytes, name, ramBytes, systemMap);
  throw new LoadError(
    `${name}: not a RISC-V kernel (no Image magic "RSC\\x05" at 0x38, not an ELF file)`,
  );
}

// --- The RISC-V Image (Documentation/arch/riscv/boot-image-header.rst) -----

const IMAGE_MAGIC = "RISCV\0\0\0"; // at 0x30, deprecated but still written
const IMAGE_MAGIC2 = "RSC\x05"; // at 0x38
const IMAGE_HEADER_BYTES = 64;

function ascii(b: Uint8Array, off: number, len: number): string {
  return String.fromCharCode(...b.subarray(off, off + len));
}

function isRiscvImage(b: Uint8Array): boolean {
  return b.length >= IMAGE_HEADER_BYTES &&
    (ascii(b, 0x38, 4) === IMAGE_MAGIC2 || ascii(b, 0x30, 8) === IMAGE_MAGIC);
}

/**
 * The length an Image file must have, from a System.map — `_edata - _start`,
 * what objcopy writes — if the map is this kernel's (`_end - _start` equals
 * the header's image_size); null otherwise (no map, garbage, another kernel).
 */
export function imageFileBytesFromMap(map: string, imageSize: bigint): number | null {
  const at: Record<string, bigint> = {};
  for (const m of map.matchAll(/^([0-9a-fA-F]{1,16}) \S (_start|_edata|_end)$/gm)) {
    if (!(m[2] in at)) at[m[2]] = BigInt("0x" + m[1]);
  }
  const { _start, _edata, _end } = at;
  if (_start === undefined || _edata === undefined || _end === undefined) return null;
  if (_end - _start !== imageSize || _edata < _start || _edata > _end) return null;
  return Number(_edata - _start);
}

/**
 * A kernel Image file is its image_size less only the bss, which no kernel
 * makes half its size: a file shorter than half of image_size was cut short
 * (a partial copy or download). Without a matching System.map, that is the
 * most the header can tell.
 */
const MIN_IMAGE_FILE_FRACTION = 0.5;

function parseImage(
  b: Uint8Array,
  name: string,
  ramBytes: number,
  systemMap: string | null,
): ParsedKernel {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const textOffset = v.getBigUint64(8, true);
  const imageSize = v.getBigUint64(16, true);
  // image_size counts the bss the kernel clears itself; 0 on very old kernels.
  const span = imageSize === 0n ? BigInt(b.length) : imageSize;
  if (span < BigInt(b.length)) {
    throw new LoadError(
      `${name}: Image header says image_size ${span} but the file has ${b.length} bytes`,
    );
  }
  const exact = systemMap === null || imageSize === 0n
    ? null
    : imageFileBytesFromMap(systemMap, imageSize);
  if (exact !== null && b.length < exact) {
    throw new LoadError(
      `${name}: truncated: the header says ${span} bytes (image_size) and its System.map ` +
        `puts the end of the file at ${exact} bytes (_edata), the file has ${b.length}`,
    );
  }
  if (exact === null && Number(span) * MIN_IMAGE_FILE_FRACTION > b.length) {
    throw new LoadError(
      `${name}: truncated: the header says ${span} bytes (image_size), the file has ` +
        `${b.length}: less than half, more than any kernel's bss accounts for`,
    );
  }
  const addr = BigInt(RAM_BASE) + textOffset;
  checkInRam(name, "Image", addr, span, ramBytes);
  return {
    kind: "image",
    entry: Number(addr),
    segments: [{ addr: Number(addr), data: b, memBytes: Number(span) }],
  };
}

function checkInRam(name: string, what: string, addr: bigint, len: bigint, ramBytes: number) {
  const end = BigInt(RAM_BASE + ramBytes);
  if (addr >= BigInt(RAM_BASE) && addr < end && addr + len > end) {
    const need = Math.ceil(Number(addr + len - BigInt(RAM_BASE)) / MiB);
    throw new LoadError(
      `memory too small: ${name}'s ${what} at ${hex(addr)}..${hex(addr + len)} ` +
        `needs at least ${need} MB of RAM, have ${ramBytes / MiB} MB`,
    );
  }
  if (addr < BigInt(RAM_BASE) || addr + len > end) {
    throw new LoadError(
      `${name}: ${what} at ${hex(addr)}..${hex(addr + len)} lies outside RAM ` +
        `${hex(RAM_BASE)}..${hex(end)}`,
    );
  }
}

// --- ELF64 (the vmlinux, or a bare-metal program) -------------------------

function parseElf(b: Uint8Array, name: string, ramBytes: number): ParsedKernel {
  let entry: bigint;
  let loads: ProgramHeader[];
  try {
    const h = readElfHeader(b);
    if (h.machine !== EM_RISCV) {
      throw new ElfError(
        `an ELF file for ${machineName(h.machine)} (e_machine ${h.machine}); want RISC-V (243)`,
      );
    }
    if (h.type !== ET_EXEC && h.type !== ET_DYN) {
      throw new ElfError(`ELF type ${h.type} is not an executable (want ET_EXEC)`);
    }
    entry = h.entry;
    loads = readProgramHeaders(b, h).filter((p) => p.type === PT_LOAD && p.memsz !== 0n);
  } catch (e) {
    if (e instanceof ElfError) throw new LoadError(`${name}: ${e.message}`);
    throw e;
  }
  if (loads.length === 0) throw new LoadError(`${name}: ELF file has no PT_LOAD segments`);

  // Where each segment goes. A bare-metal ELF names physical addresses in
  // RAM: use p_paddr. A Linux vmlinux is linked in the top 2 GiB of the
  // address space and its p_paddr are offsets from the image start, so it
  // goes where an Image would, at KERNEL_BASE, keeping its virtual layout.
  const lo = BigInt(RAM_BASE), hi = BigInt(RAM_BASE + ramBytes);
  const physicalOk = loads.every((s) => s.paddr >= lo && s.paddr + s.memsz <= hi);
  const highHalf = entry >= 0x8000_0000_0000_0000n;
  let place: (s: ProgramHeader) => bigint;
  if (physicalOk || !highHalf) {
    place = (s) => s.paddr;
  } else {
    const base = loads.reduce((m, s) => s.vaddr < m ? s.vaddr : m, loads[0].vaddr);
    place = (s) => BigInt(KERNEL_BASE) + (s.vaddr - base);
  }
  const segments = loads.map((s) => {
    const addr = place(s);
    checkInRam(name, `segment ${s.index}`, addr, s.memsz, ramBytes);
    return { addr: Number(addr), data: s.data, memBytes: Number(s.memsz) };
  });

  // The entry: a virtual address inside a segment goes to that segment's
  // physical place; otherwise it must itself be a physical address we load.
  let phys = -1;
  for (let j = 0; j < loads.length; j++) {
    const s = loads[j];
    if (entry >= s.vaddr && entry < s.vaddr + s.memsz) {
      phys = segments[j].addr + Number(entry - s.vaddr);
      break;
    }
  }
  if (phys < 0) {
    for (const s of segments) {
      if (entry >= BigInt(s.addr) && entry < BigInt(s.addr + s.memBytes)) phys = Number(entry);
    }
  }
  if (phys < 0) throw new LoadError(`${name}: entry point ${hex(entry)} is in no loaded segment`);
  return { kind: "elf", entry: phys, segments };
}

// --- M-mode firmware (--bios): OpenSBI and the like (docs/firmware.md) ------

/** Where the firmware went: its entry (the hart's first pc) and extent. */
export interface LoadedFirmware {
  kind: "raw" | "elf";
  entry: number;
  start: number;
  end: number;
}

/**
 * Load M-mode firmware as QEMU's -bios does: an ELF at its physical
 * addresses (which must lie in RAM), anything else as a raw binary at
 * RAM_BASE. It must end at or below `limit` (the kernel's start), or the
 * kernel would overwrite it.
 */
export function loadFirmware(
  ram: SharedArrayBuffer | Uint8Array,
  bytes: Uint8Array,
  name: string,
  limit: number,
): LoadedFirmware {
  const mem = ram instanceof Uint8Array ? ram : new Uint8Array(ram);
  if (bytes.length === 0) throw new LoadError(`${name}: the firmware file is empty`);
  let fw: LoadedFirmware;
  let segments: Segment[];
  if (isElf(bytes)) {
    const k = parseKernel(bytes, name, mem.length);
    segments = k.segments;
    const start = Math.min(...segments.map((s) => s.addr));
    const end = Math.max(...segments.map((s) => s.addr + s.memBytes));
    fw = { kind: "elf", entry: k.entry, start, end };
  } else {
    segments = [{ addr: RAM_BASE, data: bytes, memBytes: bytes.length }];
    fw = { kind: "raw", entry: RAM_BASE, start: RAM_BASE, end: RAM_BASE + bytes.length };
  }
  if (fw.end > RAM_BASE + mem.length) {
    throw new LoadError(`${name}: the firmware (${mib(fw.end - RAM_BASE)}) does not fit in RAM`);
  }
  if (fw.end > limit) {
    throw new LoadError(
      `${name}: the firmware ends at ${hex(fw.end)}, past the kernel's start ${hex(limit)}`,
    );
  }
  for (const s of segments) {
    const off = s.addr - RAM_BASE;
    mem.set(s.data, off);
    mem.fill(0, off + s.data.length, off + s.memBytes);
  }
  return fw;
}

/** fw_dynamic's handoff (OpenSBI include/sbi/fw_dynamic.h): "OSBI", version 2. */
export const FW_DYNAMIC_MAGIC = 0x4942534f;

/**
 * Write OpenSBI's `struct fw_dynamic_info` at physical `addr`: where the next
 * stage starts and in which mode (1 = S). fw_dynamic reads it through a2;
 * fw_jump ignores a2, so it is always passed.
 */
export function writeFwDynamicInfo(
  ram: SharedArrayBuffer | Uint8Array,
  addr: number,
  nextAddr: number,
  hartId: number,
): void {
  const mem = ram instanceof Uint8Array ? ram : new Uint8Array(ram);
  const v = new DataView(mem.buffer, mem.byteOffset + (addr - RAM_BASE), 48);
  v.setBigUint64(0, BigInt(FW_DYNAMIC_MAGIC), true); // magic
  v.setBigUint64(8, 2n, true); // version
  v.setBigUint64(16, BigInt(nextAddr), true); // next_addr
  v.setBigUint64(24, 1n, true); // next_mode: S
  v.setBigUint64(32, 0n, true); // options
  v.setBigUint64(40, BigInt(hartId), true); // boot_hart
}
