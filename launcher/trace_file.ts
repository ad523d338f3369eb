// --trace=<file.json>: the launcher's half of the timeline. It makes the
// shared board and one event ring per actor (lib/trace.ts), drains them every
// few milliseconds and streams what they hold to a Chrome Trace Event JSON
// file, which ui.perfetto.dev and chrome://tracing open: one process, one
// track per actor and per hart, async spans for requests and interrupts, flow
// arrows between tracks. Memory stays bounded (the rings); the file grows
// with the run. At the end every span or arrow left open (a run stopped
// mid-request, a record dropped on a full ring) is closed and marked
// `unfinished`, so the file always nests and pairs.
// Read next: scripts/trace-summary.ts (reading it back), docs/trace.md.

import {
  createTraceBoard,
  createTraceRing,
  type EventDef,
  REC,
  REC_ARGS,
  TBOARD,
  Tracer,
  TraceReader,
} from "../lib/trace.ts";

/** How often the rings are drained: at a boot's rate a ring fills in seconds, not 20 ms. */
const DRAIN_MS = 20;

/** Tracks in this order at the top of the UI; others follow in order of appearance. */
const TRACK_ORDER = ["launcher", "cpu", "hart 0", "hart 0 traps", "irq", "waker", "console"];

/** One Chrome trace event, as written. */
type TraceEvent = Record<string, unknown>;

/** The --trace file of one run (every boot of it). */
export class TraceFile {
  readonly path: string;
  /** The board every traced worker of this run shares. */
  readonly board = createTraceBoard();
  /** The launcher's own tracer (supervisor events, milestones, messages it sends). */
  readonly tracer: Tracer;
  readonly #file: Deno.FsFile;
  readonly #enc = new TextEncoder();
  readonly #origin: number;
  readonly #readers: { reader: TraceReader; track: string }[] = [];
  readonly #tids = new Map<string, number>();
  readonly #openAsync = new Map<string, { cat: string; name: string; ts: number }>();
  readonly #earlyEnds = new Map<string, { cat: string; name: string; ts: number }>();
  readonly #openFlows = new Map<number, number>();
  readonly #earlyFlowEnds = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #first = true;
  #lastTs = 0;
  #events = 0;
  #bytes = 0;
  #closed = false;
  /** Why writing stopped (a full disk, a removed file): the machine runs on untraced. */
  #failed: string | null = null;

