/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The cpu actor's worker: wires actors/cpu/cpu_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { cpuHandlers } from "./cpu_actor.ts";
import { CPU } from "./protocol.ts";
import { warmUpJitOrWarn } from "../../cpu/warmup.ts";

// Train V8 on the instruction loop now, before saying "ready": the launcher is
// busy spawning the other actors for the next ~50 ms, so the warm-up costs the
// boot nothing here, where in the start handler it delayed the first instruction.
warmUpJitOrWarn();
serveActor(CPU, cpuHandlers());
