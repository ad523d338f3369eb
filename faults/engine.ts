// The fault engine every fault layer uses to decide, deterministically, which
// of its events a rule hits. The decision for the k-th event a rule matches is
// a pure function of (seed, rule, k), and k lives in shared memory, so a
// restarted actor carries on counting and the same plan + seed hits the same
// points of the guest's requests. The plan it runs is faults/plan.ts; a role
// builds its engine with faults/arm.ts.
// Read next: faults/arm.ts (one engine per role), faults/layers/*.ts (one layer per role).

import { guestTimeTicks } from "../machine/control.ts";
import { TICKS_PER_MS } from "../machine/memmap.ts";
import type { FaultConfig, FaultEvent, FaultLayer, FaultPlan, FaultRule } from "./plan.ts";

/**
 * A kill rule whose kills keep landing before the actor has finished anything
 * (the same request killed on every retry: a multi-segment block request under
 * a small `every`) is disarmed once this many kills in a row made no progress.
 */
export const NO_PROGRESS_KILLS = 10;

// ---- Deterministic choices.

/** A 32-bit mix (murmur3's finaliser). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A hash of (seed, rule, k) as a number in [0, 1): the whole source of "randomness". */
export function chance(seed: number, rule: number, k: number): number {
  const h = fmix(
    fmix((seed >>> 0) ^ Math.imul(rule + 1, 0x9e3779b1)) ^ Math.imul(k, 0x27d4eb2f) ^
      Math.floor(seed / 0x1_0000_0000),
  );
  return h / 0x1_0000_0000;
}

/** A small seeded generator (mulberry32) for effects that need more than one choice. */
export function prng(seed: number, rule: number, k: number): () => number {
  let a = Math.floor(chance(seed, rule, k) * 0x1_0000_0000) | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

// ---- The engine a layer runs.

/** Int32 words per rule in the shared counters. */
const CTR_WORDS = 4;
/** Word offsets: events matched, injections made, kills in a row without progress, disarmed. */
const CTR = { MATCHED: 0, INJECTED: 1, STALLED: 2, DISARMED: 3 } as const;

/** The shared counters: CTR_WORDS Int32 words per rule of the plan (see CTR). */
export function createFaultCounters(plan: FaultPlan): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, plan.rules.length) * 4 * CTR_WORDS);
}

/** The event a layer asks about; fields a rule does not test may be left out. */
export interface FaultQuery {
  /** block: byte range and operation. */
  offset?: number;
  len?: number;
  op?: "read" | "write" | "flush";
  source?: number;
  dir?: "rx" | "tx";
  /** For the log. */
  detail: string;
}

export interface Hit {
  rule: FaultRule;
  match: number;
  /** A generator for this hit's own choices (corrupt bytes, ...). */
  random: () => number;
}

export interface FaultEngineOptions {
  /** Where injections are reported (the role's "fault" event). */
  report: (e: FaultEvent) => void;
  /** End this actor now (ctx.exit): used for "kill". */
  kill: (reason: string) => void;
  /** Guest ms since boot (default: from the control block). */
  nowMs?: () => number;
  /**
   * Units of work this actor instance has finished since it started (block:
   * requests completed). A kill with none is a kill without progress. Default:
   * the events this instance let through unharmed, right where one event is
   * one unit of work (a frame, an input byte, a clock event).
   */
  progress?: () => number;
}

/**
 * One layer's view of the plan: its rules, their shared counters, and the
 * decision for each event. A layer calls `decide()` once per event it counts;
 * the first rule that fires wins, but every rule counts its own matches, so
 * adding a rule never shifts where another one hits.
 */
export class FaultEngine {
  readonly rules: FaultRule[];
  readonly seed: number;
  readonly #ctr: Int32Array;
  readonly #opts: FaultEngineOptions;
  readonly #nowMs: () => number;
  readonly #progress: () => number;
  /** Events this instance decided without a kill (the default progress). */
  #passed = 0;
  #timers: ReturnType<typeof setTimeout>[] = [];

  constructor(
    layer: FaultLayer,
    config: FaultConfig | undefined,
    counters: SharedArrayBuffer | undefined,
    control: SharedArrayBuffer | undefined,
    opts: FaultEngineOptions,
  ) {
    this.seed = config?.seed ?? 0;
    this.rules = (config?.rules ?? []).filter((r) =>
      r.layer === layer && (r.when.device === undefined || r.when.device === config!.device)
    );
    if (this.rules.length && !counters) throw new Error(`${layer}: fault rules without counters`);
    this.#ctr = new Int32Array(counters ?? new SharedArrayBuffer(4 * CTR_WORDS));
    this.#opts = opts;
    this.#nowMs = opts.nowMs ?? (control ? () => guestTimeTicks(control) / TICKS_PER_MS : () => 0);
    this.#progress = opts.progress ?? (() => this.#passed);
  }

  #word(rule: number, w: number): number {
    return CTR_WORDS * rule + w;
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  /** True if some rule has this effect. */
  has(effect: string): boolean {
    return this.rules.some((r) => r.effect === effect);
  }

