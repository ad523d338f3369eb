/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test actor that claims the net role: a console swap to it must be refused.

import { defineRole, serveActor } from "../../actors/runtime/protocol.ts";
import { echoHandlers, type EchoProtocol } from "./echo_protocol.ts";

serveActor(defineRole<EchoProtocol>("net", 1), echoHandlers("wrong-role"));
