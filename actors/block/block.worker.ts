/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The block actor's worker: the virtio-blk device (devices/block/block.ts) on a
// file backend (devices/block/backend.ts). Its synchronous file I/O happens
// here, never in the cpu's worker.
import { serveActor } from "../runtime/protocol.ts";
import { BlockDevice, serialFromPath } from "../../devices/block/block.ts";
import { FileBackend } from "../../devices/block/backend.ts";
import { BLOCK } from "./protocol.ts";
import { FaultEngine } from "../../faults/engine.ts";
import { FaultyBackend } from "../../faults/layers/block.ts";

let device: BlockDevice | null = null;
let backend: FileBackend | null = null;
let faults: FaultEngine | null = null;
const abort = new AbortController();

serveActor(BLOCK, {
  start(ctx) {
    const log = (text: string) => ctx.emit({ kind: "log", text });
    backend = FileBackend.open(ctx.config.path, {
      readOnly: ctx.config.readOnly,
      warn: log,
      expect: ctx.config.identity,
    });
    // The fault plan's block layer (if any) wraps the file: --faults, docs/faults.md.
    faults = new FaultEngine("block", ctx.config.faults, ctx.buffers.faults, ctx.buffers.control, {
      report: (e) => ctx.emit(e),
      kill: (reason) => ctx.exit(reason),
      // Requests this instance completed: a kill before any is a kill without progress.
      progress: () => device ? device.stats.ok + device.stats.ioerr + device.stats.unsupp : 0,
    });
    device = new BlockDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
      backend: faults.active ? new FaultyBackend(backend, faults) : backend,
      serial: serialFromPath(ctx.config.path),
      ramBase: ctx.config.ramBase,
      log,
      trace: ctx.config.verbose ? log : undefined,
    });
    // Serve from the next task, after "ready" is out: a fault that kills this
    // instance while it replays in-flight requests then counts as a crash of a
    // running actor, and its report reaches the launcher.
    const dev = device;
    setTimeout(() => void dev.run(abort.signal), 0);
    faults.armTimedKills();
  },
  request: {
    stats: () => ({ ...device!.stats, errors: device!.errors }),
  },
  cast: {},
  stop() {
    faults?.dispose();
    abort.abort();
    backend?.close();
  },
});
