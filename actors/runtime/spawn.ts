// The parent side of one actor instance: start a module in a Worker, run the
// handshake (role + protocol version), hand it its SharedArrayBuffers, then
// carry requests (ids, timeouts, typed failures), casts and events. Worker
// errors never reach the process (always preventDefault); every way a worker
// can die becomes one `died` notice. Supervision on top: actors/runtime/supervisor.ts.

import {
  ActorFailure,
  type Failure,
  type FromActor,
  type ProtocolShape,
  type RemoteError,
  type ReplyOf,
  type RoleDescriptor,
  type ToActor,
  traceMessage,
} from "./protocol.ts";
import { tracer } from "../../lib/trace.ts";

/** How an actor instance ended. `expected` is true for a stop we asked for. */
export interface Death {
  stamp: number;
  reason: string;
  error?: RemoteError;
  expected: boolean;
}

export interface SpawnOptions<P extends ProtocolShape> {
  /** The module to run (a file: URL for a local worker file). */
  url: URL | string;
  /** The role and protocol version the module must answer the handshake with. */
  descriptor: RoleDescriptor<P>;
  buffers: P["buffers"];
  config: P["config"];
  /** Instance stamp; late messages from other stamps are dropped. Default: a fresh one. */
  stamp?: number;
  /** Worker name (shows in Deno's error output). Default: the role. */
  name?: string;
  /** Handshake + start must finish within this. Default 20 s (first compile on a busy machine). */
  startTimeoutMs?: number;
  /** Stop after a good handshake: resolve with an unstarted link (see registry.probeModule). */
  handshakeOnly?: boolean;
  /** Cancels a start in progress (the worker is terminated). */
  signal?: AbortSignal;
}

/**
 * A worker started before anyone asked for it (launcher/prespawn.ts): its
 * module loads while the launcher's own are still loading, and the first
 * spawnActor of the same module adopts it instead of starting another. Until
 * then nothing is sent to it (it waits for "hello"), and an error while its
 * module loads is kept, not thrown at the process, for the adopter to report.
 */
interface Prespawned {
  worker: Worker;
  error: ErrorEvent | null;
  /** Remove the keeping listener: the link's own take over. */
  release(): void;
}

const prespawned = new Map<string, Prespawned>();

/**
 * Start a module Worker for `url` now, to be adopted by the first
 * spawnActor of that module (not a handshake-only probe). One per module; a
 * second call for the same module does nothing.
 */
export function prespawnWorker(url: URL | string, name: string): void {
  const key = String(url);
  if (prespawned.has(key)) return;
  const worker = new Worker(key, { type: "module", name });
  const early: Prespawned = {
    worker,
    error: null,
    release: () => worker.removeEventListener("error", keep),
  };
  // Without preventDefault an error in the module's load would kill the process.
  const keep = (e: ErrorEvent) => {
    e.preventDefault();
    early.error ??= e;
  };
  worker.addEventListener("error", keep);
  prespawned.set(key, early);
}

/** Whether a worker for `url` was prespawned and is still waiting to be adopted. */
export function isPrespawned(url: URL | string): boolean {
  return prespawned.has(String(url));
}

/** Terminate the prespawned workers nobody adopted (the run ended before, or swapped the module). */
export function dropPrespawned(): void {
  for (const early of prespawned.values()) {
    early.worker.terminate();
    early.release();
  }
  prespawned.clear();
}

let nextStamp = 1;
/** A process-wide unique worker-instance stamp. */
export function freshStamp(): number {
  return nextStamp++;
}

type Pending = {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout>;
};

/** One running actor instance. Obtain it with `spawnActor`. */
/** Events an ActorLink keeps for its first listener (see ActorLink.early). */
const EARLY_EVENTS = 1024;

export class ActorLink<P extends ProtocolShape> {
  readonly stamp: number;
  readonly role: string;
  readonly url: string;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private eventFns = new Set<(msg: P["event"]) => void>();
  /**
   * Events that arrived before anyone listened: an actor may emit from its
   * start handler (a device serving a doorbell rung before it was up), before
   * the supervisor hears "ready" and subscribes. Kept, in order, for the first
   * listener, not dropped (up to EARLY_EVENTS: a link nobody listens to
   * does not grow without end).
   */
  private early: P["event"][] | null = [];
  private deathFns = new Set<(d: Death) => void>();
  private death: Death | undefined;
  private stopping = false;
  /** Stage hooks used by spawnActor while the link is not ready yet. */
  onStage: ((m: FromActor) => void) | undefined;

