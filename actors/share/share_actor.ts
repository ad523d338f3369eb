// The share actor's handlers: the virtio-9p device (devices/p9/device.ts) and
// its 9P2000.L server (devices/p9/server.ts) on one host directory, behind the
// fault plan's share layer when there is one. Its blocking file calls happen in
// this worker, never in the cpu's. A restarted instance reopens the guest's
// fids from the fid store before it serves the queue again.
// The worker file (actors/share/share.worker.ts) only wires these to its port.
// Read next: devices/p9/device.ts, faults/layers/share.ts.

import type { ActorHandlers } from "../runtime/protocol.ts";
import { ShareDevice } from "../../devices/p9/device.ts";
import { P9Server } from "../../devices/p9/server.ts";
import { FidStore } from "../../devices/p9/fidstore.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { FaultyShare } from "../../faults/layers/share.ts";
import type { ShareProtocol } from "./protocol.ts";

export function shareHandlers(): ActorHandlers<ShareProtocol> {
  let device: ShareDevice | null = null;
  let server: P9Server | null = null;
  let faults: FaultEngine | null = null;
  const abort = new AbortController();
  return {
    start(ctx) {
      const log = (text: string) => ctx.emit({ kind: "log", text });
      const cfg = ctx.config;
      server = new P9Server(cfg.path, { readOnly: cfg.readOnly, log });
      const store = new FidStore(ctx.buffers.fids);
      const saved = store.load();
      if (saved.length > 0) {
        const n = server.importFids(saved, store.msize);
        // Said once "ready" is out (an event sent from start would come before it).
        setTimeout(
          () => log(`virtio-9p ${cfg.tag}: restarted; reopened ${n} of ${saved.length} fids`),
          0,
        );
      }
      faults = armFaults("share", ctx, {
        progress: () => server ? server.stats.requests : 0,
      });
      const srv = server;
      let overflowSaid = false;
      device = new ShareDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
        server: faults.active ? new FaultyShare(srv, faults) : srv,
        // After each request that changed a fid, before it is completed.
        saveFids: () => {
          if (!store.save(srv.exportFids(), srv.msize) && !overflowSaid) {
            overflowSaid = true;
            log(`virtio-9p ${cfg.tag}: fid table too large to keep; a restart would lose it`);
          }
        },
        ramBase: cfg.ramBase,
        log,
        trace: cfg.verbose ? log : undefined,
      });
      // Serve from the next task, after "ready" is out (as the block actor does).
      const dev = device;
      setTimeout(() => void dev.run(abort.signal), 0);
    },
    request: {
      stats: () => ({
        ...server!.stats,
        fids: server!.fidCount,
        deviceErrors: device!.errors,
      }),
    },
    cast: {},
    stop() {
      faults?.dispose();
      abort.abort();
      server?.close();
    },
  };
}
