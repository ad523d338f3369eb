// Tests for devices/waker.ts: a deadline fires (STIP + a cpu wake) once its
// guest time has come, a moved deadline re-arms, fault hooks can drop or
// postpone an event, skew moves the clock, and an idle waker does not spin.
// Assertions are on what happens, never on how fast (speed is a benchmark).

import assert from "../../../testing/assert.ts";
import { type TimerEvent, Waker } from "../../../devices/waker.ts";
import {
  armTimer,
  createControlBlock,
  CTL,
  CTL64,
  guestTimeTicks,
  MIP,
} from "../../../machine/control.ts";
import { TICKS_PER_MS } from "../../../machine/memmap.ts";

const MS = BigInt(TICKS_PER_MS);

function machine() {
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  const now = () => BigInt(guestTimeTicks(control));
  const stip = () => (Atomics.load(ctl, CTL.MIP) & MIP.STIP) !== 0;
  return { control, ctl, now, stip };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (politely) until `cond` holds; false after `ms`. */
async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(2);
  }
  return true;
}

Deno.test("waker: a deadline fires STIP and wakes the cpu, not before its time", async () => {
  const { control, ctl, now, stip } = machine();
  const fired: TimerEvent[] = [];
  const w = new Waker(control, { onFire: (e) => fired.push(e) });
  w.start();
  try {
    const deadline = now() + 30n * MS;
    const wake = Atomics.load(ctl, CTL.WAKE);
    armTimer(ctl, deadline);
    assert.ok(await eventually(stip), "the timer interrupt never came");
    assert.ok(now() >= deadline, "fired before the deadline");
    assert.ok(Atomics.load(ctl, CTL.WAKE) > wake, "the cpu was woken");
    assert.equal(fired.length, 1);
    assert.ok(fired[0].now >= deadline);
    // It stays pending (level) until the guest sets a new timer, and fires once.
    await sleep(30);
    assert.equal(w.stats.fired, 1);
    armTimer(ctl, -1n);
    assert.equal(stip(), false, "set_timer retires the pending interrupt");
  } finally {
    await w.stop();
  }
});

Deno.test("waker: a deadline already past fires at once; none (-1) never fires", async () => {
  const { control, ctl, now, stip } = machine();
  const w = new Waker(control);
  w.start();
  try {
    armTimer(ctl, -1n);
    await sleep(50);
    assert.equal(stip(), false);
    armTimer(ctl, now() - 5n * MS);
    assert.ok(await eventually(stip));
  } finally {
    await w.stop();
  }
});

Deno.test("waker: a moved deadline re-arms (earlier and later)", async () => {
  const { control, ctl, now, stip } = machine();
  const w = new Waker(control);
  w.start();
  try {
    armTimer(ctl, now() + 60_000n * MS); // a minute away
    await sleep(20);
    assert.equal(stip(), false);
    const soon = now() + 20n * MS;
    armTimer(ctl, soon); // moved earlier: must not wait out the minute
    assert.ok(await eventually(stip), "the moved deadline did not fire");
    assert.ok(now() >= soon);
    const later = now() + 40n * MS;
    armTimer(ctl, later);
    assert.equal(stip(), false);
    armTimer(ctl, now() + 60_000n * MS); // and moved away again before it fires
    await sleep(80);
    assert.equal(stip(), false, "a deadline moved away must not fire at its old time");
    assert.equal(w.stats.fired, 1);
  } finally {
    await w.stop();
  }
});

Deno.test("waker: fault hooks drop or postpone an event; skew moves the clock", async () => {
  const { control, ctl, now, stip } = machine();
  const decisions: ("drop" | bigint | undefined)[] = ["drop", 0n, undefined];
  const seen: TimerEvent[] = [];
  const w = new Waker(control, {
    beforeFire: (ev) => {
      seen.push(ev);
      const d = decisions.shift();
      return d === 0n ? ev.now + 30n * MS : d;
    },
  });
  w.start();
  try {
    armTimer(ctl, now());
    assert.ok(await eventually(() => w.stats.dropped === 1));
    await sleep(20);
    assert.equal(stip(), false, "a dropped event raises nothing");

    armTimer(ctl, now());
    assert.ok(await eventually(() => w.stats.postponed === 1));
    assert.equal(stip(), false, "postponed, not yet fired");
    assert.ok(await eventually(stip), "the postponed event never fired");
    assert.ok(now() >= seen[1].now + 30n * MS, "fired no earlier than postponed to");
    assert.equal(seen.length, 2, "the hook is asked once per event");

    // Skew: the guest clock jumps an hour ahead, so a deadline 10 minutes out is due.
    armTimer(ctl, now() + 600_000n * MS);
    new BigInt64Array(control)[CTL64.CLOCK_SKEW / 8] = 36_000_000_000n;
    armTimer(ctl, now() + 600_000n * MS);
    assert.ok(await eventually(stip), "skewed clock did not fire");
    const t = now();
    assert.ok(w.now() >= t + 36_000_000_000n, "the waker's clock includes the skew");
  } finally {
    await w.stop();
  }
});

/** CPU time (ms) this thread has used, from /proc; null where there is none. */
function threadCpuMs(): number | null {
  try {
    const stat = Deno.readTextFileSync("/proc/thread-self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, at 100 ticks/s
  } catch {
    return null;
  }
}

Deno.test("waker: idle costs nothing (no busy loop)", async () => {
  const { control, ctl, now } = machine();
  const w = new Waker(control);
  w.start();
  try {
    armTimer(ctl, now() + 3_600_000n * MS); // an hour away: the waker just sleeps
    await sleep(20);
    const wakeups = w.stats.wakeups;
    const cpu0 = threadCpuMs();
    await sleep(1000);
    const cpu1 = threadCpuMs();
    // A spinning loop would wake thousands of times; a sleeping one not at all.
    assert.ok(w.stats.wakeups - wakeups <= 2, `${w.stats.wakeups - wakeups} wakeups while idle`);
    if (cpu0 !== null && cpu1 !== null) {
      assert.ok(cpu1 - cpu0 <= 200, `idle second used ${cpu1 - cpu0} ms of CPU`);
    }
  } finally {
    await w.stop();
  }
});

Deno.test("waker: stop() returns promptly while the loop sleeps", async () => {
  const { control } = machine();
  const w = new Waker(control);
  const loop = w.start();
  await sleep(5);
  await w.stop();
  await loop;
  assert.equal(w.stats.fired, 0);
});
