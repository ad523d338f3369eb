// The cpu's side of deterministic mode (--deterministic, --record, --replay;
// docs/replay.md). Everything that reaches the guest from outside the hart
// becomes visible only at instruction counts the hart chooses:
//   - guest time is made of instructions (INSTRUCTIONS_PER_TICK each tick),
//     plus the instructions "skipped" while the hart waits in wfi — never the
//     wall clock; the timer deadline is reached by counting, not by the waker;
//   - a device acts only inside a pass the cpu waits for: every doorbell the
//     hart rings (a register write) is followed by a wait until the device
//     has served it (VS.SERVED_SEQ) and the interrupt controller has seen the
//     line (CTL.IRQ_SERVED), so a completion and its interrupt land at the
//     instruction that asked for them;
//   - console input and received frames are put into the device's ring by
//     the cpu at a batch boundary (taken from the terminal or the network's
//     backend and logged, or read from the log).
// Batch boundaries are at absolute multiples of the quantum, at timer
// deadlines, at the interrupt controller's timed actions and at logged
// events, so a recording and its replay cut the run at the same counts.
// Read next: machine/replay_log.ts (the log), devices/virtio/mmio.ts (SERVED_SEQ).

import type { Hart } from "../../cpu/hart.ts";
import type { MmioTransport } from "../../devices/virtio/mmio.ts";
import { ByteRingReader, ByteRingWriter } from "../../lib/ring.ts";
import { FRAME_SLOT_BYTES, readFrame, writeFrame } from "../../devices/net/frame_ring.ts";
import {
  cpuBeat,
  CTL,
  CTL64,
  FATE,
  publishVirtualTicks,
  ringIrqDoorbell,
  waitIrqServed,
} from "../../machine/control.ts";
import {
  type CheckEvent,
  describeEvent,
  formatEvent,
  INSTRUCTIONS_PER_TICK,
  parseInputScript,
  parseReplayLog,
  type ReplayEvent,
  type ReplayHeader,
  type ReplayLog,
  sameCheck,
  toBase64,
} from "../../machine/replay_log.ts";

/** What the launcher hands the cpu for deterministic mode (CpuConfig.deterministic). */
export interface DeterministicConfig {
  /** plain: --deterministic; record: --record; replay: --replay. */
  mode: "plain" | "record" | "replay";
  /** record: where the log goes (the header first). */
  logPath?: string;
  header?: ReplayHeader;
  /** replay: the log's text (checked by the launcher); plain: an input script's, if any. */
  logText?: string;
  /** The log's or script's name, for messages. */
  logName?: string;
  /**
   * --snapshot-at: the cpu halts for a snapshot at the first batch boundary
   * where this many instructions have retired. Not a boundary of its own: an
   * extra cut would move the batches' starts, which the log's notify checks
   * name, so a run with it would not replay a log made without.
   */
  snapshotAt?: number;
}

/** What a snapshot keeps of deterministic mode (structured-cloneable). */
export interface DeterministicState {
  /** Instructions skipped in wfi so far (guest time = instret + idle). */
  idle: number;
  /** The SBI timer deadline, as a decimal string (-1: none). */
  sbiDeadline: string;
  /** The clock's skew (CTL64.CLOCK_SKEW, ticks, decimal): the `time` CSR is guest time / 10 + skew. */
  skew: string;
}

/** Instructions a batch runs at most: boundaries at multiples of it (~1 ms). */
export const DET_QUANTUM = 40_000;
/** How long the cpu waits for a device or the interrupt controller before it gives up. */
const SERVE_TIMEOUT_MS = 30_000;
/** Guest instructions per ms of wall clock while a recording waits in wfi (10 ns each). */
const INSTRUCTIONS_PER_MS = 100_000;
/** The most bytes one input event carries. */
const INPUT_CHUNK = 4096;

