// The cpu worker, started first: mod.ts imports this module before any other,
// so when actorvm runs as a program the hart's worker begins loading its
// modules and warming up the instruction loop (actors/cpu/cpu.worker.ts) while
// this thread is still loading the launcher's (~70 ms), instead of after it.
// The first boot's hart 0 adopts it (actors/runtime/spawn.ts, prespawnWorker);
// nothing is sent to it before, so its config and buffers are the boot's as
// ever. Not for a library user (mod.ts imported, not run), nor for --help and
// --version; a run that swaps the cpu's module, or ends before it boots, drops
// it unadopted (mod.ts). Measured in docs/cpu.md, "Start-up".
// Read next: launcher/boot.ts (where the cpu is started first).

import { prespawnWorker } from "../actors/runtime/spawn.ts";
import { ROLES } from "../actors/roles.ts";

/** Whether this process is actorvm's command line (mod.ts run, not imported). */
const isProgram = Deno.mainModule === `${new URL("..", import.meta.url).href}mod.ts`;

/** Whether the command line `args` asks for a boot at all: help and version print and exit. */
export function asksForBoot(args: string[]): boolean {
  for (const a of args) {
    if (a === "--" || !a.startsWith("-")) break; // the options end (launcher/cli.ts)
    if (a === "-h" || a === "--help" || a === "--version") return false;
  }
  return true;
}

if (isProgram && asksForBoot(Deno.args)) {
  try {
    prespawnWorker(ROLES.cpu.module, "cpu (hart 0)");
  } catch {
    // No worker here (run without read permission for it, say): the boot's own
    // spawn of the cpu meets the same refusal and says so where it always has.
  }
}
