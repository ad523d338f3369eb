// The user-mode runner: runs a static RISC-V 64 ELF on one Hart in U-mode with
// Sv48 paging on, the way qemu-riscv64 runs it. This module plays the kernel:
// it loads the PT_LOAD segments, lays out the initial stack (argc, argv, envp,
// auxv), runs the program's threads in turn on the hart, pages memory in on
// first touch and serves ecalls through usermode/syscalls.ts. A fault goes
// to the program's signal handler if it has one (usermode/signals.ts), else
// ends it as the signal would (status 128 + signal). Its ELF
// reader is lib/elf.ts, shared with the kernel loader. Used by
// scripts/run-user.ts (the CLI), by tests/unit/cpu/diff_test.ts and by
// scripts/bench/cpu.ts. Read next: usermode/memory.ts, then cpu/hart.ts.
//
// How a trap is noticed: U-mode traps go to M-mode (medeleg = 0); mtvec points
// at a "trap page" in RAM, outside the user's address space, holding `wfi`.
// The hart enters M-mode, executes the wfi with no interrupt enabled and so
// returns RUN_WFI from run() at once; the runner then finds priv = M and reads
// the trap from mcause/mepc/mtval. No per-instruction hook, any batch size.
// A page fault on a page its area allows is a first touch: the page is backed
// and the program resumes at the faulting instruction, as under Linux.

import { Hart, RUN_BUDGET, RUN_STOP, RUN_WFI } from "../cpu/hart.ts";
import { warmUpJitOrWarn } from "../cpu/warmup.ts";
import { createJitHart, createJitMemory, Jit, type JitOptions } from "../cpu/jit/tier.ts";
import { AddressSpace, PAGE, PTE_R, PTE_W, PTE_X, RAM_BASE, SATP_SV48 } from "./memory.ts";
import { FdTable } from "./files.ts";
import { HostClock, Scheduler, VirtualClock } from "./threads.ts";
import { Syscalls } from "./syscalls.ts";
import { TRAMPOLINE, TRAMPOLINE_CODE } from "./signals.ts";
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

export { PAGE };
/** Top of the main thread's stack; the page above it stays unmapped. */
export const STACK_TOP = 0x3f_ffff_0000;
/** The main stack's area (paged in as it is touched), as Linux's 8 MiB default. */
export const STACK_SIZE = 8 << 20;
/** mmap with no usable hint searches up from here. */
const MMAP_BASE = 0x20_0000_0000;
/** brk may grow at most this far past the end of the program. */
const BRK_MAX = 256 << 20;
/** The process id (and the main thread's tid). */
const PID = 1000;

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
  /** The program's file (readlinkat of /proc/self/exe; default argv0 against the cwd). */
  exePath?: string;
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
  /** Instructions a thread runs before the next runnable one gets the hart (default 1 << 16). */
  quantum?: number;
  /**
   * "host" (default): time is the host's and sleeps are real. "virtual": 10 ns
   * per instruction, sleeps skipped — the run is deterministic (usermode/threads.ts).
   */
  clock?: "host" | "virtual";
  /**
   * Seeds the bytes getrandom and AT_RANDOM give (default: the host's
   * randomness). With clock "virtual" it makes a run repeat exactly: Go's
   * scheduler and map hashing draw on these bytes.
   */
  seed?: number;
  /** CPUs the program is told it has (sched_getaffinity; default 4): its threads share the one hart. */
  cpus?: number;
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
  /** Threads the process had, the main one included. */
  threads: number;
  /** The signal that ended the program (a fault's, or one sent), or null after an exit. */
  signal: number | null;
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
 * A process: the hart, its address space, threads and descriptors, and the
 * kernel side (usermode/syscalls.ts). `run()` executes it to the end.
 */
export class UserProcess {
  readonly hart: Hart;
  /** The translator, when RunUserOptions.jit asked for it. */
  readonly jit: Jit | null = null;
  readonly mem: AddressSpace;
  readonly sched: Scheduler;
  readonly fds = new FdTable();
  private readonly sys: Syscalls;
  private trapPagePhys = 0;
  private brkStart = 0;
  private brkCur = 0;
  private exitStatus: number | null = null;
  /** The signal that ended the process, if one did. */
  private killedBy: number | null = null;
  private readonly opts: RunUserOptions;
  private readonly enc = new TextEncoder();

