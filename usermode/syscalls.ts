// The user-mode runner's Linux: the syscalls a static glibc or Go program makes,
// served on the process's address space (usermode/memory.ts), its threads
// (usermode/threads.ts) and its descriptors (usermode/files.ts). Numbers are
// asm-generic's (RISC-V). A syscall either returns at once or hands back a
// Wait, and the thread sleeps until it is satisfied. Anything not here gets
// -ENOSYS and, with verbose, a line naming it (as qemu-riscv64 -strace shows
// it). Signals: a handled one is made pending on its thread and delivered
// (usermode/signals.ts) before the thread next runs, interrupting a wait with
// EINTR; an ignored one does nothing; any other ends the process with 128 +
// signal. Descriptor syscalls are in usermode/file_syscalls.ts.
// Read next: usermode/file_syscalls.ts.

import type { Hart } from "../cpu/hart.ts";
import { type AddressSpace, MAP_ANONYMOUS, MAP_PRIVATE, PAGE, USER_TOP } from "./memory.ts";
import type { Scheduler, Thread, Wait } from "./threads.ts";
import { FileSyscalls } from "./file_syscalls.ts";
import { enterHandler, SA_RESETHAND, SA_RESTART, type SigInfo, sigreturn } from "./signals.ts";
import {
  EAGAIN,
  EBADF,
  EINVAL,
  ENOTDIR,
  type FdTable,
  hostErrno,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
} from "./files.ts";

export const ENOMEM = 12, EFAULT = 14, ENOTTY = 25, ENOSYS = 38, ETIMEDOUT = 110, ESRCH = 3;
const AT_REMOVEDIR = 0x200;

/** What the syscalls need from the process (usermode/runner.ts). */
export interface Process {
  readonly hart: Hart;
  readonly mem: AddressSpace;
  readonly sched: Scheduler;
  readonly fds: FdTable;
  readonly pid: number;
  /** CPUs reported by sched_getaffinity (threads share the one hart). */
  readonly cpus: number;
  /** The program's path (readlinkat of /proc/self/exe). */
  readonly exePath: string;
  stdout?: (bytes: Uint8Array) => void;
  stderr?: (bytes: Uint8Array) => void;
  stdin?: (buf: Uint8Array) => number;
  verbose?: (msg: string) => void;
  /** Ends the process with a status (exit_group), or killed by a signal (status 128 + signal). */
  exit(status: number, signal?: number): void;
  /** The status the process ended with, or null while it runs. */
  exitStatus(): number | null;
  brk(want: number): number;
  /** n bytes for getrandom (seeded or the host's). */
  random(n: number): Uint8Array;
}

/** Signals whose default action is to be ignored (the rest end the process). */
const DEFAULT_IGNORED = new Set([17, 18, 23, 28]); // SIGCHLD SIGCONT SIGURG SIGWINCH

export class Syscalls {
  /** The kernel sigaction (handler, flags, mask: 24 bytes) of each signal 1..64. */
  private readonly sigactions: Uint8Array[] = [];
  private readonly rlimits = new Map<number, [bigint, bigint]>([
    [3, [8n << 20n, ~0n]], // RLIMIT_STACK: 8 MiB, as Linux's default
    [7, [1024n, 4096n]], // RLIMIT_NOFILE
  ]);
  private readonly enc = new TextEncoder();
  private readonly noted = new Set<string>();
  /** Set by a syscall that should let another thread run (sched_yield, exit). */
  yieldNow = false;

  /** The descriptor syscalls (usermode/file_syscalls.ts). */
  private readonly files: FileSyscalls;

  constructor(private readonly p: Process) {
    this.files = new FileSyscalls(p, (m) => this.note(m));
    for (let i = 0; i <= 64; i++) this.sigactions.push(new Uint8Array(24));
  }

