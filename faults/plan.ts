// Fault plans: the JSON a user hands to `--faults=<plan.json>` — its schema,
// the checks that turn it into rules (an error names the rule and the field),
// the plain data each actor is handed (FaultConfig) and reports (FaultEvent),
// and the launcher's one-line descriptions and tally. No engine here: a role's
// protocol and the launcher import this file only.
// Read next: faults/engine.ts (how a layer decides which events a rule hits),
// docs/faults.md (the format, the effects, what the guest sees).

/**
 * The layers a plan can reach: one per device role, and "ipi", the cpu actors'
 * inter-hart interrupts with --smp (a cpu is never killed: its crash is the
 * guest's death).
 */
export const FAULT_LAYERS = ["block", "irq", "net", "console", "waker", "share", "ipi"] as const;
/** One of FAULT_LAYERS. */
export type FaultLayer = typeof FAULT_LAYERS[number];

/** Effects each layer can inject; "kill" ends the actor's worker (its supervisor restarts it). */
export const LAYER_EFFECTS: Record<FaultLayer, readonly string[]> = {
  block: ["ioerr", "corrupt", "delay", "kill"],
  irq: ["drop", "delay", "duplicate", "kill"],
  net: ["drop", "duplicate", "reorder", "delay", "kill"],
  console: ["drop", "delay", "kill"],
  waker: ["drop", "delay", "skew", "kill"],
  share: ["ioerr", "delay", "kill"],
  ipi: ["delay"],
};

/** What a layer counts as one event ("the n-th request or message"). */
export const LAYER_UNITS: Record<FaultLayer, string> = {
  block: "backend operation (one per request's run of segments up to 1 MiB, or a flush)",
  irq: "interrupt assertion the gateway forwards",
  net: "Ethernet frame (either direction unless `dir` is given)",
  console: "input byte",
  waker: "clock event that is due",
  share: "9P request",
  ipi: "IPI a hart sends to another (SBI send_ipi, one per target hart)",
};

/** When a rule applies. Every field is optional; all given ones must hold. */
export interface FaultTrigger {
  /** Only the n-th matching event (1-based). */
  nth?: number;
  /** Every k-th matching event (k, 2k, 3k, ...). */
  every?: number;
  /** Matching events numbered from..to (inclusive, 1-based). */
  from?: number;
  to?: number;
  /** Guest time window, ms since boot. */
  afterMs?: number;
  untilMs?: number;
  /** kill only: at this guest time (ms since boot), whatever the actor is doing. */
  atMs?: number;
  /** Hit a matching event with this probability (seeded). */
  probability?: number;
  /** At most this many injections by this rule (default 1 with nth or atMs, else unlimited). */
  count?: number;
  /** block: first and last 512-byte sector; an operation overlapping the range matches. */
  sectors?: [number, number];
  /** block: only these operations; share: Tread/Treaddir, Twrite, Tfsync. */
  op?: "read" | "write" | "flush";
  /** block/net/share: which disk, network or share (0 = the first); default every one. */
  device?: number;
  /** irq: only these interrupt sources (virtio slot n is source n + 1). */
  sources?: number[];
  /** net: rx = host → guest, tx = guest → host. */
  dir?: "rx" | "tx";
}

export interface FaultRule {
  layer: FaultLayer;
  effect: string;
  when: FaultTrigger;
  /** delay / skew / duplicate (the gap): milliseconds (skew may be negative). */
  ms?: number;
  /** block kill: die before the operation reaches the file (default: just after it). */
  before?: boolean;
  /** Position in the plan's rule list: the name used in errors, logs and counters. */
  index: number;
}

export interface RestartOverride {
  maxRestarts?: number;
  windowMs?: number;
  backoffMs?: number;
}

export interface FaultPlan {
  seed: number | null;
  rules: FaultRule[];
  /** Restart policies to use instead of the defaults, per role. */
  restart: Partial<Record<FaultLayer, RestartOverride>>;
}

/**
 * The largest time (ms) and count a plan may hold. Times end up in setTimeout
 * (a kill's `atMs`, a restart's `backoffMs`), which fires at once, with a
 * warning, past 2^31−1 ms (about 24.8 days); counts live in the Int32 words of
 * the shared counters.
 */
