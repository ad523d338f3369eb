// The user-mode runner's address space (usermode/memory.ts) on its own: mmap's
// hint and MAP_FIXED/MAP_FIXED_NOREPLACE as Linux defines them (qemu-riscv64
// 7.2 treats NOREPLACE as a plain hint, so the differential mmap program cannot
// pin EEXIST; this does), munmap and mprotect splitting areas, and demand
// paging (a reservation costs no RAM; a first touch gets a zero page).
// Read next: tests/programs/src/mmap.c (the same, against qemu-riscv64).

import assert from "../../../testing/assert.ts";
import {
  AddressSpace,
  EEXIST,
  EINVAL,
  ENOMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  PAGE,
  PTE_R,
  PTE_W,
  USER_TOP,
} from "../../../usermode/memory.ts";

const RW = 3, ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const LOW = 16 * PAGE;
const HINT = 0x70_0000_0000; // above Sv39's 256 GiB

function space(mib = 16): { mem: AddressSpace; flushes: () => number } {
  let flushes = 0;
  const mem = new AddressSpace(
    new SharedArrayBuffer(mib << 20),
    mib << 20,
    0x20_0000_0000,
    () => {},
    () => flushes++,
  );
  return { mem, flushes: () => flushes };
}

const mmap = (m: AddressSpace, addr: number, len: number, flags: number, prot = RW) =>
  m.mmap(addr, len, prot, flags, LOW, USER_TOP);

Deno.test("usermode memory: a free hint is honoured, a taken one moves elsewhere", () => {
  const { mem } = space();
  assert.equal(mmap(mem, HINT, 4 * PAGE, ANON), HINT);
  const other = mmap(mem, HINT, 4 * PAGE, ANON);
  assert.notEqual(other, HINT);
  assert.ok(other + 4 * PAGE <= HINT || other >= HINT + 4 * PAGE, "no overlap");
  // An unaligned hint is rounded up to a page (Linux's PAGE_ALIGN); one past the user range is ignored.
  assert.equal(mmap(mem, HINT + 8 * PAGE + 123, PAGE, ANON), HINT + 9 * PAGE);
  const high = mmap(mem, USER_TOP - PAGE, 2 * PAGE, ANON);
  assert.ok(high > 0 && high + 2 * PAGE <= USER_TOP);
});

Deno.test("usermode memory: MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses with EEXIST", () => {
  const { mem } = space();
  assert.equal(mmap(mem, HINT, 8 * PAGE, ANON), HINT);
  assert.ok(mem.write(HINT, new Uint8Array(8 * PAGE).fill(7)));
  assert.equal(mmap(mem, HINT + 2 * PAGE, PAGE, ANON | MAP_FIXED_NOREPLACE), -EEXIST);
  assert.equal(mem.read(HINT + 2 * PAGE, 1)![0], 7, "NOREPLACE left the page alone");
  assert.equal(mmap(mem, HINT + 2 * PAGE, PAGE, ANON | MAP_FIXED), HINT + 2 * PAGE);
  assert.equal(mem.read(HINT + 2 * PAGE, 1)![0], 0, "MAP_FIXED gave a fresh zero page");
  assert.equal(mem.read(HINT + 3 * PAGE, 1)![0], 7);
  assert.equal(mmap(mem, HINT + 8 * PAGE, PAGE, ANON | MAP_FIXED_NOREPLACE), HINT + 8 * PAGE);
  assert.equal(mmap(mem, HINT + 1, PAGE, ANON | MAP_FIXED), -EINVAL);
  assert.equal(mmap(mem, 0, 0, ANON), -EINVAL);
  assert.equal(mmap(mem, USER_TOP - PAGE, 2 * PAGE, ANON | MAP_FIXED), -ENOMEM);
});

Deno.test("usermode memory: munmap leaves a hole, mprotect keeps data and wants it all mapped", () => {
  const { mem, flushes } = space();
  assert.equal(mmap(mem, HINT, 4 * PAGE, ANON), HINT);
  assert.ok(mem.write(HINT, new Uint8Array(4 * PAGE).fill(5)));
  const before = flushes();
  assert.equal(mem.munmap(HINT + PAGE, PAGE), 0);
  assert.ok(flushes() > before, "the TLB is flushed after an unmap");
  assert.equal(mem.areas.length, 2);
  assert.equal(mem.read(HINT + PAGE, 1), null, "the hole faults");
  assert.equal(mem.mprotect(HINT, 4 * PAGE, 1), -ENOMEM, "a hole in the range");
  assert.equal(mem.mprotect(HINT + 2 * PAGE, 2 * PAGE, 0), 0);
  assert.equal(mem.read(HINT + 2 * PAGE, 1), null, "PROT_NONE");
  assert.equal(mem.mprotect(HINT + 2 * PAGE, 2 * PAGE, 1), 0);
  assert.equal(mem.read(HINT + 3 * PAGE, 1)![0], 5, "the data survived");
  assert.equal(mem.write(HINT + 3 * PAGE, new Uint8Array(1)), false, "read-only now");
  assert.equal(mem.areaAt((HINT + 3 * PAGE) / PAGE)!.perm, PTE_R);
  assert.equal(mem.munmap(HINT + 1, PAGE), -EINVAL);
});

Deno.test("usermode memory: reservations cost nothing until touched; DONTNEED zeroes", () => {
  const { mem } = space(16);
  const used = mem.pagesInUse;
  // 4 GiB of address space in a 16 MiB process: areas only.
  const res = mmap(mem, 0, 4 * 2 ** 30, ANON, 0);
  assert.ok(res > 0);
  assert.ok(mem.pagesInUse - used < 4, "nothing but page tables");
  const piece = mmap(mem, res + 2 ** 31, 1 << 20, ANON | MAP_FIXED);
  assert.equal(piece, res + 2 ** 31);
  assert.ok(mem.pagesInUse - used < 8);
  // A program's first store faults; the fault backs the page (store page fault = 15).
  assert.equal(mem.handleFault(15, piece + 5 * PAGE + 8), true);
  assert.equal(mem.handleFault(15, piece + 5 * PAGE + 8), false, "a second fault is real");
  assert.equal(mem.handleFault(15, res), false, "PROT_NONE stays a fault");
  assert.equal(mem.handleFault(13, 0x1000), false, "nothing mapped there");
  assert.ok(mem.write(piece + 6 * PAGE, new Uint8Array([9])));
  assert.equal(mem.read(piece + 6 * PAGE, 1)![0], 9);
  mem.dropPages((piece + 6 * PAGE) / PAGE, (piece + 7 * PAGE) / PAGE);
  assert.equal(mem.read(piece + 6 * PAGE, 1)![0], 0);
  assert.equal(mem.areaAt((piece + 6 * PAGE) / PAGE)!.perm, PTE_R | PTE_W, "the area stays");
  const before = mem.pagesInUse;
  assert.equal(mem.munmap(res, 4 * 2 ** 30), 0);
  assert.ok(mem.pagesInUse < before, "unmapped pages go back");
  assert.equal(mem.areas.length, 0);
});
