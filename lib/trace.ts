// The timeline's recording side (--trace, docs/trace.md): each worker that
// traces owns one event ring in a SharedArrayBuffer and writes fixed-size
// binary records into it; the launcher drains every ring and streams them to a
// Chrome Trace Event / Perfetto JSON file (launcher/trace_file.ts). A small
// shared "board" gives flow ids that are unique across workers and carries
// the few facts one worker leaves for another (a queue's pending notify, an
// interrupt in flight, the armed timer), so both ends of an arrow agree.
// Off by default: `tracer` stays null and every hook is one null check.
// Read next: launcher/trace_file.ts (the consumer), docs/trace.md.

/** "AVTR": magic word of an event ring. */
export const TRACE_RING_MAGIC = 0x41565452;
/** "AVTB": magic word of the board. */
export const TRACE_BOARD_MAGIC = 0x41565442;
export const TRACE_VERSION = 1;

/**
 * An event ring, SPSC: the worker that traces is the producer, the launcher
 * the consumer. A full ring drops the record and counts it (DROPPED): tracing
 * never blocks or slows a hart. Int32 word indexes of its header:
 */
export const TRING = {
  MAGIC: 0,
  VERSION: 1,
  /** Records the ring holds. */
  CAPACITY: 2,
  /** Records published, a wrapping count. Written only by the producer. */
  HEAD: 4,
  /** Records consumed, a wrapping count. Written only by the consumer. */
  TAIL: 8,
  /** Records dropped on a full ring. Written only by the producer. */
  DROPPED: 12,
  /** Bytes of the event dictionary written so far. Written only by the producer. */
  DICT_BYTES: 13,
  /** Lines of the event dictionary: the next event's id (a restarted actor carries on). */
  DICT_COUNT: 14,
} as const;
/** Header bytes; the dictionary follows. */
export const TRING_HEADER_BYTES = 64;
/** The event dictionary: one JSON `EventDef` per line, line n is event id n. */
export const TRING_DICT_BYTES = 32 * 1024;
/** Float64 fields per record. */
export const REC_F64 = 12;
/** Field indexes of a record. Times are host milliseconds (`traceNow`). */
export const REC = {
  /** When it happened (a slice's start). */
  TS: 0,
  /** The event id (a line of the ring's dictionary). */
  DEF: 1,
  /** A slice's end (X, async A); for others = TS. */
  END: 2,
  /** Flow arriving here (0: none). */
  FLOW_IN: 3,
  /** Flow leaving here (0: none). */
  FLOW_OUT: 4,
  /** Async span id (b, e, A). */
  ID: 5,
  /** The event's numeric arguments, named by its definition. */
  ARG0: 6,
} as const;
/** Arguments a record carries. */
export const REC_ARGS = REC_F64 - REC.ARG0;
/** Records per ring unless told: 12288 × 96 bytes = 1.1 MiB, a boot's worth for most actors. */
export const TRACE_RING_RECORDS = 12288;

/** Bytes of a ring of `records` records. */
export function traceRingBytes(records = TRACE_RING_RECORDS): number {
  return TRING_HEADER_BYTES + TRING_DICT_BYTES + records * REC_F64 * 8;
}

/** A new, empty event ring. */
export function createTraceRing(records = TRACE_RING_RECORDS): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(traceRingBytes(records));
  const h = new Int32Array(sab, 0, TRING_HEADER_BYTES / 4);
  h[TRING.MAGIC] = TRACE_RING_MAGIC;
  h[TRING.VERSION] = TRACE_VERSION;
  h[TRING.CAPACITY] = records;
  return sab;
}

/**
 * The board, shared by every traced worker. Int32 words; NOTIFY_TIME is a
 * Float64 array after them (written by the cpu, read by the device actor,
 * ordered by the NOTIFY_FLOW word each time goes with).
 */
export const TBOARD = {
  MAGIC: 0,
  VERSION: 1,
  /** The last flow id handed out (Atomics.add: ids unique across workers). */
  FLOW_SEQ: 2,
  /** The armed timer's flow id (0: none): set by the cpu at set_timer, taken by the waker. */
  TIMER_FLOW: 3,
  /** Typed input's flow id (0: none): set by the launcher's write, taken by the ring's reader. */
  INPUT_FLOW: 4,
  /** Per interrupt source 0..63: the id of its interrupt in flight (raised, not completed). */
  IRQ_SPAN: 8,
  /** Per virtio slot × queue (slot * 8 + q): the flow id of a notify not yet picked up. */
  NOTIFY_FLOW: 72,
  /** Int32 words before NOTIFY_TIME. */
  WORDS: 72 + 64 * 8,
} as const;
/** Board bytes: the Int32 words, then one Float64 notify time per slot × queue. */
export const TRACE_BOARD_BYTES = TBOARD.WORDS * 4 + 64 * 8 * 8;

export function createTraceBoard(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(TRACE_BOARD_BYTES);
  const b = new Int32Array(sab);
  b[TBOARD.MAGIC] = TRACE_BOARD_MAGIC;
  b[TBOARD.VERSION] = TRACE_VERSION;
  return sab;
}

