/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A swap-in console (`--actor console=examples/scripted_console.worker.ts`):
// the built-in virtio-console device, but its input is a scripted session
// instead of the keyboard. $ACTORVM_CONSOLE_SCRIPT names a file of lines
// "expect <text>" (wait until the guest has printed <text>) and "send <text>"
// (type <text>; \n and \t are escapes). Output still goes to stdout, and the
// script's progress is reported as log lines. Protocol: actors/console/protocol.ts.

import { serveActor } from "../actors/runtime/protocol.ts";
import { ConsoleDevice } from "../devices/console.ts";
import { CONSOLE } from "../actors/console/protocol.ts";

export type Step = { kind: "expect"; text: string } | { kind: "send"; text: string };

/** Parse a script; a line that is neither is an error naming the line. */
export function parseScript(text: string): Step[] {
  const steps: Step[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) return;
    const m = /^(expect|send) (.*)$/.exec(line);
    if (!m) throw new Error(`console script line ${i + 1}: want "expect <text>" or "send <text>"`);
    const body = m[2].replace(/\\n/g, "\n").replace(/\\t/g, "\t").replace(/\\\\/g, "\\");
    steps.push({ kind: m[1] as Step["kind"], text: body });
  });
  return steps;
}

let device: ConsoleDevice | null = null;
const abort = new AbortController();
let seen = "";
let bytesIn = 0, bytesOut = 0;
let advance: () => void = () => {};
const dec = new TextDecoder();

serveActor(CONSOLE, {
  start(ctx) {
    const path = Deno.env.get("ACTORVM_CONSOLE_SCRIPT");
    if (!path) throw new Error("scripted console: set ACTORVM_CONSOLE_SCRIPT to a script file");
    const steps = parseScript(Deno.readTextFileSync(path));
    const log = (text: string) => ctx.emit({ kind: "log", text: `scripted console: ${text}` });
    const dev = new ConsoleDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
      output(bytes) {
        let off = 0;
        while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
        bytesOut += bytes.length;
        seen += dec.decode(bytes, { stream: true });
        advance();
      },
      ramBase: ctx.config.ramBase,
      log,
    });
    device = dev;
    let at = 0;
    advance = () => {
      // pushInput() services the device, which may print, which calls us
      // again: take each step (at++) before doing it, so none runs twice.
      while (at < steps.length) {
        const s = steps[at];
        if (s.kind === "expect") {
          const i = seen.indexOf(s.text);
          if (i < 0) return;
          at++;
          seen = seen.slice(i + s.text.length); // the next expect looks after this match
          log(`saw ${JSON.stringify(s.text)}`);
        } else {
          at++;
          const b = new TextEncoder().encode(s.text);
          bytesIn += b.length;
          dev.pushInput(b);
        }
      }
    };
    void dev.run(abort.signal);
    advance();
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
