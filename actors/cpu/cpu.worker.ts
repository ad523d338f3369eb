/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The cpu actor's worker: wires actors/cpu/cpu_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { cpuHandlers } from "./cpu_actor.ts";
import { CPU } from "./protocol.ts";
import { warmUpJitOrWarn } from "../../cpu/warmup.ts";

// Train V8 on the instruction loop now, as the module loads: mod.ts starts this
// worker before the launcher's own modules have loaded (launcher/prespawn.ts), so
// the warm-up runs while the launcher builds the board, where in the start
// handler it delayed the first instruction (docs/cpu.md, "Start-up").
warmUpJitOrWarn();
serveActor(CPU, cpuHandlers());
