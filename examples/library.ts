// actorvm from code: boot the bundled guest, run `uname -a` in its shell,
// print the answer and power it off. Copy this file anywhere and point its
// import at your checkout's mod.ts (an absolute path or a URL): the guest's
// files are found next to mod.ts, not in the current directory.
//   deno run -A examples/library.ts
// Read next: launcher/library.ts (bootMachine, the Machine it returns).

import { bootMachine, READY_LINE } from "../mod.ts";

const vm = await bootMachine(); // no args: the bundled guest, as `deno run -A mod.ts`
await vm.waitFor(READY_LINE); // the guest's init is up: its shell reads the console
// A marker the command line does not contain (the shell echoes what is typed).
await vm.send("uname -a; echo UNAME-$((6*7))\n");
const text = await vm.waitFor("UNAME-42");
const answer = text.split(/\r?\n/).find((line) => line.startsWith("Linux "));
console.log(answer ?? `no uname line in: ${JSON.stringify(text)}`);
await vm.send("poweroff\n");
// Read the rest of the output (the guest's writes wait for a reader), then the fate.
await vm.output.pipeTo(new WritableStream());
const result = await vm.result;
console.log(`guest ${result.status} after ${result.instret} instructions`);
// No Deno.exit needed: once the run is over nothing of the machine is left running.
if (!answer || result.exitCode !== 0) Deno.exitCode = 1;
