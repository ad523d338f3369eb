// Threads of the user-mode runner: each thread is a saved hart context (x and
// f registers, fcsr, pc) and the runner's one Hart runs them in turn, as one
// CPU running several threads would. A thread runs until it blocks in a
// syscall (futex, nanosleep, a read of an empty pipe, epoll_pwait) or for a
// quantum of instructions, then the next runnable thread (round robin, in tid
// order) gets the hart. Time comes from a Clock: the host's (sleeps are real),
// or a virtual one that advances 10 ns per instruction retired and jumps to
// the next deadline when every thread sleeps (as QEMU's -icount) — then the
// whole run, interleaving and instruction count included, is deterministic,
// which the differential tests rely on. Futexes are served here: waiters are
// queued per address, FIFO. Used by usermode/runner.ts. Read next:
// usermode/files.ts.

import type { Hart } from "../cpu/hart.ts";

/** A syscall that could not finish at once: the thread sleeps until poll() answers or the deadline. */
/** The process's time: monotonic milliseconds, and the wall clock's offset from them. */
export interface Clock {
  /** Monotonic time, ms (counts from the process's start). */
  now(): number;
  /** CLOCK_REALTIME minus now(), ms. */
  readonly realtimeOffset: number;
  /** Lets time pass until `ms` (every thread sleeps): a host sleep, or a jump. */
  sleepUntil(ms: number): void;
}

/** The host's time: sleeps are real. */
export class HostClock implements Clock {
  readonly realtimeOffset = performance.timeOrigin;
  private readonly word = new Int32Array(new SharedArrayBuffer(4));
  now(): number {
    return performance.now();
  }
  sleepUntil(ms: number): void {
    const wait = Math.ceil(ms - performance.now());
    if (wait > 0) Atomics.wait(this.word, 0, 0, wait); // a word no one notifies
  }
}

/** Time made of instructions: 10 ns each, plus the sleeps skipped. Deterministic. */
export class VirtualClock implements Clock {
  readonly realtimeOffset = performance.timeOrigin;
  private skipped = 0;
  constructor(private readonly hart: Hart) {}
  now(): number {
    return this.hart.instretN * 1e-5 + this.skipped;
  }
  sleepUntil(ms: number): void {
    const now = this.now();
    if (ms > now) this.skipped += ms - now;
  }
}

export interface Wait {
  /** Clock time (ms) at which it times out; Infinity = never. */
  deadline: number;
  /** The syscall's result if it can finish now, else null. */
  poll: () => number | null;
  /** The result at the deadline (e.g. -ETIMEDOUT, or 0 for nanosleep). */
  onTimeout: () => number;
  /**
   * Whether a handler with SA_RESTART restarts the call (futex waits, pipe and
   * eventfd reads and writes), as signal(7) lists; nanosleep and epoll_pwait
   * always end with EINTR.
   */
  restartable?: boolean;
}

export interface Thread {
  tid: number;
  /** Saved registers while not on the hart. */
  readonly x: BigInt64Array;
  readonly f: BigInt64Array;
  frm: number;
  fflags: number;
  pc: bigint;
  /** CLONE_CHILD_CLEARTID / set_tid_address: zeroed and woken at exit. */
  clearTid: number;
  /** Signal mask (rt_sigprocmask), pending signals (bit sig-1), and sigaltstack's 24 bytes. */
  sigmask: bigint;
  pending: bigint;
  altstack: Uint8Array;
  robustList: number;
  wait: Wait | null;
  dead: boolean;
}

interface FutexWaiter {
  thread: Thread;
  bitset: number;
  woken: boolean;
}

export class Scheduler {
  readonly threads: Thread[] = [];
  current!: Thread;
  private nextTid: number;
  private readonly futexes = new Map<number, FutexWaiter[]>();
  constructor(
    private readonly hart: Hart,
    private readonly firstTid: number,
    readonly clock: Clock,
  ) {
    this.nextTid = firstTid;
  }

  /** A new thread; the first one becomes current with the hart's state as it is. */
  create(): Thread {
    const t: Thread = {
      tid: this.nextTid++,
      x: new BigInt64Array(32),
      f: new BigInt64Array(32),
      frm: 0,
      fflags: 0,
      pc: 0n,
      clearTid: 0,
      sigmask: 0n,
      pending: 0n,
      altstack: sigaltstackDisabled(),
      robustList: 0,
      wait: null,
      dead: false,
    };
    this.threads.push(t);
    if (this.threads.length === 1) this.current = t;
    return t;
  }