  /** hart.onEcall: serves the ecall at pc and steps past it. */
  handle(h: Hart): boolean {
    const pc = h.pcN;
    if (Number(h.x[17]) === 139) { // rt_sigreturn: every register comes from the frame
      if (!sigreturn(h, this.p.mem, this.p.sched.current)) this.kill(11);
      h.stopRequested = true; // a signal the old mask blocked may be deliverable now
      return true;
    }
    const r = this.dispatch(h, Number(h.x[17]), pc);
    h.pcN = pc + 4; // ecall has no compressed form
    if (typeof r === "number") {
      h.x[10] = BigInt(r);
    } else {
      const now = r.poll();
      if (now !== null) h.x[10] = BigInt(now);
      else {
        this.p.sched.current.wait = r;
        h.stopRequested = true;
      }
    }
    // A signal this syscall sent or unblocked is delivered before the program goes on.
    if (this.yieldNow || this.deliverable()) h.stopRequested = true;
    return true;
  }

  private note(msg: string): void {
    if (this.p.verbose && !this.noted.has(msg)) {
      this.noted.add(msg);
      this.p.verbose(msg);
    }
  }

  private dispatch(h: Hart, nr: number, pc: number): number | Wait {
    const a = (i: number): bigint => h.x[10 + i];
    const an = (i: number): number => Number(BigInt.asUintN(64, h.x[10 + i]));
    const ai = (i: number): number => Number(BigInt.asIntN(32, h.x[10 + i]));
    const p = this.p, mem = p.mem;
    switch (nr) {
      // --- files ---
      case 56: // openat(dirfd, path, flags, mode)
        return this.files.openat(ai(0), an(1), ai(2), ai(3));
      case 57: // close
        return p.fds.close(ai(0));
      case 63: // read(fd, buf, len)
        return this.files.read(ai(0), an(1), an(2));
      case 64: // write(fd, buf, len)
        return this.files.write(ai(0), an(1), an(2));
      case 65: // readv
      case 66: // writev(fd, iov, cnt)
        return this.files.rwv(nr === 66, ai(0), an(1), ai(2));
      case 62: // lseek(fd, off, whence)
        return this.files.lseek(ai(0), a(1), ai(2));
      case 80: // fstat(fd, st)
        return this.files.fstatFd(ai(0), an(1));
      case 79: // newfstatat(dirfd, path, st, flags)
        return this.files.fstatat(ai(0), an(1), an(2), ai(3));
      case 35: // unlinkat(dirfd, path, flags)
        return this.files.pathOp(ai(0), an(1), (path) => {
          if (ai(2) & AT_REMOVEDIR && !Deno.statSync(path).isDirectory) return -ENOTDIR;
          Deno.removeSync(path);
          return 0;
        });
      case 34: // mkdirat(dirfd, path, mode)
        return this.files.pathOp(ai(0), an(1), (path) => {
          Deno.mkdirSync(path, { mode: ai(2) & 0o7777 });
          return 0;
        });
      case 78: // readlinkat(dirfd, path, buf, size)
        return this.files.pathOp(ai(0), an(1), (path) => {
          const target = path === "/proc/self/exe" ? p.exePath : Deno.readLinkSync(path);
          const b = this.enc.encode(target).subarray(0, an(3));
          return mem.write(an(2), b) ? b.length : -EFAULT;
        });
      case 48: // faccessat(dirfd, path, mode)
        return this.files.pathOp(ai(0), an(1), (path) => {
          Deno.statSync(path);
          return 0;
        });
      case 17: { // getcwd(buf, size)
        const b = this.enc.encode(Deno.cwd() + "\0");
        if (b.length > an(1)) return -34; // ERANGE
        return mem.write(an(0), b) ? b.length : -EFAULT;
      }
      case 25: // fcntl(fd, cmd, arg)
        return this.files.fcntl(ai(0), ai(1), an(2));
      case 23: { // dup(fd)
        const f = p.fds.get(ai(0));
        if (f === null) return -EBADF;
        f.refs++;
        return p.fds.install(f, false);
      }
      case 24: { // dup3(old, new, flags)
        const f = p.fds.get(ai(0));
        if (f === null || ai(1) < 0 || ai(1) >= 1024) return -EBADF;
        if (ai(0) === ai(1)) return -EINVAL;
        p.fds.close(ai(1));
        f.refs++;
        return p.fds.install(f, (ai(2) & O_CLOEXEC) !== 0, ai(1));
      }
      case 59: // pipe2(fds, flags)
        return this.files.pipe2(an(0), ai(1));
      case 19: // eventfd2(initval, flags): EFD_SEMAPHORE 1, EFD_NONBLOCK, EFD_CLOEXEC
        return p.fds.install(
          {
            what: { kind: "eventfd", count: BigInt(an(0) >>> 0), semaphore: (ai(1) & 1) !== 0 },
            flags: O_RDWR | (ai(1) & O_NONBLOCK),
            refs: 1,
          },
          (ai(1) & O_CLOEXEC) !== 0,
        );
      case 20: // epoll_create1(flags)
        return p.fds.install(
          { what: { kind: "epoll", entries: new Map() }, flags: 0, refs: 1 },
          (ai(0) & O_CLOEXEC) !== 0,
        );
      case 21: // epoll_ctl(epfd, op, fd, event)
        return this.files.epollCtl(ai(0), ai(1), ai(2), an(3));
      case 22: // epoll_pwait(epfd, events, max, timeout, sigmask)
        return this.files.epollWait(ai(0), an(1), ai(2), ai(3));
      case 29: // ioctl: no terminals here
        return p.fds.get(ai(0)) === null ? -EBADF : -ENOTTY;
      case 82: // fsync
      case 83: { // fdatasync
        const f = p.fds.get(ai(0));
        if (f === null) return -EBADF;
        if (f.what.kind === "host" && !f.what.dir) {
          try {
            f.what.file.syncDataSync();
          } catch (e) {
            return hostErrno(e);
          }
        }
        return 0;
      }

      // --- memory ---
      case 214: // brk
        return p.brk(an(0));
      case 222: { // mmap(addr, len, prot, flags, fd, off): anonymous private only
        const flags = ai(3);
        if (!(flags & MAP_ANONYMOUS) || !(flags & MAP_PRIVATE)) {
          this.note("actorvm: mmap of a file or a shared mapping: -ENODEV");
          return -19;
        }
        return mem.mmap(an(0), an(1), ai(2), flags, PAGE * 16, USER_TOP);
      }
      case 215: // munmap(addr, len)
        return mem.munmap(an(0), an(1));
      case 226: // mprotect(addr, len, prot)
        return mem.mprotect(an(0), an(1), ai(2));
      case 233: { // madvise(addr, len, advice)
        const addr = an(0), len = an(1), advice = ai(2);
        if (addr % PAGE !== 0) return -EINVAL;
        if (advice === 4) { // MADV_DONTNEED: private anonymous pages read back as zeros
          mem.dropPages(addr / PAGE, Math.ceil((addr + len) / PAGE));
        }
        return 0; // the other advice changes nothing a program can see
      }

      // --- threads and processes ---
      case 93: // exit: this thread only
        this.exitThread(ai(0) & 0xff);
        return 0;
      case 94: // exit_group
        p.exit(ai(0) & 0xff);
        h.stopRequested = true;
        return 0;
      case 96: // set_tid_address(ptr)
        p.sched.current.clearTid = an(0);
        return p.sched.current.tid;
      case 99: // set_robust_list(head, len): kept (robust mutexes are not recovered at exit)
        if (an(1) !== 24) return -EINVAL;
        p.sched.current.robustList = an(0);
        return 0;
      case 172: // getpid
        return p.pid;
      case 173: // getppid
        return 0;
      case 174: // getuid
      case 175: // geteuid
      case 176: // getgid
      case 177: // getegid
        return 0;
      case 178: // gettid
        return p.sched.current.tid;
      case 220: // clone(flags, stack, ptid, tls, ctid)
        return this.clone(a(0), an(1), an(2), a(3), an(4), pc);
      case 124: // sched_yield
        this.yieldNow = true;
        return 0;
      case 123: { // sched_getaffinity(pid, len, mask)
        if (an(1) < 8) return -EINVAL;
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, (1n << BigInt(p.cpus)) - 1n, true);
        return mem.write(an(2), b) ? 8 : -EFAULT;
      }
      case 122: // sched_setaffinity: accepted
        return 0;
      case 98: // futex
        return this.futex(an(0), ai(1), ai(2), an(3), ai(5));
      case 134: // rt_sigaction(sig, act, oact, size)
        return this.sigaction(ai(0), an(1), an(2));
      case 135: // rt_sigprocmask(how, set, oset, size)
        return this.sigprocmask(ai(0), an(1), an(2));
      case 132: { // sigaltstack(ss, oss)
        const t = p.sched.current;
        if (an(1) !== 0 && !mem.write(an(1), t.altstack)) return -EFAULT;
        if (an(0) !== 0) {
          const ss = mem.read(an(0), 24);
          if (ss === null) return -EFAULT;
          t.altstack = ss;
        }
        return 0;
      }
      case 129: // kill(pid, sig)
        return this.signal(ai(1), ai(0) === p.pid || ai(0) === 0 ? p.sched.current : null);
      case 130: // tkill(tid, sig)
      case 131: { // tgkill(tgid, tid, sig)
        const tid = nr === 130 ? ai(0) : ai(1), sig = nr === 130 ? ai(1) : ai(2);
        const t = p.sched.threads.find((x) => x.tid === tid && !x.dead) ?? null;
        return this.signal(sig, t);
      }
      case 163: // getrlimit(res, rlim)
        return this.prlimit(ai(0), 0, an(1));
      case 164: // setrlimit(res, rlim)
        return this.prlimit(ai(0), an(1), 0);
      case 261: // prlimit64(pid, res, new, old)
        return this.prlimit(ai(1), an(2), an(3));

      // --- time ---
      case 113: // clock_gettime(clock, ts)
        return mem.write(an(1), timespec(this.clockNs(ai(0)))) ? 0 : -EFAULT;
      case 114: // clock_getres(clock, ts)
        return an(1) === 0 || mem.write(an(1), timespec(1n)) ? 0 : -EFAULT;
      case 169: { // gettimeofday(tv, tz)
        const ns = this.clockNs(0);
        if (an(0) !== 0 && !mem.write(an(0), timespec(ns - ns % 1000n, 1000n))) return -EFAULT;
        return 0;
      }
      case 101: // nanosleep(req, rem)
        return this.sleep(0, 0, an(0));
      case 115: // clock_nanosleep(clock, flags, req, rem)
        return this.sleep(ai(0), ai(1), an(2));

      // --- the rest ---
      case 278: { // getrandom(buf, len, flags)
        const len = Math.min(an(1), 1 << 16);
        return mem.write(an(0), p.random(len)) ? len : -EFAULT;
      }
      case 179: { // sysinfo(info): uptime, RAM (the process's), threads; no swap, no load
        const b = new Uint8Array(112);
        const dv = new DataView(b.buffer);
        dv.setBigUint64(0, BigInt(Math.floor(p.sched.clock.now() / 1000)), true);
        dv.setBigUint64(32, BigInt(mem.ramBytes), true);
        dv.setBigUint64(40, BigInt(mem.ramBytes - mem.pagesInUse * PAGE), true);
        dv.setUint16(80, p.sched.alive, true);
        dv.setUint32(104, 1, true); // mem_unit
        return mem.write(an(0), b) ? 0 : -EFAULT;
      }
      case 160: { // uname(buf): six 65-byte fields
        const u = new Uint8Array(65 * 6);
        ["Linux", "actorvm", "6.12.0", "#1 actorvm user runner", "riscv64", "(none)"].forEach(
          (f, i) => u.set(this.enc.encode(f), 65 * i),
        );
        return mem.write(an(0), u) ? 0 : -EFAULT;
      }
      default:
        this.note(`actorvm: unknown syscall ${nr} (${syscallName(nr)}): -ENOSYS`);
        return -ENOSYS;
    }
  }

  // --- threads ---

  private clone(
    flags: bigint,
    stack: number,
    ptid: number,
    tls: bigint,
    ctid: number,
    pc: number,
  ): number {
    const CLONE_VM = 0x100n, CLONE_THREAD = 0x10000n, CLONE_SETTLS = 0x80000n;
    const CLONE_PARENT_SETTID = 0x100000n, CLONE_CHILD_CLEARTID = 0x200000n;
    const CLONE_CHILD_SETTID = 0x1000000n;
    const CLONE_SIGHAND = 0x800n;
    // Linux's rules: a thread shares the signal handlers, which need a shared VM.
    if (flags & CLONE_THREAD && !(flags & CLONE_SIGHAND)) return -EINVAL;
    if (flags & CLONE_SIGHAND && !(flags & CLONE_VM)) return -EINVAL;
    if (!(flags & CLONE_VM) || !(flags & CLONE_THREAD)) {
      this.note("actorvm: clone without CLONE_VM|CLONE_THREAD (a new process): -ENOSYS");
      return -ENOSYS;
    }
    const sched = this.p.sched, parent = sched.current;
    const child = sched.create();
    sched.save(child);
    child.pc = BigInt.asUintN(64, BigInt(pc + 4));
    child.x[10] = 0n;
    if (stack !== 0) child.x[2] = BigInt(stack);
    if (flags & CLONE_SETTLS) child.x[4] = tls;
    child.sigmask = parent.sigmask;
    // As Linux, a tid that cannot be stored is not an error: the thread exists.
    if (flags & CLONE_PARENT_SETTID) this.p.mem.writeU32(ptid, child.tid);
    if (flags & CLONE_CHILD_SETTID) this.p.mem.writeU32(ctid, child.tid);
    if (flags & CLONE_CHILD_CLEARTID) child.clearTid = ctid;
    return child.tid;
  }

  /** exit(2): this thread ends; the last one ends the process. */
  exitThread(status: number): void {
    const sched = this.p.sched, t = sched.current;
    if (t.clearTid !== 0 && this.p.mem.writeU32(t.clearTid, 0)) {
      sched.futexWake(t.clearTid, 1, -1);
    }
    t.dead = true;
    this.yieldNow = true;
    if (sched.alive === 0) this.p.exit(status);
  }

  private futex(
    addr: number,
    op: number,
    val: number,
    timeout: number,
    val3: number,
  ): number | Wait {
    const cmd = op & 0x7f, realtime = (op & 256) !== 0;
    const sched = this.p.sched;
    switch (cmd) {
      case 0: // FUTEX_WAIT: relative timeout
      case 9: { // FUTEX_WAIT_BITSET: absolute timeout
        const bitset = cmd === 0 ? -1 : val3;
        if (bitset === 0) return -EINVAL;
        const cur = this.p.mem.readU32(addr);
        if (cur === null) return -EFAULT;
        if (cur !== val >>> 0) return -EAGAIN;
        let deadline = Infinity;
        if (timeout !== 0) {
          const ts = this.readTimespec(timeout);
          if (ts === null) return -EFAULT;
          if (ts < 0) return -EINVAL;
          deadline = cmd === 0
            ? this.p.sched.clock.now() + ts / 1e6
            : this.deadline(realtime ? 0 : 1, ts);
        }
        return sched.futexWait(addr, bitset, deadline, -ETIMEDOUT);
      }
      case 1: // FUTEX_WAKE
        return sched.futexWake(addr, val, -1);
      case 10: // FUTEX_WAKE_BITSET
        return val3 === 0 ? -EINVAL : sched.futexWake(addr, val, val3);
      default:
        this.note(`actorvm: futex operation ${cmd}: -ENOSYS`);
        return -ENOSYS;
    }
  }

  /** A timespec in user memory as nanoseconds (a number: exact to ~104 days); null = EFAULT. */
  private readTimespec(va: number): number | null {
    const b = this.p.mem.read(va, 16);
    if (b === null) return null;
    const dv = new DataView(b.buffer);
    const sec = Number(dv.getBigInt64(0, true)), nsec = Number(dv.getBigInt64(8, true));
    if (sec < 0 || nsec < 0 || nsec >= 1e9) return -1;
    return sec * 1e9 + nsec;
  }

  private sleep(clock: number, flags: number, req: number): number | Wait {
    const ns = this.readTimespec(req);
    if (ns === null) return -EFAULT;
    if (ns < 0) return -EINVAL;
    const deadline = flags & 1 ? this.deadline(clock, ns) : this.p.sched.clock.now() + ns / 1e6;
    return { deadline, poll: () => null, onTimeout: () => 0 };
  }

  // --- signals ---

  private sigaction(sig: number, act: number, oact: number): number {
    if (sig < 1 || sig > 64) return -EINVAL;
    if (oact !== 0 && !this.p.mem.write(oact, this.sigactions[sig])) return -EFAULT;
    if (act !== 0) {
      if (sig === 9 || sig === 19) return -EINVAL; // SIGKILL, SIGSTOP
      const b = this.p.mem.read(act, 24);
      if (b === null) return -EFAULT;
      this.sigactions[sig] = b;
    }
    return 0;
  }

  private sigprocmask(how: number, set: number, oset: number): number {
    const t = this.p.sched.current;
    if (oset !== 0) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, t.sigmask, true);
      if (!this.p.mem.write(oset, b)) return -EFAULT;
    }
    if (set !== 0) {
      const b = this.p.mem.read(set, 8);
      if (b === null) return -EFAULT;
      const m = new DataView(b.buffer).getBigUint64(0, true) & ~((1n << 8n) | (1n << 18n)); // not KILL/STOP
      if (how === 0) t.sigmask |= m;
      else if (how === 1) t.sigmask &= ~m;
      else if (how === 2) t.sigmask = m;
      else return -EINVAL;
    }
    return 0;
  }

  /**
   * A signal sent to the process (or a thread): sig 0 only checks the target;
   * an ignored one does nothing; one with the default action "terminate" ends
   * the process with 128 + sig; a handled one becomes pending on the target,
   * whose wait (if it sleeps) ends with EINTR.
   */
  private signal(sig: number, target: Thread | null): number {
    if (target === null) return -ESRCH;
    if (sig < 0 || sig > 64) return -EINVAL;
    if (sig === 0) return 0;
    const handler = this.handlerOf(sig);
    if (handler === 1n || (handler === 0n && DEFAULT_IGNORED.has(sig))) return 0;
    if (handler === 0n) {
      this.kill(sig);
      return 0;
    }
    target.pending |= 1n << BigInt(sig - 1);
    if (target === this.p.sched.current) this.p.hart.stopRequested = true;
    else if (target.wait !== null && (target.sigmask & (1n << BigInt(sig - 1))) === 0n) {
      const restart = target.wait.restartable === true && (this.saFlags(sig) & SA_RESTART) !== 0;
      target.wait.onTimeout(); // leaves the futex queue
      target.wait = null;
      // SA_RESTART: the handler returns to the ecall, whose arguments are still in a0..a5.
      if (restart) target.pc -= 4n;
      else target.x[10] = -4n; // EINTR
    }
    return 0;
  }

  private saFlags(sig: number): number {
    return Number(new DataView(this.sigactions[sig].buffer).getBigUint64(8, true) & 0xffffffffn);
  }

  private handlerOf(sig: number): bigint {
    return new DataView(this.sigactions[sig].buffer).getBigUint64(0, true);
  }

  /** The process ends as if killed by sig (status 128 + sig). */
  kill(sig: number): void {
    this.p.exit(128 + sig, sig);
    this.p.hart.stopRequested = true;
  }

  /** True if the current thread has a pending signal its mask lets through. */
  deliverable(): boolean {
    const t = this.p.sched.current;
    return (t.pending & ~t.sigmask) !== 0n;
  }

  /** Enters the handler of the lowest deliverable pending signal of the current thread. */
  deliverPending(): void {
    const t = this.p.sched.current;
    const ready = t.pending & ~t.sigmask;
    if (ready === 0n) return;
    let sig = 1;
    while (!(ready & (1n << BigInt(sig - 1)))) sig++;
    t.pending &= ~(1n << BigInt(sig - 1));
    this.deliver({ signo: sig, code: -6, pid: this.p.pid }); // SI_TKILL
  }

  /**
   * A fault the program may handle (SIGSEGV, SIGBUS, SIGILL, SIGTRAP at the
   * faulting pc, already on the hart): true if a handler was entered; false
   * if the signal is not handled or blocked — the process dies of it.
   */
  deliverFault(sig: number, code: number, addr: number): boolean {
    const t = this.p.sched.current;
    const h = this.handlerOf(sig);
    if (h === 0n || h === 1n || (t.sigmask & (1n << BigInt(sig - 1))) !== 0n) return false;
    this.deliver({ signo: sig, code, addr });
    return this.p.exitStatus() === null;
  }

  private deliver(info: SigInfo): void {
    const sig = info.signo;
    const handler = this.handlerOf(sig);
    if (handler === 1n || (handler === 0n && DEFAULT_IGNORED.has(sig))) return;
    if (handler === 0n) return this.kill(sig);
    const action = new DataView(this.sigactions[sig].buffer.slice(0));
    if (!enterHandler(this.p.hart, this.p.mem, this.p.sched.current, info, action)) {
      return this.kill(11); // no room for the frame: SIGSEGV, as Linux's force_sigsegv
    }
    if (Number(action.getBigUint64(8, true) & 0xffffffffn) & SA_RESETHAND) {
      this.sigactions[sig] = new Uint8Array(24);
    }
  }

  /** Nanoseconds on a Linux clock: REALTIME (0) is wall time; every other counts from the process's start. */
  private clockNs(clock: number): bigint {
    const c = this.p.sched.clock;
    return BigInt(Math.round((c.now() + (clock === 0 ? c.realtimeOffset : 0)) * 1e6));
  }

  /** An absolute time on a Linux clock (ns) as a deadline on the process's clock (ms). */
  private deadline(clock: number, ns: number): number {
    return ns / 1e6 - (clock === 0 ? this.p.sched.clock.realtimeOffset : 0);
  }

  private prlimit(res: number, newVa: number, oldVa: number): number {
    if (res < 0 || res > 15) return -EINVAL;
    const cur = this.rlimits.get(res) ?? [~0n, ~0n];
    if (oldVa !== 0) {
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, BigInt.asUintN(64, cur[0]), true);
      dv.setBigUint64(8, BigInt.asUintN(64, cur[1]), true);
      if (!this.p.mem.write(oldVa, b)) return -EFAULT;
    }
    if (newVa !== 0) {
      const b = this.p.mem.read(newVa, 16);
      if (b === null) return -EFAULT;
      const dv = new DataView(b.buffer);
      const soft = dv.getBigUint64(0, true), hard = dv.getBigUint64(8, true);
      if (soft > hard) return -EINVAL;
      this.rlimits.set(res, [soft, hard]);
    }
    return 0;
  }
}

