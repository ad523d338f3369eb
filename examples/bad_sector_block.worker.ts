/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A swap-in block actor (`--actor block=examples/bad_sector_block.worker.ts`):
// the built-in one on a disk with bad sectors (examples/bad_sector_block.ts).
import { serveActor } from "../actors/runtime/protocol.ts";
import { BLOCK } from "../actors/block/protocol.ts";
import { badSectorBlockHandlers } from "./bad_sector_block.ts";

serveActor(BLOCK, badSectorBlockHandlers());
