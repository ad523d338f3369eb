// One role's fault engine, built the same way by every role: its rules from
// the worker's config, its shared counters, injections reported as the role's
// "fault" event, a kill ending the worker (its supervisor restarts it), and
// the timed kills (`when.atMs`) armed. The role wraps what it serves in its
// layer (faults/layers/) when `active`, and calls dispose() in its stop() so a
// graceful stop cancels the timers. Without --faults the engine has no rules:
// nothing is armed and no layer is built.
// Read next: faults/layers/*.ts (one layer per role), faults/engine.ts.

import { FaultEngine } from "./engine.ts";
import type { FaultConfig, FaultEvent, FaultLayer } from "./plan.ts";
import { tracer } from "../lib/trace.ts";

/**
 * The part of an actor's context (actors/runtime/protocol.ts ActorContext)
 * the engine needs; stated here so faults/ imports nothing from actors/.
 */
export interface FaultHost {
  readonly config: { faults?: FaultConfig };
  readonly buffers: { faults?: SharedArrayBuffer; control?: SharedArrayBuffer };
  emit(event: FaultEvent): void;
  exit(reason: string): void;
}

export interface ArmOptions {
  /**
   * Units of work this instance has finished (block: requests completed); a
   * kill with none is a kill without progress. Default: see FaultEngineOptions.
   */
  progress?: () => number;
}

/** Build `layer`'s engine from the actor's start context and arm its timed kills. */
export function armFaults(layer: FaultLayer, ctx: FaultHost, opts: ArmOptions = {}): FaultEngine {
  const engine = new FaultEngine(
    layer,
    ctx.config.faults,
    ctx.buffers.faults,
    ctx.buffers.control,
    {
      report: (e) => {
        // --trace: each injection an instant on the actor's track, named by its effect.
        tracer?.instant(
          tracer.named(`fault ${e.effect}`, { cat: "fault", ph: "i", args: ["rule", "match"] }),
          e.rule,
          e.match,
        );
        ctx.emit(e);
      },
      kill: (reason) => ctx.exit(reason),
      progress: opts.progress,
    },
  );
  engine.armTimedKills();
  return engine;
}
