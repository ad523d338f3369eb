// The net actor's handlers: adopt the backend the launcher opened (or start
// passt, for a user network), run the virtio-net device on the slot's shared
// state, and pump frames both ways.
// Frames from the host are read off the event loop (the backend's poll runs on
// Deno's blocking pool) and pushed into the device; the device's tx path runs
// on doorbells from the cpu. Nothing here ever blocks the cpu.
// The worker file (actors/net/net.worker.ts) only wires these to its port.

import type { ActorHandlers } from "../runtime/protocol.ts";
import { NetDevice } from "../../devices/net/net.ts";
import type { NetBackend } from "../../devices/net/backend.ts";
import type { NetBackendSpec, NetProtocol } from "./protocol.ts";
import { SharenetBackend } from "../../devices/net/sharenet.ts";
import { Tap, TapBackend } from "../../devices/net/tap.ts";
import { PasstBackend } from "../../devices/net/passt.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { FaultyNetBackend } from "../../faults/layers/net.ts";
import { ByteRingReader, ByteRingWriter } from "../../lib/ring.ts";
import { wakeCpu } from "../../machine/control.ts";
import { FRAME_SLOT_BYTES, readFrame, writeFrame } from "../../devices/net/frame_ring.ts";

/**
 * Adopt a backend opened by the launcher (it keeps ownership of the fd), or,
 * for a user network, start passt (this worker owns and supervises it).
 */
export function adoptBackend(
  spec: NetBackendSpec,
  log: (text: string) => void = () => {},
  trace?: (text: string) => void,
): NetBackend {
  switch (spec.kind) {
    case "tap":
      return new TapBackend(Tap.adopt(spec.fd, spec.name), false);
    case "sharenet":
      return new SharenetBackend(spec.member, { leave: false });
    case "user":
      return new PasstBackend(spec.passt, { log, trace });
    default: {
      const _: never = spec;
      throw new Error(`unknown net backend ${JSON.stringify(_)}`);
    }
  }
}

export function netHandlers(): ActorHandlers<NetProtocol> {
  let device: NetDevice;
  let backend: NetBackend;
  const abort = new AbortController();
  let running: Promise<void> | null = null;
  let faults: FaultEngine | null = null;
  return {
    start(ctx) {
      const { ram, state, control } = ctx.buffers;
      const log = (text: string) => ctx.emit({ kind: "log", text });
      const trace = ctx.config.verbose ? log : undefined;
      backend = adoptBackend(ctx.config.backend, log, trace);
      // The fault plan's net layer (if any) wraps the backend: both directions pass it.
      faults = armFaults("net", ctx);
      if (faults.active) backend = new FaultyNetBackend(backend, faults);
      device = new NetDevice(ram, state, control, {
        backend,
        holdFrames: ctx.config.holdFrames,
        ramBase: ctx.config.ramBase,
        ramBytes: ctx.config.ramBytes,
        dmaDirty: ctx.buffers.dmaDirty,
        log,
        trace,
      });
      const onFail = (e: Error) => {
        device.setLink(false);
        ctx.emit({ kind: "backend-failed", message: `${backend.description}: ${e.message}` });
      };
      const { framesFromHost, framesToGuest } = ctx.buffers;
      if (framesFromHost && framesToGuest) {
        // Deterministic mode (docs/replay.md): received frames go to the cpu,
        // which logs them and hands them back at counts it chooses; the device
        // takes them only at the start of a pass the cpu waits for. Frames go
        // without the tap's header: this device offered no receive offloads
        // (launcher/prepare.ts), so the host sends no partial checksums or
        // super-frames, and the device checks checksums itself.
        const ctl = new Int32Array(control);
        const toCpu = new ByteRingWriter(framesFromHost);
        const fromCpu = new ByteRingReader(framesToGuest);
        backend.start(
          (frame) => {
            if (writeFrame(toCpu, frame)) wakeCpu(ctl);
            else device.stats.rxDroppedFull++;
          },
          onFail,
          () => toCpu.free >= FRAME_SLOT_BYTES,
        );
        device.passInput = () => {
          for (let f = readFrame(fromCpu); f !== null; f = readFrame(fromCpu)) device.receive(f);
        };
      } else {
        backend.start(
          (frame, hdr) => device.receive(frame, hdr),
          onFail,
          () => device.canTakeFrames(),
        );
      }
      running = device.run(abort.signal);
    },
    request: {
      stats: () => ({
        device: { ...device.stats },
        backend: { ...backend.stats },
        held: device.held,
        errors: device.errors,
      }),
      snapshot: () => {
        device.freeze();
        return { heldFrames: device.held };
      },
      thaw: () => device.thaw(),
    },
    cast: {
      link: (m) => device.setLink(m.up),
    },
    async stop() {
      faults?.dispose();
      abort.abort();
      await running;
      await backend.close();
    },
  };
}
