// Tests for devices/plic.ts: the state layout is pinned, the register map
// behaves as the PLIC spec says (priorities, threshold, enables, claim order,
// level re-pend on complete), and MEIP/SEIP follow the state in CTL.MIP.

import assert from "../../../testing/assert.ts";
import {
  createPlicState,
  PLIC,
  PLIC_LAYOUT_VERSION,
  PLIC_MAGIC,
  PLIC_REG,
  PLIC_STATE_BYTES,
  PLIC_WORDS,
  PlicGateway,
  PlicRegisters,
} from "../../../devices/plic.ts";
import { PLIC_NDEV } from "../../../machine/memmap.ts";
import {
  createControlBlock,
  CTL,
  MIP,
  mipWord,
  setIrqLine,
  wakeWord,
} from "../../../machine/control.ts";

const M = 0, S = 1; // contexts
const prio = (src: number) => PLIC_REG.PRIORITY + 4 * src;
const enable = (ctx: number) => PLIC_REG.ENABLE + PLIC_REG.ENABLE_STRIDE * ctx;
const threshold = (ctx: number) => PLIC_REG.CONTEXT + PLIC_REG.CONTEXT_STRIDE * ctx;

function machine() {
  const control = createControlBlock();
  const state = createPlicState();
  const ctl = new Int32Array(control);
  const regs = new PlicRegisters(state, control);
  const gw = new PlicGateway(state, control);
  const raise = (src: number) => {
    setIrqLine(ctl, src, 1);
    return gw.updateLines();
  };
  const lower = (src: number) => setIrqLine(ctl, src, 0);
  const mip = () => Atomics.load(ctl, CTL.MIP);
  return { control, state, ctl, regs, gw, raise, lower, mip };
}

Deno.test("plic layout: word indexes, magic and version are pinned", () => {
  assert.equal(PLIC_NDEV, 31);
  assert.equal(PLIC_WORDS, 1);
  assert.deepEqual({ ...PLIC }, {
    MAGIC: 0,
    VERSION: 1,
    PENDING: 2,
    CLAIMED: 3,
    ENABLE: 4,
    THRESHOLD: 20,
    PRIORITY: 36,
  });
  assert.equal(PLIC_STATE_BYTES, (36 + 32) * 4);
  assert.equal(PLIC_MAGIC, 0x504c4943);
  assert.equal(PLIC_LAYOUT_VERSION, 2);
  const s = new Int32Array(createPlicState());
  assert.equal(s[0], PLIC_MAGIC);
  assert.equal(s[1], PLIC_LAYOUT_VERSION);
  assert.throws(
    () => new PlicRegisters(new SharedArrayBuffer(PLIC_STATE_BYTES), createControlBlock()),
    /no PLIC magic/,
  );
  // The line words fit in the control block below the 64-bit slots.
  assert.ok(CTL.LINE0 + PLIC_NDEV < 64);
});

Deno.test("plic registers: widths, masks, unmapped offsets", () => {
  const { regs } = machine();
  regs.write(prio(3), 4, 0xff);
  assert.equal(regs.read(prio(3), 4), 7, "priority is 3 bits");
  assert.equal(regs.read(prio(0), 4), 0, "source 0 has no priority");
  regs.write(prio(0), 4, 5);
  assert.equal(regs.read(prio(0), 4), 0);
  regs.write(enable(S), 4, 0xffff_ffff);
  assert.equal(regs.read(enable(S), 4), 0xffff_fffe, "bit 0 (no source) never enables");
  regs.write(threshold(S), 4, 9);
  assert.equal(regs.read(threshold(S), 4), 1, "threshold is 3 bits");
  assert.equal(regs.read(prio(3), 2), -1, "16-bit access faults");
  assert.equal(regs.read(prio(3) + 1, 4), -1, "misaligned access faults");
  assert.equal(regs.write(prio(3), 1, 1), false);
  assert.equal(regs.read(0x1_0000, 4), 0, "a hole reads 0");
  assert.equal(regs.write(0x1_0000, 4, 7), true, "a hole ignores writes");
  assert.equal(regs.read(threshold(2), 4), 0, "no context 2");
  assert.equal(regs.read(enable(2), 4), 0);
  assert.equal(regs.read(PLIC_REG.PENDING + 4, 4), 0, "no pending word 1");
  assert.throws(
    () => setIrqLine(new Int32Array(createControlBlock()), 0, 1),
    /no interrupt source 0/,
  );
  assert.throws(() => setIrqLine(new Int32Array(createControlBlock()), 32, 1), /source 32/);
});

