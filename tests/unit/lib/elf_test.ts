// lib/elf.ts, the one ELF reader: the header and program headers of a real
// RISC-V program, and an ElfError naming the fault for each way a file can
// be broken (the loader and the user-mode runner add their own policy on top,
// tested in tests/unit/launcher/ and tests/unit/cpu/diff_test.ts).
import assert from "../../../testing/assert.ts";
import {
  ElfError,
  EM_RISCV,
  ET_EXEC,
  isElf,
  PT_LOAD,
  readElfHeader,
  readProgramHeaders,
} from "../../../lib/elf.ts";

/** An ELF64 with one PT_LOAD of `data` at 0x10000, entry at its start. */
function oneSegment(data: Uint8Array, memsz = data.length): Uint8Array {
  const b = new Uint8Array(64 + 56 + data.length);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, ET_EXEC, true);
  v.setUint16(18, EM_RISCV, true);
  v.setBigUint64(24, 0x10000n, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint32(64, PT_LOAD, true);
  v.setUint32(68, 5, true); // R+X
  v.setBigUint64(64 + 8, 120n, true);
  v.setBigUint64(64 + 16, 0x10000n, true);
  v.setBigUint64(64 + 24, 0x10000n, true);
  v.setBigUint64(64 + 32, BigInt(data.length), true);
  v.setBigUint64(64 + 40, BigInt(memsz), true);
  b.set(data, 120);
  return b;
}

Deno.test("elf: header and program headers of a small program; data is a view of the file", () => {
  const file = oneSegment(new Uint8Array([1, 2, 3, 4]), 16);
  assert.ok(isElf(file));
  const h = readElfHeader(file);
  assert.deepEqual([h.type, h.machine, h.entry, h.phoff, h.phnum], [
    ET_EXEC,
    EM_RISCV,
    0x10000n,
    64,
    1,
  ]);
  const [p] = readProgramHeaders(file, h);
  assert.deepEqual(
    [p.type, p.flags, p.offset, p.vaddr, p.filesz, p.memsz],
    [PT_LOAD, 5, 120, 0x10000n, 4n, 16n],
  );
  assert.deepEqual([...p.data], [1, 2, 3, 4]);
  assert.equal(p.data.buffer, file.buffer);
});

Deno.test("elf: the real test programs parse (tests/programs/bin)", () => {
  const dir = new URL("../../programs/bin/", import.meta.url);
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    const file = Deno.readFileSync(new URL(e.name, dir));
    if (!isElf(file)) continue;
    const h = readElfHeader(file);
    assert.equal(h.machine, EM_RISCV, e.name);
    const loads = readProgramHeaders(file, h).filter((p) => p.type === PT_LOAD);
    assert.ok(loads.length > 0, e.name);
    n++;
  }
  assert.ok(n > 0, "no programs found");
});

Deno.test("elf: every broken file is an ElfError that says what is wrong", () => {
  const good = oneSegment(new Uint8Array(8));
  const bad: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("#!/bin/sh\n"), /no ELF magic/],
    [good.slice().fill(1, 4, 5), /32-bit \(ELFCLASS32\)/],
    [good.slice().fill(2, 5, 6), /big-endian/],
    [good.subarray(0, 40), /ELF header cut short \(40 bytes\)/],
    [good.subarray(0, 100), /truncated: ELF program headers end at byte 120, the file has 100/],
    [good.subarray(0, 124), /truncated: ELF segment 0 ends at byte 128, the file has 124/],
    [oneSegment(new Uint8Array(8), 4), /segment 0 has p_filesz > p_memsz/],
  ];
  const phent = good.slice();
  new DataView(phent.buffer).setUint16(54, 32, true);
  bad.push([phent, /program header entries of 32 bytes \(want 56\)/]);
  for (const [file, re] of bad) {
    assert.throws(() => readProgramHeaders(file, readElfHeader(file)), (e: unknown) => {
      assert.ok(e instanceof ElfError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
});
