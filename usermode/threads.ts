// Threads of the user-mode runner: each thread is a saved hart context (x and
// f registers, fcsr, pc) and the runner's one Hart runs them in turn, as one
// CPU running several threads would. A thread runs until it blocks in a
// syscall (futex, nanosleep, a read of an empty pipe, epoll_pwait) or for a
// quantum of instructions, then the next runnable thread (round robin, in tid
// order) gets the hart; so the interleaving is deterministic, except where a
// thread waits on real time. Futexes are served here: waiters are queued per
// address, FIFO. Used by usermode/runner.ts. Read next: usermode/files.ts.

import type { Hart } from "../cpu/hart.ts";

/** A syscall that could not finish at once: the thread sleeps until poll() answers or the deadline. */
export interface Wait {
  /** performance.now() time (ms) at which it times out; Infinity = never. */
  deadline: number;
  /** The syscall's result if it can finish now, else null. */
  poll: () => number | null;
  /** The result at the deadline (e.g. -ETIMEDOUT, or 0 for nanosleep). */
  onTimeout: () => number;
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
  /** Signal mask (rt_sigprocmask), and sigaltstack's 24 bytes. */
  sigmask: bigint;
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
  /** Host sleeps use this (Atomics.wait on a word no one notifies). */
  private readonly sleepWord = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly hart: Hart, firstTid: number) {
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

  get alive(): number {
    let n = 0;
    for (const t of this.threads) if (!t.dead) n++;
    return n;
  }

  /** True if a thread other than the current one could run now. */
  othersRunnable(): boolean {
    for (const t of this.threads) if (t !== this.current && !t.dead && t.wait === null) return true;
    return false;
  }

  /**
   * Picks the thread to run next and loads it on the hart: the next runnable
   * one after the current (round robin), waking sleepers whose wait is over;
   * when every thread sleeps, sleeps on the host until the earliest deadline.
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
      const now = performance.now();
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
      const ms = Math.max(0, Math.ceil(earliest - performance.now()));
      if (ms > 0) Atomics.wait(this.sleepWord, 0, 0, ms);
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
