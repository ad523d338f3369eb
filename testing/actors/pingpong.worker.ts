/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test actor: the ping-pong responder (pingpong_protocol.ts). Only wires the handlers.

import { serveActor } from "../../actors/runtime/protocol.ts";
import { PINGPONG, pingPongHandlers } from "./pingpong_protocol.ts";

serveActor(PINGPONG, pingPongHandlers());
