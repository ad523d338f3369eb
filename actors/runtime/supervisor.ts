// Supervision: one xstate v5 machine per actor — starting, running, failed,
// restarting, stopped — under a restart policy (at most N restarts in T ms,
// then give up and say why; each role's is in actors/roles.ts). The worker
// itself is a `fromCallback` child: receive → postMessage, worker notices →
// typed events via sendBack, cleanup terminates it. `Supervisor` is the
// small class the launcher uses.
// Read actors/runtime/spawn.ts first for what one instance does.

// A full npm: specifier, not a bare "xstate" from deno.json's import map: mod.ts
// must import from any directory (the library, README "Library").
// deno-lint-ignore no-import-prefix
import { assign, createActor, emit, fromCallback, sendTo, setup } from "npm:xstate@^5";
import {
  ActorFailure,
  type Failure,
  type Message,
  type ProtocolShape,
  type RemoteError,
  type ReplyOf,
  type RoleDescriptor,
} from "./protocol.ts";
import { type ActorLink, freshStamp, spawnActor } from "./spawn.ts";

/** At most `maxRestarts` restarts within any `windowMs`; wait `backoffMs` before each. */
export interface RestartPolicy {
  /** Restarts allowed within windowMs; past them the supervisor gives up. */
  maxRestarts: number;
  /** The sliding window restarts are counted in. */
  windowMs: number;
  /** Wait this long before each restart. */
  backoffMs: number;
  /** Handshake + start must finish within this (default 20 s). */
  startTimeoutMs?: number;
  /** Ping the actor this often and treat a missed answer as a crash (off by default). */
  heartbeatMs?: number;
  /** How long a graceful stop may take before the worker is terminated (default 1 s). */
  stopGraceMs?: number;
}

/** The policy of a supervisor given none: no restarts (a role's own is in its table, actors/roles.ts). */
export const NO_RESTARTS: RestartPolicy = { maxRestarts: 0, windowMs: 60_000, backoffMs: 0 };

/** What a supervisor tells its listeners. */
export type SupervisorEvent =
  | { kind: "started"; role: string; stamp: number }
  | { kind: "crashed"; role: string; stamp: number; reason: string; error?: RemoteError }
  | { kind: "restarted"; role: string; stamp: number; restarts: number }
  | { kind: "gave-up"; role: string; reason: string; failure: Failure }
  | { kind: "stopped"; role: string };

/** Where a supervised actor is in its life. */
export type SupervisorState = "starting" | "running" | "stopping" | "restarting" | "stopped";

// ---- The worker as an xstate callback actor.

interface WorkerInput {
  url: string;
  descriptor: RoleDescriptor;
  buffers: Record<string, SharedArrayBuffer>;
  config: unknown;
  stamp: number;
  policy: RestartPolicy;
  deliver: (msg: Message) => void;
}

/** Commands the machine forwards to the worker child. */
type WorkerCommand =
  | { type: "post"; msg: Message; transfer?: Transferable[] }
  | { type: "stop" };

/** Notices from the worker child, each stamped with its instance. */
type WorkerNotice =
  | { type: "actor.ready"; stamp: number; link: ActorLink<ProtocolShape> }
  | { type: "actor.died"; stamp: number; reason: string; error?: RemoteError; expected: boolean }
  | { type: "actor.start-failed"; stamp: number; failure: Failure };