function timespec(ns: bigint, div = 1n): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigInt64(0, ns / 1_000_000_000n, true);
  dv.setBigInt64(8, (ns % 1_000_000_000n) / div, true);
  return b;
}

/** asm-generic's syscall names, 0..243 in order (for the verbose line of an unknown syscall). */
const GENERIC_NAMES = (
  "io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr " +
  "lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr " +
  "getcwd lookup_dcookie eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl " +
  "inotify_init1 inotify_add_watch inotify_rm_watch ioctl ioprio_set ioprio_get flock mknodat " +
  "mkdirat unlinkat symlinkat linkat renameat umount2 mount pivot_root nfsservctl statfs " +
  "fstatfs truncate ftruncate fallocate faccessat chdir fchdir chroot fchmod fchmodat " +
  "fchownat fchown openat close vhangup pipe2 quotactl getdents64 lseek read write readv " +
  "writev pread64 pwrite64 preadv pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice " +
  "tee readlinkat newfstatat fstat sync fsync fdatasync sync_file_range timerfd_create " +
  "timerfd_settime timerfd_gettime utimensat acct capget capset personality exit exit_group " +
  "waitid set_tid_address unshare futex set_robust_list get_robust_list nanosleep getitimer " +
  "setitimer kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun " +
  "timer_settime timer_delete clock_settime clock_gettime clock_getres clock_nanosleep syslog " +
  "ptrace sched_setparam sched_setscheduler sched_getscheduler sched_getparam " +
  "sched_setaffinity sched_getaffinity sched_yield sched_get_priority_max " +
  "sched_get_priority_min sched_rr_get_interval restart_syscall kill tkill tgkill sigaltstack " +
  "rt_sigsuspend rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo " +
  "rt_sigreturn setpriority getpriority reboot setregid setgid setreuid setuid setresuid " +
  "getresuid setresgid getresgid setfsuid setfsgid times setpgid getpgid getsid setsid " +
  "getgroups setgroups uname sethostname setdomainname getrlimit setrlimit getrusage umask " +
  "prctl getcpu gettimeofday settimeofday adjtimex getpid getppid getuid geteuid getgid " +
  "getegid gettid sysinfo mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify " +
  "mq_getsetattr msgget msgctl msgrcv msgsnd semget semctl semtimedop semop shmget shmctl " +
  "shmat shmdt socket socketpair bind listen accept connect getsockname getpeername sendto " +
  "recvfrom setsockopt getsockopt shutdown sendmsg recvmsg readahead brk munmap mremap " +
  "add_key request_key keyctl clone execve mmap fadvise64 swapon swapoff mprotect msync mlock " +
  "munlock mlockall munlockall mincore madvise remap_file_pages mbind get_mempolicy " +
  "set_mempolicy migrate_pages move_pages rt_tgsigqueueinfo perf_event_open accept4 recvmmsg"
).split(" ");
/** ... and the numbers above 243 that RISC-V Linux has. */
const MORE_NAMES: Record<number, string> = {
  258: "riscv_hwprobe",
  259: "riscv_flush_icache",
  260: "wait4",
  261: "prlimit64",
  262: "fanotify_init",
  263: "fanotify_mark",
  264: "name_to_handle_at",
  265: "open_by_handle_at",
  266: "clock_adjtime",
  267: "syncfs",
  268: "setns",
  269: "sendmmsg",
  270: "process_vm_readv",
  271: "process_vm_writev",
  272: "kcmp",
  273: "finit_module",
  274: "sched_setattr",
  275: "sched_getattr",
  276: "renameat2",
  277: "seccomp",
  278: "getrandom",
  279: "memfd_create",
  280: "bpf",
  281: "execveat",
  282: "userfaultfd",
  283: "membarrier",
  284: "mlock2",
  285: "copy_file_range",
  286: "preadv2",
  287: "pwritev2",
  288: "pkey_mprotect",
  289: "pkey_alloc",
  290: "pkey_free",
  291: "statx",
  292: "io_pgetevents",
  293: "rseq",
  294: "kexec_file_load",
  424: "pidfd_send_signal",
  425: "io_uring_setup",
  426: "io_uring_enter",
  427: "io_uring_register",
  434: "pidfd_open",
  435: "clone3",
  436: "close_range",
  437: "openat2",
  438: "pidfd_getfd",
  439: "faccessat2",
  440: "process_madvise",
  441: "epoll_pwait2",
};

/** A syscall's name, as qemu-riscv64 -strace prints it; "?" if unknown. */
export function syscallName(nr: number): string {
  return GENERIC_NAMES[nr] ?? MORE_NAMES[nr] ?? "?";
}
