// The waker fault layer: a beforeFire hook for devices/waker.ts that drops a
// due clock event (the guest gets no timer interrupt until it sets a new
// timer) or postpones it by `ms`, and the constant skew of the waker's clock
// (CTL64.CLOCK_SKEW, written by the launcher: see clockSkewTicks).
// Read next: devices/waker.ts (when the hook runs).

import type { FaultEngine } from "../engine.ts";
import type { FaultPlan } from "../plan.ts";
import type { BeforeFire } from "../../devices/waker.ts";
import { TICKS_PER_MS } from "../../machine/memmap.ts";

/** Milliseconds in timebase ticks (to the nearest tick). */
const msToTicks = (ms: number): bigint => BigInt(Math.round(ms * TICKS_PER_MS));

export function wakerFaultHook(engine: FaultEngine): BeforeFire | undefined {
  if (!engine.active) return undefined;
  return (ev) => {
    const hit = engine.decide({ detail: `event seq ${ev.seq} (deadline ${ev.deadline})` });
    if (!hit) return "fire";
    switch (hit.rule.effect) {
      case "drop":
        return "drop";
      case "delay":
        return ev.now + msToTicks(hit.rule.ms!);
      case "kill":
        // Dies before firing: the restarted waker finds the event still due.
        engine.kill(hit);
        return "fire";
      default:
        return "fire";
    }
  };
}

/**
 * The skew (timebase ticks) the plan's waker skew rules add to the waker's
 * clock: positive ms = a fast clock, so events fire that much early.
 */
export function clockSkewTicks(plan: FaultPlan): bigint {
  let ms = 0;
  for (const r of plan.rules) if (r.layer === "waker" && r.effect === "skew") ms += r.ms!;
  return BigInt(Math.round(ms)) * BigInt(TICKS_PER_MS);
}
