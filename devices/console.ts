// The console device: virtio-console (device id 3) with one port, no
// MULTIPORT — the guest's hvc0. Queue 0 (receiveq0) carries input to the
// guest, queue 1 (transmitq0) its output. Input comes from pushInput() (the
// launcher's one stdin reader feeds it); bytes that arrive before the guest
// has posted receive buffers are held, up to a bound, and delivered later.
// Held input is released once the guest has transmitted on the port: Linux
// posts receive buffers before it marks the port connected and discards what
// arrives in between. Output goes to a sink callback, streamed from guest RAM
// in bounded passes: whatever lengths the guest posts, the device holds at
// most its fixed buffers (docs/virtio.md, "memory budget"). Input is taken
// only while there is room (inputRoom / waitForInputRoom), so the stdin
// reader upstream waits instead of losing bytes. When the launcher knows the
// terminal's size it offers VIRTIO_CONSOLE_F_SIZE (cols, rows in the config
// space); setConsoleSize() changes it and raises a config interrupt, and the
// device raises one when the driver goes live, since Linux without MULTIPORT
// reads the size only on a config change. Read next: devices/block/block.ts.

import { bit, DEVICE_ID, F } from "./virtio/constants.ts";
import { type DeviceOptions, VirtioDevice } from "./virtio/device.ts";
import { createTransportState, type DeviceTransport } from "./virtio/mmio.ts";
import { scatterBytes, type Segment, type VirtQueue } from "./virtio/queue.ts";

export const CONSOLE_RX = 0;
export const CONSOLE_TX = 1;
/** Queue size offered for both queues. */
export const CONSOLE_QUEUE_SIZE = 64;
/** Default bound on input held while the guest has no receive buffers. */
export const CONSOLE_HOLD_BYTES = 64 * 1024;
/** Transmitted bytes handed to the sink per service pass; the rest waits for the next pass. */
export const TX_PASS_BYTES = 64 * 1024;
/** Pieces up to this size are coalesced (boot output: many small chains, one write). */
const TX_STAGE_BYTES = 16 * 1024;

/** virtio_console_config: cols u16, rows u16, max_nr_ports u32, emerg_wr u32 (§5.3.4). */
const CONFIG_BYTES = 12;

/** VIRTIO_CONSOLE_F_SIZE (§5.3.3): the config space's cols and rows are valid. */
export const CONSOLE_F_SIZE = 0;

/** A terminal's size in character cells. */
export interface ConsoleSize {
  cols: number;
  rows: number;
}

/** The config bytes for `size` (cols u16 at 0, rows u16 at 2), each clamped to 1..65535. */
function sizeBytes(size: ConsoleSize): Uint8Array {
  const b = new Uint8Array(4);
  const v = new DataView(b.buffer);
  const clamp = (n: number) => Math.min(0xffff, Math.max(1, Math.trunc(n) || 1));
  v.setUint16(0, clamp(size.cols), true);
  v.setUint16(2, clamp(size.rows), true);
  return b;
}

/**
 * The transport state for a console in the slot with interrupt `irq`. With a
 * `size` (the terminal's), VIRTIO_CONSOLE_F_SIZE is offered and the size is
 * in the config space; without one (output to a pipe) it is not offered.
 */
export function createConsoleState(irq: number, size?: ConsoleSize | null): SharedArrayBuffer {
  const config = new Uint8Array(CONFIG_BYTES);
  new DataView(config.buffer).setUint32(4, 1, true); // max_nr_ports (only read with MULTIPORT)
  if (size) config.set(sizeBytes(size), 0);
  return createTransportState({
    deviceId: DEVICE_ID.CONSOLE,
    deviceFeatures: bit(F.RING_INDIRECT_DESC) | bit(F.RING_EVENT_IDX) |
      (size ? bit(CONSOLE_F_SIZE) : 0n),
    queueMax: [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE],
    configBytes: CONFIG_BYTES,
    irq,
    config,
  });
}

/**
 * The terminal was resized: write the new size into the console's config
 * space and raise a config interrupt (Linux then reads it and resizes hvc0,
 * which sends SIGWINCH to the guest's foreground job). From any thread; does
 * nothing if the console did not offer VIRTIO_CONSOLE_F_SIZE.
 */
export function setConsoleSize(t: DeviceTransport, size: ConsoleSize): void {
  if ((t.deviceFeatures() & bit(CONSOLE_F_SIZE)) === 0n) return;
  t.writeConfig(0, sizeBytes(size));
  if (t.hasFeature(CONSOLE_F_SIZE)) t.interrupt("config");
}

export interface ConsoleOptions extends DeviceOptions {
  /**
   * Receives the guest's output in order, in pieces of at most TX_PASS_BYTES
   * (usually one per pass). A piece may be a view into guest RAM or a reused
   * buffer: valid only during the call, so a sink that keeps it must copy.
   */
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
  /** Input pumps waiting for room in the hold buffer. */
  #roomWaiters: (() => void)[] = [];
  /** The transmit chain being written: its segments, and the position reached. */
  #tx: { head: number; segs: Segment[]; seg: number; at: number } | null = null;
  /** Small pieces of output waiting to go to the sink together (fixed size). */
  readonly #stage = new Uint8Array(TX_STAGE_BYTES);
  #staged = 0;
  /** Chains whose last bytes are in #stage: completed when it is written. */
  readonly #txDone: number[] = [];

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

  /**
   * The guest uses this console: it transmitted since the driver went live
   * (the console actor then takes the terminal's input for it).
   */
  get inUse(): boolean {
    return this.#txSeen;
  }

