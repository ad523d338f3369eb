/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The net actor's worker: virtio-net on a tap or sharenet backend. Only wires
// the handlers (actors/net/net_actor.ts) to this worker's port.

import { serveActor } from "../runtime/protocol.ts";
import { netHandlers } from "./net_actor.ts";
import { NET } from "./protocol.ts";

serveActor(NET, netHandlers());