/**
 * What an event is: its name and category as the JSON will show them, its
 * phase, the names of its numeric arguments, and the track it goes on (the
 * ring's own unless `track` names another, e.g. the cpu actor's "hart 0").
 * Phases: "X" a slice (TS..END), "i" an instant, "A" an async span (TS..END,
 * ID; may overlap others), "b"/"e" the two ends of an async span recorded by
 * different workers (same ID, e.g. an interrupt raised by a device and
 * completed by the cpu). Any record may carry a flow in and a flow out.
 */
export interface EventDef {
  name: string;
  cat: string;
  ph: "X" | "i" | "A" | "b" | "e";
  args?: readonly string[];
  track?: string;
}

/** Host time in milliseconds, one clock for every worker of the process. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The producer side: one per traced worker (`tracer`), or per launcher. */
export class Tracer {
  readonly #h: Int32Array;
  readonly #rec: Float64Array;
  readonly #cap: number;
  readonly #dict: Uint8Array;
  readonly #board: Int32Array;
  readonly #notifyTime: Float64Array;
  readonly #ids = new Map<EventDef, number>();
  readonly #named = new Map<string, EventDef>();
  readonly #enc = new TextEncoder();

  constructor(ring: SharedArrayBuffer, board: SharedArrayBuffer) {
    this.#h = new Int32Array(ring, 0, TRING_HEADER_BYTES / 4);
    if (this.#h[TRING.MAGIC] !== TRACE_RING_MAGIC || this.#h[TRING.VERSION] !== TRACE_VERSION) {
      throw new Error("trace: not an event ring of this version");
    }
    this.#cap = this.#h[TRING.CAPACITY];
    this.#dict = new Uint8Array(ring, TRING_HEADER_BYTES, TRING_DICT_BYTES);
    this.#rec = new Float64Array(ring, TRING_HEADER_BYTES + TRING_DICT_BYTES);
    this.#board = new Int32Array(board, 0, TBOARD.WORDS);
    if (this.#board[TBOARD.MAGIC] !== TRACE_BOARD_MAGIC) throw new Error("trace: not a board");
    this.#notifyTime = new Float64Array(board, TBOARD.WORDS * 4, 64 * 8);
  }

  /** The id of `def` in this ring, written to the dictionary on first use (-1: dictionary full). */
  #id(def: EventDef): number {
    const have = this.#ids.get(def);
    if (have !== undefined) return have;
    const line = this.#enc.encode(JSON.stringify(def) + "\n");
    const at = Atomics.load(this.#h, TRING.DICT_BYTES);
    if (at + line.length > TRING_DICT_BYTES) return -1;
    this.#dict.set(line, at);
    const id = Atomics.load(this.#h, TRING.DICT_COUNT);
    // The consumer reads the dictionary up to DICT_BYTES, published before any record using it.
    Atomics.store(this.#h, TRING.DICT_COUNT, id + 1);
    Atomics.store(this.#h, TRING.DICT_BYTES, at + line.length);
    this.#ids.set(def, id);
    return id;
  }

  /** One definition per name, for events named at run time (an SBI extension, a fault). */
  named(name: string, base: Omit<EventDef, "name">): EventDef {
    const key = `${base.track ?? ""}\u0000${name}`;
    let d = this.#named.get(key);
    if (!d) this.#named.set(key, d = { ...base, name });
    return d;
  }

  /**
   * Write one record; false if the ring was full (counted in DROPPED). Never
   * blocks, never allocates once `def` has been seen.
   */
  record(
    def: EventDef,
    ts: number,
    end: number,
    flowIn: number,
    flowOut: number,
    id: number,
    a0 = 0,
    a1 = 0,
    a2 = 0,
    a3 = 0,
    a4 = 0,
    a5 = 0,
  ): boolean {
    const h = this.#h;
    const head = h[TRING.HEAD];
    if (((head - Atomics.load(h, TRING.TAIL)) | 0) >= this.#cap) {
      h[TRING.DROPPED]++;
      return false;
    }
    const d = this.#id(def);
    if (d < 0) {
      h[TRING.DROPPED]++;
      return false;
    }
    const r = this.#rec, o = ((head >>> 0) % this.#cap) * REC_F64;
    r[o] = ts;
    r[o + 1] = d;
    r[o + 2] = end;
    r[o + 3] = flowIn;
    r[o + 4] = flowOut;
    r[o + 5] = id;
    r[o + 6] = a0;
    r[o + 7] = a1;
    r[o + 8] = a2;
    r[o + 9] = a3;
    r[o + 10] = a4;
    r[o + 11] = a5;
    Atomics.store(h, TRING.HEAD, (head + 1) | 0);
    return true;
  }

  /** An instant now, with up to four arguments. */
  instant(def: EventDef, a0 = 0, a1 = 0, a2 = 0, a3 = 0): void {
    const t = traceNow();
    this.record(def, t, t, 0, 0, 0, a0, a1, a2, a3);
  }

  /** A slice from `start` to now. */
  slice(def: EventDef, start: number, a0 = 0, a1 = 0, a2 = 0, a3 = 0): void {
    this.record(def, start, traceNow(), 0, 0, 0, a0, a1, a2, a3);
  }

  /** A new flow id, unique across the machine's workers. */
  flowId(): number {
    return Atomics.add(this.#board, TBOARD.FLOW_SEQ, 1) + 1;
  }

  /** A word of the board (TBOARD), for the handovers below and the device hooks. */
  get board(): Int32Array {
    return this.#board;
  }

  /**
   * The launcher wrote `n` typed bytes into the input ring: an "input" instant
   * on its track, with an arrow to whoever reads them (inputTaken), unless an
   * arrow is already waiting there (then these bytes ride on it).
   */
  inputWritten(n: number): void {
    const def = this.named("input", { cat: "input", ph: "i", args: ["bytes"] });
    let id = 0;
    if (Atomics.load(this.#board, TBOARD.INPUT_FLOW) === 0) {
      id = this.flowId();
      Atomics.store(this.#board, TBOARD.INPUT_FLOW, id);
    }
    const now = traceNow();
    this.record(def, now, now, 0, id, 0, n);
  }

  /** The input ring's reader (the console actor, or the cpu for the SBI console and UART) took `n` bytes. */
  inputTaken(n: number): void {
    const def = this.named("input taken", { cat: "input", ph: "i", args: ["bytes"] });
    const flow = Atomics.exchange(this.#board, TBOARD.INPUT_FLOW, 0);
    const now = traceNow();
    this.record(def, now, now, flow, 0, 0, n);
  }

  /** The cpu saw QueueNotify for (slot, q): leave a flow and its time for the device, once. */
  notified(slot: number, q: number): number {
    const i = slot * 8 + q;
    if (i >= 64 * 8 || Atomics.load(this.#board, TBOARD.NOTIFY_FLOW + i) !== 0) return 0;
    const id = this.flowId();
    this.#notifyTime[i] = traceNow();
    Atomics.store(this.#board, TBOARD.NOTIFY_FLOW + i, id);
    return id;
  }

  /** The device picked up (slot, q)'s notifications: the flow and when the first was made. */
  takeNotify(slot: number, q: number): { flow: number; at: number } {
    const i = slot * 8 + q;
    if (i >= 64 * 8) return { flow: 0, at: 0 };
    const at = this.#notifyTime[i];
    const flow = Atomics.exchange(this.#board, TBOARD.NOTIFY_FLOW + i, 0);
    return { flow, at: flow ? at : 0 };
  }
}

/**
 * This worker's tracer, or null when the run is not traced. Hooks test it
 * once (`if (tracer !== null)`); a live binding, so set it only through
 * installTracer.
 */
export let tracer: Tracer | null = null;

/** Make `t` this worker's tracer (null: stop tracing). */
export function installTracer(t: Tracer | null): void {
  tracer = t;
}

/** The consumer side: read what a ring holds (the launcher, and tests). */
export class TraceReader {
  readonly #h: Int32Array;
  readonly #rec: Float64Array;
  readonly #cap: number;
  readonly #dict: Uint8Array;
  readonly #dec = new TextDecoder();
  #dictRead = 0;
  /** The ring's event definitions, by id. */
  readonly defs: EventDef[] = [];

  constructor(ring: SharedArrayBuffer) {
    this.#h = new Int32Array(ring, 0, TRING_HEADER_BYTES / 4);
    this.#cap = this.#h[TRING.CAPACITY];
    this.#dict = new Uint8Array(ring, TRING_HEADER_BYTES, TRING_DICT_BYTES);
    this.#rec = new Float64Array(ring, TRING_HEADER_BYTES + TRING_DICT_BYTES);
  }

  /** Records dropped on a full ring so far. */
  get dropped(): number {
    return Atomics.load(this.#h, TRING.DROPPED);
  }

  /** Call `fn` with each record published since the last drain (a view: copy what you keep). */
  drain(fn: (rec: Float64Array, o: number, def: EventDef) => void): number {
    const h = this.#h;
    const head = Atomics.load(h, TRING.HEAD);
    let tail = h[TRING.TAIL];
    const n = (head - tail) | 0;
    if (n === 0) return 0;
    const dictBytes = Atomics.load(h, TRING.DICT_BYTES);
    if (dictBytes > this.#dictRead) {
      const text = this.#dec.decode(this.#dict.slice(this.#dictRead, dictBytes));
      for (const line of text.split("\n")) if (line) this.defs.push(JSON.parse(line) as EventDef);
      this.#dictRead = dictBytes;
    }
    for (let i = 0; i < n; i++) {
      const o = ((tail >>> 0) % this.#cap) * REC_F64;
      const def = this.defs[this.#rec[o + 1]];
      if (def) fn(this.#rec, o, def);
      tail = (tail + 1) | 0;
    }
    Atomics.store(h, TRING.TAIL, tail);
    return n;
  }
}
