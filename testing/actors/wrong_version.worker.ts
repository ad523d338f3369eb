/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test actor that speaks console protocol v2: a v1 console swap must refuse it.

import { defineRole, serveActor } from "../../actors/runtime/protocol.ts";
import { echoHandlers, type EchoProtocol } from "./echo_protocol.ts";

serveActor(defineRole<EchoProtocol>("console", 2), echoHandlers("wrong-version"));