export const MAX_PLAN_MS = 0x7fff_ffff;
export const MAX_PLAN_COUNT = 0x7fff_ffff;

/** A plan that cannot be used; the message points at the rule and field. */
export class PlanError extends Error {
  override name = "PlanError";
}

const TRIGGER_KEYS = new Set([
  "nth",
  "every",
  "from",
  "to",
  "afterMs",
  "untilMs",
  "atMs",
  "probability",
  "count",
  "sectors",
  "op",
  "device",
  "sources",
  "dir",
]);
/** Why a time is capped, for the error message. */
const TIMER_WHY = " (2^31−1 ms, about 24.8 days: the longest a timer can wait)";

/** Trigger fields that only some layers understand. */
const LAYER_ONLY: Record<string, FaultLayer[]> = {
  sectors: ["block"],
  op: ["block", "share"],
  device: ["block", "net", "share"],
  sources: ["irq"],
  dir: ["net"],
};

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parse and check a plan (the text of a plan file). `where` names the file in errors. */
export function parsePlan(text: string, where = "fault plan"): FaultPlan {
  let raw: Json;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new PlanError(`${where}: not JSON: ${(e as Error).message}`);
  }
  return checkPlan(raw, where);
}

/** Check a plan already parsed from JSON. */
export function checkPlan(raw: Json, where = "fault plan"): FaultPlan {
  if (!isObj(raw)) throw new PlanError(`${where}: want an object {"rules": [...]}`);
  for (const k of Object.keys(raw)) {
    if (!["seed", "rules", "restart", "comment"].includes(k)) {
      throw new PlanError(`${where}: unknown key "${k}" (keys: seed, rules, restart, comment)`);
    }
  }
  let seed: number | null = null;
  if (raw.seed !== undefined) {
    if (!Number.isSafeInteger(raw.seed) || (raw.seed as number) < 0) {
      throw new PlanError(`${where}: "seed" must be a non-negative integer`);
    }
    seed = raw.seed as number;
  }
  if (!Array.isArray(raw.rules)) throw new PlanError(`${where}: "rules" must be an array`);
  const rules = raw.rules.map((r, i) => checkRule(r, i, `${where}: rule ${i}`));
  const restart: FaultPlan["restart"] = {};
  if (raw.restart !== undefined) {
    if (!isObj(raw.restart)) throw new PlanError(`${where}: "restart" must be an object`);
    for (const [role, pol] of Object.entries(raw.restart)) {
      const at = `${where}: restart.${role}`;
      if (!(FAULT_LAYERS as readonly string[]).includes(role) || role === "ipi") {
        const roles = FAULT_LAYERS.filter((l) => l !== "ipi");
        throw new PlanError(`${at}: unknown role (roles: ${roles.join(", ")})`);
      }
      if (!isObj(pol)) throw new PlanError(`${at}: want {"maxRestarts": n, ...}`);
      const o: RestartOverride = {};
      for (const [k, v] of Object.entries(pol)) {
        if (!["maxRestarts", "windowMs", "backoffMs"].includes(k)) {
          throw new PlanError(`${at}: unknown key "${k}" (maxRestarts, windowMs, backoffMs)`);
        }
        if (!Number.isInteger(v) || (v as number) < 0 || (k === "windowMs" && v === 0)) {
          throw new PlanError(
            `${at}.${k}: want a ${k === "windowMs" ? "positive" : "non-negative"} integer`,
          );
        }
        if ((v as number) > MAX_PLAN_MS) {
          throw new PlanError(
            `${at}.${k}: at most ${MAX_PLAN_MS}${k === "maxRestarts" ? "" : ` ms${TIMER_WHY}`}`,
          );
        }
        o[k as keyof RestartOverride] = v as number;
      }
      restart[role as FaultLayer] = o;
    }
  }
  return { seed, rules, restart };
}