const workerLogic = fromCallback<WorkerCommand, WorkerInput>(({ input, sendBack, receive }) => {
  const abort = new AbortController();
  let link: ActorLink<ProtocolShape> | undefined;
  let beat: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const notify = (n: WorkerNotice) => {
    if (!closed) sendBack(n);
  };
  spawnActor({
    url: input.url,
    descriptor: input.descriptor,
    buffers: input.buffers,
    config: input.config,
    stamp: input.stamp,
    startTimeoutMs: input.policy.startTimeoutMs,
    signal: abort.signal,
  }).then(
    (l) => {
      if (closed) return l.terminate("supervisor left during start");
      link = l;
      l.onEvent(input.deliver);
      l.onDeath((d) => notify({ type: "actor.died", ...d }));
      notify({ type: "actor.ready", stamp: l.stamp, link: l });
      const hb = input.policy.heartbeatMs;
      if (hb) {
        beat = setInterval(() => {
          l.ping(hb).catch(() => {
            if (!l.dead) l.die(`no heartbeat answer within ${hb} ms`);
          });
        }, hb);
      }
    },
    (e) => {
      const failure: Failure = e instanceof ActorFailure
        ? e.failure
        : { kind: "crashed", reason: String(e) };
      notify({ type: "actor.start-failed", stamp: input.stamp, failure });
    },
  );
  receive((cmd) => {
    switch (cmd.type) {
      case "post":
        link?.cast(cmd.msg, cmd.transfer);
        break;
      case "stop":
        if (link) void link.stop(input.policy.stopGraceMs ?? 1000);
        else {
          abort.abort();
          notify({ type: "actor.died", stamp: input.stamp, reason: "stopped", expected: true });
        }
        break;
    }
  });
  return () => {
    closed = true;
    clearInterval(beat);
    abort.abort();
    link?.terminate("supervisor left");
  };
});

// ---- The machine.

interface SupervisorInput {
  url: string;
  descriptor: RoleDescriptor;
  buffers: Record<string, SharedArrayBuffer>;
  config: unknown;
  policy: RestartPolicy;
  deliver: (msg: Message) => void;
}

interface SupervisorContext extends SupervisorInput {
  stamp: number;
  /** Times (ms) of restarts, pruned to the policy window. */
  restarts: number[];
  /** Total restarts over the supervisor's life. */
  restartCount: number;
  link: ActorLink<ProtocolShape> | undefined;
  lastReason: string;
  lastError: RemoteError | undefined;
  /** Set when the machine gives up or refuses the module. */
  failure: Failure | undefined;
}

type SupervisorMachineEvent =
  | WorkerNotice
  | { type: "post"; msg: Message; transfer?: Transferable[] }
  | { type: "stop" };

