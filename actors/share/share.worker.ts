/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The share actor's worker: wires actors/share/share_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { shareHandlers } from "./share_actor.ts";
import { SHARE } from "./protocol.ts";

serveActor(SHARE, shareHandlers());
