/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A swap-in console (`--actor console=examples/scripted_console.worker.ts`):
// the built-in console, typing a script instead of stdin (examples/scripted_console.ts).
import { serveActor } from "../actors/runtime/protocol.ts";
import { CONSOLE } from "../actors/console/protocol.ts";
import { scriptedConsoleHandlers } from "./scripted_console.ts";

serveActor(CONSOLE, scriptedConsoleHandlers());