function policyText(p: RestartPolicy): string {
  return p.maxRestarts === 0
    ? "no restarts"
    : `at most ${p.maxRestarts} restarts in ${p.windowMs / 1000} s`;
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorMachineEvent,
    input: {} as SupervisorInput,
    emitted: {} as { type: "supervisor"; event: SupervisorEvent },
  },
  actors: { worker: workerLogic },
  guards: {
    current: ({ context, event }) => "stamp" in event && event.stamp === context.stamp,
    refused: ({ context, event }) =>
      event.type === "actor.start-failed" && event.stamp === context.stamp &&
      event.failure.kind === "handshake",
    withinPolicy: ({ context }) => {
      const now = performance.now();
      const recent = context.restarts.filter((t) => now - t < context.policy.windowMs);
      return recent.length < context.policy.maxRestarts;
    },
  },
  delays: {
    backoff: ({ context }) => context.policy.backoffMs,
    stopGrace: ({ context }) => (context.policy.stopGraceMs ?? 1000) + 500,
  },
}).createMachine({
  id: "supervisor",
  context: ({ input }) => ({
    ...input,
    stamp: freshStamp(),
    restarts: [],
    restartCount: 0,
    link: undefined,
    lastReason: "",
    lastError: undefined,
    failure: undefined,
  }),
  initial: "live",
  states: {
    live: {
      invoke: {
        id: "worker",
        src: "worker",
        input: ({ context }) => ({
          url: context.url,
          descriptor: context.descriptor,
          buffers: context.buffers,
          config: context.config,
          stamp: context.stamp,
          policy: context.policy,
          deliver: context.deliver,
        }),
      },
      initial: "starting",
      states: {
        starting: {
          on: {
            "actor.ready": {
              guard: "current",
              target: "running",
              actions: [
                assign({ link: ({ event }) => event.link }),
                emit(({ context }) => ({
                  type: "supervisor" as const,
                  event: context.restartCount === 0
                    ? {
                      kind: "started" as const,
                      role: context.descriptor.role,
                      stamp: context.stamp,
                    }
                    : {
                      kind: "restarted" as const,
                      role: context.descriptor.role,
                      stamp: context.stamp,
                      restarts: context.restartCount,
                    },
                })),
              ],
            },
          },
        },
        running: {
          on: {
            // receive → postMessage: only a running actor takes messages.
            post: { actions: sendTo("worker", ({ event }) => event) },
          },
        },
        stopping: {
          on: {
            "actor.died": { guard: "current", target: "#supervisor.stopped" },
            "actor.start-failed": { target: "#supervisor.stopped" },
            stop: {},
          },
          after: { stopGrace: "#supervisor.stopped" },
        },
      },
      on: {
        "actor.died": {
          guard: "current",
          target: "failed",
          actions: assign({
            lastReason: ({ event }) => event.reason,
            lastError: ({ event }) => event.error,
          }),
        },
        "actor.start-failed": [
          {
            // A module that is not this role's protocol will not get better
            // by restarting: refuse it at once.
            guard: "refused",
            target: "stopped",
            actions: assign({ failure: ({ event }) => event.failure }),
          },
          {
            guard: "current",
            target: "failed",
            actions: assign({
              lastReason: ({ event }) => new ActorFailure("start", event.failure).message,
              lastError: ({ event }) =>
                event.failure.kind === "crashed" ? event.failure.error : undefined,
            }),
          },
        ],
        stop: { target: ".stopping", actions: sendTo("worker", { type: "stop" }) },
      },
    },
    failed: {
      entry: [
        assign({ link: undefined }),
        emit(({ context }) => ({
          type: "supervisor" as const,
          event: {
            kind: "crashed" as const,
            role: context.descriptor.role,
            stamp: context.stamp,
            reason: context.lastReason,
            error: context.lastError,
          },
        })),
      ],
      always: [
        {
          guard: "withinPolicy",
          target: "restarting",
          actions: assign(({ context }) => {
            const now = performance.now();
            return {
              restarts: [...context.restarts.filter((t) => now - t < context.policy.windowMs), now],
              restartCount: context.restartCount + 1,
            };
          }),
        },
        {
          target: "stopped",
          actions: assign({
            failure: ({ context }) => ({
              kind: "gave-up" as const,
              reason: `${context.descriptor.role} actor (${context.url}) crashed ${
                context.restarts.length + 1
              } time(s) within ${context.policy.windowMs / 1000} s, past its policy (${
                policyText(context.policy)
              }); last failure: ${context.lastReason}`,
            }),
          }),
        },
      ],
    },
    restarting: {
      entry: assign({ stamp: () => freshStamp() }),
      after: { backoff: "live" },
      on: { stop: "stopped" },
    },
    stopped: {
      type: "final",
      entry: [
        assign({ link: undefined }),
        emit(({ context }) => ({
          type: "supervisor" as const,
          event: context.failure
            ? {
              kind: "gave-up" as const,
              role: context.descriptor.role,
              reason: new ActorFailure(context.descriptor.role, context.failure).message,
              failure: context.failure,
            }
            : { kind: "stopped" as const, role: context.descriptor.role },
        })),
      ],
    },
  },
});

/** What a Supervisor runs and how. */
export interface SupervisorOptions<P extends ProtocolShape> {
  /** The role's protocol, checked in the handshake. */
  descriptor: RoleDescriptor<P>;
  /** The module to run: usually `registry.get(role)`. */
  url: URL | string;
  /** The shared buffers handed to every instance. */
  buffers: P["buffers"];
  /** The config handed to every instance. */
  config: P["config"];
  /** Merged over NO_RESTARTS; the launcher passes the role's policy from actors/roles.ts. */
  policy?: Partial<RestartPolicy>;
}

/**
 * One supervised actor. Requests go straight to the current instance (its
 * link); casts go through the machine, which forwards them only while running.
 */
export class Supervisor<P extends ProtocolShape> {
  /** The role supervised. */
  readonly role: string;
  private readonly actor;
  private readonly eventFns = new Set<(e: SupervisorEvent) => void>();
  private readonly messageFns = new Set<(msg: P["event"]) => void>();
  private started = false;

