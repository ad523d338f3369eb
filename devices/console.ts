// The console device: virtio-console (device id 3) with one port, no
// MULTIPORT — the guest's hvc0. Queue 0 (receiveq0) carries input to the
// guest, queue 1 (transmitq0) its output. Input comes from pushInput() (the
// launcher's one stdin reader feeds it); bytes that arrive before the guest
// has posted receive buffers are held, up to a bound, and delivered later.
// Held input is released once the guest has transmitted on the port: Linux
// posts receive buffers before it marks the port connected and discards what
// arrives in between. Output goes to a sink callback. Read next: devices/block.ts.

import { bit, DEVICE_ID, F } from "./virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "./virtio/device.ts";
import { createTransportState } from "./virtio/mmio.ts";
import { gatherBytes, scatterBytes, type VirtQueue } from "./virtio/queue.ts";

export const CONSOLE_RX = 0;
export const CONSOLE_TX = 1;
/** Queue size offered for both queues. */
export const CONSOLE_QUEUE_SIZE = 64;
/** Default bound on input held while the guest has no receive buffers. */
export const CONSOLE_HOLD_BYTES = 64 * 1024;

/** virtio_console_config: cols u16, rows u16, max_nr_ports u32, emerg_wr u32 (§5.3.4). */
const CONFIG_BYTES = 12;

/** The transport state for a console in the slot with interrupt `irq`. */
export function createConsoleState(irq: number): SharedArrayBuffer {
  const config = new Uint8Array(CONFIG_BYTES);
  new DataView(config.buffer).setUint32(4, 1, true); // max_nr_ports (only read with MULTIPORT)
  return createTransportState({
    deviceId: DEVICE_ID.CONSOLE,
    deviceFeatures: bit(F.RING_INDIRECT_DESC) | bit(F.RING_EVENT_IDX),
    queueMax: [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE],
    configBytes: CONFIG_BYTES,
    irq,
    config,
  });
}

export interface ConsoleOptions extends DeviceOptions {
  /** Receives the guest's output, one call per service pass with output. */
  output: (bytes: Uint8Array) => void;
  /** Bound on held input (default CONSOLE_HOLD_BYTES); beyond it input is dropped and counted. */
  holdBytes?: number;
  /**
   * Release held input this long after the driver went live even if the
   * guest has not transmitted yet (default CONSOLE_INPUT_GRACE_MS).
   */
  inputGraceMs?: number;
  /** Clock in ms (default performance.now); tests pass their own. */
  now?: () => number;
}

/** See ConsoleOptions.inputGraceMs. */
export const CONSOLE_INPUT_GRACE_MS = 2000;

export class ConsoleDevice extends VirtioDevice {
  /** Input bytes dropped because the hold buffer was full. */
  droppedInput = 0;
  readonly #output: (bytes: Uint8Array) => void;
  readonly #holdMax: number;
  /** Held input: chunks in arrival order; the first is consumed from #headOff. */
  #hold: Uint8Array[] = [];
  #headOff = 0;
  #held = 0;
  /**
   * Input is held until the guest is listening. Linux's virtio_console fills
   * receiveq0 (add_port → fill_queue) before init_port_console sets
   * guest_connected, and in_intr discards data that arrives in between; its
   * first transmit comes after. Without MULTIPORT there is no PORT_OPEN to
   * wait for, so the first transmit (or a grace period) is the signal.
   */
  #txSeen = false;
  #liveSince: number | null = null;
  readonly #graceMs: number;
  readonly #now: () => number;

  constructor(
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    control: SharedArrayBuffer,
    opts: ConsoleOptions,
  ) {
    super("console", ram, state, control, opts);
    this.#output = opts.output;
    this.#holdMax = opts.holdBytes ?? CONSOLE_HOLD_BYTES;
    this.#graceMs = opts.inputGraceMs ?? CONSOLE_INPUT_GRACE_MS;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Whether held input may go to the guest now. */
  get inputOpen(): boolean {
    if (this.#txSeen) return true;
    return this.#liveSince !== null && this.#now() - this.#liveSince >= this.#graceMs;
  }

  /** While input is held behind the grace period, wake run() when it ends. */
  protected override wakeAfterMs(): number | undefined {
    if (this.#held === 0 || this.#txSeen || this.#liveSince === null) return undefined;
    return Math.max(1, this.#liveSince + this.#graceMs - this.#now());
  }

  /** Bytes waiting for receive buffers. */
  get held(): number {
    return this.#held;
  }

  /** Input from the host side: hold it and deliver what the guest has room for. */
  pushInput(bytes: Uint8Array): void {
    const room = this.#holdMax - this.#held;
    const take = Math.min(room, bytes.length);
    if (take < bytes.length) this.droppedInput += bytes.length - take;
    if (take > 0) {
      // Copy: the caller may reuse its buffer.
      this.#hold.push(bytes.slice(0, take));
      this.#held += take;
    }
    this.service();
  }

  protected override onReset(): void {
    // Held input stays: it was typed for whoever drives the console next.
    this.#txSeen = false;
    this.#liveSince = null;
  }

  protected processQueue(q: number, vq: VirtQueue): void {
    this.#liveSince ??= this.#now();
    if (q === CONSOLE_RX) this.#receive(vq);
    else if (q === CONSOLE_TX) this.#transmit(vq);
  }

  /** Fill the guest's receive buffers from the hold buffer. */
  #receive(vq: VirtQueue): void {
    if (!this.inputOpen) return;
    while (this.#held > 0) {
      const r = vq.pop();
      if (r.kind === "empty") return;
      if (r.kind === "error") return this.queueFailed(CONSOLE_RX, r, vq);
      const c = r.chain;
      if (c.readLen > 0 || c.writeLen === 0) {
        // §5.3.6.1: receive buffers are device-writable only.
        this.logError(
          `receive buffer ${c.head} has device-readable parts or no room; returned empty`,
        );
        this.complete(vq, c.head, 0);
        continue;
      }
      let written = 0;
      while (written < c.writeLen && this.#held > 0) {
        const chunk = this.#hold[0];
        const avail = chunk.subarray(this.#headOff, this.#headOff + c.writeLen - written);
        written += scatterBytes(this.ram, c.writable, written, avail);
        this.#headOff += avail.length;
        this.#held -= avail.length;
        if (this.#headOff === chunk.length) {
          this.#hold.shift();
          this.#headOff = 0;
        }
      }
      this.complete(vq, c.head, written);
    }
  }

  /** Take everything the guest transmitted and hand it to the sink in one piece. */
  #transmit(vq: VirtQueue): void {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const r = vq.pop();
      if (r.kind === "empty") break;
      if (r.kind === "error") {
        this.queueFailed(CONSOLE_TX, r, vq);
        break;
      }
      const c = r.chain;
      // Writable parts of a transmit buffer are ignored (nothing is written back).
      const bytes = gatherBytes(this.ram, c.readable, 0, c.readLen);
      if (bytes.length) {
        parts.push(bytes);
        total += bytes.length;
      }
      this.complete(vq, c.head, 0);
      if (!this.#txSeen) {
        // The guest is talking on the port: it is listening too.
        this.#txSeen = true;
        const rx = this.queues[CONSOLE_RX];
        if (rx) this.#receive(rx);
      }
    }
    if (total === 0) return;
    const out = parts.length === 1 ? parts[0] : new Uint8Array(total);
    if (parts.length > 1) {
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
    }
    try {
      this.#output(out);
    } catch (e) {
      this.logError(`output sink failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
