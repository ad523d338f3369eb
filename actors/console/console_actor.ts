// The console actor's handlers: the virtio-console device (devices/console.ts)
// writing the guest's output to stdout (writeStdout: a closed pipe discards,
// never kills) and reporting each watched string it sees there ("seen": the
// ready and panic lines, by the one watcher in actors/output.ts), fed by an
// input source. The built-in source is the stdin byte ring (ringInput); a
// swapped console supplies its own and keeps everything else
// (examples/scripted_console.ts types a script).
// Input is taken off the ring only while the device has room to hold it, so a
// full device leaves the ring full and the launcher's stdin reader waits:
// nothing is dropped. Output pieces are views into guest RAM of bounded size;
// they are written and scanned for watched strings in place, never copied or
// decoded. The worker file (actors/console/console.worker.ts) only wires these
// to its port. Read next: devices/console.ts (the device), faults/layers/console.ts.

import type { ActorContext, ActorHandlers } from "../runtime/protocol.ts";
import { ByteRingReader } from "../../lib/ring.ts";
import { OutputWatch, writeStdout } from "../output.ts";
import { ConsoleDevice } from "../../devices/console.ts";
import type { ConsoleProtocol } from "./protocol.ts";
import type { FaultEngine } from "../../faults/engine.ts";
import { armFaults } from "../../faults/arm.ts";
import { ConsoleInputFaults } from "../../faults/layers/console.ts";

/** What an input source gets to feed the device with. */
export interface ConsoleFeed {
  readonly device: ConsoleDevice;
  /** Aborted on stop: a source's loops end. */
  readonly signal: AbortSignal;
  /** The console's fault engine: `active` when the plan has console rules. */
  readonly faults: FaultEngine;
  /** Count `n` bytes taken in (the stats' bytesIn). */
  took(n: number): void;
  log(text: string): void;
}

/** Where the console's input comes from. */
export interface ConsoleInput {
  /** Start feeding (called from start(), once the device runs). */
  start(feed: ConsoleFeed, ctx: ActorContext<ConsoleProtocol>): void;
  /** Each piece of the guest's output, after it was written and watched. */
  output?(bytes: Uint8Array): void;
  /** On a graceful stop. */
  stop?(): void;
}

export interface ConsoleHandlerOptions {
  /**
   * Make the input source, in start() (a throw there refuses the start).
   * Default: the stdin byte ring, through the fault plan's console layer.
   */
  input?: (ctx: ActorContext<ConsoleProtocol>) => ConsoleInput;
}

export function consoleHandlers(opts: ConsoleHandlerOptions = {}): ActorHandlers<ConsoleProtocol> {
  let device: ConsoleDevice | null = null;
  let input: ConsoleInput | null = null;
  let faults: FaultEngine | null = null;
  const abort = new AbortController();
  let bytesIn = 0;
  let bytesOut = 0;
  return {
    start(ctx) {
      const log = (text: string) => ctx.emit({ kind: "log", text });
      const watch = new OutputWatch(ctx.config.watch ?? []);
      input = (opts.input ?? ringInput)(ctx);
      const source = input;
      const dev = new ConsoleDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
        output(bytes) {
          writeStdout(bytes);
          bytesOut += bytes.length;
          if (watch.watching) {
            for (const text of watch.feed(bytes)) ctx.emit({ kind: "seen", text });
          }
          source.output?.(bytes);
        },
        ramBase: ctx.config.ramBase,
        log,
        trace: ctx.config.verbose ? log : undefined,
      });
      device = dev;
      void dev.run(abort.signal);
      faults = armFaults("console", ctx);
      const feed: ConsoleFeed = {
        device: dev,
        signal: abort.signal,
        faults,
        took: (n) => void (bytesIn += n),
        log,
      };
      source.start(feed, ctx);
    },
    request: {
      stats: () => ({
        bytesIn,
        bytesOut,
        held: device?.held ?? 0,
        droppedInput: device?.droppedInput ?? 0,
        errors: device?.errors ?? 0,
      }),
    },
    cast: {},
    stop() {
      faults?.dispose();
      input?.stop?.();
      abort.abort();
    },
  };
}

/**
 * The built-in input: the stdin byte ring the launcher's one reader fills
 * (launcher/terminal.ts), with the fault plan's console layer (if any)
 * between the ring and the device.
 */
export function ringInput(): ConsoleInput {
  let layer: ConsoleInputFaults | null = null;
  return {
    start(feed, ctx) {
      const dev = feed.device;
      layer = feed.faults.active
        ? new ConsoleInputFaults(feed.faults, (b) => dev.pushInput(b))
        : null;
      const reader = new ByteRingReader(ctx.buffers.input);
      // The pump starts after "ready" is out, so a kill on its first byte is
      // a crash of a running actor whose report reaches the launcher.
      setTimeout(() => void pumpInput(reader, feed, layer), 0);
    },
    stop() {
      layer?.dispose();
    },
  };
}

async function pumpInput(
  reader: ByteRingReader,
  feed: ConsoleFeed,
  faults: ConsoleInputFaults | null,
): Promise<void> {
  const dev = feed.device;
  const buf = new Uint8Array(4096);
  while (!feed.signal.aborted) {
    if (faults) {
      // The fault layer takes the bytes one by one (docs/faults.md); it takes
      // what the ring holds, so wait for the device to have room first.
      if (dev.inputRoom === 0) {
        await dev.waitForInputRoom(1000);
        continue;
      }
      const n = faults.take(reader);
      feed.took(n);
      if (n > 0) continue;
      await reader.waitForDataAsync(1000);
      continue;
    }
    // Take only what the device can hold: the rest stays in the ring, which
    // holds the launcher's stdin reader back (backpressure, not loss).
    const room = dev.inputRoom;
    if (room === 0) {
      await dev.waitForInputRoom(1000);
      continue;
    }
    const n = reader.read(buf.subarray(0, Math.min(buf.length, room)));
    if (n > 0) {
      feed.took(n);
      dev.pushInput(buf.subarray(0, n));
      continue;
    }
    // Bounded wait: a pending waitAsync alone does not keep the loop alive.
    await reader.waitForDataAsync(1000);
  }
}
