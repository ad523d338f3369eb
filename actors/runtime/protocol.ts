// The base protocol every actor speaks: role descriptors, the typed shape of
// a role's messages, the wire envelope (handshake, start, request/reply with
// ids, casts, events, exit) and `serveActor`, the actor-side half a worker
// file calls. The parent side is actors/runtime/spawn.ts; the contract is docs/ipc.md.
// With --trace, serveActor installs the worker's tracer from the buffers
// `traceRing` and `traceBoard` and marks every message it takes or sends, so
// any actor, swapped in or new, is on the timeline (docs/trace.md).

import { installTracer, Tracer, tracer } from "../../lib/trace.ts";

/** Every protocol message is a `kind`-tagged union member. */
export interface Message {
  /** Which member of the union. */
  kind: string;
}

/**
 * The type-level description of one role's protocol. A role's protocol
 * module (e.g. actors/console/protocol.ts) declares one of these and a
 * descriptor made with `defineRole`:
 *
 *   export interface ConsoleProtocol {
 *     request: { kind: "stats" } | { kind: "resize"; cols: number; rows: number };
 *     reply: { stats: { bytesIn: number }; resize: void };
 *     cast: { kind: "input"; bytes: Uint8Array };
 *     event: { kind: "quit" };
 *     config: { raw: boolean };
 *     buffers: { ctl: SharedArrayBuffer; ram: SharedArrayBuffer };
 *   }
 *   export const CONSOLE = defineRole<ConsoleProtocol>("console", 1);
 */
export interface ProtocolShape {
  /** Parent → actor messages that get a reply. */
  request: Message;
  /** The reply's type for each request kind. */
  reply: Record<string, unknown>;
  /** Parent → actor one-way messages. */
  cast: Message;
  /** Actor → parent one-way messages. */
  event: Message;
  /** Structured-cloneable start configuration. */
  config: unknown;
  /** Shared buffers handed over at start; a restarted actor gets the same ones. */
  buffers: Record<string, SharedArrayBuffer>;
}

/** The reply type of request kind K in protocol P (never if P forgot to declare it). */
export type ReplyOf<P extends ProtocolShape, K> = K extends keyof P["reply"] ? P["reply"][K]
  : never;

/** Name and version of a role's protocol; `P` rides along at the type level only. */
export interface RoleDescriptor<P extends ProtocolShape = ProtocolShape> {
  /** The role's name (`cpu`, `console`, ...). */
  readonly role: string;
  /** Bumped whenever the protocol changes; the handshake refuses a mismatch. */
  readonly protocolVersion: number;
  /** Phantom: never set at run time. */
  readonly protocol?: P;
}

/** The descriptor of a role's protocol `P`: its name (lower case) and version (from 1). */
export function defineRole<P extends ProtocolShape>(
  role: string,
  version: number,
): RoleDescriptor<P> {
  if (!/^[a-z][a-z0-9-]*$/.test(role)) throw new Error(`bad role name ${JSON.stringify(role)}`);
  if (!Number.isInteger(version) || version < 1) {
    throw new Error(`role ${role}: protocol version must be a positive integer, got ${version}`);
  }
  return Object.freeze({ role, protocolVersion: version });
}

/** An error as it crosses a worker boundary. */
export interface RemoteError {
  /** The error's class name. */
  name: string;
  /** Its message. */
  message: string;
  /** Its stack, when it had one. */
  stack?: string;
}

export function toRemoteError(e: unknown): RemoteError {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "Error", message: String(e) };
}

/**
 * Why a request, a start or a whole actor failed. Requests never hang: a
 * reply, one of these, or a crash of the actor settles every one.
 */
export type Failure =
  /** No reply (or no handshake, no start) within the time allowed. */
  | { kind: "timeout"; what: string; ms: number }
  /** The actor's handler threw; its error, as it was. */
  | { kind: "remote"; error: RemoteError }
  /** The actor died (threw, exited, was terminated) with the request in flight. */
  | { kind: "crashed"; reason: string; error?: RemoteError }
  /** The actor is not running (starting, restarting, stopped). */
  | { kind: "not-running"; state: string }
  /** The module answered the handshake with another role or protocol version. */
  | {
    kind: "handshake";
    module: string;
    want: { role: string; protocolVersion: number };
    got: { role: string; protocolVersion: number };
  }
  /** The supervisor stopped restarting the actor. */
  | { kind: "gave-up"; reason: string };

function describeFailure(f: Failure): string {
  switch (f.kind) {
    case "timeout":
      return `${f.what} timed out after ${f.ms} ms`;
    case "remote":
      return `${f.error.name}: ${f.error.message}`;
    case "crashed":
      return `actor died: ${f.reason}`;
    case "not-running":
      return `actor is not running (${f.state})`;
    case "handshake":
      return `module ${f.module} answered the handshake as role "${f.got.role}" protocol v${f.got.protocolVersion}; ` +
        `role "${f.want.role}" needs protocol v${f.want.protocolVersion}`;
    case "gave-up":
      return f.reason;
    default: {
      const _: never = f;
      return String(_);
    }
  }
}