  /** Injections so far by rule `i` (shared across restarts). */
  injected(i: number): number {
    return Atomics.load(this.#ctr, this.#word(i, CTR.INJECTED));
  }

  /** True once rule `i` was switched off for making no progress (shared across restarts). */
  disarmed(i: number): boolean {
    return Atomics.load(this.#ctr, this.#word(i, CTR.DISARMED)) !== 0;
  }

  #limit(r: FaultRule): number {
    return r.when.count ?? (r.when.nth !== undefined || r.when.atMs !== undefined ? 1 : Infinity);
  }

  /** Take one injection slot of rule r; false if its count is used up. */
  #claim(r: FaultRule): boolean {
    const limit = this.#limit(r);
    const at = this.#word(r.index, CTR.INJECTED);
    if (Atomics.add(this.#ctr, at, 1) >= limit) {
      Atomics.sub(this.#ctr, at, 1);
      return false;
    }
    return true;
  }

  /**
   * Before a kill by rule r: count it as one without progress if this
   * instance has finished nothing since it started (its predecessor was
   * killed, and it is about to be killed on the same work). The kill that
   * would come after NO_PROGRESS_KILLS of those is not made: the rule is
   * disarmed, for good, and reported once. Returns false if it now is.
   */
  #mayKill(r: FaultRule, match: number, detail: string): boolean {
    const stalled = this.#word(r.index, CTR.STALLED);
    if (this.#progress() > 0) {
      Atomics.store(this.#ctr, stalled, 0);
      return true;
    }
    if (Atomics.add(this.#ctr, stalled, 1) + 1 <= NO_PROGRESS_KILLS) return true;
    if (Atomics.exchange(this.#ctr, this.#word(r.index, CTR.DISARMED), 1) === 0) {
      this.#opts.report({
        kind: "fault",
        rule: r.index,
        effect: "disarmed",
        match,
        detail: `its last ${NO_PROGRESS_KILLS} kills each hit a restarted ${r.layer} actor ` +
          `before it had finished anything (the same work killed on every retry): ` +
          `no more kills by this rule, so the run can go on (next: ${detail})`,
      });
    }
    return false;
  }

  #matches(r: FaultRule, q: FaultQuery): boolean {
    const w = r.when;
    if (w.atMs !== undefined || r.effect === "skew") return false;
    if (w.op !== undefined && q.op !== w.op) return false;
    if (w.sectors !== undefined) {
      if (q.offset === undefined || q.op === "flush") return false;
      const first = Math.floor(q.offset / 512);
      const last = Math.floor((q.offset + Math.max(1, q.len ?? 0) - 1) / 512);
      if (last < w.sectors[0] || first > w.sectors[1]) return false;
    }
    if (w.sources !== undefined && (q.source === undefined || !w.sources.includes(q.source))) {
      return false;
    }
    if (w.dir !== undefined && q.dir !== w.dir) return false;
    if (w.afterMs !== undefined || w.untilMs !== undefined) {
      const t = this.#nowMs();
      if (w.afterMs !== undefined && t < w.afterMs) return false;
      if (w.untilMs !== undefined && t > w.untilMs) return false;
    }
    return true;
  }

  /**
   * The decision for one event: the rule that fires (already reported and
   * counted), or null. A "kill" hit is returned like any other: the layer
   * kills at the point it chooses (see kill()).
   */
  decide(q: FaultQuery): Hit | null {
    let hit: Hit | null = null;
    for (const r of this.rules) {
      if (!this.#matches(r, q)) continue;
      const k = Atomics.add(this.#ctr, this.#word(r.index, CTR.MATCHED), 1) + 1;
      if (hit || (r.effect === "kill" && this.disarmed(r.index))) continue;
      const w = r.when;
      if (w.nth !== undefined && k !== w.nth) continue;
      if (w.every !== undefined && k % w.every !== 0) continue;
      if (w.from !== undefined && k < w.from) continue;
      if (w.to !== undefined && k > w.to) continue;
      if (w.probability !== undefined && chance(this.seed, r.index, k) >= w.probability) continue;
      if (!this.#claim(r)) continue;
      if (r.effect === "kill" && !this.#mayKill(r, k, q.detail)) {
        Atomics.sub(this.#ctr, this.#word(r.index, CTR.INJECTED), 1);
        continue;
      }
      hit = { rule: r, match: k, random: prng(this.seed, r.index + 0x10000, k) };
      this.#opts.report({
        kind: "fault",
        rule: r.index,
        effect: r.effect,
        match: k,
        detail: q.detail,
      });
    }
    if (hit?.rule.effect !== "kill") this.#passed++;
    return hit;
  }

  /** End the actor for a kill hit (after the layer did what should survive the kill). */
  kill(hit: Hit): void {
    this.#opts.kill(
      `killed by fault plan rule ${hit.rule.index} (${hit.rule.layer}, match ${hit.match})`,
    );
  }

  /**
   * Arm the timed kills (when.atMs). A restarted actor re-arms only the ones
   * not yet used up, so a timed kill happens once per boot.
   */
  armTimedKills(): void {
    for (const r of this.rules) {
      if (r.effect !== "kill" || r.when.atMs === undefined) continue;
      if (this.injected(r.index) >= this.#limit(r)) continue;
      const wait = Math.max(0, r.when.atMs - this.#nowMs());
      this.#timers.push(setTimeout(() => {
        if (!this.#claim(r)) return;
        this.#opts.report({
          kind: "fault",
          rule: r.index,
          effect: "kill",
          match: 0,
          detail: `at ${r.when.atMs} ms`,
        });
        this.#opts.kill(`killed by fault plan rule ${r.index} (${r.layer}, at ${r.when.atMs} ms)`);
      }, wait));
    }
  }

  /** Cancel timers (on a graceful stop). */
  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }
}
