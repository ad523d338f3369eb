// actors/cpu/smp.ts on real harts (cpu/hart.ts) sharing one control block, in
// one thread: hart_start hands a stopped hart its start state, an IPI reaches
// the target's sip only when it takes it between batches, a hart that stops
// itself parks until started again, and the last running hart cannot stop.
// The cross-worker paths (remote fences waiting on another worker) run in
// tests/e2e/smp_e2e_test.ts, where Linux uses them at every boot.

import assert from "../../../testing/assert.ts";
import { Hart } from "../../../cpu/hart.ts";
import { HartPeers } from "../../../actors/cpu/smp.ts";
import { SBI_ERR } from "../../../actors/cpu/sbi.ts";
import {
  createControlBlock,
  HART,
  hartWord,
  HSM,
  hsmState,
  openControlBlock,
} from "../../../machine/control.ts";

const RAM_BASE = 0x8000_0000;
const CSR_SIP = 0x144, CSR_SATP = 0x180;

function twoHarts() {
  const ctl = openControlBlock(createControlBlock(2));
  const ram = new SharedArrayBuffer(1 << 20);
  const harts = [0, 1].map((id) => new Hart({ ramBase: RAM_BASE, ram, hartId: id }));
  const peers = harts.map((h, id) => new HartPeers(ctl, id, 2, h, null));
  return { ctl, harts, peers };
}

Deno.test("smp peers: hart_start, IPIs, hart_stop and the last hart", () => {
  const { ctl, harts, peers } = twoHarts();
  assert.equal(hsmState(ctl, 1), HSM.STOPPED);
  assert.equal(peers[0].startHart(0, 0n, 0n), SBI_ERR.ALREADY_AVAILABLE, "itself");
  assert.equal(peers[0].startHart(1, BigInt(RAM_BASE + 0x2000), 0x1234n), SBI_ERR.SUCCESS);
  assert.equal(peers[0].startHart(1, 0n, 0n), SBI_ERR.ALREADY_AVAILABLE, "already starting");
  harts[1].csrWrite(CSR_SATP, (8n << 60n) | 5n); // left over from before: must not survive
  assert.ok(peers[1].waitForStart());
  assert.equal(hsmState(ctl, 1), HSM.STARTED);
  assert.equal(harts[1].pc, BigInt(RAM_BASE + 0x2000));
  assert.equal(harts[1].priv, 1);
  assert.equal(harts[1].x[10], 1n, "a0 = hartid");
  assert.equal(harts[1].x[11], 0x1234n, "a1 = opaque");
  assert.equal(harts[1].csrRead(CSR_SATP), 0n);
  // An IPI waits in the target's word until it takes it between batches.
  peers[0].sendIpi(0b10n);
  assert.equal(harts[1].csrRead(CSR_SIP) & 2n, 0n);
  assert.ok(peers[1].between());
  assert.equal(harts[1].csrRead(CSR_SIP) & 2n, 2n);
  peers[1].sendIpi(0b10n); // to itself: at once
  // hart_stop: hart 1 parks (after its ecall) until hart 0 starts it again.
  assert.equal(peers[1].stopSelf(), SBI_ERR.SUCCESS);
  assert.ok(harts[1].stopRequested);
  assert.equal(peers[1].status(1), HSM.STOP_PENDING);
  assert.equal(peers[0].stopSelf(), SBI_ERR.FAILED, "hart 1 is stopping: hart 0 is the last");
  assert.equal(peers[0].startHart(1, BigInt(RAM_BASE), 7n), SBI_ERR.ALREADY_AVAILABLE);
  // (between() would park it now; here hart 0 starts it first, so it goes on at once.)
  peers[1].stopping = false;
  harts[1].stopRequested = false;
  Atomics.store(ctl, hartWord(1, HART.HSM), HSM.STOPPED);
  assert.equal(peers[0].startHart(1, BigInt(RAM_BASE + 0x40), 7n), SBI_ERR.SUCCESS);
  assert.ok(peers[1].waitForStart());
  assert.equal(harts[1].pc, BigInt(RAM_BASE + 0x40));
  assert.equal(harts[1].x[11], 7n);
});
