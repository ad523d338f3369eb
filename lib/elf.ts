// The one ELF reader: the file header and program headers of a 64-bit
// little-endian ELF, every offset and size checked against the file, with
// errors that say what is wrong (ElfError; callers prefix the file's name or
// purpose). Policy stays with the callers: launcher/loader.ts (kernels and
// firmware: which machine and type, where each segment goes in RAM) and
// usermode/runner.ts (static programs: ET_EXEC only, no interpreter, user
// address range). Segment data are views into the file, not copies.
// Read next: lib/fdt.ts (the other format the loader writes into RAM).

/** A malformed or unsupported ELF file; the message says what and where. */
export class ElfError extends Error {
  override name = "ElfError";
}

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_RISCV = 243;
export const PT_LOAD = 1;
export const PT_INTERP = 3;
/** p_flags bits. */
export const PF_X = 1, PF_W = 2, PF_R = 4;

const EHDR_BYTES = 64;
const PHDR_BYTES = 56;

/** The ELF64 file header fields a loader needs. */
export interface ElfHeader {
  /** e_type: ET_EXEC, ET_DYN, ... */
  type: number;
  /** e_machine: EM_RISCV, ... */
  machine: number;
  entry: bigint;
  phoff: number;
  phentsize: number;
  phnum: number;
}

/** One program header; `data` is its p_filesz bytes of the file. */
export interface ProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  data: Uint8Array;
}

const MACHINES: Record<number, string> = {
  3: "i386",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "s390",
  40: "ARM",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

/** A readable name for an e_machine value. */
export function machineName(machine: number): string {
  return MACHINES[machine] ?? "an unknown machine";
}

/** Whether `b` starts with the ELF magic. */
export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** The file header of a 64-bit little-endian ELF; throws ElfError for anything else. */
export function readElfHeader(b: Uint8Array): ElfHeader {
  if (!isElf(b)) throw new ElfError("no ELF magic (\\x7fELF)");
  const cls = b[4], data = b[5];
  if (cls !== 2) {
    throw new ElfError(
      `${cls === 1 ? "a 32-bit (ELFCLASS32)" : `an ELF class ${cls}`} file; ` +
        `want a 64-bit (ELFCLASS64) one`,
    );
  }
  if (data !== 1) throw new ElfError("a big-endian ELF file; want little-endian");
  if (b.length < EHDR_BYTES) throw new ElfError(`ELF header cut short (${b.length} bytes)`);
  const v = view(b);
  return {
    type: v.getUint16(16, true),
    machine: v.getUint16(18, true),
    entry: v.getBigUint64(24, true),
    phoff: safe(v.getBigUint64(32, true), "e_phoff"),
    phentsize: v.getUint16(54, true),
    phnum: v.getUint16(56, true),
  };
}

/**
 * The program headers of `h`'s file. Checks that they lie inside the file,
 * and that each PT_LOAD's file bytes do and fit its memory size.
 */
export function readProgramHeaders(b: Uint8Array, h: ElfHeader): ProgramHeader[] {
  if (h.phentsize < PHDR_BYTES) {
    throw new ElfError(`ELF program header entries of ${h.phentsize} bytes (want ${PHDR_BYTES})`);
  }
  const end = h.phoff + h.phnum * h.phentsize;
  if (end > b.length) {
    throw new ElfError(
      `truncated: ELF program headers end at byte ${end}, the file has ${b.length}`,
    );
  }
  const v = view(b);
  const out: ProgramHeader[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const o = h.phoff + i * h.phentsize;
    const type = v.getUint32(o, true);
    const offset = v.getBigUint64(o + 8, true);
    const filesz = v.getBigUint64(o + 32, true);
    const memsz = v.getBigUint64(o + 40, true);
    if (type === PT_LOAD) {
      if (filesz > memsz) throw new ElfError(`segment ${i} has p_filesz > p_memsz`);
      if (offset + filesz > BigInt(b.length)) {
        throw new ElfError(
          `truncated: ELF segment ${i} ends at byte ${offset + filesz}, the file has ${b.length}`,
        );
      }
    }
    const inFile = offset + filesz <= BigInt(b.length);
    out.push({
      index: i,
      type,
      flags: v.getUint32(o + 4, true),
      offset: inFile ? Number(offset) : -1,
      vaddr: v.getBigUint64(o + 16, true),
      paddr: v.getBigUint64(o + 24, true),
      filesz,
      memsz,
      // Only a PT_LOAD's bytes are promised; another header past the end has none.
      data: inFile ? b.subarray(Number(offset), Number(offset + filesz)) : new Uint8Array(0),
    });
  }
  return out;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function safe(x: bigint, what: string): number {
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfError(`${what} 0x${x.toString(16)} is beyond any file`);
  }
  return Number(x);
}

const SHDR_BYTES = 64;
const SHT_SYMTAB = 2;

/**
 * The values of the named symbols in the file's symbol table (.symtab), for
 * those present; an empty map for a stripped file. Hostile files: every
 * offset is checked against the file, and a bad table reads as no symbols.
 */
export function findSymbols(b: Uint8Array, names: string[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (b.length < EHDR_BYTES) return out;
  const v = view(b);
  const shoff = v.getBigUint64(40, true);
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  if (
    shoff === 0n || shentsize < SHDR_BYTES || shoff + BigInt(shnum * shentsize) > BigInt(b.length)
  ) {
    return out;
  }
  const sh = (i: number) => Number(shoff) + i * shentsize;
  const want = new Set(names);
  const dec = new TextDecoder();
  for (let i = 0; i < shnum; i++) {
    if (v.getUint32(sh(i) + 4, true) !== SHT_SYMTAB) continue;
    const off = v.getBigUint64(sh(i) + 24, true);
    const size = v.getBigUint64(sh(i) + 32, true);
    const link = v.getUint32(sh(i) + 40, true);
    const entsize = Number(v.getBigUint64(sh(i) + 56, true));
    if (link >= shnum || entsize < 24 || off + size > BigInt(b.length)) continue;
    const stroff = v.getBigUint64(sh(link) + 24, true);
    const strsize = v.getBigUint64(sh(link) + 32, true);
    if (stroff + strsize > BigInt(b.length)) continue;
    const strs = b.subarray(Number(stroff), Number(stroff + strsize));
    for (let o = Number(off); o + entsize <= Number(off + size); o += entsize) {
      const nameAt = v.getUint32(o, true);
      if (nameAt >= strs.length) continue;
      let end = nameAt;
      while (end < strs.length && strs[end] !== 0) end++;
      const name = dec.decode(strs.subarray(nameAt, end));
      if (want.has(name) && !out.has(name)) out.set(name, v.getBigUint64(o + 8, true));
    }
  }
  return out;
}
