// One hart among several (--smp=N, docs/smp.md): what a cpu actor does for its
// peers and they for it, all through the control block's per-hart words
// (machine/control.ts HART), since no hart ever returns to its event loop
// while the guest runs. SBI HSM starts and stops harts (a stopped hart parks
// in `waitForStart`, asleep on its wake word); SBI IPIs set a bit in the
// target's IPI word and wake it; a remote fence sets bits in the target's
// FENCE word, bumps its request count and waits until the target has served
// it, serving its own fences meanwhile so that two harts fencing each other
// cannot deadlock. Each hart takes what was sent to it between instruction
// batches (`between`) and when it wakes. A secondary hart also keeps its own
// SBI timer (hart 0's is the waker's): its wfi sleeps no longer than that
// deadline or its stimecmp.
// Read next: actors/cpu/sbi.ts (the calls that lead here), cpu/jit/tier.ts (per-hart regions).

import type { Hart } from "../../cpu/hart.ts";
import {
  beatWord,
  CTL,
  CTL64,
  FATE,
  FENCE,
  fencesDone,
  fenceServed,
  guestTimeTicks,
  HART,
  hartWord,
  HSM,
  hsmState,
  idleWord,
  lowerHartMip,
  MIP,
  raiseHartMip,
  requestFence,
  sendIpi,
  setHsmState,
  startArgs,
  startHart,
  takeFences,
  takeIpis,
  wakeWord,
} from "../../machine/control.ts";
import { TICKS_PER_MS } from "../../machine/memmap.ts";
import { SBI_ERR } from "./sbi.ts";
import { hartStopIndex, type Jit } from "../../cpu/jit/tier.ts";
import type { IpiDelay } from "../../faults/layers/ipi.ts";
import { setupDirectBoot } from "./cpu_actor.ts";

const CSR_SATP = 0x180;
const CSR_SSTATUS = 0x100;
const CSR_TIME = 0xc01;
const SSTATUS_SIE = 2n;
/** How long a parked or fencing hart sleeps between looks at its words (ms). */
const PARK_WAIT_MS = 50;
/**
 * How long a remote fence waits for a target that does not answer before the
 * asking hart's actor fails with that reason (a hart in a batch answers within
 * ~1 ms, one in wfi at once): never a silent hang.
 */
const FENCE_LIMIT_MS = 30_000;

/** The cpu actor's side of a machine with several harts. */
export class HartPeers {
  /** Set by hart_stop during an ecall: the hart parks when the ecall returns. */
  stopping = false;
  /** This secondary's SBI set_timer deadline in ticks (-1n: none); hart 0's is the waker's. */
  private deadline = -1n;
  private readonly ctl64: BigInt64Array;
  /** IPIs a fault plan holds back: [due, in performance.now() ms; target hart]. */
  private readonly held: [number, number][] = [];

  constructor(
    private readonly ctl: Int32Array,
    private readonly me: number,
    private readonly harts: number,
    private readonly hart: Hart,
    private readonly jit: Jit | null,
    /** The "ipi" fault layer's hook (faults/layers/ipi.ts), with --faults. */
    private readonly ipiDelay?: IpiDelay,
  ) {
    this.ctl64 = new BigInt64Array(ctl.buffer);
    this.jitStop = jit !== null ? new Int32Array(jit.mem.buffer) : null;
  }

  /** The translators' memory, where each hart's stop word is (null: no translator). */
  private readonly jitStop: Int32Array | null;

  /** Guest time in ticks, as the hart's `time` CSR reads it (the shared epoch, skew included). */
  private now(): bigint {
    const skew = Atomics.load(this.ctl64, CTL64.CLOCK_SKEW / 8);
    return BigInt(guestTimeTicks(this.ctl.buffer as SharedArrayBuffer)) + skew;
  }

  private ended(): boolean {
    return Atomics.load(this.ctl, CTL.STOP) !== 0 ||
      Atomics.load(this.ctl, CTL.FATE) !== FATE.RUNNING;
  }

  /**
   * Between two batches: park if the hart stopped itself, then take the IPIs
   * and fences sent to it and raise a due timer. False: do not run a batch
   * now (the machine is stopping; the caller's loop looks at CTL.STOP).
   */
  between(): boolean {
    if (this.stopping) {
      this.stopping = false;
      this.hart.stopRequested = false;
      setHsmState(this.ctl, this.me, HSM.STOPPED);
      if (!this.waitForStart()) return false;
    }
    if (this.held.length > 0) this.deliverHeld();
    this.takeIpisNow();
    this.serveFences();
    if (this.deadline >= 0n && this.now() >= this.deadline) {
      this.deadline = -1n;
      raiseHartMip(this.ctl, this.me, MIP.STIP, false);
    }
    return true;
  }

