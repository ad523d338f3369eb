// The user-mode runner: runs a static RISC-V 64 ELF on one Hart in U-mode with
// Sv39 paging on, the way qemu-riscv64 runs it. This module plays the kernel:
// it loads the PT_LOAD segments into RAM, builds the page table, lays out the
// initial stack (argc, argv, envp, auxv) and serves ecalls through a small
// Linux syscall shim. Faults the program cannot handle end it like a signal
// (status 128 + signal). Its ELF reader is lib/elf.ts, shared with the
// kernel loader. Used by scripts/run-user.ts (the CLI), by
// tests/unit/cpu/diff_test.ts and by scripts/bench/cpu.ts. Read next: cpu/hart.ts.
//
// How a trap is noticed: U-mode traps go to M-mode (medeleg = 0); mtvec points
// at a "trap page" in RAM, outside the user's address space, holding `wfi`.
// The hart enters M-mode, executes the wfi with no interrupt enabled and so
// returns RUN_WFI from run() at once; the runner then finds priv = M and reads
// the trap from mcause/mepc/mtval. No per-instruction hook, any batch size.

import { Hart, RUN_BUDGET, RUN_STOP, RUN_WFI } from "../cpu/hart.ts";
import { warmUpJitOrWarn } from "../cpu/warmup.ts";
import { createJitHart, createJitMemory, Jit, type JitOptions } from "../cpu/jit/tier.ts";
import {
  ElfError,
  EM_RISCV,
  ET_DYN,
  ET_EXEC,
  PF_R,
  PF_W,
  PF_X,
  PT_INTERP,
  PT_LOAD,
  readElfHeader,
  readProgramHeaders,
} from "../lib/elf.ts";

export const PAGE = 4096;
/** Physical address of the runner's RAM (as on the virt machine). */
const RAM_BASE = 0x8000_0000;
/** Top of the user stack; the page above it stays unmapped. */
export const STACK_TOP = 0x3f_ffff_0000;
export const STACK_SIZE = 1 << 20;
/** Anonymous mmap region grows up from here. */
const MMAP_BASE = 0x20_0000_0000;
/** brk may grow at most this far past the end of the program. */
const BRK_MAX = 256 << 20;

// Sv39 PTE bits.
const PTE_V = 1, PTE_R = 2, PTE_W = 4, PTE_X = 8, PTE_U = 16, PTE_A = 64, PTE_D = 128;

// Linux errno values returned (negated) by the shim.
const EBADF = 9, ENOMEM = 12, EFAULT = 14, EINVAL = 22, ENOTTY = 25, ENOSYS = 38;

/** Signals a fault is turned into, as Linux does for these causes. */
const SIGILL = 4, SIGTRAP = 5, SIGBUS = 7, SIGSEGV = 11;
const CAUSE_NAMES: Record<number, [string, number]> = {
  0: ["instruction address misaligned", SIGBUS],
  1: ["instruction access fault", SIGSEGV],
  2: ["illegal instruction", SIGILL],
  3: ["breakpoint", SIGTRAP],
  4: ["load address misaligned", SIGBUS],
  5: ["load access fault", SIGSEGV],
  6: ["store address misaligned", SIGBUS],
  7: ["store access fault", SIGSEGV],
  12: ["instruction page fault", SIGSEGV],
  13: ["load page fault", SIGSEGV],
  15: ["store page fault", SIGSEGV],
};

export interface RunUserOptions {
  /** argv[0] (default "prog"). */
  argv0?: string;
  /** argv[1..]. */
  args?: string[];
  /** Environment strings "K=V" (default none). */
  env?: string[];
  /** Receives everything the program writes to fd 1 (default: discarded). */
  stdout?: (bytes: Uint8Array) => void;
  /** Receives fd 2 writes and the runner's fault report (default: discarded). */
  stderr?: (bytes: Uint8Array) => void;
  /** Serves read(0, ...): fills `buf`, returns the byte count (0 = EOF). Default: EOF. */
  stdin?: (buf: Uint8Array) => number;
  /** Notes (unknown syscalls, ...): called only if given. */
  verbose?: (msg: string) => void;
  /** Stop with an error after this many instructions (default: no limit). */
  maxInstructions?: number;
  /** RAM for the process, MiB (default 256; committed lazily). */
  ramMiB?: number;
  /** Instructions per hart.run() call (default 1 << 22). */
  batch?: number;
  /**
   * The translator (cpu/jit/, docs/cpu.md "Translator"): false = the
   * interpreter only (the default in this release); true or options = hot
   * pages run as WebAssembly.
   */
  jit?: boolean | JitOptions;
}

