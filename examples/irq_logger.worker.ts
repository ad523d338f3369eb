/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A swap-in interrupt controller (`--actor irq=examples/irq_logger.worker.ts`):
// the built-in gateway, logging every raise and claim (examples/irq_logger.ts).
import { serveActor } from "../actors/runtime/protocol.ts";
import { IRQ } from "../actors/irq/protocol.ts";
import { irqLoggerHandlers } from "./irq_logger.ts";

serveActor(IRQ, irqLoggerHandlers());