  /** A console restored from a machine snapshot whose guest had used it (see inUse). */
  markInUse(): void {
    this.#txSeen = true;
    this.#liveSince = this.#now();
  }

  /** The held input, oldest first (a copy), for a machine snapshot. */
  heldInput(): Uint8Array {
    const out = new Uint8Array(this.#held);
    let at = 0;
    for (const [i, chunk] of this.#hold.entries()) {
      const part = chunk.subarray(i === 0 ? this.#headOff : 0);
      out.set(part.subarray(0, out.length - at), at);
      at += part.length;
    }
    return out;
  }

  /**
   * A transmit cut off by the pass budget: look again at once. While input is
   * held behind the grace period, wake run() when it ends.
   */
  protected override wakeAfterMs(): number | undefined {
    if (this.broken) return undefined;
    if (this.#tx !== null || this.queues[CONSOLE_TX]?.hasPending()) return 0;
    if (this.#held === 0 || this.#txSeen || this.#liveSince === null) return undefined;
    if (this.#graceMs === Infinity) return undefined; // deterministic: no wall-clock release
    return Math.max(1, this.#liveSince + this.#graceMs - this.#now());
  }

  /** Bytes waiting for receive buffers. */
  get held(): number {
    return this.#held;
  }

  /** Bytes pushInput() can take now without dropping any. */
  get inputRoom(): number {
    return Math.max(0, this.#holdMax - this.#held);
  }

  /** Resolves once inputRoom > 0 (at once if it is), or after `timeoutMs`. */
  waitForInputRoom(timeoutMs: number): Promise<void> {
    if (this.inputRoom > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#roomWaiters.push(done);
    });
  }

  /**
   * Input from the host side: hold it and deliver what the guest has room
   * for. Beyond the hold bound it is dropped and counted: callers that must
   * not lose input take inputRoom bytes at a time.
   */
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
    // A chain being transmitted belonged to the old rings: drop the rest of it.
    this.#tx = null;
    this.#staged = 0;
    this.#txDone.length = 0;
  }

  protected processQueue(q: number, vq: VirtQueue): void {
    if (this.#liveSince === null) {
      this.#liveSince = this.#now();
      // Linux without MULTIPORT reads cols/rows only in its config-change
      // handler (and applies them when hvc0 is opened): tell it once it is live.
      if (this.transport.hasFeature(CONSOLE_F_SIZE)) this.transport.interrupt("config");
    }
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
      this.traceRequest(CONSOLE_RX, c, "receive", this.#held, false);
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
      this.#roomFreed();
    }
  }

  /** Wake input pumps waiting for room (see waitForInputRoom). */
  #roomFreed(): void {
    if (this.#roomWaiters.length === 0 || this.inputRoom === 0) return;
    const w = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const f of w) f();
  }

  /**
   * Hand what the guest transmitted to the sink, at most TX_PASS_BYTES per
   * pass, straight from guest RAM: small pieces are coalesced in a fixed
   * staging buffer, larger ones go as views into RAM. A chain is completed
   * only once all its bytes went to the sink; one cut off by the budget is
   * carried to the next pass (wakeAfterMs asks run() for it at once).
   */
  #transmit(vq: VirtQueue): void {
    let budget = TX_PASS_BYTES;
    while (budget > 0) {
      if (this.#tx === null) {
        const r = vq.pop();
        if (r.kind === "empty") break;
        if (r.kind === "error") {
          this.queueFailed(CONSOLE_TX, r, vq);
          break;
        }
        // Writable parts of a transmit buffer are ignored (nothing is written back).
        this.traceRequest(CONSOLE_TX, r.chain, "transmit", r.chain.readLen);
        this.#tx = { head: r.chain.head, segs: r.chain.readable, seg: 0, at: 0 };
        if (!this.#txSeen) {
          // The guest is talking on the port: it is listening too.
          this.#txSeen = true;
          const rx = this.queues[CONSOLE_RX];
          if (rx) this.#receive(rx);
        }
      }
      const t = this.#tx;
      while (budget > 0 && t.seg < t.segs.length) {
        const s = t.segs[t.seg];
        const n = Math.min(s.len - t.at, budget);
        this.#emit(vq, this.ram.bytes.subarray(s.off + t.at, s.off + t.at + n));
        budget -= n;
        t.at += n;
        if (t.at === s.len) {
          t.seg++;
          t.at = 0;
        }
      }
      if (t.seg < t.segs.length) break; // out of budget mid-chain: the rest next pass
      this.#tx = null;
      // Its last bytes may still sit in the staging buffer: complete it after they are out.
      if (this.#staged > 0) this.#txDone.push(t.head);
      else this.complete(vq, t.head, 0);
    }
    this.#flushStage(vq);
  }

  /** Send one piece of guest output on its way, in order. */
  #emit(vq: VirtQueue, piece: Uint8Array): void {
    if (piece.length <= TX_STAGE_BYTES - this.#staged) {
      this.#stage.set(piece, this.#staged);
      this.#staged += piece.length;
      return;
    }
    this.#flushStage(vq);
    if (piece.length <= TX_STAGE_BYTES) {
      this.#stage.set(piece, 0);
      this.#staged = piece.length;
    } else {
      this.#sink(piece);
    }
  }

  /** Write the staged bytes, then complete the chains they finished. */
  #flushStage(vq: VirtQueue): void {
    if (this.#staged > 0) this.#sink(this.#stage.subarray(0, this.#staged));
    this.#staged = 0;
    for (const head of this.#txDone) this.complete(vq, head, 0);
    this.#txDone.length = 0;
  }

  #sink(bytes: Uint8Array): void {
    try {
      this.#output(bytes);
    } catch (e) {
      this.logError(`output sink failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