  constructor(elf: Uint8Array, opts: RunUserOptions = {}) {
    this.opts = opts;
    const image = parseElf(elf);
    const ramSize = (opts.ramMiB ?? 256) << 20;
    warmUpJitOrWarn();
    if (opts.jit) {
      // RAM, registers and TLBs in one WebAssembly.Memory (cpu/jit/tier.ts).
      const jmem = createJitMemory(ramSize);
      this.hart = createJitHart(jmem, { ramBase: RAM_BASE });
      this.jit = new Jit(this.hart, jmem, opts.jit === true ? {} : opts.jit);
    } else {
      this.hart = new Hart({ ram: new SharedArrayBuffer(ramSize), ramBase: RAM_BASE });
    }
    const sab = this.hart.ram8.buffer as SharedArrayBuffer;
    this.mem = new AddressSpace(
      sab,
      ramSize,
      MMAP_BASE,
      (off, len) => this.jit?.invalidateRange(off, len),
      () => this.hart.flushTlb(),
    );
    // The trap page: wfi; j -4 (see the header comment). Outside the user's addresses.
    const trapOff = this.mem.allocPage();
    this.mem.ramDv.setUint32(trapOff, 0x10500073, true);
    this.mem.ramDv.setUint32(trapOff + 4, 0xffdff06f, true);
    this.trapPagePhys = RAM_BASE + trapOff;

    let end = 0;
    for (const s of image.segments) {
      const first = Math.floor(s.vaddr / PAGE), last = Math.ceil((s.vaddr + s.memsz) / PAGE);
      // Segments may share a page: it gets the union of their permissions.
      for (let vpn = first; vpn < last; vpn++) {
        const perm = this.mem.areaAt(vpn)?.perm ?? 0;
        this.mem.map(vpn, vpn + 1, perm | s.perm);
      }
      end = Math.max(end, s.vaddr + s.memsz);
    }
    for (const s of image.segments) this.mem.write(s.vaddr, s.data, 0);
    this.brkStart = this.brkCur = roundUp(end);
    const clock = opts.clock === "virtual" ? new VirtualClock(this.hart) : new HostClock();
    this.sched = new Scheduler(this.hart, PID, clock);
    this.sched.create();
    this.sys = new Syscalls({
      hart: this.hart,
      mem: this.mem,
      sched: this.sched,
      fds: this.fds,
      pid: PID,
      cpus: opts.cpus ?? 4,
      exePath: opts.exePath ?? absolute(opts.argv0 ?? "prog"),
      stdout: opts.stdout,
      stderr: opts.stderr,
      stdin: opts.stdin,
      verbose: opts.verbose,
      exit: (status, signal) => {
        if (this.exitStatus !== null) return;
        this.exitStatus = status;
        if (signal !== undefined) {
          this.killedBy = signal;
          this.err(`actorvm: killed by signal ${signal}\n`);
        }
      },
      exitStatus: () => this.exitStatus,
      brk: (want) => this.sysBrk(want),
      random: (n) => this.randomBytes(n),
    });
    // The page a signal handler returns through (rt_sigreturn), as the vDSO's.
    this.mem.map(TRAMPOLINE / PAGE, TRAMPOLINE / PAGE + 1, PTE_R | PTE_X);
    const code = new Uint8Array(new Uint32Array(TRAMPOLINE_CODE).buffer);
    this.mem.write(TRAMPOLINE, code, 0);
    const sp = this.buildStack(image);
    this.start(image.entry, sp);
  }

  // --- process start ---

  /** The initial stack as Linux builds it; returns sp. */
  private buildStack(image: ElfImage): number {
    this.mem.map((STACK_TOP - STACK_SIZE) / PAGE, STACK_TOP / PAGE, PTE_R | PTE_W);
    let sp = STACK_TOP;
    const pushBytes = (b: Uint8Array): number => {
      sp -= b.length;
      this.mem.write(sp, b);
      return sp;
    };
    const random = pushBytes(this.randomBytes(16));
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
    this.mem.write(sp, block);
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
    h.csrWrite(0x180, (BigInt(SATP_SV48) << 60n) | BigInt(this.mem.rootPhys / PAGE)); // satp
    if ((BigInt.asUintN(64, h.csrRead(0x180)) >> 60n) !== BigInt(SATP_SV48)) {
      throw new Error("user runner: the hart refused Sv48");
    }
    h.priv = 0;
    h.updateMode();
    h.pc = BigInt(entry);
    h.x[2] = BigInt(sp);
    h.onEcall = (hart, from) => from === 0 && this.sys.handle(hart);
  }

