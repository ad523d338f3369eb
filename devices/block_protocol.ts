// The block actor's protocol: virtio-blk on one file, served by its own
// worker — lguest's block I/O thread. The worker opens the file itself (the
// launcher has already probed it, so bad paths fail before boot), and a
// restarted worker reopens it and resumes from the queue indexes in guest RAM.
// Read next: devices/block.worker.ts.

import { defineRole } from "../actors/protocol.ts";

export interface BlockConfig {
  path: string;
  readOnly: boolean;
  ramBase: number;
  verbose: boolean;
}

export interface BlockStats {
  ok: number;
  ioerr: number;
  unsupp: number;
  reads: number;
  writes: number;
  flushes: number;
  errors: number;
}

export interface BlockProtocol {
  request: { kind: "stats" };
  reply: { stats: BlockStats };
  cast: never;
  event: { kind: "log"; text: string };
  config: BlockConfig;
  buffers: { ram: SharedArrayBuffer; state: SharedArrayBuffer; control: SharedArrayBuffer };
}

export const BLOCK = defineRole<BlockProtocol>("block", 1);