  /** Copies the hart's registers into t (used at clone: the child starts as a copy). */
  save(t: Thread): void {
    const h = this.hart;
    t.x.set(h.x);
    t.f.set(h.fpu.bits);
    t.frm = h.fpu.frm;
    t.fflags = h.fpu.fflags;
    t.pc = h.pc;
  }

  private load(t: Thread): void {
    const h = this.hart;
    h.x.set(t.x);
    h.fpu.bits.set(t.f);
    h.fpu.frm = t.frm;
    h.fpu.fflags = t.fflags;
    h.pc = t.pc;
    h.resValid = false; // an LR reservation does not survive a switch
  }

  /** Threads created so far, the main one included. */
  get created(): number {
    return this.nextTid - this.firstTid;
  }

  get alive(): number {
    let n = 0;
    for (const t of this.threads) if (!t.dead) n++;
    return n;
  }

  /**
   * True if a thread other than the current one is alive: running or
   * sleeping, it may want the hart at the end of this quantum (a sleeper's
   * deadline passes while the current thread spins waiting for it).
   */
  othersAlive(): boolean {
    for (const t of this.threads) if (t !== this.current && !t.dead) return true;
    return false;
  }

  /**
   * Picks the thread to run next and loads it on the hart: the next runnable
   * one after the current (round robin), waking sleepers whose wait is over;
   * when every thread sleeps, lets the clock reach the earliest deadline.
   * Throws if every thread waits with no deadline (a deadlock: Linux would
   * hang forever; we say so instead).
   */
  switchNext(): void {
    const cur = this.current;
    if (!cur.dead) this.save(cur);
    for (;;) {
      const n = this.threads.length;
      const at = this.threads.indexOf(cur);
      let earliest = Infinity;
      const now = this.clock.now();
      for (let k = 1; k <= n; k++) {
        const t = this.threads[(at + k) % n];
        if (t.dead) continue;
        if (t.wait !== null) {
          const r = t.wait.poll();
          if (r !== null) this.finishWait(t, r);
          else if (now >= t.wait.deadline) this.finishWait(t, t.wait.onTimeout());
          else {
            earliest = Math.min(earliest, t.wait.deadline);
            continue;
          }
        }
        this.current = t;
        this.load(t);
        this.prune();
        return;
      }
      if (earliest === Infinity) {
        throw new Error(
          `user runner: deadlock: all ${this.alive} threads wait with no timeout ` +
            `(${this.threads.filter((t) => !t.dead).map((t) => `tid ${t.tid}`).join(", ")})`,
        );
      }
      this.clock.sleepUntil(earliest);
    }
  }

  /** Drops dead threads from the list once they are not current. */
  private prune(): void {
    for (let i = this.threads.length - 1; i >= 0; i--) {
      if (this.threads[i].dead && this.threads[i] !== this.current) this.threads.splice(i, 1);
    }
  }

  private finishWait(t: Thread, result: number): void {
    t.wait = null;
    t.x[10] = BigInt(result);
  }

  // --- futexes ---

  /** Queues the current thread on addr; the Wait it gets ends with 0 when woken. */
  futexWait(addr: number, bitset: number, deadline: number, timedOut: number): Wait {
    const w: FutexWaiter = { thread: this.current, bitset, woken: false };
    let q = this.futexes.get(addr);
    if (q === undefined) this.futexes.set(addr, q = []);
    q.push(w);
    return {
      deadline,
      poll: () => w.woken ? 0 : null,
      restartable: true,
      onTimeout: () => {
        this.removeWaiter(addr, w);
        return timedOut;
      },
    };
  }

  /** Wakes up to n waiters on addr whose bitset meets `bitset`; returns how many. */
  futexWake(addr: number, n: number, bitset: number): number {
    const q = this.futexes.get(addr);
    if (q === undefined) return 0;
    let woken = 0;
    for (let i = 0; i < q.length && woken < n;) {
      if (q[i].bitset & bitset) {
        q[i].woken = true;
        q.splice(i, 1);
        woken++;
      } else i++;
    }
    if (q.length === 0) this.futexes.delete(addr);
    return woken;
  }

  private removeWaiter(addr: number, w: FutexWaiter): void {
    const q = this.futexes.get(addr);
    if (q === undefined) return;
    const i = q.indexOf(w);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.futexes.delete(addr);
  }
}

/** stack_t with ss_flags = SS_DISABLE: what sigaltstack reports before one is set. */
function sigaltstackDisabled(): Uint8Array {
  const b = new Uint8Array(24);
  b[8] = 2; // SS_DISABLE
  return b;
}
