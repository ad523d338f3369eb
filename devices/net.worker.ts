/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The net actor's worker: virtio-net on a tap or sharenet backend. Only wires
// the handlers (devices/net_actor.ts) to this worker's port.

import { serveActor } from "../actors/protocol.ts";
import { netHandlers } from "./net_actor.ts";
import { NET } from "./net_protocol.ts";

serveActor(NET, netHandlers());