Deno.test("plic claim: highest priority first, ties to the lowest id, threshold respected", () => {
  const { regs, raise, mip } = machine();
  for (const [src, p] of [[1, 1], [2, 3], [3, 3], [4, 2], [5, 1]]) regs.write(prio(src), 4, p);
  regs.write(enable(S), 4, 0b111110);
  regs.write(threshold(S), 4, 1);
  for (const src of [5, 4, 3, 2, 1]) raise(src);
  assert.equal(regs.read(PLIC_REG.PENDING, 4), 0b111110);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP);
  assert.equal(mip() & MIP.MEIP, 0, "M context has nothing enabled");
  assert.equal(regs.claim(S), 2);
  assert.equal(regs.claim(S), 3);
  assert.equal(regs.claim(S), 4);
  assert.equal(mip() & MIP.SEIP, 0, "priority 1 does not beat threshold 1");
  assert.equal(regs.claim(S), 0, "nothing above the threshold");
  assert.equal(regs.read(PLIC_REG.PENDING, 4), 0b100010, "claimed sources left pending");
  regs.write(threshold(S), 4, 0);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP, "lowering the threshold raises SEIP");
  assert.equal(regs.claim(S), 1);
  assert.equal(regs.claim(S), 5);
  assert.equal(regs.claim(S), 0);
  assert.equal(mip() & MIP.SEIP, 0);
});

Deno.test("plic: priority 0 never interrupts; enables mask per context", () => {
  const { regs, raise, mip } = machine();
  raise(7);
  regs.write(enable(S), 4, 1 << 7);
  assert.equal(mip() & MIP.SEIP, 0, "priority 0 = never");
  regs.write(prio(7), 4, 1);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP);
  assert.equal(mip() & MIP.MEIP, 0);
  regs.write(enable(M), 4, 1 << 7);
  assert.equal(mip() & MIP.MEIP, MIP.MEIP, "both contexts see it");
  regs.write(enable(S), 4, 0);
  assert.equal(mip() & MIP.SEIP, 0, "masked again");
  assert.equal(regs.claim(S), 0, "a masked context claims nothing");
  assert.equal(regs.claim(M), 7);
  assert.equal(mip() & (MIP.MEIP | MIP.SEIP), 0, "claimed: no longer pending anywhere");
});

Deno.test("plic gateway: level-triggered, one request per assertion until complete", () => {
  const { ctl, regs, gw, raise, lower, mip } = machine();
  regs.write(prio(1), 4, 1);
  regs.write(enable(S), 4, 1 << 1);
  const bell = Atomics.load(ctl, CTL.IRQ_DOORBELL);
  const wake = Atomics.load(ctl, CTL.WAKE);
  assert.deepEqual(raise(1), [1]);
  assert.equal(Atomics.load(ctl, CTL.WAKE), wake + 1, "SEIP rising woke the cpu");
  assert.equal(Atomics.load(ctl, CTL.IRQ_DOORBELL), bell + 1, "the doorbell rang");
  setIrqLine(ctl, 1, 1);
  assert.equal(Atomics.load(ctl, CTL.IRQ_DOORBELL), bell + 1, "same level: no ring");
  assert.equal(regs.claim(S), 1);
  assert.equal(mip() & MIP.SEIP, 0, "claimed: SEIP drops");
  assert.equal(Atomics.load(ctl, CTL.WAKE), wake + 1, "a drop wakes nobody");
  assert.deepEqual(gw.updateLines(), [], "in service: the high line does not re-pend");
  assert.equal(regs.claim(S), 0);
  regs.complete(S, 1);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP, "line still high at complete: pending again");
  assert.equal(regs.claim(S), 1);
  lower(1);
  regs.complete(S, 1);
  assert.equal(mip() & MIP.SEIP, 0, "line low at complete: done");
  assert.deepEqual(gw.updateLines(), []);
  assert.deepEqual(raise(1), [1], "a new assertion is a new request");
  assert.equal(regs.claim(S), 1);
  regs.complete(S, 1);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP);
});

