/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The waker actor's worker: wires actors/waker/waker_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { wakerHandlers } from "./waker_actor.ts";
import { WAKER } from "./protocol.ts";

serveActor(WAKER, wakerHandlers());
