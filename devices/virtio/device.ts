// What every virtio device actor does besides its own requests: follow the
// driver's status (reset, DRIVER_OK), build its VirtQueues from the transport
// registers, hand each queue to the device's processQueue(), coalesce used-ring
// interrupts, and on a broken queue set DEVICE_NEEDS_RESET and stop until the
// driver resets — never throwing out of the worker. service() does one pass
// (tests call it directly); run() sleeps on the doorbell between passes.
// Read next: devices/console.ts and devices/block/block.ts (the two devices).

import { F } from "./constants.ts";
import { DeviceTransport, EV, type TransportIrq } from "./mmio.ts";
import { type Chain, type QueueError, VirtQueue } from "./queue.ts";
import { GuestRam } from "./ram.ts";
import { type EventDef, TBOARD, traceNow, tracer } from "../../lib/trace.ts";

// --trace (docs/trace.md): a device's passes on its actor's track, each
// notify it picks up as the end of the cpu's arrow, each request an async
// span from the notify to its used-ring entry, and the interrupt it raises.
const PASS: EventDef = { name: "pass", cat: "virtio", ph: "X" };
const PICKUP: EventDef = { name: "pick up notify", cat: "virtio", ph: "i", args: ["queue"] };
const RAISE: EventDef = { name: "raise", cat: "irq", ph: "i", args: ["source"] };
const IRQ_BEGIN: EventDef = { name: "irq", cat: "irq", ph: "b", args: ["source"] };

/** What a traced request carried, from its pop to its completion. */
interface TracedRequest {
  begin: number;
  q: number;
  descriptors: number;
  bytes: number;
  /** The device's one number about it: a sector, a frame length. */
  detail: number;
  def: EventDef;
}

export interface DeviceOptions {
  /** Guest-physical address of RAM byte 0 (default RAM_BASE). */
  ramBase?: number;
  /**
   * Bytes of the RAM buffer that are guest RAM (default: the whole buffer).
   * The launcher always says: its buffer also holds the hart's state.
   */
  ramBytes?: number;
  /** The DMA bitmap (devices/virtio/ram.ts): pages written are marked for the translator. */
  dmaDirty?: SharedArrayBuffer;
  /** Where problems go, one line each (default console.error). */
  log?: (line: string) => void;
  /** If set, every notification, completion batch and interrupt is traced here (--verbose). */
  trace?: (line: string) => void;
}

/** Log lines a device writes about guest mistakes before it only counts them. */
const MAX_LOG_LINES = 50;

export abstract class VirtioDevice {
  readonly name: string;
  readonly ram: GuestRam;
  readonly transport: DeviceTransport;
  /** Guest mistakes and internal errors seen (logged or not). */
  errors = 0;
  /** Queue-level errors by kind (QueueErrorKind), and device-specific kinds. */
  readonly errorCounts: Record<string, number> = {};
  protected readonly queues: (VirtQueue | null)[];
  #epoch: number;
  /** Started while the driver was already running: a replacement for an actor that died. */
  #restarted: boolean;
  #broken = false;
  #irqPending = false;
  #logged = 0;
  readonly #log: (line: string) => void;
  protected readonly trace?: (line: string) => void;

  constructor(
    name: string,
    ram: SharedArrayBuffer,
    state: SharedArrayBuffer,
    /** The slot's interrupt line, or the control block (its PLIC source VS.IRQ). */
    irq: TransportIrq,
    opts: DeviceOptions = {},
  ) {
    this.name = name;
    this.ram = new GuestRam(
      ram,
      opts.ramBase,
      opts.ramBytes,
      opts.dmaDirty ? new Int32Array(opts.dmaDirty) : null,
    );
    this.transport = new DeviceTransport(state, irq);
    this.queues = new Array(this.transport.numQueues).fill(null);
    this.#epoch = this.transport.resetCount();
    this.#restarted = this.transport.live();
    // A predecessor that died mid-pass left the busy word set.
    this.transport.setBusy(false);
    this.#log = opts.log ?? ((l) => console.error(l));
    this.trace = opts.trace;
  }

