// The user-mode runner's address space: what Linux's mm does for one process.
// Areas (VMAs: page ranges with R/W/X) are what mmap, munmap, mprotect and brk
// change; physical pages are given to an area's page only when the program
// (or the kernel side, copying a syscall's buffer) first touches it, as Linux
// demand-pages anonymous memory — a Go program reserves ~600 MiB of address
// space and touches a few MiB. The page table is Sv48 (4 levels, user
// addresses below 2^47, as qemu-riscv64 on a 64-bit host offers), built here
// in the process's RAM and walked by the hart. Used by usermode/runner.ts.
// Read next: usermode/threads.ts.

export const PAGE = 4096;
/** Physical address of the runner's RAM (as on the virt machine). */
export const RAM_BASE = 0x8000_0000;
/** User addresses are below this (Sv48's lower half). */
export const USER_TOP = 2 ** 47;
/** satp.MODE for Sv48. */
export const SATP_SV48 = 9;

// Sv48 PTE bits.
export const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;

// mmap's prot and flags (asm-generic).
export const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
export const MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20;
export const MAP_FIXED_NOREPLACE = 0x100000;

/** Linux errno values (returned negated). */
export const ENOMEM = 12, EEXIST = 17, EINVAL = 22;

/** An area: pages [start, end) (page numbers) with PTE permission bits R/W/X (0 = PROT_NONE). */
export interface Area {
  start: number;
  end: number;
  perm: number;
}

/** PROT_* to PTE R/W/X (W implies R in Sv39/48, as Linux maps it). */
export function protToPerm(prot: number): number {
  return (prot & PROT_READ ? PTE_R : 0) | (prot & PROT_WRITE ? PTE_R | PTE_W : 0) |
    (prot & PROT_EXEC ? PTE_X : 0);
}

export class AddressSpace {
  readonly ram: Uint8Array;
  readonly ramDv: DataView;
  /** Physical address of the root page table (for satp). */
  readonly rootPhys: number;
  /** Sorted, non-overlapping areas. */
  readonly areas: Area[] = [];
  /** vpn -> RAM offset of the page backing it (only touched pages). */
  private readonly backed = new Map<number, number>();
  private nextFree = 0;
  private readonly freePages: number[] = [];
  /** Where a search for free address space starts (mmap with no usable hint). */
  readonly mmapBase: number;

  /**
   * @param onRamWrite told of every host write into RAM (the translator drops code there)
   * @param flushTlb called after a mapping is removed or its permissions change
   */
  constructor(
    ram: SharedArrayBuffer,
    private readonly ramSize: number,
    mmapBase: number,
    private readonly onRamWrite: (off: number, len: number) => void,
    private readonly flushTlb: () => void,
  ) {
    this.ram = new Uint8Array(ram, 0, ramSize);
    this.ramDv = new DataView(ram, 0, ramSize);
    this.mmapBase = mmapBase;
    this.rootPhys = RAM_BASE + this.allocPage();
  }

  /** A zeroed physical page (RAM offset); throws when RAM is exhausted. */
  allocPage(): number {
    const reused = this.freePages.pop();
    if (reused !== undefined) {
      this.ram.fill(0, reused, reused + PAGE);
      this.onRamWrite(reused, PAGE);
      return reused;
    }
    if (this.nextFree + PAGE > this.ramSize) {
      throw new Error(`user runner: out of RAM (${this.ramSize >> 20} MiB; see ramMiB)`);
    }
    const off = this.nextFree;
    this.nextFree += PAGE;
    return off;
  }

  /** RAM for the whole process, bytes. */
  get ramBytes(): number {
    return this.ramSize;
  }

  /** Pages handed out so far (page tables included), for tests and --stats. */
  get pagesInUse(): number {
    return this.nextFree / PAGE - this.freePages.length;
  }

  // --- areas ---

