// The launcher's side of a fault plan: load and check the file, pick the
// seed, hand each actor its rules and its shared counters, print the plan at
// start, log each injection as it is reported, and sum them up at exit.
// launcher/machine.ts owns one FaultRun per run (counters are fresh per boot).
// Read next: faults/plan.ts (the format), faults/engine.ts (the engine).

import { createFaultCounters } from "../engine.ts";
import {
  describeRule,
  type FaultConfig,
  type FaultEvent,
  type FaultLayer,
  FaultLog,
  type FaultPlan,
  LAYER_UNITS,
  parsePlan,
  PlanError,
  type RestartOverride,
} from "../plan.ts";
import { clockSkewTicks } from "./waker.ts";

/** Injection lines printed per rule before the rest are only counted. */
const MAX_LINES_PER_RULE = 20;

export class FaultRun {
  readonly log = new FaultLog();
  readonly #printed = new Map<number, number>();
  /** Rules switched off for making no progress (FaultEngine, NO_PROGRESS_KILLS). */
  readonly disarmed = new Set<number>();

  private constructor(readonly plan: FaultPlan, readonly seed: number, readonly path: string) {}

  /** A run of a plan already checked (tests, scripts); `path` names it in messages. */
  static fromPlan(plan: FaultPlan, seed: number, path: string): FaultRun {
    return new FaultRun(plan, seed, path);
  }

  /** Read `path` and check it; throws PlanError (the caller's exit 2) with the bad rule named. */
  static load(path: string, seed: number | null): FaultRun {
    let text: string;
    try {
      // A device or a fifo (/dev/zero) would be read forever.
      if (!Deno.statSync(path).isFile) {
        throw new PlanError(`fault plan ${path}: not a regular file (a device or a pipe?)`);
      }
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof PlanError) throw e;
      throw new PlanError(
        `fault plan ${path}: cannot be read: ${
          e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
        }`,
      );
    }
    const plan = parsePlan(text, `fault plan ${path}`);
    // --seed wins over the plan's seed; with neither, a fresh one that is printed so a run can be repeated.
    const s = seed ?? plan.seed ?? Math.floor(Math.random() * 0x7fff_ffff);
    return new FaultRun(plan, s, path);
  }

  /** The start-up message: the plan, its seed, one line per rule. */
  describe(): string[] {
    return [
      `fault plan ${this.path}, seed ${this.seed} (repeat with --seed=${this.seed}): ${this.plan.rules.length} rule(s)`,
      ...this.plan.rules.map((r) => `  ${describeRule(r)}`),
      // What "the n-th event" counts, for each layer the plan uses.
      ...[...new Set(this.plan.rules.map((r) => r.layer))].map((l) =>
        `  a ${l} event is one ${LAYER_UNITS[l]}`
      ),
      ...Object.entries(this.plan.restart).map(([role, p]) =>
        `  restart policy for ${role}: ${JSON.stringify(p)}`
      ),
    ];
  }

  /** What one actor gets: its rules (config) and its counters (a buffer). */
  forActor(layer: FaultLayer, device = 0): { config: FaultConfig; counters: SharedArrayBuffer } {
    return {
      config: {
        seed: this.seed,
        rules: this.plan.rules.filter((r) => r.layer === layer),
        device,
      },
      counters: createFaultCounters(this.plan),
    };
  }

  /** The plan's restart policy for `role`, if it has one. */
  policy(role: string): RestartOverride | undefined {
    return this.plan.restart[role as FaultLayer];
  }

  /** CTL64.CLOCK_SKEW for the waker (0n without skew rules). */
  get clockSkew(): bigint {
    return clockSkewTicks(this.plan);
  }

  /** An injection reported by an actor; returns the line to print, or null past the limit. */
  record(role: string, e: FaultEvent): string | null {
    if (e.effect === "disarmed") {
      // Not an injection: said once, loudly, and in the summary.
      if (this.disarmed.has(e.rule)) return null;
      this.disarmed.add(e.rule);
      return `fault: rule ${e.rule} ${role} kill disarmed: ${e.detail}`;
    }
    this.log.add(e);
    const n = (this.#printed.get(e.rule) ?? 0) + 1;
    this.#printed.set(e.rule, n);
    if (n > MAX_LINES_PER_RULE) return null;
    const more = n === MAX_LINES_PER_RULE ? " (further injections by this rule counted only)" : "";
    return `fault: rule ${e.rule} ${role} ${e.effect}${
      e.match ? ` at event #${e.match}` : ""
    }: ${e.detail}${more}`;
  }

  summary(): string {
    const off = [...this.disarmed].sort((a, b) => a - b).map((r) => `rule ${r}`);
    return `fault plan ${this.path} (seed ${this.seed}): ${this.log.summary(this.plan)}${
      off.length ? `; disarmed for making no progress: ${off.join(", ")}` : ""
    }`;
  }
}

export { PlanError };