  /**
   * A stopped hart waits for hart_start, serving fences meanwhile. Then it
   * starts as SBI HSM says: S-mode at start_addr, a0 = its id, a1 = opaque,
   * satp 0, sstatus.SIE 0, nothing cached from before. False if the machine
   * stopped first.
   */
  waitForStart(): boolean {
    const ctl = this.ctl, wake = wakeWord(this.me), idle = idleWord(this.me);
    const state = hartWord(this.me, HART.HSM);
    for (;;) {
      if (this.ended()) return false;
      this.serveFences();
      takeIpis(ctl, this.me); // an IPI to a stopped hart is lost, as on hardware
      if (Atomics.load(ctl, state) === HSM.START_PENDING) break;
      const seen = Atomics.load(ctl, wake);
      if (Atomics.load(ctl, state) === HSM.START_PENDING) break;
      Atomics.store(ctl, idle, 1);
      Atomics.wait(ctl, wake, seen, PARK_WAIT_MS);
      Atomics.store(ctl, idle, 0);
    }
    const { addr, opaque } = startArgs(ctl, this.me);
    const h = this.hart;
    setupDirectBoot(h, { entry: Number(BigInt.asIntN(64, addr)), hartId: this.me, fdtAddr: 0 });
    h.x[11] = BigInt.asIntN(64, opaque);
    h.csrWrite(CSR_SATP, 0n);
    h.csrWrite(CSR_SSTATUS, h.csrRead(CSR_SSTATUS) & ~SSTATUS_SIE);
    h.resValid = false;
    h.flushTlb();
    this.jit?.flush();
    this.deadline = -1n;
    lowerHartMip(ctl, this.me, MIP.STIP);
    setHsmState(ctl, this.me, HSM.STARTED);
    return true;
  }

  /** Do the fences asked of this hart and tell the askers. */
  private serveFences(): void {
    const { bits, req } = takeFences(this.ctl, this.me);
    if (req === 0 && bits === 0) return;
    if (bits & FENCE.VMA) this.hart.flushTlb();
    if (bits & FENCE.I) this.jit?.flush();
    fencesDone(this.ctl, this.me, req);
  }

  // --- The SBI host's multi-hart calls (actors/cpu/sbi.ts SbiHost) ---

  /** SBI IPI to the harts in `mask`: this one's own bit directly, the others' through their words. */
  sendIpi(mask: bigint): void {
    for (let h = 0; h < this.harts; h++) {
      if (((mask >> BigInt(h)) & 1n) === 0n) continue;
      if (h === this.me) this.hart.setMipSoftware(MIP.SSIP, true);
      else {
        const ms = this.ipiDelay?.(this.me, h) ?? 0;
        if (ms > 0) this.held.push([performance.now() + ms, h]);
        else this.ipi(h);
      }
    }
  }

  /**
   * Take the IPIs sent to this hart into mip now, not only between batches:
   * the hart's interrupt check calls this (Hart.pollInterrupts), so an IPI is
   * taken the moment the guest enables interrupts.
   */
  takeIpisNow(): void {
    const ipis = takeIpis(this.ctl, this.me);
    if (ipis !== 0) this.hart.setMipSoftware(ipis & MIP.SSIP, true);
  }

  /** Send the held IPIs that are due. */
  private deliverHeld(): void {
    const now = performance.now();
    for (let i = this.held.length - 1; i >= 0; i--) {
      if (this.held[i][0] > now) continue;
      this.ipi(this.held[i][1]);
      this.held.splice(i, 1);
    }
  }

  /**
   * An IPI to hart h: the bit in its IPI word, a wake-up, and its translator's
   * stop word, so that it leaves its batch at the next dispatch and takes the
   * IPI into mip then, not up to a batch (40,000 instructions) later. Linux
   * relies on an IPI sent long before being taken the moment the target
   * enables interrupts: a 6.12 CPU offline deadlocked when hart 0 re-enabled
   * and re-disabled them inside one batch without seeing the dying hart's
   * IPI, then spun on a lock the dying hart held while it waited for that
   * IPI to be served (docs/smp.md, "IPIs are seen at once").
   */
  private ipi(h: number): void {
    sendIpi(this.ctl, h);
    this.kick(h);
  }

