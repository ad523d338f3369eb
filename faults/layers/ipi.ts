// The ipi fault layer (--smp, docs/smp.md): a hook for actors/cpu/smp.ts that
// holds an inter-hart interrupt back for `ms` before it is delivered, as a
// slow interconnect would. The sending hart keeps running; it delivers the
// held IPI at its first batch boundary after the delay (HartPeers.between).
// Read next: actors/cpu/smp.ts (where IPIs are sent).

import type { FaultEngine } from "../engine.ts";

/** Milliseconds to hold an IPI from `from` to `to` back (0: deliver now). */
export type IpiDelay = (from: number, to: number) => number;

export function ipiFaultHook(engine: FaultEngine): IpiDelay | undefined {
  if (!engine.active) return undefined;
  return (from, to) => {
    const hit = engine.decide({ detail: `IPI from hart ${from} to hart ${to}` });
    return hit !== null && hit.rule.effect === "delay" ? hit.rule.ms! : 0;
  };
}