function checkRule(r: Json, index: number, at: string): FaultRule {
  if (!isObj(r)) throw new PlanError(`${at}: want an object {"layer", "effect", "when"}`);
  const show = JSON.stringify(r);
  const bad = (msg: string) => new PlanError(`${at} ${show}: ${msg}`);
  for (const k of Object.keys(r)) {
    if (!["layer", "effect", "when", "ms", "before", "comment"].includes(k)) {
      throw bad(`unknown key "${k}" (keys: layer, effect, when, ms, before, comment)`);
    }
  }
  const layer = r.layer as FaultLayer;
  if (!(FAULT_LAYERS as readonly unknown[]).includes(layer)) {
    throw bad(`"layer" must be one of ${FAULT_LAYERS.join(", ")}`);
  }
  const effect = r.effect;
  if (typeof effect !== "string" || !LAYER_EFFECTS[layer].includes(effect)) {
    throw bad(`"effect" for layer ${layer} must be one of ${LAYER_EFFECTS[layer].join(", ")}`);
  }
  const when = r.when ?? {};
  if (!isObj(when)) throw bad(`"when" must be an object`);
  const t: FaultTrigger = {};
  const posInt = (k: string, min = 1, max = MAX_PLAN_COUNT, unit = "") => {
    const v = when[k];
    if (!Number.isInteger(v) || (v as number) < min) {
      throw bad(`when.${k} must be an integer >= ${min}`);
    }
    if ((v as number) > max) throw bad(`when.${k} must be at most ${max}${unit}`);
    return v as number;
  };
  for (const k of Object.keys(when)) {
    if (!TRIGGER_KEYS.has(k)) throw bad(`unknown trigger "${k}" (${[...TRIGGER_KEYS].join(", ")})`);
    const only = LAYER_ONLY[k];
    if (only && !only.includes(layer)) throw bad(`when.${k} applies to ${only.join(", ")} only`);
    switch (k) {
      case "nth":
      case "every":
      case "from":
      case "to":
      case "count":
        t[k] = posInt(k);
        break;
      case "afterMs":
      case "untilMs":
      case "atMs":
        t[k] = posInt(k, 0, MAX_PLAN_MS, ` ms${TIMER_WHY}`);
        break;
      case "device":
        t.device = posInt(k, 0);
        break;
      case "probability": {
        const p = when.probability;
        if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
          throw bad(`when.probability must be a number from 0 to 1`);
        }
        t.probability = p;
        break;
      }
      case "sectors": {
        const s = when.sectors;
        if (
          !Array.isArray(s) || s.length !== 2 || !s.every((x) =>
            Number.isSafeInteger(x) && x >= 0
          ) ||
          s[0] > s[1]
        ) {
          throw bad(`when.sectors must be [first, last] with 0 <= first <= last`);
        }
        t.sectors = [s[0], s[1]];
        break;
      }
      case "op":
        if (!["read", "write", "flush"].includes(when.op as string)) {
          throw bad(`when.op must be "read", "write" or "flush"`);
        }
        t.op = when.op as FaultTrigger["op"];
        break;
      case "sources": {
        const s = when.sources;
        if (
          !Array.isArray(s) || s.length === 0 ||
          !s.every((x) => Number.isInteger(x) && x >= 1 && x <= 31)
        ) {
          throw bad(`when.sources must be a non-empty list of interrupt sources 1..31`);
        }
        t.sources = [...s];
        break;
      }
      case "dir":
        if (when.dir !== "rx" && when.dir !== "tx") throw bad(`when.dir must be "rx" or "tx"`);
        t.dir = when.dir;
        break;
    }
  }
  if (
    t.nth !== undefined && (t.every !== undefined || t.from !== undefined || t.to !== undefined)
  ) {
    throw bad(`when.nth cannot be combined with every, from or to`);
  }
  if (t.from !== undefined && t.to !== undefined && t.from > t.to) throw bad(`when.from > when.to`);
  if (t.afterMs !== undefined && t.untilMs !== undefined && t.afterMs > t.untilMs) {
    throw bad(`when.afterMs > when.untilMs`);
  }
  if (t.atMs !== undefined) {
    if (effect !== "kill") throw bad(`when.atMs is for "kill" (use afterMs/untilMs for a window)`);
    const others = Object.keys(t).filter((k) => !["atMs", "count", "device"].includes(k));
    if (others.length) throw bad(`when.atMs cannot be combined with ${others.join(", ")}`);
  }
  let ms: number | undefined;
  const needsMs = effect === "delay" || effect === "skew";
  if (r.ms !== undefined) {
    if (!needsMs && effect !== "duplicate") throw bad(`"ms" is only for delay, skew and duplicate`);
    if (typeof r.ms !== "number" || !Number.isFinite(r.ms)) throw bad(`"ms" must be a number`);
    if (effect !== "skew" && !(r.ms > 0 && r.ms <= 60_000)) {
      throw bad(`"ms" for ${effect} must be in (0, 60000]`);
    }
    if (effect === "skew" && !(Math.abs(r.ms) <= 3_600_000 && r.ms !== 0)) {
      throw bad(`"ms" for skew must be non-zero, at most an hour either way`);
    }
    ms = r.ms;
  } else if (needsMs) {
    throw bad(`effect "${effect}" needs "ms"`);
  }
  if (effect === "skew" && Object.keys(t).length > 0) {
    throw bad(`skew is a constant offset of the waker's clock: it takes no "when"`);
  }
  if (r.before !== undefined) {
    if (layer !== "block" || effect !== "kill") throw bad(`"before" is for block kill only`);
    if (typeof r.before !== "boolean") throw bad(`"before" must be true or false`);
  }
  return { layer, effect, when: t, ms, index, ...(r.before ? { before: true } : {}) };
}

