/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The console actor's worker: the virtio-console device (devices/console.ts)
// fed from the stdin byte ring, writing the guest's output to stdout.
import { serveActor } from "../actors/protocol.ts";
import { ByteRingReader } from "../actors/ring.ts";
import { writeStdout } from "../actors/stdout.ts";
import { ConsoleDevice } from "./console.ts";
import { CONSOLE } from "./console_protocol.ts";
import { FaultEngine } from "../actors/faults.ts";
import { ConsoleInputFaults } from "../actors/fault_layers/console.ts";

let device: ConsoleDevice | null = null;
const abort = new AbortController();
let bytesIn = 0;
let bytesOut = 0;

/** Watched strings not yet seen, and the output tail that a match may straddle. */
let watching: string[] = [];
let tail = "";
let onSeen: (text: string) => void = () => {};
const decoder = new TextDecoder();

function writeAll(bytes: Uint8Array): void {
  writeStdout(bytes);
  bytesOut += bytes.length;
  if (watching.length === 0) return;
  const text = tail + decoder.decode(bytes, { stream: true });
  for (const w of watching.filter((w) => text.includes(w))) {
    watching = watching.filter((x) => x !== w);
    onSeen(w);
  }
  const keep = Math.max(0, ...watching.map((w) => w.length - 1));
  tail = text.slice(text.length - keep);
}

async function pumpInput(
  reader: ByteRingReader,
  dev: ConsoleDevice,
  faults: ConsoleInputFaults | null,
): Promise<void> {
  const buf = new Uint8Array(4096);
  while (!abort.signal.aborted) {
    if (faults) {
      // The fault layer takes the bytes one by one (docs/faults.md).
      const n = faults.take(reader);
      bytesIn += n;
      if (n > 0) continue;
      await reader.waitForDataAsync(1000);
      continue;
    }
    const n = reader.read(buf);
    if (n > 0) {
      bytesIn += n;
      dev.pushInput(buf.subarray(0, n));
      continue;
    }
    // Bounded wait: a pending waitAsync alone does not keep the loop alive.
    await reader.waitForDataAsync(1000);
  }
}

serveActor(CONSOLE, {
  start(ctx) {
    const log = (text: string) => ctx.emit({ kind: "log", text });
    watching = [...(ctx.config.watch ?? [])];
    onSeen = (text) => ctx.emit({ kind: "seen", text });
    const dev = new ConsoleDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
      output: writeAll,
      ramBase: ctx.config.ramBase,
      log,
      trace: ctx.config.verbose ? log : undefined,
    });
    device = dev;
    void dev.run(abort.signal);
    // The fault plan's console layer (if any) sits between the input ring and the device.
    const engine = new FaultEngine(
      "console",
      ctx.config.faults,
      ctx.buffers.faults,
      ctx.buffers.control,
      {
        report: (e) => ctx.emit(e),
        kill: (reason) => ctx.exit(reason),
      },
    );
    const faults = engine.active ? new ConsoleInputFaults(engine, (b) => dev.pushInput(b)) : null;
    // The input pump starts after "ready" is out, so a kill on its first byte
    // is a crash of a running actor whose report reaches the launcher.
    setTimeout(() => void pumpInput(new ByteRingReader(ctx.buffers.input), dev, faults), 0);
    engine.armTimedKills();
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
    abort.abort();
  },
});
