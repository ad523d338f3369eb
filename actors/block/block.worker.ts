/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The block actor's worker: wires actors/block/block_actor.ts to its port.
import { serveActor } from "../runtime/protocol.ts";
import { blockHandlers } from "./block_actor.ts";
import { BLOCK } from "./protocol.ts";

serveActor(BLOCK, blockHandlers());