/** The one error type the parent side throws; `failure` says which case. */
export class ActorFailure extends Error {
  /** `actor` names the actor; `failure` is what went wrong. */
  constructor(readonly actor: string, readonly failure: Failure) {
    super(`${actor}: ${describeFailure(failure)}`);
    this.name = "ActorFailure";
  }
}

/** For switches over a union: `default: assertNever(msg)` fails to compile if a kind is missed. */
export function assertNever(x: never): never {
  throw new Error(`unhandled message ${JSON.stringify(x)}`);
}

// ---- The wire envelope. Tagged `t` so it never collides with a role's `kind`.

/** Parent → actor. */
export type ToActor =
  | { t: "hello"; stamp: number }
  | { t: "start"; buffers: Record<string, SharedArrayBuffer>; config: unknown }
  | { t: "call"; id: number; msg: Message; tf?: number }
  | { t: "cast"; msg: Message; tf?: number }
  | { t: "ping"; id: number }
  | { t: "stop" };

/** Actor → parent. Every message carries the stamp the hello gave it. */
export type FromActor =
  | { t: "hello"; stamp: number; role: string; protocolVersion: number }
  | { t: "ready"; stamp: number }
  | { t: "start-failed"; stamp: number; error: RemoteError }
  | { t: "reply"; stamp: number; id: number; ok: true; value: unknown }
  | { t: "reply"; stamp: number; id: number; ok: false; error: RemoteError }
  | { t: "event"; stamp: number; msg: Message; tf?: number }
  | { t: "pong"; stamp: number; id: number }
  | { t: "exiting"; stamp: number; reason: string; error?: RemoteError };

// ---- The actor side.

/** What an actor's handlers see. */
export interface ActorContext<P extends ProtocolShape> {
  /** The role served. */
  readonly role: string;
  /** The protocol version served. */
  readonly protocolVersion: number;
  /** This worker instance's stamp (a restart gets a new one). */
  readonly stamp: number;
  /** The buffers and config from the start message (valid from `start` on). */
  readonly buffers: P["buffers"];
  /** The config from the start message. */
  readonly config: P["config"];
  /** Send a one-way event to the parent. */
  emit(event: P["event"], transfer?: Transferable[]): void;
  /** Tell the parent why, then end this worker. */
  exit(reason: string): void;
}

/** The member of message union `U` whose kind is `K`. */
export type ByKind<U extends Message, K> = Extract<U, { kind: K }>;

/**
 * An actor's handlers. `request` and `cast` are objects keyed by every kind
 * of the role's unions, so a kind left out is a compile error — the same
 * exhaustiveness a `switch` with `assertNever` gives.
 */
export interface ActorHandlers<P extends ProtocolShape> {
  /**
   * Runs once with the buffers and config; the parent sees "ready" after it
   * returns, so it must return. An actor that then runs a loop that never
   * yields (the cpu) starts it from a cast or a `setTimeout(run, 0)`, reports
   * through `ctx.emit` (postMessage works from a busy worker) and watches a
   * stop word in shared memory, since it will not see "stop" messages.
   */
  start?(ctx: ActorContext<P>): void | Promise<void>;
  /** One handler per request kind; its return value (or promise) is the reply. */
  request: {
    [K in P["request"]["kind"]]: (
      msg: ByKind<P["request"], K>,
      ctx: ActorContext<P>,
    ) => ReplyOf<P, K> | Promise<ReplyOf<P, K>>;
  };
  /** One handler per cast kind (one-way messages). */
  cast: {
    [K in P["cast"]["kind"]]: (msg: ByKind<P["cast"], K>, ctx: ActorContext<P>) => void;
  };
  /** Runs on a graceful stop before the worker closes (restore a terminal, close a tap). */
  stop?(ctx: ActorContext<P>): void | Promise<void>;
}

/** The bits of a worker's global scope serveActor uses (a MessagePort-like in tests). */
export interface ActorPort {
  /** Send a message to the parent. */
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  /** Receive the parent's messages. */
  addEventListener(type: "message", fn: (e: MessageEvent) => void): void;
  /** End this worker. */
  close(): void;
}

/**
 * Serve a role from a worker: answer the handshake with `descriptor`, run
 * `start` with the buffers, dispatch requests and casts, report uncaught
 * errors as an "exiting" message (so the parent gets the stack) and close.
 * A request handler that throws answers with a typed failure; a cast handler
 * that throws is an uncaught error: the actor exits and its supervisor decides.
 */
