/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The console actor's worker: wires actors/console/console_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { consoleHandlers } from "./console_actor.ts";
import { CONSOLE } from "./protocol.ts";

serveActor(CONSOLE, consoleHandlers());