  constructor(private readonly worker: Worker, stamp: number, role: string, url: string) {
    this.stamp = stamp;
    this.role = role;
    this.url = url;
    worker.addEventListener("message", (e) => this.onMessage(e.data as FromActor));
    worker.addEventListener("error", (e) => {
      // Without preventDefault an actor's uncaught error kills the whole process.
      e.preventDefault();
      const where = e.filename ? ` (${e.filename}:${e.lineno})` : "";
      this.die(`${e.message}${where}`, { name: "Error", message: e.message });
    });
    worker.addEventListener("messageerror", () => {
      this.die("a message from the actor could not be deserialised");
    });
  }

  /** The name used in errors: role#stamp. */
  get label(): string {
    return `${this.role}#${this.stamp}`;
  }

  get dead(): boolean {
    return this.death !== undefined;
  }

  post(m: ToActor, transfer?: Transferable[]): void {
    if (!this.death) this.worker.postMessage(m, transfer ?? []);
  }

  private onMessage(m: FromActor): void {
    // A message from another instance (or after death) is stale, and one
    // that is not an envelope at all is not ours: drop both.
    if (this.death || typeof m !== "object" || m === null || m.stamp !== this.stamp) return;
    switch (m.t) {
      case "reply": {
        const p = this.pending.get(m.id);
        if (!p) return; // timed out already
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.value);
        else p.reject(new ActorFailure(this.label, { kind: "remote", error: m.error }));
        return;
      }
      case "pong": {
        const p = this.pending.get(-m.id);
        if (p) {
          this.pending.delete(-m.id);
          clearTimeout(p.timer);
          p.resolve(undefined);
        }
        return;
      }
      case "event":
        if (tracer !== null) {
          traceMessage(tracer, "take", `${m.msg.kind} from ${this.role}`, m.tf ?? 0);
        }
        if (this.eventFns.size === 0 && this.early !== null && this.early.length < EARLY_EVENTS) {
          this.early.push(m.msg as P["event"]);
        }
        for (const fn of this.eventFns) fn(m.msg as P["event"]);
        return;
      case "exiting":
        this.die(m.reason, m.error);
        return;
      default:
        this.onStage?.(m);
    }
  }

  /** Mark dead once, terminate, and settle everything in flight. */
  die(reason: string, error?: RemoteError): void {
    if (this.death) return;
    this.death = { stamp: this.stamp, reason, error, expected: this.stopping };
    this.worker.terminate();
    const failure: Failure = { kind: "crashed", reason, error };
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ActorFailure(this.label, failure));
    }
    this.pending.clear();
    for (const fn of this.deathFns) fn(this.death);
  }

  private expect(id: number, what: string, timeoutMs: number): Promise<unknown> {
    if (this.death) {
      return Promise.reject(
        new ActorFailure(this.label, {
          kind: "crashed",
          reason: this.death.reason,
          error: this.death.error,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ActorFailure(this.label, { kind: "timeout", what, ms: timeoutMs }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Ask and await the reply; rejects with ActorFailure (remote, timeout, crashed). */
  request<M extends P["request"]>(
    msg: M,
    opts: { timeoutMs?: number; transfer?: Transferable[] } = {},
  ): Promise<ReplyOf<P, M["kind"]>> {
    const id = this.nextId++;
    const ms = opts.timeoutMs ?? 5000;
    const reply = this.expect(id, `request "${msg.kind}"`, ms);
    const tf = tracer !== null ? traceMessage(tracer, "send", `${msg.kind} to ${this.role}`, 0) : 0;
    this.post({ t: "call", id, msg, ...(tf ? { tf } : {}) }, opts.transfer);
    return reply as Promise<ReplyOf<P, M["kind"]>>;
  }

  /** One-way message; false if the instance is dead. */
  cast(msg: P["cast"], transfer?: Transferable[]): boolean {
    if (this.death) return false;
    const tf = tracer !== null ? traceMessage(tracer, "send", `${msg.kind} to ${this.role}`, 0) : 0;
    this.post({ t: "cast", msg, ...(tf ? { tf } : {}) }, transfer);
    return true;
  }

  /** Resolves if the actor's event loop answers within `timeoutMs`. */
  ping(timeoutMs = 1000): Promise<void> {
    const id = this.nextId++;
    const p = this.expect(-id, "ping", timeoutMs) as Promise<void>;
    this.post({ t: "ping", id });
    return p;
  }

  onEvent(fn: (msg: P["event"]) => void): () => void {
    this.eventFns.add(fn);
    const early = this.early;
    this.early = null;
    for (const msg of early ?? []) fn(msg);
    return () => this.eventFns.delete(fn);
  }

  /** Called once when the instance dies, however it dies (at once if it already has). */
  onDeath(fn: (d: Death) => void): () => void {
    if (this.death) {
      fn(this.death);
      return () => {};
    }
    this.deathFns.add(fn);
    return () => this.deathFns.delete(fn);
  }

  /**
   * Ask the actor to run its stop handler and exit; terminate it if it has
   * not after `graceMs`. A worker stuck in a loop that never yields cannot
   * be terminated (docs/deno-facts.md): such actors must watch a stop word.
   */
  stop(graceMs = 1000): Promise<Death> {
    this.stopping = true;
    return new Promise((resolve) => {
      if (this.death) return resolve(this.death);
      const timer = setTimeout(() => this.die(`no exit within ${graceMs} ms of stop`), graceMs);
      this.onDeath((d) => {
        clearTimeout(timer);
        resolve(d);
      });
      this.post({ t: "stop" });
    });
  }

  /** End the instance now, no stop handler. */
  terminate(reason = "terminated"): void {
    this.stopping = true;
    this.die(reason);
  }
}

/**
 * Start `opts.url` in a module Worker, check its handshake against
 * `opts.descriptor`, hand it the buffers and config, and resolve once its
 * start handler has run. Rejects with ActorFailure: handshake (wrong role or
 * version), crashed (threw during load or start), timeout.
 */
export function spawnActor<P extends ProtocolShape>(opts: SpawnOptions<P>): Promise<ActorLink<P>> {
  const url = String(opts.url);
  const stamp = opts.stamp ?? freshStamp();
  const want = opts.descriptor;
  const ms = opts.startTimeoutMs ?? 20_000;
  const early = opts.handshakeOnly ? undefined : prespawned.get(url);
  if (early) prespawned.delete(url);
  const worker = early?.worker ??
    new Worker(url, { type: "module", name: opts.name ?? `${want.role}#${stamp}` });
  const link = new ActorLink<P>(worker, stamp, want.role, url);
  early?.release();

  return new Promise((resolve, reject) => {
    const fail = (f: Failure) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      link.onStage = undefined;
      link.terminate(`start failed: ${f.kind}`);
      reject(new ActorFailure(link.label, f));
    };
    let greeted = false;
    const timer = setTimeout(() =>
      fail({
        kind: "timeout",
        what: greeted ? `start of ${url}` : `handshake with ${url} (does it call serveActor?)`,
        ms,
      }), ms);
    const done = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      link.onStage = undefined;
      offDeath();
      resolve(link);
    };
    const onAbort = () => fail({ kind: "crashed", reason: "start cancelled" });
    if (opts.signal?.aborted) return onAbort();
    if (early?.error) {
      // The adopted worker's module failed while it loaded, before anyone listened.
      const e = early.error;
      const where = e.filename ? ` (${e.filename}:${e.lineno})` : "";
      return fail({
        kind: "crashed",
        reason: `during start: ${e.message}${where}`,
        error: { name: "Error", message: e.message },
      });
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    const offDeath = link.onDeath((d) => {
      if (link.onStage) {
        fail({ kind: "crashed", reason: `during start: ${d.reason}`, error: d.error });
      }
    });
    link.onStage = (m) => {
      switch (m.t) {
        case "hello":
          if (m.role !== want.role || m.protocolVersion !== want.protocolVersion) {
            return fail({
              kind: "handshake",
              module: url,
              want: { role: want.role, protocolVersion: want.protocolVersion },
              got: { role: m.role, protocolVersion: m.protocolVersion },
            });
          }
          greeted = true;
          if (opts.handshakeOnly) return done();
          if (!early) link.post({ t: "start", buffers: opts.buffers, config: opts.config });
          return;
        case "ready":
          return done();
        case "start-failed":
          return fail({
            kind: "crashed",
            reason: `start handler threw: ${m.error.message}`,
            error: m.error,
          });
      }
    };
    link.post({ t: "hello", stamp });
    // An adopted worker is the role's own module (launcher/prespawn.ts), so its
    // handshake is known to pass: "start" goes with "hello", and the worker
    // starts as soon as its module has loaded, not when this thread (perhaps
    // busy starting the other workers) has read its answer. The answer is
    // still checked when it comes, and a wrong one still ends the worker.
    if (early) link.post({ t: "start", buffers: opts.buffers, config: opts.config });
  });
}