export class DeterministicCpu {
  readonly mode: DeterministicConfig["mode"];
  /** --snapshot-at's instruction count, until the cpu has halted there (then -1). */
  snapshotAt: number;
  /** Instructions skipped while the hart waited in wfi: guest time = instret + idle. */
  idle = 0;
  /** An SBI set_timer deadline (ticks) not yet reached, or -1 (Sstc's stimecmp is the hart's). */
  sbiDeadline = -1n;
  /** Set when a replay diverged or a device did not answer: the reason the run stops. */
  failure: string | null = null;
  /**
   * Whether the control socket wants the hart halted (a pause, a snapshot):
   * a recording's wall-clock wait in wfi ends early for it, and logs how far
   * guest time went, so the replay skips as far.
   */
  haltRequested: () => boolean = () => false;

  readonly #hart: Hart;
  readonly #ctl: Int32Array;
  readonly #skew: BigInt64Array;
  readonly #irqDue: Float64Array;
  readonly #slots: (MmioTransport | null)[];
  readonly #consoleSlot: number;
  readonly #terminal: ByteRingReader | null;
  readonly #console: ByteRingWriter;
  /** Each network: its slot, the frames its backend received (live input), the ring to its device. */
  readonly #nets: { slot: number; fromHost: ByteRingReader | null; toGuest: ByteRingWriter }[];
  readonly #chunk = new Uint8Array(INPUT_CHUNK);
  readonly #inputs: ReplayLog["inputs"];
  #nextInput = 0;
  readonly #checks: ReplayLog["checks"];
  #nextCheck = 0;
  /** replay: the run stopped where the recording was stopped (not by this run's launcher). */
  #stoppedAsRecorded = false;
  /** record: lines not yet written, and the file. */
  #lines: string[] = [];
  readonly #logPath: string | null;
  readonly #logName: string;

  constructor(opts: {
    hart: Hart;
    control: SharedArrayBuffer;
    slots: (MmioTransport | null)[];
    consoleSlot: number;
    /** The terminal's byte ring (absent in replay, and with a script). */
    terminal?: SharedArrayBuffer;
    /** The console's input ring: the cpu is its only writer. */
    consoleInput: SharedArrayBuffer;
    /** Each network's slot and frame rings (devices/net/frame_ring.ts). */
    nets?: { slot: number; fromHost: SharedArrayBuffer; toGuest: SharedArrayBuffer }[];
    config: DeterministicConfig;
  }) {
    const c = opts.config;
    this.mode = c.mode;
    this.snapshotAt = c.snapshotAt ?? -1;
    this.#hart = opts.hart;
    this.#ctl = new Int32Array(opts.control);
    this.#skew = new BigInt64Array(opts.control, CTL64.CLOCK_SKEW, 1);
    this.#irqDue = new Float64Array(opts.control, CTL64.IRQ_DUE, 1);
    this.#slots = opts.slots;
    this.#consoleSlot = opts.consoleSlot;
    this.#console = new ByteRingWriter(opts.consoleInput);
    this.#logName = c.logName ?? "the log";
    let inputs: ReplayLog["inputs"] = [];
    let checks: ReplayLog["checks"] = [];
    if (c.mode === "replay") {
      const log = parseReplayLog(c.logText ?? "", this.#logName);
      inputs = log.inputs;
      checks = log.checks;
    } else if (c.logText !== undefined) {
      inputs = parseInputScript(c.logText, this.#logName);
    }
    this.#inputs = inputs;
    this.#checks = checks;
    // Live input from the terminal only when no log or script supplies it.
    const live = c.mode !== "replay" && c.logText === undefined;
    this.#terminal = opts.terminal && live ? new ByteRingReader(opts.terminal) : null;
    // Received frames are read live unless a log or script supplies them
    // (in a replay the backend's frames pile up unread, and are dropped).
    this.#nets = (opts.nets ?? []).map((n) => ({
      slot: n.slot,
      fromHost: live ? new ByteRingReader(n.fromHost) : null,
      toGuest: new ByteRingWriter(n.toGuest),
    }));
    this.#logPath = c.mode === "record" ? c.logPath ?? null : null;
    if (this.#logPath !== null && c.header) {
      Deno.writeTextFileSync(this.#logPath, formatEvent(c.header) + "\n");
    }
  }