  /** Open (truncate) `path` and start draining. Throws if the file cannot be created. */
  constructor(path: string) {
    this.path = path;
    this.#file = Deno.openSync(path, { write: true, create: true, truncate: true });
    this.#origin = performance.timeOrigin + performance.now();
    this.#write('{"displayTimeUnit":"ms","traceEvents":[\n');
    this.#emit({ name: "process_name", ph: "M", pid: 1, tid: 0, args: { name: "actorvm" } });
    this.tracer = new Tracer(this.ring("launcher"), this.board);
    this.#timer = setInterval(() => this.drain(), DRAIN_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** A new ring whose events go on `track` (unless an event names its own). */
  ring(track: string): SharedArrayBuffer {
    const sab = createTraceRing();
    this.#readers.push({ reader: new TraceReader(sab), track });
    return sab;
  }

  /**
   * A new boot: forget the handovers of the last one (an interrupt or a
   * notify it left in flight would pair with the new boot's). Flow ids go on.
   */
  newBoot(): void {
    const b = new Int32Array(this.board, 0, TBOARD.WORDS);
    for (let i = TBOARD.TIMER_FLOW; i < TBOARD.WORDS; i++) Atomics.store(b, i, 0);
  }

  /** Events written so far. */
  get events(): number {
    return this.#events;
  }

  /** Move everything the rings hold into the file. */
  drain(): void {
    if (this.#closed || this.#failed) return;
    // Each ring is in time order; merge this drain's records so the file mostly is too.
    const batch: TraceEvent[] = [];
    for (const { reader, track } of this.#readers) {
      reader.drain((r, o, def) => this.#convert(r, o, def, track, batch));
    }
    batch.sort((a, b) => (a.ts as number) - (b.ts as number));
    try {
      for (const e of batch) this.#emit(e);
    } catch (e) {
      // The file cannot take more: stop writing (the rings then fill and drop), never the machine.
      this.#failed = (e as Error).message;
      clearInterval(this.#timer);
    }
  }

  /** Why the file stopped being written, or null. */
  get failed(): string | null {
    return this.#failed;
  }

  /** Close every span and arrow left open, say what was dropped, and close the file. */
  close(): { events: number; bytes: number; dropped: number } {
    if (this.#closed) return { events: this.#events, bytes: this.#bytes, dropped: 0 };
    this.drain();
    if (this.#failed) {
      this.#closed = true;
      try {
        this.#file.close();
      } catch { /* already gone */ }
      return { events: this.#events, bytes: this.#bytes, dropped: 0 };
    }
    clearInterval(this.#timer);
    const end = this.#lastTs;
    const tid = this.#tid("launcher");
    for (const [id, a] of this.#openAsync) {
      this.#emit({ ...a, ph: "e", id, ts: end, pid: 1, tid, args: { unfinished: true } });
    }
    for (const [id, a] of this.#earlyEnds) {
      // An end whose start was dropped on a full ring: a zero-length span.
      this.#emit({ ...a, ph: "b", id, pid: 1, tid, args: { unfinished: true } });
    }
    for (const [id] of this.#openFlows) {
      this.#emit(this.#anchor(end, tid, "unfinished"));
      this.#emit({ name: "flow", cat: "flow", ph: "f", bp: "e", id, ts: end, pid: 1, tid });
    }
    for (const [id, ts] of this.#earlyFlowEnds) {
      this.#emit(this.#anchor(ts, tid, "unfinished"));
      this.#emit({ name: "flow", cat: "flow", ph: "s", id, ts, pid: 1, tid });
    }
    const dropped = this.#readers.reduce((n, r) => n + r.reader.dropped, 0);
    this.#closed = true;
    this.#write(
      `\n],"otherData":${
        JSON.stringify({
          tool: "actorvm --trace",
          droppedRecords: dropped,
          // The clock: ts 0 in Unix ms, and when this process started (performance.timeOrigin),
          // so the time before the trace began (Deno's start, the launcher's imports) is known.
          originEpochMs: this.#origin,
          processStartEpochMs: performance.timeOrigin,
        })
      }}\n`,
    );
    this.#file.close();
    return { events: this.#events, bytes: this.#bytes, dropped };
  }

  /** Host milliseconds to the file's microseconds since the trace began (0.01 µs steps). */
  #us(ms: number): number {
    return Math.round((ms - this.#origin) * 100_000) / 100;
  }

  #tid(track: string): number {
    let t = this.#tids.get(track);
    if (t === undefined) {
      t = this.#tids.size + 1;
      this.#tids.set(track, t);
      this.#emit({ name: "thread_name", ph: "M", pid: 1, tid: t, args: { name: track } });
      const order = TRACK_ORDER.indexOf(track);
      this.#emit({
        name: "thread_sort_index",
        ph: "M",
        pid: 1,
        tid: t,
        args: { sort_index: order >= 0 ? order : TRACK_ORDER.length + t },
      });
    }
    return t;
  }

  #anchor(ts: number, tid: number, name: string): TraceEvent {
    return { name, cat: "flow", ph: "X", ts, dur: 0, pid: 1, tid };
  }

  #convert(r: Float64Array, o: number, def: EventDef, ring: string, out: TraceEvent[]): void {
    const ts = this.#us(r[o + REC.TS]);
    const end = this.#us(r[o + REC.END]);
    const tid = this.#tid(def.track ?? ring);
    const args: Record<string, number> = {};
    const names = def.args ?? [];
    for (let i = 0; i < names.length && i < REC_ARGS; i++) args[names[i]] = r[o + REC.ARG0 + i];
    const base = { name: def.name, cat: def.cat, pid: 1, tid };
    const flowIn = r[o + REC.FLOW_IN], flowOut = r[o + REC.FLOW_OUT];
    const id = r[o + REC.ID];
    switch (def.ph) {
      case "X":
        out.push({ ...base, ph: "X", ts, dur: Math.max(0, end - ts), args });
        break;
      case "i":
        // An instant with an arrow is a zero-length slice: arrows bind to slices.
        if (flowIn || flowOut) out.push({ ...base, ph: "X", ts, dur: 0, args });
        else out.push({ ...base, ph: "i", s: "t", ts, args });
        break;
      case "A": {
        const key = `${def.cat}:${id}`;
        out.push({ ...base, ph: "b", id: key, ts, args });
        out.push({ ...base, ph: "e", id: key, ts: Math.max(ts, end) });
        break;
      }
      case "b": {
        const key = `${def.cat}:${id}`;
        if (this.#earlyEnds.delete(key)) {
          out.push({ ...base, ph: "b", id: key, ts, args });
          break;
        }
        this.#openAsync.set(key, { cat: def.cat, name: def.name, ts });
        out.push({ ...base, ph: "b", id: key, ts, args });
        break;
      }
      case "e": {
        const key = `${def.cat}:${id}`;
        const open = this.#openAsync.get(key);
        if (open) {
          this.#openAsync.delete(key);
          // Same name as the begin: that is how the viewers pair them.
          out.push({ ...base, name: open.name, ph: "e", id: key, ts: Math.max(ts, open.ts), args });
        } else {
          this.#earlyEnds.set(key, { cat: def.cat, name: def.name, ts });
          out.push({ ...base, ph: "e", id: key, ts, args });
        }
        break;
      }
    }
    if (flowIn && flowIn === flowOut) {
      out.push({ name: "flow", cat: "flow", ph: "t", id: flowIn, ts, pid: 1, tid });
    } else {
      if (flowIn) {
        if (this.#openFlows.delete(flowIn)) {
          out.push({ name: "flow", cat: "flow", ph: "f", bp: "e", id: flowIn, ts, pid: 1, tid });
        } else {
          this.#earlyFlowEnds.set(flowIn, ts);
          out.push({ name: "flow", cat: "flow", ph: "f", bp: "e", id: flowIn, ts, pid: 1, tid });
        }
      }
      if (flowOut) {
        if (!this.#earlyFlowEnds.delete(flowOut)) this.#openFlows.set(flowOut, ts);
        out.push({ name: "flow", cat: "flow", ph: "s", id: flowOut, ts, pid: 1, tid });
      }
    }
  }

  #emit(e: TraceEvent): void {
    const ts = e.ts as number | undefined;
    if (ts !== undefined && ts > this.#lastTs) this.#lastTs = ts;
    this.#write((this.#first ? "" : ",\n") + JSON.stringify(e));
    this.#first = false;
    if (e.ph !== "M") this.#events++;
  }

  #write(s: string): void {
    const b = this.#enc.encode(s);
    this.#bytes += b.length;
    let off = 0;
    while (off < b.length) off += this.#file.writeSync(b.subarray(off));
  }
}