  /** The device's work on queue `q`: pop chains, do them, complete() them. */
  protected abstract processQueue(q: number, vq: VirtQueue): void;

  /** The driver reset the device: drop per-request state (queues are already gone). */
  protected onReset(): void {}

  /** A device with timed work says when run() should look again without a notification. */
  protected wakeAfterMs(): number | undefined {
    return undefined;
  }

  /**
   * Frozen for a machine snapshot (launcher/snapshot.ts): no pass runs and
   * guest RAM is not touched until thaw(). Frozen only between passes (the
   * actor takes the request in its event loop), so no request is half done:
   * every chain is either completed in the used ring or still only in the
   * avail ring, where a restored device finds it again.
   */
  #frozen = false;
  #missed = false;

  /** Hold every pass until thaw(). */
  freeze(): void {
    this.#frozen = true;
  }

  /** Serve again, with one pass for whatever came in while frozen. */
  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    if (this.#missed) {
      this.#missed = false;
      this.service();
    }
  }

  /** True between freeze() and thaw(). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** One pass over everything pending. Never throws. */
  service(): void {
    if (this.#frozen) {
      this.#missed = true;
      return;
    }
    // A sink that feeds the device from inside a pass (a scripted console
    // typing when it sees a prompt) asks for another pass, not a nested one:
    // a nested pass would send the same pending output twice.
    if (this.#inService) {
      this.#again = true;
      return;
    }
    this.#inService = true;
    const t0 = tracer !== null ? traceNow() : 0;
    this.transport.setBusy(true);
    try {
      do {
        this.#again = false;
        this.#pass();
      } while (this.#again && !this.#broken);
    } catch (e) {
      this.fail(`internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    } finally {
      this.#inService = false;
    }
    try {
      this.flushInterrupt();
    } catch (e) {
      this.logError(`internal error raising the interrupt: ${e instanceof Error ? e.message : e}`);
    } finally {
      this.transport.setBusy(false);
    }
    if (tracer !== null) tracer.slice(PASS, t0);
  }

  #inService = false;
  #again = false;

  /**
   * Deterministic mode's input (docs/replay.md): called at the start of every
   * pass to take what the cpu put in the device's input ring, so input
   * reaches the device only inside a pass the cpu waits for.
   */
  passInput: (() => void) | null = null;

  #pass(): void {
    this.passInput?.();
    const ev = this.transport.nextEvents();
    if (this.trace && ev.queues) {
      this.trace(`${this.name}: notify queues 0b${ev.queues.toString(2)}`);
    }
    if (tracer !== null) this.#tracePickup(ev.queues);
    const epoch = this.transport.resetCount();
    if ((ev.events & EV.RESET) || epoch !== this.#epoch) this.#reset(epoch);
    if (this.#broken || !this.transport.live()) return;
    for (let q = 0; q < this.queues.length; q++) {
      const vq = this.#activate(q);
      if (vq) this.processQueue(q, vq);
      if (this.#broken) break;
    }
  }

  /** Serve the device until `signal` aborts: a pass, then sleep on the doorbell. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const seq = this.transport.doorbellSeq();
      this.service();
      const after = this.wakeAfterMs();
      // More work now (a transmit cut off by its pass budget): yield to the
      // event loop and go on. setTimeout(0) would cost ~2 ms a pass.
      if (after === 0) await yieldToEventLoop();
      else {
        // Nothing left for now: every doorbell up to `seq` is served (the
        // cpu waits for this in deterministic mode, docs/replay.md).
        this.transport.markServed(seq);
        await this.transport.waitDoorbell(seq, after, signal);
      }
    }
  }

  /** The queue for `q` if the driver made it ready, else null (built on first use). */
  #activate(q: number): VirtQueue | null {
    const setup = this.transport.queue(q);
    if (!setup.ready) {
      this.queues[q] = null;
      return null;
    }
    const have = this.queues[q];
    if (have) return have;
    if (setup.size > setup.max) {
      // The driver MUST NOT (§4.2.2.2); refusing it also bounds a chain's
      // segment lists by QueueNumMax rather than by the 32768 a ring may have.
      this.queueFailed(q, {
        kind: "error",
        error: "queue-size",
        head: null,
        detail: `queue size ${setup.size} over QueueNumMax ${setup.max}`,
      });
      return null;
    }
    const vq = VirtQueue.create(this.ram, {
      size: setup.size,
      desc: setup.desc,
      avail: setup.driver,
      used: setup.device,
    }, {
      eventIdx: this.transport.hasFeature(F.RING_EVENT_IDX),
      indirect: this.transport.hasFeature(F.RING_INDIRECT_DESC),
    });
    if (!(vq instanceof VirtQueue)) {
      this.queueFailed(q, vq);
      return null;
    }
    this.queues[q] = vq;
    // A predecessor may have published completions and died before raising
    // the interrupt: raise one (a spurious one costs the driver nothing).
    if (this.#restarted) this.#irqPending = true;
    this.trace?.(`${this.name}: queue ${q} ready, size ${setup.size}, resuming at ${vq.lastAvail}`);
    return vq;
  }

  #reset(epoch: number): void {
    this.#epoch = epoch;
    this.#restarted = false;
    this.#broken = false;
    this.#irqPending = false;
    this.queues.fill(null);
    this.trace?.(`${this.name}: reset`);
    this.onReset();
  }

  /** Complete a chain; the interrupt (if the driver wants one) goes out at the end of the pass. */
  protected complete(vq: VirtQueue, head: number, written: number): void {
    // A reset since this pass began means the rings may be gone: drop it.
    if (this.transport.resetCount() !== this.#epoch) return;
    if (vq.push(head, written)) this.#irqPending = true;
    if (tracer !== null) this.#traceDone(vq, head, written);
  }

  /**
   * Complete chains `heads` (with `written[i]` bytes each) as one: the driver
   * sees all their used elements at once (virtio-net's merged receive
   * buffers). The interrupt as for complete().
   */
  protected completeAll(vq: VirtQueue, heads: readonly number[], written: readonly number[]): void {
    if (this.transport.resetCount() !== this.#epoch) return;
    for (let i = 0; i < heads.length; i++) vq.stage(heads[i], written[i]);
    if (vq.publish()) this.#irqPending = true;
    if (tracer !== null) {
      for (let i = 0; i < heads.length; i++) this.#traceDone(vq, heads[i], written[i]);
    }
  }

  // ---- --trace: requests from notify to used ring (docs/trace.md).

  /** When each queue's oldest notify not yet served was made (0: none, use the pass's start). */
  readonly #notifiedAt: number[] = [];
  readonly #inFlight = new Map<number, TracedRequest>();

  #tracePickup(queues: number): void {
    const t = tracer!;
    const irq = this.transport.irq;
    for (let q = 0; q < this.queues.length; q++) {
      if (!(queues & (1 << q))) continue;
      const { flow, at } = t.takeNotify(irq, q);
      if (!flow) continue;
      if (!this.#notifiedAt[q]) this.#notifiedAt[q] = at;
      const now = traceNow();
      t.record(PICKUP, now, now, flow, 0, 0, q);
    }
  }

  /**
   * A device took chain `c` from queue `q` (`what` names the request, e.g.
   * "read"; `detail` is its sector or frame length): its span starts at the
   * notify that announced it — or now for a receive buffer, which waits for
   * input, not for the device. Call right after pop(); costs nothing untraced.
   */
  protected traceRequest(q: number, c: Chain, what: string, detail = 0, fromNotify = true): void {
    if (tracer === null) return;
    const begin = (fromNotify && this.#notifiedAt[q]) || traceNow();
    this.#inFlight.set(q * 65536 + c.head, {
      begin,
      q,
      descriptors: c.readable.length + c.writable.length,
      bytes: c.readLen + c.writeLen,
      detail,
      def: tracer.named(`${this.name} ${what}`, {
        cat: "request",
        ph: "A",
        args: ["queue", "descriptors", "bytes", "detail", "written"],
      }),
    });
  }

  #traceDone(vq: VirtQueue, head: number, written: number): void {
    const q = this.queues.indexOf(vq);
    const r = this.#inFlight.get(q * 65536 + head);
    if (!r) return;
    this.#inFlight.delete(q * 65536 + head);
    // The queue's pending notify is served once nothing taken from it is in flight.
    if (![...this.#inFlight.values()].some((x) => x.q === q)) this.#notifiedAt[q] = 0;
    // Ids from the board: unique across devices and across a restarted actor's instances.
    const id = tracer!.flowId();
    tracer!.record(
      r.def,
      r.begin,
      traceNow(),
      0,
      0,
      id,
      r.q,
      r.descriptors,
      r.bytes,
      r.detail,
      written,
    );
  }

  /** The line went up for an interrupt not already in flight: start its span and arrow. */
  #traceRaise(): void {
    const t = tracer!;
    const src = this.transport.irq;
    if (src <= 0 || src >= 64) return;
    const id = t.flowId();
    if (Atomics.compareExchange(t.board, TBOARD.IRQ_SPAN + src, 0, id) !== 0) return;
    const now = traceNow();
    t.record(IRQ_BEGIN, now, now, 0, 0, id, src);
    t.record(RAISE, now, now, 0, id, 0, src);
  }

  /** Raise the used-buffer interrupt if a completion asked for one. */
  protected flushInterrupt(): void {
    if (!this.#irqPending) return;
    this.#irqPending = false;
    if (this.transport.resetCount() !== this.#epoch) return;
    this.trace?.(`${this.name}: interrupt (used), irq ${this.transport.irq}`);
    // Traced before the line goes up: the irq actor may look at the board at once.
    if (tracer !== null) this.#traceRaise();
    this.transport.interrupt("used");
  }

  /** A queue-level error: the queue is unusable until reset (§2.7: DEVICE_NEEDS_RESET). */
  protected queueFailed(q: number, err: QueueError, vq?: VirtQueue): void {
    // Give the chain back so the driver is not left waiting on it forever.
    if (vq && err.head !== null) this.complete(vq, err.head, 0);
    this.countError(err.error);
    this.fail(`queue ${q}: ${err.error}: ${err.detail}`);
  }

  /** Give up until the driver resets: NEEDS_RESET + config interrupt, one log line. */
  protected fail(why: string): void {
    this.logError(`${why}; device needs reset`);
    if (this.#broken) return;
    this.#broken = true;
    this.transport.needsReset();
  }

  /** Count an error by kind (see errorCounts). */
  protected countError(kind: string): void {
    this.errorCounts[kind] = (this.errorCounts[kind] ?? 0) + 1;
  }

  /** One line about a guest mistake; after MAX_LOG_LINES they are only counted. */
  protected logError(line: string): void {
    this.errors++;
    if (this.#logged < MAX_LOG_LINES) {
      this.#logged++;
      this.#log(`${this.name}: ${line}`);
      if (this.#logged === MAX_LOG_LINES) {
        this.#log(`${this.name}: further errors counted, not logged`);
      }
    }
  }

  /** The driver reset the device during this pass: stop taking requests. */
  protected get stale(): boolean {
    return this.transport.resetCount() !== this.#epoch;
  }

  /** True after fail() until the driver resets the device. */
  get broken(): boolean {
    return this.#broken;
  }
}

/** Let the worker's event loop run (messages, timers), then resume: ~10 µs. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}