Deno.test("plic complete: ignored for a source not in service or not enabled for the context", () => {
  const { regs, raise, lower, mip } = machine();
  regs.write(prio(2), 4, 1);
  regs.write(enable(S), 4, 1 << 2);
  raise(2);
  regs.complete(S, 2); // not claimed yet: ignored
  assert.equal(regs.claim(S), 2);
  regs.complete(M, 2); // M context has it masked: ignored
  raise(2);
  assert.equal(regs.claim(S), 0, "still in service");
  regs.complete(S, 99); // no such source
  regs.complete(S, 2);
  assert.equal(mip() & MIP.SEIP, MIP.SEIP, "completed with the line high: re-pended");
  assert.equal(regs.claim(S), 2);
  lower(2);
  regs.complete(S, 2);
  assert.equal(mip() & MIP.SEIP, 0);
});

Deno.test("plic gateway loop: a raised line becomes SEIP without a manual update", async () => {
  const { ctl, regs, gw, mip } = machine();
  regs.write(prio(4), 4, 1);
  regs.write(enable(S), 4, 1 << 4);
  const seen: number[][] = [];
  const loop = gw.start((s) => seen.push(s));
  setIrqLine(ctl, 4, 1);
  for (let i = 0; i < 200 && !(mip() & MIP.SEIP); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(mip() & MIP.SEIP, MIP.SEIP);
  assert.deepEqual(seen, [[4]]);
  await gw.stop();
  await loop;
});

Deno.test("plic: with two harts, contexts 2 and 3 drive hart 1's MEIP/SEIP, and each hart claims its own", () => {
  const control = createControlBlock(2);
  const state = createPlicState();
  const ctl = new Int32Array(control);
  const regs = new PlicRegisters(state, control);
  const gw = new PlicGateway(state, control);
  const claim = (ctx: number) => PLIC_REG.CONTEXT + PLIC_REG.CONTEXT_STRIDE * ctx + 4;
  regs.write(prio(1), 4, 1);
  regs.write(prio(2), 4, 1);
  regs.write(enable(1), 4, 1 << 1); // source 1: hart 0 S-mode
  regs.write(enable(3), 4, 1 << 2); // source 2: hart 1 S-mode
  const wake1 = Atomics.load(ctl, wakeWord(1));
  setIrqLine(ctl, 2, 1);
  gw.updateLines();
  assert.equal(Atomics.load(ctl, mipWord(1)), MIP.SEIP, "hart 1's S external line");
  assert.equal(Atomics.load(ctl, CTL.MIP), 0, "hart 0 sees nothing");
  assert.ok(Atomics.load(ctl, wakeWord(1)) > wake1, "hart 1 was woken");
  assert.equal(regs.read(claim(1), 4), 0, "hart 0's context has nothing to claim");
  assert.equal(regs.read(claim(3), 4), 2);
  assert.equal(Atomics.load(ctl, mipWord(1)), 0, "claimed: the line drops");
  setIrqLine(ctl, 1, 1);
  gw.updateLines();
  assert.equal(Atomics.load(ctl, CTL.MIP), MIP.SEIP);
  assert.equal(Atomics.load(ctl, mipWord(1)), 0);
  setIrqLine(ctl, 2, 0);
  regs.write(claim(3), 4, 2); // complete on hart 1 (its line is low now: nothing re-pends)
  regs.write(enable(2), 4, 1 << 1); // hart 1 M-mode also takes source 1: MEIP there
  assert.equal(Atomics.load(ctl, mipWord(1)), MIP.MEIP);
});