export function serveActor<P extends ProtocolShape>(
  descriptor: RoleDescriptor<P>,
  handlers: ActorHandlers<P>,
  port: ActorPort = globalThis as unknown as ActorPort,
): void {
  let stamp = -1;
  let started = false;
  let exiting = false;
  const post = (m: FromActor, transfer?: Transferable[]) => port.postMessage(m, transfer ?? []);

  const ctx = {
    role: descriptor.role,
    protocolVersion: descriptor.protocolVersion,
    get stamp() {
      return stamp;
    },
    buffers: {} as P["buffers"],
    config: undefined as P["config"],
    emit(event: P["event"], transfer?: Transferable[]) {
      const tf = tracer !== null ? traceMessage(tracer, "send", event.kind, 0) : undefined;
      post({ t: "event", stamp, msg: event, tf }, transfer);
    },
    exit(reason: string, error?: RemoteError) {
      if (exiting) return;
      exiting = true;
      post({ t: "exiting", stamp, reason, error });
      port.close();
    },
  };

  const fatal = (e: Event & { preventDefault(): void }, reason: unknown) => {
    e.preventDefault(); // the parent learns it from "exiting", with the stack
    const err = toRemoteError(reason);
    ctx.exit(`uncaught ${err.name}: ${err.message}`, err);
  };
  const scope = port as unknown as Partial<EventTarget>;
  if (typeof scope.addEventListener === "function" && port === globalThis as unknown) {
    scope.addEventListener(
      "error",
      (e) => fatal(e, (e as ErrorEvent).error ?? (e as ErrorEvent).message),
    );
    scope.addEventListener(
      "unhandledrejection",
      (e) => fatal(e, (e as PromiseRejectionEvent).reason),
    );
  }

  const requests = handlers.request as unknown as Record<
    string,
    (m: Message, c: ActorContext<P>) => unknown
  >;
  const casts = handlers.cast as unknown as Record<
    string,
    (m: Message, c: ActorContext<P>) => void
  >;

  async function call(id: number, msg: Message) {
    try {
      if (!started) throw new Error(`${descriptor.role}: request "${msg.kind}" before start`);
      const fn = requests[msg.kind];
      if (typeof fn !== "function") {
        throw new Error(
          `${descriptor.role} v${descriptor.protocolVersion} has no request "${msg.kind}"`,
        );
      }
      const value = await fn(msg, ctx);
      post({ t: "reply", stamp, id, ok: true, value });
    } catch (e) {
      post({ t: "reply", stamp, id, ok: false, error: toRemoteError(e) });
    }
  }

  async function start(buffers: P["buffers"], config: P["config"]) {
    ctx.buffers = buffers;
    ctx.config = config;
    try {
      const ring = (buffers as Record<string, SharedArrayBuffer>).traceRing;
      const board = (buffers as Record<string, SharedArrayBuffer>).traceBoard;
      if (ring && board && port === globalThis as unknown) installTracer(new Tracer(ring, board));
      await handlers.start?.(ctx);
      started = true;
      post({ t: "ready", stamp });
    } catch (e) {
      post({ t: "start-failed", stamp, error: toRemoteError(e) });
      exiting = true;
      port.close();
    }
  }

  async function stop() {
    try {
      await handlers.stop?.(ctx);
      ctx.exit("stopped");
    } catch (e) {
      ctx.exit("stop handler failed", toRemoteError(e));
    }
  }

  port.addEventListener("message", (e: MessageEvent) => {
    const m = e.data as ToActor;
    if (exiting) return;
    switch (m.t) {
      case "hello":
        stamp = m.stamp;
        post({
          t: "hello",
          stamp,
          role: descriptor.role,
          protocolVersion: descriptor.protocolVersion,
        });
        break;
      case "start":
        void start(m.buffers as P["buffers"], m.config as P["config"]);
        break;
      case "call":
        if (tracer !== null) traceMessage(tracer, "take", m.msg.kind, m.tf ?? 0);
        void call(m.id, m.msg);
        break;
      case "cast": {
        if (tracer !== null) traceMessage(tracer, "take", m.msg.kind, m.tf ?? 0);
        const fn = casts[m.msg.kind];
        if (typeof fn !== "function") {
          throw new Error(
            `${descriptor.role} v${descriptor.protocolVersion} has no cast "${m.msg.kind}"`,
          );
        }
        fn(m.msg, ctx);
        break;
      }
      case "ping":
        post({ t: "pong", stamp, id: m.id });
        break;
      case "stop":
        void stop();
        break;
      default:
        assertNever(m);
    }
  });
}

/**
 * A message on the timeline: "send <kind>" starts an arrow (its id returned,
 * to ride in the envelope's `tf`), "take <kind>" ends the one that came with it.
 */
export function traceMessage(
  t: Tracer,
  dir: "send" | "take",
  kind: string,
  flowIn: number,
): number {
  const def = t.named(`${dir} ${kind}`, { cat: "message", ph: "i" });
  const now = performance.timeOrigin + performance.now();
  const out = dir === "send" ? t.flowId() : 0;
  t.record(def, now, now, flowIn, out, 0);
  return out;
}
