/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The block actor's worker: the virtio-blk device (devices/block.ts) on a
// file backend (devices/block_backend.ts). Its synchronous file I/O happens
// here, never in the cpu's worker.
import { serveActor } from "../actors/protocol.ts";
import { BlockDevice, serialFromPath } from "./block.ts";
import { FileBackend } from "./block_backend.ts";
import { BLOCK } from "./block_protocol.ts";

let device: BlockDevice | null = null;
let backend: FileBackend | null = null;
const abort = new AbortController();

serveActor(BLOCK, {
  start(ctx) {
    const log = (text: string) => ctx.emit({ kind: "log", text });
    backend = FileBackend.open(ctx.config.path, { readOnly: ctx.config.readOnly });
    device = new BlockDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
      backend,
      serial: serialFromPath(ctx.config.path),
      ramBase: ctx.config.ramBase,
      log,
      trace: ctx.config.verbose ? log : undefined,
    });
    void device.run(abort.signal);
  },
  request: {
    stats: () => ({ ...device!.stats, errors: device!.errors }),
  },
  cast: {},
  stop() {
    abort.abort();
    backend?.close();
  },
});