  /** A supervisor for `opts`; nothing runs until start(). */
  constructor(opts: SupervisorOptions<P>) {
    this.role = opts.descriptor.role;
    const policy = { ...NO_RESTARTS, ...opts.policy };
    if (!(policy.maxRestarts >= 0 && policy.windowMs > 0 && policy.backoffMs >= 0)) {
      throw new Error(`${this.role}: bad restart policy ${JSON.stringify(policy)}`);
    }
    this.actor = createActor(supervisorMachine, {
      input: {
        url: String(opts.url),
        descriptor: opts.descriptor,
        buffers: opts.buffers,
        config: opts.config,
        policy,
        deliver: (msg) => {
          for (const fn of this.messageFns) fn(msg as P["event"]);
        },
      },
    });
    this.actor.on("supervisor", ({ event }) => {
      for (const fn of this.eventFns) fn(event);
    });
  }

  /**
   * Start the actor; resolves when it first runs. Rejects with an
   * ActorFailure if it is refused (handshake) or gives up before running.
   */
  start(): Promise<void> {
    if (this.started) throw new Error(`${this.role}: supervisor already started`);
    this.started = true;
    return new Promise((resolve, reject) => {
      const off = this.onEvent((e) => {
        if (e.kind === "started" || e.kind === "restarted") {
          off();
          resolve();
        } else if (e.kind === "gave-up") {
          off();
          reject(new ActorFailure(this.role, e.failure));
        } else if (e.kind === "stopped") {
          off();
          reject(new ActorFailure(this.role, { kind: "not-running", state: "stopped" }));
        }
      });
      this.actor.start();
    });
  }

  /** Where the actor is now. */
  get state(): SupervisorState {
    const s = this.actor.getSnapshot();
    if (s.matches("stopped")) return "stopped";
    if (s.matches("restarting") || s.matches("failed")) return "restarting";
    if (s.matches({ live: "running" })) return "running";
    if (s.matches({ live: "stopping" })) return "stopping";
    return "starting";
  }

  /** The current instance's stamp. */
  get stamp(): number {
    return this.actor.getSnapshot().context.stamp;
  }

  /** Why the supervisor stopped on its own (undefined while it runs or after a clean stop). */
  get failure(): Failure | undefined {
    return this.actor.getSnapshot().context.failure;
  }

  /** One-way message to the actor; false (and nothing sent) unless it is running. */
  send(msg: P["cast"], transfer?: Transferable[]): boolean {
    if (this.state !== "running") return false;
    this.actor.send({ type: "post", msg, transfer });
    return true;
  }

  /** Request/reply with the running instance; rejects with ActorFailure. */
  request<M extends P["request"]>(
    msg: M,
    opts: { timeoutMs?: number; transfer?: Transferable[] } = {},
  ): Promise<ReplyOf<P, M["kind"]>> {
    const link = this.actor.getSnapshot().context.link as ActorLink<P> | undefined;
    if (this.state !== "running" || !link) {
      return Promise.reject(
        new ActorFailure(this.role, { kind: "not-running", state: this.state }),
      );
    }
    return link.request(msg, opts);
  }

  /** Stop gracefully (the actor's stop handler runs); resolves once stopped. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.actor.getSnapshot().status === "done" || !this.started) {
        this.started = true;
        return resolve();
      }
      const sub = this.actor.subscribe((s) => {
        if (s.status === "done") {
          sub.unsubscribe();
          resolve();
        }
      });
      this.actor.send({ type: "stop" });
    });
  }

  /** Lifecycle notices: started, crashed, restarted, gave-up, stopped. */
  onEvent(fn: (e: SupervisorEvent) => void): () => void {
    this.eventFns.add(fn);
    return () => this.eventFns.delete(fn);
  }

  /** The role's own events (its protocol's `event` union), from whichever instance runs. */
  onMessage(fn: (msg: P["event"]) => void): () => void {
    this.messageFns.add(fn);
    return () => this.messageFns.delete(fn);
  }
}
