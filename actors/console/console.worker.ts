/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// The console actor's worker: the virtio-console device (devices/console.ts)
// fed from the stdin byte ring, writing the guest's output to stdout. Input
// is taken off the ring only while the device has room to hold it, so a full
// device leaves the ring full and the launcher's stdin reader waits: nothing
// is dropped. Output pieces are views into guest RAM of bounded size; they are
// written and scanned for watched strings in place, never copied or decoded.
import { serveActor } from "../runtime/protocol.ts";
import { ByteRingReader } from "../../lib/ring.ts";
import { writeStdout } from "../output.ts";
import { ConsoleDevice } from "../../devices/console.ts";
import { CONSOLE } from "./protocol.ts";
import { FaultEngine } from "../../faults/engine.ts";
import { ConsoleInputFaults } from "../../faults/layers/console.ts";

let device: ConsoleDevice | null = null;
const abort = new AbortController();
let bytesIn = 0;
let bytesOut = 0;

/** Watched strings (as UTF-8) not yet seen; the output tail a match may straddle. */
let watching: { text: string; bytes: Uint8Array }[] = [];
/** The last bytes of output, at most the longest watched string less one. */
let tail = new Uint8Array(0);
let tailLen = 0;
let onSeen: (text: string) => void = () => {};

function writeAll(bytes: Uint8Array): void {
  writeStdout(bytes);
  bytesOut += bytes.length;
  if (watching.length > 0) watch(bytes);
}

/** Report each watched string that occurs in tail + `bytes`. */
function watch(bytes: Uint8Array): void {
  for (const w of watching.filter((w) => occursIn(w.bytes, bytes))) {
    watching = watching.filter((x) => x !== w);
    onSeen(w.text);
  }
  // Keep the last tail.length bytes of tail + bytes.
  const keep = tail.length;
  if (bytes.length >= keep) {
    tail.set(bytes.subarray(bytes.length - keep));
  } else {
    const old = Math.min(tailLen, keep - bytes.length);
    tail.copyWithin(0, tailLen - old, tailLen);
    tail.set(bytes, old);
    tailLen = old + bytes.length;
    return;
  }
  tailLen = keep;
}

/** Whether `needle` occurs in tail + bytes, without building that string. */
function occursIn(needle: Uint8Array, bytes: Uint8Array): boolean {
  const n = needle.length;
  const at = (i: number) => i < tailLen ? tail[i] : bytes[i - tailLen];
  // Matches that start in the tail: at most n - 1 starting points.
  for (let i = Math.max(0, tailLen - n + 1); i < tailLen; i++) {
    if (i + n > tailLen + bytes.length) break;
    let j = 0;
    while (j < n && at(i + j) === needle[j]) j++;
    if (j === n) return true;
  }
  for (let i = bytes.indexOf(needle[0]); i >= 0 && i + n <= bytes.length;) {
    let j = 1;
    while (j < n && bytes[i + j] === needle[j]) j++;
    if (j === n) return true;
    i = bytes.indexOf(needle[0], i + 1);
  }
  return false;
}

async function pumpInput(
  reader: ByteRingReader,
  dev: ConsoleDevice,
  faults: ConsoleInputFaults | null,
): Promise<void> {
  const buf = new Uint8Array(4096);
  while (!abort.signal.aborted) {
    if (faults) {
      // The fault layer takes the bytes one by one (docs/faults.md); it takes
      // what the ring holds, so wait for the device to have room first.
      if (dev.inputRoom === 0) {
        await dev.waitForInputRoom(1000);
        continue;
      }
      const n = faults.take(reader);
      bytesIn += n;
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
    const enc = new TextEncoder();
    watching = (ctx.config.watch ?? []).filter((t) => t.length > 0).map((text) => ({
      text,
      bytes: enc.encode(text),
    }));
    tail = new Uint8Array(Math.max(0, ...watching.map((w) => w.bytes.length - 1)));
    tailLen = 0;
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
