// The console actor's handlers: the virtio-console device (devices/console.ts)
// writing the guest's output to stdout (writeStdout: a closed pipe discards,
// never kills) and reporting each watched string it sees there ("seen": the
// ready and panic lines, by the one watcher in actors/output.ts), fed by an
// input source. The built-in source is the stdin byte ring (ringInput); a
// swapped console supplies its own and keeps everything else
// (examples/scripted_console.ts types a script).
// The ring has one reader at a time (CTL.INPUT_OWNER): this actor claims it
// once the guest uses hvc0 (it transmitted) and gives it up when the guest
// polls the SBI console or the UART instead (INPUT_WANTED, set by the cpu:
// actors/cpu/polled_input.ts; the rule is docs/machine.md's "Who gets typed
// input"). It takes a piece only when the last one reached the guest, so a
// full device leaves the ring full and the launcher's stdin reader waits:
// nothing is dropped, and little is committed to hvc0 at a handover. Output pieces are views into guest RAM of bounded size;
// they are written and scanned for watched strings in place, never copied or
// decoded. The worker file (actors/console/console.worker.ts) only wires these
// to its port. Read next: devices/console.ts (the device), faults/layers/console.ts.

import type { ActorContext, ActorHandlers } from "../runtime/protocol.ts";
import { shareStdoutState } from "../output.ts";
import { ByteRingReader } from "../../lib/ring.ts";
import { tracer } from "../../lib/trace.ts";
import { OutputSink, OutputWatch } from "../output.ts";
import { claimInput, CTL, INPUT, releaseInput } from "../../machine/control.ts";
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
      shareStdoutState(ctx.buffers.control); // a failed stdout is said once, not per writer
      // Deterministic mode (docs/replay.md): input only inside the passes the cpu waits for.
      const ctl = new Int32Array(ctx.buffers.control);
      const deterministic = Atomics.load(ctl, CTL.DETERMINISTIC) !== 0;
      input = opts.input ? opts.input(ctx) : deterministic ? passInput() : ringInput();
      const source = input;
      // stdout, or the library's output ring (actors/output.ts) when the launcher gave one.
      const sink = new OutputSink(ctx.buffers.output, () => Atomics.load(ctl, CTL.STOP) !== 0);
      const dev = new ConsoleDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
        output(bytes) {
          sink.write(bytes);
          bytesOut += bytes.length;
          if (watch.watching) {
            for (const text of watch.feed(bytes)) ctx.emit({ kind: "seen", text });
          }
          source.output?.(bytes);
        },
        ramBase: ctx.config.ramBase,
        ramBytes: ctx.config.ramBytes,
        dmaDirty: ctx.buffers.dmaDirty,
        log,
        trace: ctx.config.verbose ? log : undefined,
        // Deterministic: held input waits for the guest's first transmit, never for a wall clock.
        ...(deterministic ? { inputGraceMs: Infinity } : {}),
      });
      device = dev;
      if (ctx.config.restoredInUse) dev.markInUse();
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
      snapshot: () => {
        device!.freeze();
        return { inUse: device!.inUse, heldInput: Array.from(device!.heldInput()) };
      },
      thaw: () => device!.thaw(),
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
      const ring = ctx.buffers.input;
      const ctl = new Int32Array(ctx.buffers.control);
      // The pump starts after "ready" is out, so a kill on its first byte is
      // a crash of a running actor whose report reaches the launcher.
      setTimeout(() => void pumpInput(ring, ctl, feed, layer), 0);
    },
    stop() {
      layer?.dispose();
    },
  };
}

/**
 * Deterministic mode's input (docs/replay.md): the ring is filled only by the
 * cpu, at instruction counts it chooses, and read only at the start of a
 * device pass — a pass the cpu waits for after ringing the doorbell. So a
 * byte reaches the guest at the same instruction in every run. No fault
 * layer: console faults are refused in deterministic mode.
 */
export function passInput(): ConsoleInput {
  return {
    start(feed, ctx) {
      const dev = feed.device;
      const reader = new ByteRingReader(ctx.buffers.input);
      const buf = new Uint8Array(4096);
      dev.passInput = () => {
        const n = reader.read(buf.subarray(0, Math.min(buf.length, dev.inputRoom)));
        if (n > 0) {
          feed.took(n);
          dev.pushInput(buf.subarray(0, n));
        }
      };
    },
  };
}

async function pumpInput(
  ring: SharedArrayBuffer,
  ctl: Int32Array,
  feed: ConsoleFeed,
  faults: ConsoleInputFaults | null,
): Promise<void> {
  const dev = feed.device;
  const buf = new Uint8Array(4096);
  /** Our reader while we hold the ring (fresh at each claim: the cpu may have moved TAIL). */
  let reader: ByteRingReader | null = null;
  const wanted = () => Atomics.load(ctl, CTL.INPUT_WANTED) !== 0;
  // A claim left by a predecessor that crashed is not ours to keep: this
  // device has not seen the guest transmit yet.
  releaseInput(ctl, INPUT.CONSOLE);
  while (!feed.signal.aborted) {
    if (reader === null) {
      // Claim the ring once the guest uses hvc0, unless it polls another console.
      if (dev.inUse && !wanted() && claimInput(ctl, INPUT.CONSOLE)) {
        reader = new ByteRingReader(ring);
        continue;
      }
      // Not ours: wait for what would change that (hvc0's first transmit has
      // no signal here, so that one is looked for every 200 ms).
      if (!dev.inUse) await delay(200);
      else if (wanted()) await waitWord(ctl, CTL.INPUT_WANTED, 1);
      else await waitWord(ctl, CTL.INPUT_OWNER, Atomics.load(ctl, CTL.INPUT_OWNER));
      continue;
    }
    if (wanted() || !dev.inUse) {
      // The guest polls the SBI console or the UART (they win), or reset hvc0.
      reader = null;
      releaseInput(ctl, INPUT.CONSOLE);
      continue;
    }
    // What the device holds belongs to hvc0: take more only once it reached
    // the guest, so the rest stays in the ring for whoever reads next.
    if (dev.held > 0) {
      await delay(10);
      continue;
    }
    if (faults) {
      // The fault layer takes the bytes one by one (docs/faults.md).
      const n = faults.take(reader);
      if (n > 0) tracer?.inputTaken(n);
      feed.took(n);
      if (n > 0) continue;
    } else {
      const n = reader.read(buf);
      if (n > 0) {
        tracer?.inputTaken(n);
        feed.took(n);
        dev.pushInput(buf.subarray(0, n));
        continue;
      }
    }
    // Bounded wait: a pending waitAsync alone does not keep the loop alive.
    await reader.waitForDataAsync(1000);
  }
  if (reader !== null) releaseInput(ctl, INPUT.CONSOLE);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until ctl[index] is no longer `value`, or a second passed. */
async function waitWord(ctl: Int32Array, index: number, value: number): Promise<void> {
  const w = Atomics.waitAsync(ctl, index, value, 1000);
  if (w.async) await w.value;
}
