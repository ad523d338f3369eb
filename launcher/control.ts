// A running machine's control operations, one object per run: status,
// pause, resume, snapshot and quit, and the events a controller wants to see
// (the guest's fate, actor crashes and restarts, pauses, snapshots). The
// control socket (launcher/control_socket.ts, --control) and the library's
// Machine (launcher/library.ts) are two faces of it. Operations are served
// one at a time, in order; each boot hands over its BootControl as it
// starts (a reboot builds a new machine, and a pause does not outlive it).
// Read next: launcher/control_socket.ts, launcher/snapshot.ts.

import { FATE, publishedInstret } from "../machine/control.ts";
import type { SupervisorEvent } from "../actors/runtime/supervisor.ts";
import type { BootControl } from "./boot_control.ts";
import { type SnapshotOptions, type SnapshotResult, takeSnapshot } from "./snapshot.ts";
import type { MachineOutcome } from "./fate.ts";

const FATE_NAMES: Record<number, string> = {
  [FATE.POWEROFF]: "powered off",
  [FATE.REBOOT]: "rebooted",
  [FATE.CRASHED]: "died",
  [FATE.INTERNAL_ERROR]: "emulator failure",
  [FATE.STOPPED]: "stopped",
};

/** The fate (a FATE value) in words, as the CLI prints it. */
export function fateName(fate: number): string {
  return FATE_NAMES[fate] ?? `fate ${fate}`;
}

/** An asynchronous event, QMP-shaped: a name and its data. */
export interface ControlEvent {
  /** Its name: GUEST_FATE, ACTOR_RESTARTED, STOP, RESUME, SNAPSHOT, ... (docs/snapshot.md). */
  event: string;
  /** What it carries, by name. */
  data?: Record<string, unknown>;
}

/** What `status` answers. */
export interface ControlStatus {
  /** "starting" (between boots), "running", "paused", or "ended". */
  status: "starting" | "running" | "paused" | "ended";
  /** The guest is running (not paused, between boots or ended). */
  running: boolean;
  /** Which boot of the run (1 for the first; a guest reboot adds one). */
  boot: number;
  /** Instructions retired in this boot, as last published by the cpu. */
  instret: number;
  /** Once ended: the guest's fate in words and the exit status. */
  fate?: string;
  /** Once ended: the exit status the run ends with. */
  exitCode?: number;
}

/** A control operation that cannot be done now, with the reason (QMP's GenericError). */
export class ControlError extends Error {
  /** "ControlError". */
  override name = "ControlError";
}

/** A run's control operations and events (see the top of this file). */
export class MachineControl {
  #boot: BootControl | null = null;
  #boots = 0;
  #paused = false;
  #ended: { fate: string; exitCode: number } | null = null;
  readonly #listeners = new Set<(e: ControlEvent) => void>();
  /** The operation under way: the next waits for it. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #quit: () => void;

  /** `quit` stops the machine as three ^C would. */
  constructor(quit: () => void) {
    this.#quit = quit;
  }

  /** Events from now on go to `fn`; returns the unsubscribe. */
  listen(fn: (e: ControlEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Tell every listener. */
  emit(e: ControlEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(e);
      } catch { /* a listener's failure is its own */ }
    }
  }

  /**
   * A boot started (launcher/machine.ts; not for library users).
   * @ignore
   */
  bootStarted(bc: BootControl): void {
    this.#boot = bc;
    this.#boots++;
    this.#paused = false;
  }

  /** The boot ended (its machine is gone); `rebooting` when another follows. */
  bootEnded(): void {
    this.#boot = null;
    this.#paused = false;
  }

  /** A supervisor event, as the socket reports it. */
  actorEvent(e: SupervisorEvent): void {
    if (e.kind === "crashed") {
      this.emit({ event: "ACTOR_CRASHED", data: { role: e.role, reason: e.reason } });
    } else if (e.kind === "restarted") {
      this.emit({ event: "ACTOR_RESTARTED", data: { role: e.role, restarts: e.restarts } });
    } else if (e.kind === "gave-up") {
      this.emit({ event: "ACTOR_GAVE_UP", data: { role: e.role, reason: e.reason } });
    }
  }

  /** The run is over: the guest's fate, said once. */
  ended(out: MachineOutcome): void {
    if (this.#ended) return;
    const fate = fateName(out.fate);
    this.#ended = { fate, exitCode: out.exitCode };
    this.#boot = null;
    this.emit({
      event: "GUEST_FATE",
      data: { fate, exitCode: out.exitCode, reason: out.reason, instret: out.instret },
    });
  }

  /** Where the machine is: running, paused, between boots or ended. */
  status(): ControlStatus {
    const b = this.#boot;
    if (this.#ended) {
      return { status: "ended", running: false, boot: this.#boots, instret: 0, ...this.#ended };
    }
    if (b === null) return { status: "starting", running: false, boot: this.#boots, instret: 0 };
    return {
      status: this.#paused ? "paused" : "running",
      running: !this.#paused,
      boot: this.#boots,
      instret: publishedInstret(b.ctl),
    };
  }

  /** One operation at a time, in the order asked. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => {});
    return next;
  }

  #running(): BootControl {
    if (this.#ended) throw new ControlError("the machine has ended");
    if (this.#boot === null) throw new ControlError("the machine is between boots; try again");
    return this.#boot;
  }

  /**
   * Halt the hart (the guest's clock stands still while paused); devices
   * finish what they were doing. Pausing a paused machine changes nothing.
   */
  pause(): Promise<void> {
    return this.#serial(async () => {
      const b = this.#running();
      if (this.#paused) return;
      await b.hold();
      this.#paused = true;
      this.emit({ event: "STOP" });
    });
  }

  /** Let a paused machine run on. */
  resume(): Promise<void> {
    return this.#serial(async () => {
      const b = this.#running();
      if (!this.#paused) return;
      await b.release();
      this.#paused = false;
      this.emit({ event: "RESUME" });
    });
  }

  /**
   * Snapshot the machine into `path` (launcher/snapshot.ts); resolves once the
   * file is complete, with the machine running on (or still paused).
   */
  snapshot(path: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
    if (typeof path !== "string" || path === "") {
      return Promise.reject(new ControlError("snapshot: want a path"));
    }
    return this.#serial(async () => {
      const r = await takeSnapshot(this.#running(), path, opts);
      this.emit({
        event: "SNAPSHOT",
        data: { path: r.path, bytes: r.bytes, pausedMs: Math.round(r.pausedMs) },
      });
      return r;
    });
  }

  /** Stop the machine (its fate: stopped). */
  quit(): void {
    this.#quit();
  }
}
