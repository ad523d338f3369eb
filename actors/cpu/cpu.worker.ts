/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The cpu actor's worker: wires actors/cpu/cpu_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { cpuHandlers } from "./cpu_actor.ts";
import { CPU } from "./protocol.ts";

serveActor(CPU, cpuHandlers());
