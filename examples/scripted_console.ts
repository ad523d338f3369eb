// A scripted console: the built-in console actor's handlers
// (actors/console/console_actor.ts) with a script as the input source instead
// of stdin. So the output still goes through writeStdout (a closed pipe
// discards, never kills) and the watched strings are still reported as
// "seen": the launcher's ready and panic detection work with this console.
// $ACTORVM_CONSOLE_SCRIPT names a file of lines "expect <text>" (wait until
// the guest has printed <text>) and "send <text>" (type <text>; \n and \t are
// escapes); each step is reported as a log line. A restarted instance replays
// the script from the start. Worker: examples/scripted_console.worker.ts.
// Read next: actors/console/console_actor.ts (ConsoleInput).

import type { ActorHandlers } from "../actors/runtime/protocol.ts";
import {
  type ConsoleFeed,
  consoleHandlers,
  type ConsoleInput,
} from "../actors/console/console_actor.ts";
import type { ConsoleProtocol } from "../actors/console/protocol.ts";

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

/** An input source that types `steps`, each "send" once the "expect"s before it were seen. */
export function scriptedInput(steps: Step[]): ConsoleInput {
  let feed: ConsoleFeed | null = null;
  let at = 0;
  let seen = "";
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  const advance = (f: ConsoleFeed) => {
    // pushInput() services the device, which may print, which calls us
    // again: take each step (at++) before doing it, so none runs twice.
    while (at < steps.length) {
      const s = steps[at];
      if (s.kind === "expect") {
        const i = seen.indexOf(s.text);
        if (i < 0) return;
        at++;
        seen = seen.slice(i + s.text.length); // the next expect looks after this match
        f.log(`scripted console: saw ${JSON.stringify(s.text)}`);
      } else {
        at++;
        const b = enc.encode(s.text);
        f.took(b.length);
        f.device.pushInput(b);
      }
    }
  };
  return {
    start(f) {
      feed = f;
      advance(f);
    },
    output(bytes) {
      seen += dec.decode(bytes, { stream: true });
      if (feed) advance(feed);
    },
  };
}

/** The console role's handlers, input from the script $ACTORVM_CONSOLE_SCRIPT names. */
export function scriptedConsoleHandlers(): ActorHandlers<ConsoleProtocol> {
  return consoleHandlers({
    input() {
      const path = Deno.env.get("ACTORVM_CONSOLE_SCRIPT");
      if (!path) throw new Error("scripted console: set ACTORVM_CONSOLE_SCRIPT to a script file");
      return scriptedInput(parseScript(Deno.readTextFileSync(path)));
    },
  });
}
