// The launcher's panic policy (launcher/fate.ts): the cpu is told to stop on
// the end of a panic report only when Linux would spin (panic=0, its
// default), and an hvc0 panic ends the run PANIC_GRACE_MS later, once.
// Read next: launcher/fate.ts, tests/e2e/robustness_panic_test.ts (the same, end to end).

import assert from "../../../testing/assert.ts";
import { FATE } from "../../../machine/control.ts";
import {
  exitCodeFor,
  type MachineOutcome,
  PANIC_END,
  PANIC_GRACE_MS,
  PANIC_LINE,
  PanicPolicy,
} from "../../../launcher/fate.ts";

Deno.test("fate: the cpu stops on the end of a panic only when Linux would spin (panic=0)", () => {
  const end = () => assert.fail("no run ends here");
  assert.deepEqual(new PanicPolicy("console=hvc0", end).cpuStopOn?.text, PANIC_END);
  assert.match(new PanicPolicy("", end).cpuStopOn!.reason, /panicked \(on the \{where\}/);
  assert.equal(new PanicPolicy("console=hvc0 panic=-1", end).cpuStopOn, undefined);
  assert.equal(new PanicPolicy("panic=10", end).cpuStopOn, undefined);
});

Deno.test("fate: a panic on hvc0 ends the run once, after the grace, only with panic=0", async () => {
  const ctl = new Int32Array(64);
  const ended: MachineOutcome[] = [];
  const spins = new PanicPolicy("console=hvc0", (o) => ended.push(o));
  const reboots = new PanicPolicy("panic=-1", (o) => ended.push(o));
  for (const p of [spins, reboots]) {
    p.seen("actorvm-guest: ready", ctl);
    p.seen(PANIC_LINE, ctl);
    p.seen(PANIC_LINE, ctl);
  }
  await new Promise((r) => setTimeout(r, PANIC_GRACE_MS + 200));
  spins.dispose();
  reboots.dispose();
  assert.equal(ended.length, 1);
  assert.equal(ended[0].fate, FATE.CRASHED);
  assert.equal(ended[0].exitCode, exitCodeFor(FATE.CRASHED));
  assert.match(ended[0].reason, /the guest kernel panicked \(boot it with panic=-1/);
});