/** What a layer hands to its actor: its rules and the seed. Plain data (worker config). */
export interface FaultConfig {
  seed: number;
  rules: FaultRule[];
  /** Which disk or network this actor is (for `when.device`). */
  device: number;
}

/**
 * One injection, as a layer reports it to the launcher (the role's "fault"
 * event); effect "disarmed" is not an injection but the rule being switched
 * off for making no progress (NO_PROGRESS_KILLS in faults/engine.ts).
 */
export interface FaultEvent {
  kind: "fault";
  rule: number;
  effect: string;
  /** Which matching event of the rule it hit (1-based), or 0 for a timed kill. */
  match: number;
  /** What was hit, e.g. "read sector 2048+8". */
  detail: string;
}

/** One line per rule, for the launcher's start-up message. */
export function describeRule(r: FaultRule): string {
  const w = r.when;
  const parts: string[] = [];
  if (w.nth !== undefined) parts.push(`event #${w.nth}`);
  if (w.every !== undefined) parts.push(`every ${w.every}th event`);
  if (w.from !== undefined || w.to !== undefined) {
    parts.push(`events ${w.from ?? 1}..${w.to ?? "∞"}`);
  }
  if (w.sectors) parts.push(`sectors ${w.sectors[0]}..${w.sectors[1]}`);
  if (w.op) parts.push(`${w.op}s`);
  if (w.device !== undefined) parts.push(`device ${w.device}`);
  if (w.sources) parts.push(`sources ${w.sources.join(",")}`);
  if (w.dir) parts.push(w.dir);
  if (w.afterMs !== undefined || w.untilMs !== undefined) {
    parts.push(`from ${w.afterMs ?? 0} ms${w.untilMs !== undefined ? ` to ${w.untilMs} ms` : ""}`);
  }
  if (w.atMs !== undefined) parts.push(`at ${w.atMs} ms`);
  if (w.probability !== undefined) parts.push(`p=${w.probability}`);
  if (w.count !== undefined) parts.push(`at most ${w.count}×`);
  const eff = r.ms !== undefined ? `${r.effect} ${r.ms} ms` : r.effect;
  return `rule ${r.index}: ${r.layer} ${eff}${
    parts.length ? ` when ${parts.join(", ")}` : ", every event"
  }`;
}

/** The launcher's tally of injections, for the summary at exit and the tests' log. */
export class FaultLog {
  readonly entries: FaultEvent[] = [];
  readonly #byRule = new Map<number, number>();

  add(e: FaultEvent): void {
    this.entries.push(e);
    this.#byRule.set(e.rule, (this.#byRule.get(e.rule) ?? 0) + 1);
  }

  count(rule: number): number {
    return this.#byRule.get(rule) ?? 0;
  }

  /** One line: "3 injected: rule 0 block ioerr ×2, rule 1 irq drop ×1" (rules in plan order). */
  summary(plan: FaultPlan): string {
    const parts = plan.rules.map((r) =>
      `rule ${r.index} ${r.layer} ${r.effect} ×${this.count(r.index)}`
    );
    return `${this.entries.length} injected${parts.length ? `: ${parts.join(", ")}` : ""}`;
  }
}