  // --- running ---

  run(): RunUserResult {
    const h = this.hart;
    const batch = this.opts.batch ?? 1 << 22;
    const quantum = this.opts.quantum ?? 1 << 16;
    const limit = this.opts.maxInstructions ?? Infinity;
    const sched = this.sched;
    for (;;) {
      if (this.sys.deliverable()) {
        this.sys.deliverPending();
        if (this.exitStatus !== null) continue;
      }
      const n = sched.othersAlive() ? Math.min(batch, quantum) : batch;
      const before = h.instretN;
      const st = this.jit !== null ? this.jit.run(n) : h.run(n);
      h.stopRequested = false;
      if (this.exitStatus !== null) {
        return {
          status: this.exitStatus,
          instret: Number(h.instret),
          trap: null,
          threads: this.sched.created,
          signal: this.killedBy,
        };
      }
      if (h.priv !== 0) {
        if (!this.pageIn() && !this.faultToHandler()) return this.fault();
        continue;
      }
      if (st !== RUN_BUDGET && st !== RUN_STOP && st !== RUN_WFI) {
        throw new Error(`user runner: unexpected run() result ${st}`);
      }
      if (Number(h.instret) >= limit) {
        throw new Error(
          `user runner: instruction limit ${limit} reached at pc 0x${h.pc.toString(16)}`,
        );
      }
      const cur = sched.current;
      if (cur.dead || cur.wait !== null || this.sys.yieldNow || h.instretN - before >= n) {
        this.sys.yieldNow = false;
        if (cur.dead || cur.wait !== null || sched.othersAlive()) sched.switchNext();
      }
    }
  }

  /** A page fault on a page its area allows: back it and return to the program. */
  private pageIn(): boolean {
    const h = this.hart;
    const cause = Number(h.csrRead(0x342));
    if (cause !== 12 && cause !== 13 && cause !== 15) return false;
    if (!this.mem.handleFault(cause, Number(h.csrRead(0x343)))) return false;
    const epc = h.csrRead(0x341);
    h.priv = 0;
    h.pc = epc;
    return true;
  }

  /** A fault the program handles (Go turns SIGSEGV into a panic): enter its handler. */
  private faultToHandler(): boolean {
    const h = this.hart;
    const cause = Number(h.csrRead(0x342) & 0xffn);
    const signal = (CAUSE_NAMES[cause] ?? ["", SIGSEGV])[1];
    const tval = Number(BigInt.asIntN(64, h.csrRead(0x343)));
    // si_code: SEGV_MAPERR (1) when nothing is mapped there, SEGV_ACCERR (2) when
    // the area forbids the access; 1 for the others (ILL_ILLOPC, BUS_ADRALN, TRAP_BRKPT).
    const code = signal === SIGSEGV && this.mem.areaAt(Math.floor(tval / PAGE)) !== null ? 2 : 1;
    const epc = h.csrRead(0x341);
    h.priv = 0;
    h.pc = epc;
    if (
      this.sys.deliverFault(
        signal,
        code,
        signal === SIGSEGV || signal === SIGBUS ? tval : Number(epc),
      )
    ) {
      return true;
    }
    h.priv = 3; // as the trap left it, for fault()'s report
    return false;
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
      threads: this.sched.created,
      signal,
    };
  }

  private err(msg: string): void {
    this.opts.stderr?.(this.enc.encode(msg));
  }

  private rngState = 0;

  /** n random bytes: the host's, or from opts.seed (xorshift32) for a repeatable run. */
  randomBytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    if (this.opts.seed === undefined) {
      for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
      return b;
    }
    if (this.rngState === 0) this.rngState = (this.opts.seed | 0) || 0x9e3779b9;
    let x = this.rngState;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    this.rngState = x;
    return b;
  }

  private sysBrk(want: number): number {
    if (want === 0 || want < this.brkStart || want > this.brkStart + BRK_MAX) return this.brkCur;
    const oldTop = roundUp(this.brkCur) / PAGE, newTop = roundUp(want) / PAGE;
    if (newTop > oldTop) {
      if (!this.mem.isFree(oldTop, newTop)) return this.brkCur; // would overlap a mapping
      this.mem.map(oldTop, newTop, PTE_R | PTE_W);
    } else if (newTop < oldTop) {
      this.mem.unmap(newTop, oldTop);
    }
    this.brkCur = want;
    return want;
  }
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
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
