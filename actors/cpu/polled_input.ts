// The cpu actor's share of the terminal's input: the consoles the guest polls
// from the hart — the SBI console (legacy console_getchar, DBCN console_read)
// and the UART's receive side — read the one input ring the launcher fills,
// but only while the cpu actor is that ring's reader (CTL.INPUT_OWNER; the
// console actor, for virtio-console, is the other candidate). The rule
// (docs/machine.md, "Who gets typed input"): the guest asking one of these
// consoles for input claims the ring — at once when nobody holds it; from
// the console actor by raising INPUT_WANTED, which it honours at its next
// look. After POLL_LAPSE_MS without a poll the cpu lets go again, so a
// console the guest stopped reading (firmware's UART before Linux's virtio
// console takes over) does not keep the input. A byte leaves the ring only
// when the guest takes it, so nothing is lost in a handover, nor read twice.
// Read next: actors/console/console_actor.ts (the other reader), devices/uart.ts.

import { ByteRingReader } from "../../lib/ring.ts";
import { tracer } from "../../lib/trace.ts";
import { claimInput, INPUT, releaseInput, wantInput } from "../../machine/control.ts";
import type { UartInput } from "../../devices/uart.ts";

/**
 * How long the cpu keeps the input after the guest last polled for it:
 * longer than Linux's hvc console waits between polls when idle (2 s).
 */
export const POLL_LAPSE_MS = 3000;

export class PolledInput implements UartInput {
  readonly #ring: SharedArrayBuffer;
  readonly #ctl: Int32Array;
  readonly #now: () => number;
  /** Our reader while we hold the ring (made fresh at each claim: the TAIL moved meanwhile). */
  #reader: ByteRingReader | null = null;
  #lastPoll = -Infinity;
  /** Whether we raised INPUT_WANTED. */
  #wanting = false;
  readonly #one = new Uint8Array(1);

  constructor(
    ring: SharedArrayBuffer,
    ctl: Int32Array,
    now: () => number = () => performance.now(),
  ) {
    this.#ring = ring;
    this.#ctl = ctl;
    this.#now = now;
  }

  /** Whether the cpu holds the ring now. */
  get holding(): boolean {
    return this.#reader !== null;
  }

  /**
   * The guest looks for input here: our reader if we hold the ring (claimed
   * now if nobody did), else null. `asked` (a real read, not a line-status
   * peek that firmware also does before every byte it sends) asks the console
   * actor to let go.
   */
  #poll(asked: boolean): ByteRingReader | null {
    this.#lastPoll = this.#now();
    if (claimInput(this.#ctl, INPUT.CPU)) {
      this.#reader ??= new ByteRingReader(this.#ring);
      if (this.#wanting) {
        this.#wanting = false;
        wantInput(this.#ctl, false);
      }
      return this.#reader;
    }
    if (asked && !this.#wanting) {
      this.#wanting = true;
      wantInput(this.#ctl, true);
    }
    return null;
  }

  /** UartInput: a byte is waiting for this console. */
  ready(asked: boolean): boolean {
    const r = this.#poll(asked);
    return r !== null && r.available > 0;
  }

  /** UartInput: the next byte (after ready() said yes). */
  take(): number {
    if (this.#reader === null || this.#reader.read(this.#one) !== 1) return 0;
    tracer?.inputTaken(1);
    return this.#one[0];
  }

  /** SBI console read: up to dst.length bytes into dst, 0 when none (or not ours). */
  read(dst: Uint8Array): number {
    const r = this.#poll(true);
    const n = r === null ? 0 : r.read(dst);
    if (n > 0) tracer?.inputTaken(n);
    return n;
  }

  /** Between instruction batches: let go after POLL_LAPSE_MS without a poll. */
  idle(): void {
    if (this.#reader === null && !this.#wanting) return;
    if (this.#now() - this.#lastPoll < POLL_LAPSE_MS) return;
    this.release();
  }

  /** Let go of the ring and of any claim asked for (also when the cpu stops). */
  release(): void {
    if (this.#reader !== null) {
      this.#reader = null;
      releaseInput(this.#ctl, INPUT.CPU);
    }
    if (this.#wanting) {
      this.#wanting = false;
      wantInput(this.#ctl, false);
    }
  }
}
