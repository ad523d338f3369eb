// The block actor's handlers: the virtio-blk device (devices/block/block.ts)
// on a file backend (devices/block/backend.ts), behind the fault plan's block
// layer when there is one. Its synchronous file I/O happens in this worker,
// never in the cpu's. A swapped block actor can reuse these handlers with its
// own backend around the file (examples/bad_sector_block.ts).
// The worker file (actors/block/block.worker.ts) only wires these to its port.
// Read next: devices/block/block.ts (the device), faults/layers/block.ts.

import type { ActorHandlers } from "../runtime/protocol.ts";
import { BlockDevice, serialFromPath } from "../../devices/block/block.ts";
import { type BlockBackend, FileBackend } from "../../devices/block/backend.ts";
import type { BlockProtocol } from "./protocol.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { FaultyBackend } from "../../faults/layers/block.ts";
import { openOverlayBackend } from "../../devices/block/overlay.ts";

export interface BlockHandlerOptions {
  /** Wrap the opened file in another backend (called in start; may throw to refuse it). */
  backend?: (file: FileBackend, log: (text: string) => void) => BlockBackend;
}

export function blockHandlers(opts: BlockHandlerOptions = {}): ActorHandlers<BlockProtocol> {
  let device: BlockDevice | null = null;
  let closeBackend: (() => void) | null = null;
  let faults: FaultEngine | null = null;
  const abort = new AbortController();
  return {
    start(ctx) {
      const log = (text: string) => ctx.emit({ kind: "log", text });
      let backend: BlockBackend;
      if (ctx.config.overlay !== undefined) {
        // ,snapshot: the base file read-only under the run's overlay.
        const map = ctx.buffers.overlayMap;
        if (!map) throw new Error("block: config.overlay without buffers.overlayMap");
        if (opts.backend) {
          throw new Error("block: this actor's backend cannot serve a ,snapshot disk");
        }
        const overlay = openOverlayBackend(ctx.config.path, ctx.config.overlay, map, {
          warn: log,
          expect: ctx.config.identity,
        });
        closeBackend = () => overlay.close();
        backend = overlay;
      } else {
        const f = FileBackend.open(ctx.config.path, {
          readOnly: ctx.config.readOnly,
          warn: log,
          expect: ctx.config.identity,
        });
        closeBackend = () => f.close();
        backend = opts.backend ? opts.backend(f, log) : f;
      }
      // The fault plan's block layer (if any) wraps the file: --faults, docs/faults.md.
      faults = armFaults("block", ctx, {
        // Requests this instance completed: a kill before any is a kill without progress.
        progress: () => device ? device.stats.ok + device.stats.ioerr + device.stats.unsupp : 0,
      });
      device = new BlockDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
        backend: faults.active ? new FaultyBackend(backend, faults) : backend,
        serial: serialFromPath(ctx.config.path),
        ramBase: ctx.config.ramBase,
        ramBytes: ctx.config.ramBytes,
        dmaDirty: ctx.buffers.dmaDirty,
        log,
        trace: ctx.config.verbose ? log : undefined,
      });
      // Serve from the next task, after "ready" is out: a fault that kills this
      // instance while it replays in-flight requests then counts as a crash of a
      // running actor, and its report reaches the launcher.
      const dev = device;
      setTimeout(() => void dev.run(abort.signal), 0);
    },
    request: {
      stats: () => ({ ...device!.stats, errors: device!.errors }),
      snapshot: () => {
        device!.freeze();
        return {};
      },
      thaw: () => device!.thaw(),
    },
    cast: {},
    stop() {
      faults?.dispose();
      abort.abort();
      closeBackend?.();
    },
  };
}
