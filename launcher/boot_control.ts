// One boot's handle for the control operations: halt and resume the hart
// through the cpu's pause channel (the same halt the gdbstub uses, on a
// channel of its own: actors/cpu/debug_channel.ts), ask the halted cpu for
// its state, and reach each actor's supervisor. launcher/boot.ts makes one
// per boot; launcher/control.ts (pause, resume, status) and
// launcher/snapshot.ts (freeze, save) use it. Nothing here blocks the event
// loop: every wait on a shared word is Atomics.waitAsync with a deadline.
// Read next: launcher/snapshot.ts.

import { wakeCpu } from "../machine/control.ts";
import {
  DBG,
  type DebugReply,
  type DebugRequest,
  readPayload,
  writePayload,
} from "../actors/cpu/debug_channel.ts";
import type { Supervisor } from "../actors/runtime/supervisor.ts";
import type { ProtocolShape } from "../actors/runtime/protocol.ts";
import type { MachineRole } from "../actors/roles.ts";
import type { LaunchOptions } from "./cli.ts";
import type { Board, Prepared } from "./prepare.ts";

/** How long the cpu has to halt or answer (a batch is ~1 ms; a wfi wakes at once). */
const CPU_ANSWER_MS = 5000;

/** One running actor: its role, which device of its kind, its supervisor. */
export interface BootActor {
  role: MachineRole;
  index: number;
  sup: Supervisor<ProtocolShape>;
}

export class BootControl {
  readonly o: LaunchOptions;
  readonly p: Prepared;
  readonly b: Board;
  readonly actors: BootActor[];
  readonly ctl: Int32Array;
  readonly #w: Int32Array;
  readonly #channel: SharedArrayBuffer;
  /** Halts asked for (a user's pause, a snapshot): the hart runs again when it is 0. */
  #holds = 0;

  constructor(
    o: LaunchOptions,
    p: Prepared,
    b: Board,
    actors: BootActor[],
    channel: SharedArrayBuffer,
  ) {
    this.o = o;
    this.p = p;
    this.b = b;
    this.actors = actors;
    this.ctl = new Int32Array(b.control);
    this.#channel = channel;
    this.#w = new Int32Array(channel);
  }

  /** The hart is halted at an instruction boundary. */
  get halted(): boolean {
    return Atomics.load(this.#w, DBG.HALTED) === 1;
  }

  /**
   * Halt the hart (between two batches, or out of wfi) and count the hold;
   * resolves once it is halted. Throws if the cpu does not serve the channel
   * (a swapped cpu) or does not halt in time.
   */
  async hold(): Promise<void> {
    this.#holds++;
    if (this.halted) return;
    try {
      if (Atomics.load(this.#w, DBG.SERVED) !== 1) {
        throw new Error("the cpu actor does not serve the pause channel (a swapped cpu?)");
      }
      const seq = Atomics.load(this.#w, DBG.STOP_SEQ);
      Atomics.store(this.#w, DBG.HALT, 1);
      wakeCpu(this.ctl);
      const ok = await waitWord(this.#w, DBG.STOP_SEQ, () => {
        return Atomics.load(this.#w, DBG.STOP_SEQ) !== seq && this.halted;
      });
      if (!ok) {
        Atomics.store(this.#w, DBG.HALT, 0);
        throw new Error(`the hart did not halt within ${CPU_ANSWER_MS} ms`);
      }
    } catch (e) {
      this.#holds--;
      throw e;
    }
  }

  /** Drop one hold; the last one lets the hart run on. */
  async release(): Promise<void> {
    if (this.#holds === 0) return;
    if (--this.#holds > 0) return;
    const r = await this.request({ op: "resume" });
    if (!r.ok) throw new Error(`resume: ${r.error}`);
  }

  /** One request to the halted cpu. */
  async request(req: DebugRequest): Promise<DebugReply> {
    const w = this.#w;
    if (!this.halted) return { ok: false, error: "the hart is running" };
    if (!writePayload(this.#channel, req)) return { ok: false, error: "request too big" };
    const seq = Atomics.add(w, DBG.REQ_SEQ, 1) + 1;
    Atomics.notify(w, DBG.REQ_SEQ);
    const ok = await waitWord(w, DBG.REPLY_SEQ, () => Atomics.load(w, DBG.REPLY_SEQ) === seq);
    if (!ok) return { ok: false, error: "the cpu did not answer" };
    return readPayload<DebugReply>(this.#channel);
  }

  /** The supervisors of `role`, in device order. */
  of(role: MachineRole): BootActor[] {
    return this.actors.filter((a) => a.role === role).sort((x, y) => x.index - y.index);
  }
}

/** Wait (never blocking the event loop) until `done()` holds; false after the deadline. */
async function waitWord(w: Int32Array, i: number, done: () => boolean): Promise<boolean> {
  const end = performance.now() + CPU_ANSWER_MS;
  for (;;) {
    const v = Atomics.load(w, i);
    if (done()) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    const r = Atomics.waitAsync(w, i, v, Math.min(left, 50));
    if (r.async) await r.value;
  }
}
