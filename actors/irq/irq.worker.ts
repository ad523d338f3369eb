/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The interrupt controller actor's worker: wires actors/irq/irq_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { irqHandlers } from "./irq_actor.ts";
import { IRQ } from "./protocol.ts";

serveActor(IRQ, irqHandlers());
