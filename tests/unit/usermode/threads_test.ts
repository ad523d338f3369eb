// The user-mode runner's scheduler (usermode/threads.ts) on a bare hart:
// round robin in tid order, futex waiters woken FIFO and by bitset, timeouts
// on the virtual clock (time jumps to the deadline when every thread sleeps),
// and a deadlock — every thread waiting with no deadline — reported instead
// of a silent hang. Read next: usermode/threads.ts.

import assert from "../../../testing/assert.ts";
import { Hart } from "../../../cpu/hart.ts";
import { Scheduler, VirtualClock } from "../../../usermode/threads.ts";

function setup(threads: number) {
  const hart = new Hart({ ram: new SharedArrayBuffer(4096), ramBase: 0x8000_0000 });
  const sched = new Scheduler(hart, 100, new VirtualClock(hart));
  for (let i = 0; i < threads; i++) {
    const t = sched.create();
    t.pc = BigInt(0x1000 * (i + 1));
    t.x[5] = BigInt(i);
  }
  hart.pc = sched.current.pc;
  return { hart, sched };
}

Deno.test("usermode threads: round robin restores each thread's registers", () => {
  const { hart, sched } = setup(3);
  hart.x[6] = 42n; // the running thread's own state
  sched.switchNext();
  assert.equal(sched.current.tid, 101);
  assert.equal(hart.pc, 0x2000n);
  assert.equal(hart.x[5], 1n);
  sched.switchNext();
  sched.switchNext();
  assert.equal(sched.current.tid, 100);
  assert.equal(hart.x[6], 42n, "saved at the switch, restored now");
});

Deno.test("usermode threads: futex wake is FIFO and honours the bitset", () => {
  const { sched } = setup(3);
  const [a, b, c] = sched.threads;
  sched.current = a;
  a.wait = sched.futexWait(0x4000, 1, Infinity, -110);
  sched.current = b;
  b.wait = sched.futexWait(0x4000, 2, Infinity, -110);
  sched.current = c;
  assert.equal(sched.futexWake(0x4000, 1, 2), 1, "only b's bitset matches");
  assert.equal(b.wait!.poll(), 0);
  assert.equal(a.wait!.poll(), null);
  assert.equal(sched.futexWake(0x4000, 5, -1), 1);
  assert.equal(a.wait!.poll(), 0);
  assert.equal(sched.futexWake(0x4000, 5, -1), 0, "queue empty");
});

Deno.test("usermode threads: a timed wait times out on the virtual clock", () => {
  const { hart, sched } = setup(2);
  const [a, b] = sched.threads;
  a.wait = sched.futexWait(0x4000, -1, 5, -110); // 5 ms
  b.wait = { deadline: 2, poll: () => null, onTimeout: () => 0 }; // a 2 ms nanosleep
  sched.switchNext();
  assert.equal(sched.current, b, "the earlier deadline wakes first");
  assert.equal(hart.x[10], 0n);
  assert.ok(sched.clock.now() >= 2 && sched.clock.now() < 5);
  b.wait = { deadline: Infinity, poll: () => null, onTimeout: () => 0 };
  sched.switchNext();
  assert.equal(sched.current, a);
  assert.equal(hart.x[10], -110n, "ETIMEDOUT");
  assert.equal(sched.futexWake(0x4000, 1, -1), 0, "a timed-out waiter left the queue");
});

Deno.test("usermode threads: every thread waiting forever is a deadlock, said", () => {
  const { sched } = setup(2);
  for (const t of sched.threads) {
    t.wait = {
      deadline: Infinity,
      poll: () => null,
      onTimeout: () => 0,
    };
  }
  assert.throws(() => sched.switchNext(), /deadlock: all 2 threads wait with no timeout/);
});