  /**
   * The hook for snapshots (issue 17): what deterministic mode keeps beside
   * the hart. At a batch boundary every device and the interrupt controller
   * have served everything (the cpu waited for them), so a snapshot taken
   * there holds no request in flight; saving this with the hart and setting
   * it back with restoreState() before the first batch lets a recording or a
   * replay start from the snapshot (its header's `snapshot` names which).
   */
  snapshotState(): DeterministicState {
    return {
      idle: this.idle,
      sbiDeadline: this.sbiDeadline.toString(),
      skew: Atomics.load(this.#skew, 0).toString(),
    };
  }

  /**
   * Before the first batch of a run restored from a deterministic snapshot:
   * the mode's state as it was, the clock's skew with it (so `time` goes on
   * from the same instruction count, not from the host's clock), and then
   * every device made to finish its first pass. A restored device starts as
   * a restarted one (devices/virtio/device.ts): its first pass raises a
   * spurious interrupt on each queue it resumes, and that must land before
   * the hart runs, in every run, not whenever its worker gets there.
   */
  restoreState(s: DeterministicState): void {
    this.idle = s.idle;
    this.sbiDeadline = BigInt(s.sbiDeadline);
    Atomics.store(this.#skew, 0, BigInt(s.skew));
    publishVirtualTicks(this.#ctl, Math.floor(this.icount() / INSTRUCTIONS_PER_TICK));
    for (const [slot, t] of this.#slots.entries()) {
      if (t === null) continue;
      t.kick();
      this.#waitServed(slot);
    }
    this.settleIrq();
  }

  /** --snapshot-at: the count is reached or passed, at this batch boundary (true once). */
  atSnapshotPoint(): boolean {
    if (this.snapshotAt < 0 || this.#hart.instretN < this.snapshotAt) return false;
    this.snapshotAt = -1;
    return true;
  }

  /** Publish guest time now (the cpu halts between batches: a snapshot reads it). */
  publishTime(): void {
    publishVirtualTicks(this.#ctl, Math.floor(this.icount() / INSTRUCTIONS_PER_TICK));
  }

  /** Guest time so far as an instruction count: retired plus skipped in wfi. */
  icount(): number {
    return this.#hart.instretN + this.idle;
  }

  /** The `time` CSR, `n` instructions into a translated call (cpu/jit/tier.ts passes it). */
  readTime(n = 0): bigint {
    const t = Math.floor((this.#hart.instretN + n + this.idle) / INSTRUCTIONS_PER_TICK);
    return BigInt(t) + Atomics.load(this.#skew, 0);
  }

  /** The instruction count at which guest time reaches the nearest timer deadline (Infinity: none). */
  #timerAt(): number {
    const h = this.#hart;
    const skew = Atomics.load(this.#skew, 0);
    let at = Infinity;
    if (h.sstcEnabled && h.stimecmp < 1n << 63n) {
      at = Number(h.stimecmp - skew) * INSTRUCTIONS_PER_TICK;
    }
    if (this.sbiDeadline >= 0n) {
      at = Math.min(at, Number(this.sbiDeadline - skew) * INSTRUCTIONS_PER_TICK);
    }
    return at;
  }

  /** The next count something is due at: a timer, the irq actor's timed action, a logged event. */
  #nextDue(): number {
    let at = this.#timerAt();
    const irq = this.#irqDue[0];
    if (irq !== Infinity) at = Math.min(at, Math.ceil(irq * INSTRUCTIONS_PER_TICK));
    if (this.#nextInput < this.#inputs.length) {
      at = Math.min(at, this.#inputs[this.#nextInput].ev.at);
    }
    const end = this.#expectedEnd();
    if (end !== null) at = Math.min(at, end);
    return at;
  }

  /** replay: the count a recording stopped at (three ^C, a signal), if that is next. */
  #expectedEnd(): number | null {
    const c = this.#checks[this.#nextCheck];
    return c && c.ev.k === "end" && c.ev.fate === FATE.STOPPED ? c.ev.at : null;
  }

  /** How many instructions the next batch may run (>= 1): to the next boundary. */
  budget(max: number): number {
    const now = this.icount();
    let to = (Math.floor(now / DET_QUANTUM) + 1) * DET_QUANTUM;
    const due = this.#nextDue();
    if (due > now && due < to) to = due;
    return Math.max(1, Math.min(max, to - now));
  }

  /**
   * At a batch boundary: publish guest time, serve what is due (the irq
   * actor's timed action, an SBI timer, logged or typed input). Returns
   * false when the run must stop here (a divergence, a recorded stop).
   */
  beforeBatch(): boolean {
    const now = this.icount();
    publishVirtualTicks(this.#ctl, Math.floor(now / INSTRUCTIONS_PER_TICK));
    if (this.#irqDue[0] * INSTRUCTIONS_PER_TICK <= now) {
      ringIrqDoorbell(this.#ctl);
      this.settleIrq();
    }
    if (this.sbiDeadline >= 0n && this.readTime() >= this.sbiDeadline) {
      this.sbiDeadline = -1n;
      this.#hart.setMipSoftware(1 << 5, true); // STIP, as the waker raises it
    }
    while (this.#nextInput < this.#inputs.length) {
      const x = this.#inputs[this.#nextInput];
      if (x.ev.at > now) break;
      if (x.ev.at < now) {
        return this.#diverged(
          `${this.#logName}, line ${x.line}: ${describeEvent(x.ev)}, ` +
            `but the run went from before it to ${now} without a boundary there`,
        );
      }
      this.#nextInput++;
      const ok = x.ev.k === "net" ? this.#deliverFrame(x.ev.s!, x.bytes) : this.#deliver(x.bytes);
      if (!ok) {
        return this.#diverged(
          `${this.#logName}, line ${x.line}: ${describeEvent(x.ev)}, but ` +
            (x.ev.k === "net" ? "no network in that slot had" : "the console had no") +
            " room for it",
        );
      }
    }
    if (this.#terminal !== null) this.#takeTyped(now);
    this.#takeFrames(now);
    const end = this.#expectedEnd();
    if (end !== null && end === now) {
      this.#stoppedAsRecorded = true;
      return false; // the recording was stopped here
    }
    return this.failure === null;
  }

  /** record and plain: move what was typed into the console's ring, logged at `now`. */
  #takeTyped(now: number): void {
    const t = this.#terminal!;
    while (t.available > 0 && this.failure === null) {
      const room = Math.min(this.#console.free, this.#chunk.length);
      if (room === 0) return;
      const n = t.read(this.#chunk.subarray(0, room));
      if (n === 0) return;
      const bytes = this.#chunk.subarray(0, n);
      this.#record({ k: "in", at: now, b: toBase64(bytes) });
      this.#deliver(bytes);
    }
  }

  /** record and plain: hand each frame the networks received to its device, logged at `now`. */
  #takeFrames(now: number): void {
    for (const n of this.#nets) {
      while (n.fromHost !== null && this.failure === null && n.toGuest.free >= FRAME_SLOT_BYTES) {
        const f = readFrame(n.fromHost);
        if (f === null) break;
        this.#record({ k: "net", at: now, s: n.slot, b: toBase64(f) });
        this.#deliverFrame(n.slot, f);
      }
    }
  }

  /** Put a frame in network `slot`'s ring and wait until its device has taken it. */
  #deliverFrame(slot: number, frame: Uint8Array): boolean {
    const n = this.#nets.find((x) => x.slot === slot);
    if (n === undefined || !writeFrame(n.toGuest, frame)) return false;
    this.#slots[slot]?.kick();
    this.#waitServed(slot);
    return true;
  }

  /** Whether typed bytes or received frames are waiting to be taken (record and plain). */
  #liveInput(): boolean {
    if (this.#terminal !== null && this.#terminal.available > 0) return true;
    return this.#nets.some((n) => n.fromHost !== null && n.fromHost.available > 0);
  }

  /** Put input in the console's ring and wait until the console has taken what it can. */
  #deliver(bytes: Uint8Array): boolean {
    if (this.#console.write(bytes) !== bytes.length) return false;
    const t = this.#slots[this.#consoleSlot];
    if (t) {
      t.kick();
      this.#waitServed(this.#consoleSlot);
    }
    return true;
  }

  /**
   * After the hart wrote a virtio register of `slot`: if that rang the
   * doorbell (`seqBefore` moved), wait until the device served it; then until
   * the interrupt controller saw every line change. A queue notify is a check
   * event.
   */
  afterVirtioWrite(slot: number, offset: number, value: number, seqBefore: number): void {
    const t = this.#slots[slot];
    if (t !== null && t.doorbellSeq() !== seqBefore) {
      if (offset === 0x50) this.#check({ k: "io", at: this.icount(), s: slot, q: value >>> 0 });
      this.#waitServed(slot);
    }
    // An InterruptACK lowers the line without ringing the device: the irq
    // actor must see that too before the hart goes on (a fault plan's held
    // assertion ends when its line falls).
    this.settleIrq();
  }

  #waitServed(slot: number): void {
    const t = this.#slots[slot]!;
    for (let waited = 0; !t.waitServed(1000); waited += 1000) {
      cpuBeat(this.#ctl); // waiting for a device is progress, not a hang
      if (Atomics.load(this.#ctl, CTL.STOP) !== 0) return;
      if (waited >= SERVE_TIMEOUT_MS) {
        this.#fail(
          `deterministic mode: the device in virtio slot ${slot} did not serve its ` +
            `doorbell within ${SERVE_TIMEOUT_MS / 1000} s`,
        );
        return;
      }
    }
    this.settleIrq();
  }

  /** Wait until the interrupt controller has served every line change so far. */
  settleIrq(): void {
    for (let waited = 0; !waitIrqServed(this.#ctl, 1000); waited += 1000) {
      cpuBeat(this.#ctl);
      if (Atomics.load(this.#ctl, CTL.STOP) !== 0) return;
      if (waited >= SERVE_TIMEOUT_MS) {
        this.#fail(
          `deterministic mode: the interrupt controller did not answer within ` +
            `${SERVE_TIMEOUT_MS / 1000} s`,
        );
        return;
      }
    }
  }

  /**
   * The hart waits in wfi with nothing pending: move guest time on. Plain:
   * to the next deadline at once (with none, wait for typed input). Record:
   * wait on the wall clock up to the deadline or until input is typed, and
   * log how far time went. Replay: as far as the log says. Returns false
   * when the run must stop (a divergence, the launcher's stop, a guest that
   * can never wake).
   */
  onWfi(): boolean {
    const now = this.icount();
    // Only what is still to come can wake the hart: a deadline already passed
    // whose interrupt is masked wakes nothing.
    const next = this.#nextDue();
    const due = next > now ? next : Infinity;
    let to = now;
    if (this.mode === "replay") {
      const c = this.#checks[this.#nextCheck];
      if (c && c.ev.k === "wfi" && c.ev.at === now) to = c.ev.to;
      else if (due !== Infinity) to = due; // #check below names the difference
    } else if (this.mode === "record") {
      to = this.#waitTyped(now, due);
    } else if (due !== Infinity) {
      to = due;
    } else if (this.#terminal !== null || this.#nets.some((n) => n.fromHost !== null)) {
      this.#waitTyped(now, Infinity);
    } else {
      return this.#fail(
        `deterministic mode: the hart waits in wfi at ${now} with no timer ` +
          `armed and no input to come`,
      );
    }
    if (this.mode !== "plain") this.#check({ k: "wfi", at: now, to });
    if (to > now) this.idle += to - now;
    return this.failure === null && Atomics.load(this.#ctl, CTL.STOP) === 0;
  }

  /** Wait on the wall clock (guest time running at 10 ns an instruction) for live input or `due`. */
  #waitTyped(now: number, due: number): number {
    const t0 = performance.now();
    const ctl = this.#ctl;
    for (;;) {
      if (this.#liveInput()) break;
      if (Atomics.load(ctl, CTL.STOP) !== 0 || this.haltRequested()) break;
      const elapsed = (performance.now() - t0) * INSTRUCTIONS_PER_MS;
      if (now + elapsed >= due) return due;
      const leftMs = due === Infinity ? 1000 : (due - now - elapsed) / INSTRUCTIONS_PER_MS;
      const seen = Atomics.load(ctl, CTL.WAKE);
      Atomics.store(ctl, CTL.CPU_IDLE, 1);
      Atomics.wait(ctl, CTL.WAKE, seen, Math.max(0.05, Math.min(leftMs, 1000)));
      Atomics.store(ctl, CTL.CPU_IDLE, 0);
    }
    const went = Math.floor((performance.now() - t0) * INSTRUCTIONS_PER_MS);
    return Math.min(due, now + went);
  }

  /**
   * The run ends with `fate`: recorded (and the log written out), or in a
   * replay compared with the log's end. Returns a divergence, or null.
   */
  finish(fate: number, reason: string): string | null {
    if (this.failure !== null) {
      this.#flush();
      return this.failure;
    }
    if (this.mode === "replay" && fate === FATE.STOPPED && !this.#stoppedAsRecorded) {
      return null; // stopped by this run's launcher (three ^C, a signal): no divergence
    }
    this.#check({ k: "end", at: this.icount(), fate, reason });
    this.#flush();
    if (this.failure === null && this.mode === "replay") {
      const left = this.#checks.length - this.#nextCheck;
      if (left > 0 || this.#nextInput < this.#inputs.length) {
        return `replay: the run ended but ${this.#logName} goes on (line ${
          this.#checks[this.#nextCheck]?.line ?? this.#inputs[this.#nextInput].line
        })`;
      }
    }
    return this.failure;
  }

  /** A check event: logged when recording, compared with the log when replaying. */
  #check(ev: CheckEvent): void {
    if (this.mode === "record") this.#record(ev);
    if (this.mode !== "replay" || this.failure !== null) return;
    const want = this.#checks[this.#nextCheck];
    if (want === undefined) {
      this.#diverged(
        `replay diverged: the run did ${describeEvent(ev)}, past the end of ` +
          `${this.#logName}`,
      );
      return;
    }
    if (!sameCheck(want.ev, ev)) {
      this.#diverged(
        `replay diverged at ${this.#logName}, line ${want.line}: the log has ` +
          `${describeEvent(want.ev)}, the run did ${describeEvent(ev)}`,
      );
      return;
    }
    this.#nextCheck++;
  }

  #record(ev: ReplayEvent): void {
    if (this.#logPath === null) return;
    this.#lines.push(formatEvent(ev));
    if (this.#lines.length >= 4096) this.#flush();
  }

  #flush(): void {
    if (this.#logPath === null || this.#lines.length === 0) return;
    Deno.writeTextFileSync(this.#logPath, this.#lines.join("\n") + "\n", { append: true });
    this.#lines = [];
  }

  #diverged(why: string): false {
    this.failure ??= why;
    this.#hart.stopRequested = true;
    return false;
  }

  #fail(why: string): false {
    return this.#diverged(why);
  }
}