  /** Index of the first area whose end is above vpn. */
  private lowerBound(vpn: number): number {
    let lo = 0, hi = this.areas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.areas[mid].end <= vpn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The area holding page vpn, or null. */
  areaAt(vpn: number): Area | null {
    const a = this.areas[this.lowerBound(vpn)];
    return a !== undefined && a.start <= vpn ? a : null;
  }

  /** True if no area overlaps pages [start, end). */
  isFree(start: number, end: number): boolean {
    const a = this.areas[this.lowerBound(start)];
    return a === undefined || a.start >= end;
  }

  /** True if areas cover every page of [start, end). */
  isCovered(start: number, end: number): boolean {
    let at = start;
    for (let i = this.lowerBound(start); i < this.areas.length && at < end; i++) {
      const a = this.areas[i];
      if (a.start > at) return false;
      at = a.end;
    }
    return at >= end;
  }

  /** Splits areas so that none straddles page boundary vpn. */
  private splitAt(vpn: number): void {
    const i = this.lowerBound(vpn);
    const a = this.areas[i];
    if (a !== undefined && a.start < vpn) {
      this.areas.splice(i + 1, 0, { start: vpn, end: a.end, perm: a.perm });
      a.end = vpn;
    }
  }

  /** Lowest free range of `pages` pages at or above `from` (page number), or -1. */
  findFree(pages: number, from: number, limit: number): number {
    let at = from;
    for (let i = this.lowerBound(from); i <= this.areas.length; i++) {
      const a = this.areas[i];
      const gapEnd = a === undefined ? limit : Math.min(a.start, limit);
      if (gapEnd - at >= pages) return at;
      if (a === undefined || a.end >= limit) break;
      at = Math.max(at, a.end);
    }
    return -1;
  }

  /** Adds area [start, end) with perm, replacing whatever was there (MAP_FIXED). */
  map(start: number, end: number, perm: number): void {
    this.unmap(start, end);
    const i = this.lowerBound(start);
    this.areas.splice(i, 0, { start, end, perm });
  }

  /** Removes pages [start, end) from the areas and frees the pages behind them. */
  unmap(start: number, end: number): void {
    if (this.isFree(start, end)) return;
    this.splitAt(start);
    this.splitAt(end);
    let i = this.lowerBound(start);
    const first = i;
    while (i < this.areas.length && this.areas[i].start < end) i++;
    this.areas.splice(first, i - first);
    this.dropPages(start, end);
  }

  /** Changes the permissions of [start, end); false (ENOMEM) if a page is not mapped. */
  protect(start: number, end: number, perm: number): boolean {
    if (!this.isCovered(start, end)) return false;
    this.splitAt(start);
    this.splitAt(end);
    for (let i = this.lowerBound(start); i < this.areas.length && this.areas[i].start < end; i++) {
      this.areas[i].perm = perm;
    }
    let changed = false;
    this.forBacked(start, end, (vpn, off) => {
      this.setLeaf(vpn, off, perm);
      changed = true;
    });
    if (changed) this.flushTlb();
    return true;
  }

  /**
   * Frees the physical pages behind [start, end) but keeps the areas: the next
   * touch finds a zero page (madvise MADV_DONTNEED on private anonymous memory).
   */
  dropPages(start: number, end: number): void {
    let dropped = false;
    this.forBacked(start, end, (vpn, off) => {
      this.ramDv.setBigUint64(this.leafSlot(vpn), 0n, true);
      this.backed.delete(vpn);
      this.freePages.push(off);
      dropped = true;
    });
    if (dropped) this.flushTlb();
  }

  /** Calls fn for each backed page in [start, end), iterating the smaller side. */
  private forBacked(start: number, end: number, fn: (vpn: number, off: number) => void): void {
    if (end - start <= this.backed.size) {
      for (let vpn = start; vpn < end; vpn++) {
        const off = this.backed.get(vpn);
        if (off !== undefined) fn(vpn, off);
      }
    } else {
      for (const [vpn, off] of [...this.backed]) if (vpn >= start && vpn < end) fn(vpn, off);
    }
  }

  // --- pages and the page table ---

  /** The leaf PTE's RAM offset for vpn, creating the intermediate tables. */
  private leafSlot(vpn: number): number {
    let table = this.rootPhys - RAM_BASE;
    for (let level = 3; level > 0; level--) {
      const idx = Math.floor(vpn / 2 ** (9 * level)) % 512;
      const slot = table + idx * 8;
      const pte = this.ramDv.getBigUint64(slot, true);
      if (pte & BigInt(PTE_V)) {
        table = Number((pte >> 10n) << 12n) - RAM_BASE;
      } else {
        const next = this.allocPage();
        const ppn = BigInt((RAM_BASE + next) / PAGE);
        this.ramDv.setBigUint64(slot, (ppn << 10n) | BigInt(PTE_V), true);
        table = next;
      }
    }
    return table + (vpn % 512) * 8;
  }

  private setLeaf(vpn: number, off: number, perm: number): void {
    const ppn = BigInt((RAM_BASE + off) / PAGE);
    // A and D preset, as for a page Linux has just faulted in for that access;
    // no R means PROT_NONE: the entry is left invalid.
    const bits = perm === 0 ? 0 : PTE_V | PTE_U | PTE_A | (perm & PTE_W ? PTE_D : 0) | perm;
    this.ramDv.setBigUint64(
      this.leafSlot(vpn),
      bits === 0 ? 0n : (ppn << 10n) | BigInt(bits),
      true,
    );
  }

  /**
   * The RAM offset of page vpn, backing it with a zero page if its area allows
   * `need` (PTE bits; 0 = any area, the loader's view). -1 if not allowed.
   */
  pageOff(vpn: number, need: number): number {
    const area = this.areaAt(vpn);
    if (area === null || (area.perm & need) !== need) return -1;
    let off = this.backed.get(vpn);
    if (off === undefined) {
      off = this.allocPage();
      this.backed.set(vpn, off);
      this.setLeaf(vpn, off, area.perm);
    }
    return off;
  }

  /**
   * A page fault from the program (cause 12 fetch, 13 load, 15 store at va):
   * true if it was a first touch of a page its area allows, now backed — the
   * program resumes at the faulting instruction. False: a real fault (signal).
   */
  handleFault(cause: number, va: number): boolean {
    if (!(va >= 0 && va < USER_TOP)) return false;
    const need = cause === 12 ? PTE_X : cause === 15 ? PTE_W : PTE_R;
    const vpn = Math.floor(va / PAGE);
    if (this.backed.has(vpn)) return false;
    return this.pageOff(vpn, need) >= 0;
  }

  /** RAM offset of user address va if its area allows `need`, else -1. */
  userOff(va: number, need: number): number {
    if (!(va >= 0 && va < USER_TOP)) return -1;
    const off = this.pageOff(Math.floor(va / PAGE), need);
    return off < 0 ? -1 : off + (va % PAGE);
  }

  /** Copies into user memory with `need` permission (0 = the loader); false = EFAULT. */
  write(va: number, data: Uint8Array, need = PTE_W): boolean {
    for (let done = 0; done < data.length;) {
      const off = this.userOff(va + done, need);
      if (off < 0) return false;
      const n = Math.min(data.length - done, PAGE - ((va + done) % PAGE));
      this.ram.set(data.subarray(done, done + n), off);
      this.onRamWrite(off, n);
      done += n;
    }
    return true;
  }

  /** Copies readable user memory out; null = EFAULT. */
  read(va: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    for (let done = 0; done < len;) {
      const off = this.userOff(va + done, PTE_R);
      if (off < 0) return null;
      const n = Math.min(len - done, PAGE - ((va + done) % PAGE));
      out.set(this.ram.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /** A NUL-terminated string from user memory (at most `max` bytes); null = EFAULT or too long. */
  readCString(va: number, max = 4096): string | null {
    const bytes: number[] = [];
    for (let i = 0; i < max; i++) {
      const off = this.userOff(va + i, PTE_R);
      if (off < 0) return null;
      const b = this.ram[off];
      if (b === 0) return new TextDecoder().decode(new Uint8Array(bytes));
      bytes.push(b);
    }
    return null;
  }

  /** The u32 at user address va (4-aligned), or null = EFAULT. */
  readU32(va: number): number | null {
    if (va % 4 !== 0) return null;
    const off = this.userOff(va, PTE_R);
    return off < 0 ? null : this.ramDv.getUint32(off, true);
  }

  /** Stores a u32 at user address va; false = EFAULT. */
  writeU32(va: number, v: number): boolean {
    if (va % 4 !== 0) return false;
    const off = this.userOff(va, PTE_W);
    if (off < 0) return false;
    this.ramDv.setUint32(off, v >>> 0, true);
    this.onRamWrite(off, 4);
    return true;
  }

  // --- the mmap family, as syscalls see it (byte addresses; results are addresses or -errno) ---

  /**
   * mmap of anonymous private memory. The hint is honoured when the range is
   * free (as Linux does); MAP_FIXED replaces what is there; MAP_FIXED_NOREPLACE
   * fails with EEXIST instead. `low`/`high` bound what a search may return.
   */
  mmap(addr: number, len: number, prot: number, flags: number, low: number, high: number): number {
    if (len <= 0) return -EINVAL;
    if (len > USER_TOP) return -ENOMEM; // Linux: larger than the address space
    const pages = Math.ceil(len / PAGE);
    const perm = protToPerm(prot);
    const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
    if (fixed) {
      if (addr % PAGE !== 0) return -EINVAL;
      const start = addr / PAGE;
      if (addr + pages * PAGE > USER_TOP) return -ENOMEM;
      if (flags & MAP_FIXED) {
        this.map(start, start + pages, perm);
      } else {
        if (!this.isFree(start, start + pages)) return -EEXIST;
        this.map(start, start + pages, perm);
      }
      return addr;
    }
    // A hint: used (rounded up to a page, as Linux's PAGE_ALIGN) if free and in range.
    if (addr !== 0) {
      const start = Math.ceil(addr / PAGE);
      if (
        (start + pages) * PAGE <= USER_TOP && start * PAGE >= low &&
        this.isFree(start, start + pages)
      ) {
        this.map(start, start + pages, perm);
        return start * PAGE;
      }
    }
    let at = this.findFree(pages, this.mmapBase / PAGE, high / PAGE);
    if (at < 0) at = this.findFree(pages, low / PAGE, high / PAGE);
    if (at < 0) return -ENOMEM;
    this.map(at, at + pages, perm);
    return at * PAGE;
  }

  munmap(addr: number, len: number): number {
    if (addr % PAGE !== 0 || len <= 0 || addr + len > USER_TOP) return -EINVAL;
    this.unmap(addr / PAGE, Math.ceil((addr + len) / PAGE));
    return 0;
  }

  mprotect(addr: number, len: number, prot: number): number {
    if (addr % PAGE !== 0 || len < 0) return -EINVAL;
    if (len === 0) return 0;
    const ok = this.protect(addr / PAGE, Math.ceil((addr + len) / PAGE), protToPerm(prot));
    return ok ? 0 : -ENOMEM;
  }
}