  /** Make hart h leave translated code at its next dispatch (its batch ends there). */
  private kick(h: number): void {
    if (this.jitStop !== null) Atomics.store(this.jitStop, hartStopIndex(this.jit!.mem, h), 1);
  }

  /** HSM hart_start: an SBI_ERR value. */
  startHart(h: number, addr: bigint, opaque: bigint): number {
    if (h === this.me) return SBI_ERR.ALREADY_AVAILABLE;
    return startHart(this.ctl, h, addr, opaque) ? SBI_ERR.SUCCESS : SBI_ERR.ALREADY_AVAILABLE;
  }

  /** HSM hart_stop of this hart: it parks after the ecall, unless it is the last one running. */
  stopSelf(): number {
    let others = 0;
    for (let h = 0; h < this.harts; h++) {
      const st = hsmState(this.ctl, h);
      if (h !== this.me && st !== HSM.STOPPED && st !== HSM.STOP_PENDING) others++;
    }
    if (others === 0) return SBI_ERR.FAILED;
    setHsmState(this.ctl, this.me, HSM.STOP_PENDING);
    this.stopping = true;
    this.hart.stopRequested = true;
    return SBI_ERR.SUCCESS;
  }

  /** HSM hart_get_status. */
  status(h: number): number {
    return hsmState(this.ctl, h);
  }

  /**
   * RFENCE: do it here if asked, ask every other running target, and return
   * once all have done it (serving our own fences while we wait). A stopped
   * hart is skipped: it drops everything when it starts.
   */
  remoteFence(mask: bigint, fenceI: boolean): void {
    const bits = fenceI ? FENCE.I : FENCE.VMA;
    const waiting: [number, number][] = [];
    for (let h = 0; h < this.harts; h++) {
      if (((mask >> BigInt(h)) & 1n) === 0n) continue;
      if (h === this.me) {
        if (fenceI) this.jit?.flush();
        else this.hart.flushTlb();
      } else if (hsmState(this.ctl, h) !== HSM.STOPPED) {
        waiting.push([h, requestFence(this.ctl, h, bits)]);
        this.kick(h); // served between batches: end the target's batch now
      }
    }
    const since = performance.now();
    while (waiting.length > 0) {
      const [h, ticket] = waiting[waiting.length - 1];
      if (fenceServed(this.ctl, h, ticket) || hsmState(this.ctl, h) === HSM.STOPPED) {
        waiting.pop();
        continue;
      }
      if (this.ended()) return;
      // Waiting on a peer is progress, not a hang: keep the heartbeat going (the
      // watchdog watches hart 0), up to the limit.
      Atomics.add(this.ctl, beatWord(this.me), 1);
      if (performance.now() - since > FENCE_LIMIT_MS) {
        throw new Error(
          `hart ${h} did not answer hart ${this.me}'s remote ${
            fenceI ? "fence.i" : "sfence.vma"
          } ` +
            `in ${FENCE_LIMIT_MS / 1000} s (its HSM state is ${hsmState(this.ctl, h)})`,
        );
      }
      this.serveFences();
      const done = hartWord(h, HART.FENCE_DONE);
      Atomics.wait(this.ctl, done, Atomics.load(this.ctl, done), 1);
    }
  }

  /** A secondary's SBI set_timer: the deadline it raises STIP at (-1n: none). */
  setTimer(deadline: bigint): void {
    lowerHartMip(this.ctl, this.me, MIP.STIP);
    this.deadline = deadline;
  }

  /**
   * How long this hart's wfi may sleep: until an IPI it holds back is due,
   * and for a secondary until its SBI timer or its stimecmp (hart 0's timer
   * is the waker's).
   */
  wfiWaitMs(): number | undefined {
    let held: number | undefined;
    for (const [due] of this.held) {
      const ms = Math.max(0, due - performance.now());
      held = held === undefined ? ms : Math.min(held, ms);
    }
    const timer = this.me === 0 ? undefined : this.timerWaitMs();
    if (held === undefined) return timer;
    return timer === undefined ? held : Math.min(held, timer);
  }

  private timerWaitMs(): number | undefined {
    let due = this.deadline >= 0n ? this.deadline : -1n;
    const h = this.hart;
    if (h.sstcEnabled && h.stimecmp < 1n << 63n && (due < 0n || h.stimecmp < due)) {
      due = h.stimecmp;
    }
    if (due < 0n) return undefined;
    const ticks = due - h.csrRead(CSR_TIME);
    return ticks <= 0n ? 0 : Number(ticks) / TICKS_PER_MS;
  }
}
