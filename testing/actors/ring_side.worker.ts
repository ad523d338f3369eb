/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test actor: one side of a ring (ring_protocol.ts). Only wires the handlers.

import { serveActor } from "../../actors/runtime/protocol.ts";
import { RING_SIDE, ringSideHandlers } from "./ring_protocol.ts";

serveActor(RING_SIDE, ringSideHandlers());
