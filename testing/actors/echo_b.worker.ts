/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test actor "echo-b": the echo protocol (echo_protocol.ts) played as the console
// role. Only wires the handlers to the worker's port.

import { serveActor } from "../../actors/runtime/protocol.ts";
import { ECHO, echoHandlers } from "./echo_protocol.ts";

serveActor(ECHO, echoHandlers("echo-b"));