export interface TrapInfo {
  cause: number;
  name: string;
  pc: bigint;
  tval: bigint;
  signal: number;
}

export interface RunUserResult {
  /** Exit status as a shell reports it: the exit code, or 128 + signal. */
  status: number;
  /** Instructions retired. */
  instret: number;
  /** The fault that ended the program, if one did. */
  trap: TrapInfo | null;
}

interface Mapping {
  /** Offset of the physical page in RAM. */
  off: number;
  /** PTE permission bits (R/W/X). */
  perm: number;
}

interface ElfSegment {
  vaddr: number;
  memsz: number;
  data: Uint8Array;
  perm: number;
}

interface ElfImage {
  entry: number;
  segments: ElfSegment[];
  /** Virtual address of the program headers if a segment maps them. */
  phdr: number | null;
  phent: number;
  phnum: number;
}

/** Parses a static RISC-V 64 ELF executable; throws a clear Error for anything else. */
export function parseElf(file: Uint8Array): ElfImage {
  const fail = (why: string): never => {
    throw new Error(`not a runnable RISC-V 64 ELF: ${why}`);
  };
  try {
    const h = readElfHeader(file);
    if (h.machine !== EM_RISCV) fail(`e_machine ${h.machine} is not RISC-V (243)`);
    if (h.type !== ET_EXEC) {
      fail(
        h.type === ET_DYN
          ? "position-independent (ET_DYN) executables are not supported"
          : `e_type ${h.type} is not ET_EXEC`,
      );
    }
    const u64 = (v: bigint, what: string): number => {
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} 0x${v.toString(16)} too large`);
      return Number(v);
    };
    const entry = u64(h.entry, "e_entry");
    const phdrsEnd = h.phoff + h.phnum * h.phentsize;
    const segments: ElfSegment[] = [];
    let phdr: number | null = null;
    for (const p of readProgramHeaders(file, h)) {
      if (p.type === PT_INTERP) {
        fail("dynamically linked (PT_INTERP): only static programs run here");
      }
      if (p.type !== PT_LOAD) continue;
      const vaddr = u64(p.vaddr, "p_vaddr"), memsz = u64(p.memsz, "p_memsz");
      if (vaddr + memsz > STACK_TOP - STACK_SIZE || vaddr < PAGE) {
        fail(`segment ${p.index} at 0x${vaddr.toString(16)} is outside the user address range`);
      }
      const perm = (p.flags & PF_R ? PTE_R : 0) | (p.flags & PF_W ? PTE_W : 0) |
        (p.flags & PF_X ? PTE_X : 0);
      segments.push({ vaddr, memsz, data: p.data, perm });
      // The program headers themselves, if this segment maps them (for AT_PHDR).
      if (h.phoff >= p.offset && phdrsEnd <= p.offset + p.data.length) {
        phdr = vaddr + (h.phoff - p.offset);
      }
    }
    if (segments.length === 0) fail("no PT_LOAD segment");
    return { entry, segments, phdr, phent: h.phentsize, phnum: h.phnum };
  } catch (e) {
    if (e instanceof ElfError) fail(e.message);
    throw e;
  }
}

/**
 * A process: the hart, its RAM and page table, and the kernel side (the
 * syscall shim). `run()` executes it to the end.
 */
export class UserProcess {
  readonly hart: Hart;
  /** The translator, when RunUserOptions.jit asked for it. */
  readonly jit: Jit | null = null;
  private readonly ram: Uint8Array;
  private readonly ramDv: DataView;
  private readonly ramSize: number;
  private nextFree = 0;
  private readonly freePages: number[] = [];
  /** vpn -> mapping; the kernel's view of the page table it built. */
  private readonly pages = new Map<number, Mapping>();
  private rootOff = 0;
  private trapPagePhys = 0;
  private brkStart = 0;
  private brkCur = 0;
  private mmapNext = MMAP_BASE;
  private exitStatus: number | null = null;
  private readonly opts: RunUserOptions;
  private readonly enc = new TextEncoder();

  constructor(elf: Uint8Array, opts: RunUserOptions = {}) {
    this.opts = opts;
    const image = parseElf(elf);
    this.ramSize = (opts.ramMiB ?? 256) << 20;
    warmUpJitOrWarn();
    if (opts.jit) {
      // RAM, registers and TLBs in one WebAssembly.Memory (cpu/jit/tier.ts).
      const mem = createJitMemory(this.ramSize);
      this.hart = createJitHart(mem, { ramBase: RAM_BASE });
      this.jit = new Jit(this.hart, mem, opts.jit === true ? {} : opts.jit);
    } else {
      this.hart = new Hart({ ram: new SharedArrayBuffer(this.ramSize), ramBase: RAM_BASE });
    }
    const sab = this.hart.ram8.buffer as SharedArrayBuffer;
    this.ram = new Uint8Array(sab, 0, this.ramSize);
    this.ramDv = new DataView(sab, 0, this.ramSize);
    this.rootOff = this.allocPage();
    // The trap page: wfi; j -4 (see the header comment).
    const trapOff = this.allocPage();
    this.ramDv.setUint32(trapOff, 0x10500073, true);
    this.ramDv.setUint32(trapOff + 4, 0xffdff06f, true);
    this.trapPagePhys = RAM_BASE + trapOff;

    let end = 0;
    for (const s of image.segments) {
      this.mapRange(s.vaddr, s.memsz, s.perm);
      this.copyOut(s.vaddr, s.data);
      end = Math.max(end, s.vaddr + s.memsz);
    }
    this.brkStart = this.brkCur = roundUp(end);
    const sp = this.buildStack(image);
    this.start(image.entry, sp);
  }

  // --- physical pages and the page table ---

  private allocPage(): number {
    const reused = this.freePages.pop();
    if (reused !== undefined) {
      this.ram.fill(0, reused, reused + PAGE);
      this.jit?.invalidateRange(reused, PAGE);
      return reused;
    }
    if (this.nextFree + PAGE > this.ramSize) throw new Error("user runner: out of RAM");
    const off = this.nextFree;
    this.nextFree += PAGE;
    return off;
  }

  private readPte(off: number): bigint {
    return this.ramDv.getBigUint64(off, true);
  }

  /** The leaf PTE's RAM offset for vpn, creating the intermediate tables. */
  private leafSlot(vpn: number): number {
    let table = this.rootOff;
    for (let level = 2; level > 0; level--) {
      const idx = Math.floor(vpn / 2 ** (9 * level)) % 512;
      const slot = table + idx * 8;
      const pte = this.readPte(slot);
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
    // A and D preset, as Linux does for pages it has just mapped and touched.
    const bits = PTE_V | PTE_U | PTE_A | (perm & PTE_W ? PTE_D : 0) | perm;
    this.ramDv.setBigUint64(this.leafSlot(vpn), (ppn << 10n) | BigInt(bits), true);
  }

  /** Maps [va, va+len) with `perm`; pages already mapped get the union of permissions. */
  private mapRange(va: number, len: number, perm: number): void {
    for (let vpn = Math.floor(va / PAGE); vpn * PAGE < va + len; vpn++) {
      const m = this.pages.get(vpn);
      if (m) {
        m.perm |= perm;
        this.setLeaf(vpn, m.off, m.perm);
      } else {
        const off = this.allocPage();
        this.pages.set(vpn, { off, perm });
        this.setLeaf(vpn, off, perm);
      }
    }
  }

  private unmapRange(va: number, len: number): void {
    for (let vpn = Math.floor(va / PAGE); vpn * PAGE < va + len; vpn++) {
      const m = this.pages.get(vpn);
      if (!m) continue;
      this.ramDv.setBigUint64(this.leafSlot(vpn), 0n, true);
      this.pages.delete(vpn);
      this.freePages.push(m.off);
    }
    this.hart.flushTlb();
  }

  /** RAM offset of user address va if mapped with `need` permission, else -1. */
  private userOff(va: number, need: number): number {
    const m = this.pages.get(Math.floor(va / PAGE));
    if (!m || (m.perm & need) !== need) return -1;
    return m.off + (va % PAGE);
  }

  /** Kernel write into user memory (ignores W: used while loading). */
  private copyOut(va: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const off = this.userOff(va + done, 0);
      if (off < 0) throw new Error(`copyOut: 0x${(va + done).toString(16)} not mapped`);
      const n = Math.min(data.length - done, PAGE - ((va + done) % PAGE));
      this.ram.set(data.subarray(done, done + n), off);
      this.jit?.invalidateRange(off, n);
      done += n;
    }
  }

  /** Copy into user memory the user may write; false = EFAULT (nothing partial matters here). */
  private copyToUser(va: number, data: Uint8Array): boolean {
    for (let done = 0; done < data.length;) {
      const off = this.userOff(va + done, PTE_W);
      if (off < 0) return false;
      const n = Math.min(data.length - done, PAGE - ((va + done) % PAGE));
      this.ram.set(data.subarray(done, done + n), off);
      this.jit?.invalidateRange(off, n);
      done += n;
    }
    return true;
  }

  /** Copy user memory (readable by the user) out; null = EFAULT. */
  private copyIn(va: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const off = this.userOff(va + done, PTE_R);
      if (off < 0) return null;
      const n = Math.min(len - done, PAGE - ((va + done) % PAGE));
      out.set(this.ram.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  // --- process start ---

  /** The initial stack as Linux builds it; returns sp. */
  private buildStack(image: ElfImage): number {
    this.mapRange(STACK_TOP - STACK_SIZE, STACK_SIZE, PTE_R | PTE_W);
    let sp = STACK_TOP;
    const pushBytes = (b: Uint8Array): number => {
      sp -= b.length;
      this.copyOut(sp, b);
      return sp;
    };
    const random = pushBytes(crypto.getRandomValues(new Uint8Array(16)));
    const cstr = (s: string): number => pushBytes(this.enc.encode(s + "\0"));
    const argv = [this.opts.argv0 ?? "prog", ...(this.opts.args ?? [])];
    const env = this.opts.env ?? [];
    const execfn = cstr(argv[0]);
    const argvPtrs = argv.map(cstr);
    const envPtrs = env.map(cstr);
    const auxv: [number, number][] = [
      [6, PAGE], // AT_PAGESZ
      [9, image.entry], // AT_ENTRY
      [16, hwcap("imafdc")], // AT_HWCAP
      [17, 100], // AT_CLKTCK
      [11, 0], // AT_UID
      [12, 0], // AT_EUID
      [13, 0], // AT_GID
      [14, 0], // AT_EGID
      [23, 0], // AT_SECURE
      [25, random], // AT_RANDOM
      [31, execfn], // AT_EXECFN
    ];
    if (image.phdr !== null) {
      auxv.push([3, image.phdr], [4, image.phent], [5, image.phnum]); // AT_PHDR/PHENT/PHNUM
    }
    auxv.push([0, 0]); // AT_NULL
    const words = [
      argv.length,
      ...argvPtrs,
      0,
      ...envPtrs,
      0,
      ...auxv.flat(),
    ];
    sp = Math.floor((sp - words.length * 8) / 16) * 16;
    const block = new Uint8Array(words.length * 8);
    const dv = new DataView(block.buffer);
    words.forEach((w, i) => dv.setBigUint64(i * 8, BigInt(w), true));
    this.copyOut(sp, block);
    return sp;
  }

  private start(entry: number, sp: number): void {
    const h = this.hart;
    h.csrWrite(0x305, BigInt(this.trapPagePhys)); // mtvec (direct)
    h.csrWrite(0x304, 0n); // mie: nothing, so the trap page's wfi returns at once
    h.csrWrite(0x302, 0n); // medeleg: every U trap to M, i.e. to us
    h.csrWrite(0x306, 7n); // mcounteren: cycle, time, instret readable below M
    h.csrWrite(0x106, 7n); // scounteren: ... and in U
    // mstatus.FS = Initial so U-mode may use the FPU.
    h.csrWrite(0x300, (h.csrRead(0x300) & ~(3n << 13n)) | (1n << 13n));
    h.csrWrite(0x180, (8n << 60n) | BigInt((RAM_BASE + this.rootOff) / PAGE)); // satp: Sv39
    if ((BigInt.asUintN(64, h.csrRead(0x180)) >> 60n) !== 8n) {
      throw new Error("user runner: the hart refused Sv39");
    }
    h.priv = 0;
    h.updateMode();
    h.pc = BigInt(entry);
    h.x[2] = BigInt(sp);
    h.onEcall = (hart, from) => from === 0 && this.syscall(hart);
  }

  // --- running ---

  run(): RunUserResult {
    const h = this.hart;
    const batch = this.opts.batch ?? 1 << 22;
    const limit = this.opts.maxInstructions ?? Infinity;
    for (;;) {
      const st = this.jit !== null ? this.jit.run(batch) : h.run(batch);
      if (this.exitStatus !== null) {
        return { status: this.exitStatus, instret: Number(h.instret), trap: null };
      }
      if (h.priv !== 0) return this.fault();
      if (st !== RUN_BUDGET && st !== RUN_STOP && st !== RUN_WFI) {
        throw new Error(`user runner: unexpected run() result ${st}`);
      }
      if (Number(h.instret) >= limit) {
        throw new Error(
          `user runner: instruction limit ${limit} reached at pc 0x${h.pc.toString(16)}`,
        );
      }
    }
  }

  private fault(): RunUserResult {
    const h = this.hart;
    const cause = Number(h.csrRead(0x342) & 0xffn);
    const pc = BigInt.asUintN(64, h.csrRead(0x341));
    const tval = BigInt.asUintN(64, h.csrRead(0x343));
    const [name, signal] = CAUSE_NAMES[cause] ?? [`cause ${cause}`, SIGSEGV];
    this.err(
      `actorvm: uncaught trap: ${name} (cause ${cause}) at pc 0x${pc.toString(16)}, ` +
        `tval 0x${tval.toString(16)}: signal ${signal}\n`,
    );
    return {
      status: 128 + signal,
      instret: Number(h.instret),
      trap: { cause, name, pc, tval, signal },
    };
  }

  private err(msg: string): void {
    this.opts.stderr?.(this.enc.encode(msg));
  }

  // --- the syscall shim (Linux RISC-V numbers: asm-generic) ---

  private syscall(h: Hart): boolean {
    const nr = Number(h.x[17]);
    const a = (i: number): bigint => h.x[10 + i];
    const an = (i: number): number => Number(BigInt.asUintN(64, h.x[10 + i]));
    let ret: number;
    switch (nr) {
      case 63: // read(fd, buf, len): stdin only
        ret = this.sysRead(Number(a(0)), an(1), an(2));
        break;
      case 64: // write(fd, buf, len)
        ret = this.sysWrite(Number(a(0)), an(1), an(2));
        break;
      case 66: // writev(fd, iov, cnt)
        ret = this.sysWritev(Number(a(0)), an(1), Number(a(2)));
        break;
      case 93: // exit
      case 94: // exit_group
        this.exitStatus = Number(a(0) & 0xffn);
        h.stopRequested = true;
        return true;
      case 214: // brk
        ret = this.sysBrk(an(0));
        break;
      case 222: // mmap(addr, len, prot, flags, fd, off): anonymous private only
        ret = this.sysMmap(an(1), Number(a(2)), Number(a(3)), Number(a(4)));
        break;
      case 215: // munmap(addr, len)
        if (an(0) % PAGE !== 0) ret = -EINVAL;
        else {
          this.unmapRange(an(0), an(1));
          ret = 0;
        }
        break;
      case 226: // mprotect(addr, len, prot)
        ret = this.sysMprotect(an(0), an(1), Number(a(2)));
        break;
      case 278: { // getrandom(buf, len, flags)
        const len = Math.min(an(1), 1 << 16);
        const bytes = new Uint8Array(len);
        for (let i = 0; i < len; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
        ret = this.copyToUser(an(0), bytes) ? len : -EFAULT;
        break;
      }
      case 113: { // clock_gettime(clock, ts): realtime for every clock
        const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
        const ts = new Uint8Array(16);
        const dv = new DataView(ts.buffer);
        dv.setBigInt64(0, ns / 1_000_000_000n, true);
        dv.setBigInt64(8, ns % 1_000_000_000n, true);
        ret = this.copyToUser(an(1), ts) ? 0 : -EFAULT;
        break;
      }
      case 160: { // uname(buf): six 65-byte fields
        const u = new Uint8Array(65 * 6);
        ["Linux", "actorvm", "6.12.0", "#1 actorvm user runner", "riscv64", "(none)"].forEach(
          (f, i) => u.set(this.enc.encode(f), 65 * i),
        );
        ret = this.copyToUser(an(0), u) ? 0 : -EFAULT;
        break;
      }
      case 29: // ioctl: no terminals here
        ret = -ENOTTY;
        break;
      case 96: // set_tid_address: returns the caller's tid
      case 172: // getpid
      case 178: // gettid
        ret = 1;
        break;
      default:
        this.opts.verbose?.(`actorvm: unknown syscall ${nr}: -ENOSYS`);
        ret = -ENOSYS;
    }
    h.x[10] = BigInt(ret);
    return true;
  }

  private sysWrite(fd: number, buf: number, len: number): number {
    const sink = fd === 1 ? this.opts.stdout : fd === 2 ? this.opts.stderr : undefined;
    if (fd !== 1 && fd !== 2) return -EBADF;
    if (len > 1 << 24) len = 1 << 24;
    const bytes = this.copyIn(buf, len);
    if (bytes === null) return -EFAULT;
    sink?.(bytes);
    return len;
  }

  private sysRead(fd: number, buf: number, len: number): number {
    if (fd !== 0) return -EBADF;
    const tmp = new Uint8Array(Math.min(len, 1 << 16));
    const n = this.opts.stdin ? this.opts.stdin(tmp) : 0;
    return this.copyToUser(buf, tmp.subarray(0, n)) ? n : -EFAULT;
  }

  private sysMprotect(va: number, len: number, prot: number): number {
    if (va % PAGE !== 0) return -EINVAL;
    const first = va / PAGE, end = Math.ceil((va + len) / PAGE);
    for (let vpn = first; vpn < end; vpn++) if (!this.pages.has(vpn)) return -ENOMEM;
    const perm = (prot & 1 ? PTE_R : 0) | (prot & 2 ? PTE_R | PTE_W : 0) | (prot & 4 ? PTE_X : 0);
    for (let vpn = first; vpn < end; vpn++) {
      const m = this.pages.get(vpn)!;
      m.perm = perm;
      if (perm === 0) this.ramDv.setBigUint64(this.leafSlot(vpn), 0n, true); // PROT_NONE
      else this.setLeaf(vpn, m.off, perm);
    }
    this.hart.flushTlb();
    return 0;
  }

  private sysWritev(fd: number, iov: number, cnt: number): number {
    if (cnt < 0 || cnt > 1024) return -EINVAL;
    const vec = this.copyIn(iov, cnt * 16);
    if (vec === null) return -EFAULT;
    const dv = new DataView(vec.buffer);
    let total = 0;
    for (let i = 0; i < cnt; i++) {
      const base = Number(dv.getBigUint64(i * 16, true));
      const len = Number(dv.getBigUint64(i * 16 + 8, true));
      const r = this.sysWrite(fd, base, len);
      if (r < 0) return total > 0 ? total : r;
      total += r;
    }
    return total;
  }

  private sysBrk(want: number): number {
    if (want === 0 || want < this.brkStart || want > this.brkStart + BRK_MAX) return this.brkCur;
    const oldTop = roundUp(this.brkCur), newTop = roundUp(want);
    if (newTop > oldTop) {
      for (let va = oldTop; va < newTop; va += PAGE) {
        if (this.pages.has(va / PAGE)) return this.brkCur; // would overlap a mapping
      }
      this.mapRange(oldTop, newTop - oldTop, PTE_R | PTE_W);
    } else if (newTop < oldTop) {
      this.unmapRange(newTop, oldTop - newTop);
    }
    this.brkCur = want;
    return want;
  }

  private sysMmap(len: number, prot: number, flags: number, fd: number): number {
    const MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
    if (!(flags & MAP_ANONYMOUS) || !(flags & MAP_PRIVATE) || fd !== -1) {
      this.opts.verbose?.("actorvm: mmap of a file or shared mapping: -EINVAL");
      return -EINVAL;
    }
    if (len === 0) return -EINVAL;
    const size = roundUp(len);
    if (this.mmapNext + size > STACK_TOP - STACK_SIZE) return -ENOMEM;
    const va = this.mmapNext;
    this.mmapNext += size;
    // PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4 -> PTE R/W/X (W implies R in Sv39).
    const perm = (prot & 1 ? PTE_R : 0) | (prot & 2 ? PTE_R | PTE_W : 0) | (prot & 4 ? PTE_X : 0);
    if (perm === 0) return va; // PROT_NONE: address space reserved, nothing mapped
    try {
      this.mapRange(va, size, perm);
    } catch {
      return -ENOMEM;
    }
    return va;
  }
}

function roundUp(v: number): number {
  return Math.ceil(v / PAGE) * PAGE;
}

function hwcap(exts: string): number {
  let v = 0;
  for (const c of exts) v |= 1 << (c.charCodeAt(0) - 97);
  return v;
}

/** Loads and runs a static RISC-V 64 ELF to its end. */
export function runUserElf(elf: Uint8Array, opts: RunUserOptions = {}): RunUserResult {
  return new UserProcess(elf, opts).run();
}
