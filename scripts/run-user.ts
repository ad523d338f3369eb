// `deno run -A scripts/run-user.ts [--verbose] [--stats] [--jit=on|off] [--clock=host|virtual]
// [--max-insns N] <elf> [args...]` runs a static RISC-V 64 program (freestanding,
// glibc or Go; threads too) on the hart in U-mode with paging on, like
// `qemu-riscv64 <elf> [args...]`: its stdout/stderr go to ours, it sees the
// host's files, and its exit status (or 128 + signal after a fault) becomes
// ours. The logic is in usermode/runner.ts; this file only parses arguments
// and wires stdio. Hot pages run through the translator (cpu/jit/;
// --jit=off interprets everything); --clock=virtual makes time
// instruction-driven and the run deterministic; --verbose names each unknown
// syscall.

import { parseArgs } from "node:util";
import { UserProcess } from "../usermode/runner.ts";

function writeAll(f: { writeSync(p: Uint8Array): number }, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += f.writeSync(b.subarray(off));
}

// Options come before the program; everything after it belongs to the program.
const argv = [...Deno.args];
const progAt = argv.findIndex((a, i) =>
  !a.startsWith("-") && argv[i - 1] !== "--max-insns" && argv[i - 1] !== "--jit" &&
  argv[i - 1] !== "--clock"
);
const own = progAt < 0 ? argv : argv.slice(0, progAt);
const { values } = parseArgs({
  args: own,
  options: {
    verbose: { type: "boolean", short: "v", default: false },
    "max-insns": { type: "string" },
    stats: { type: "boolean", default: false },
    jit: { type: "string", default: "on" },
    clock: { type: "string", default: "host" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (values.help || progAt < 0) {
  console.error(
    "usage: run-user.ts [--verbose] [--stats] [--jit=on|off] [--clock=host|virtual] [--max-insns N] " +
      "<static-riscv64-elf> [args...]",
  );
  Deno.exit(values.help ? 0 : 2);
}
if (values.jit !== "on" && values.jit !== "off") {
  console.error(`run-user: --jit wants on or off, not ${JSON.stringify(values.jit)}`);
  Deno.exit(2);
}
if (values.clock !== "host" && values.clock !== "virtual") {
  console.error(`run-user: --clock wants host or virtual, not ${JSON.stringify(values.clock)}`);
  Deno.exit(2);
}
const path = argv[progAt];
let elf: Uint8Array;
try {
  elf = Deno.readFileSync(path);
} catch (e) {
  console.error(`run-user: cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  Deno.exit(2);
}
const max = values["max-insns"] === undefined ? undefined : Number(values["max-insns"]);
if (max !== undefined && !(max > 0)) {
  console.error("run-user: --max-insns wants a positive number");
  Deno.exit(2);
}
try {
  const t0 = performance.now();
  const proc = new UserProcess(elf, {
    argv0: path,
    args: argv.slice(progAt + 1),
    stdin: (buf) => Deno.stdin.readSync(buf) ?? 0,
    stdout: (b) => writeAll(Deno.stdout, b),
    stderr: (b) => writeAll(Deno.stderr, b),
    verbose: values.verbose ? (m) => console.error(m) : undefined,
    maxInstructions: max,
    jit: values.jit === "on",
    clock: values.clock as "host" | "virtual",
  });
  const r = proc.run();
  if (values.stats) {
    const s = (performance.now() - t0) / 1000;
    console.error(
      `run-user: ${r.instret} instructions in ${s.toFixed(3)} s = ${
        (r.instret / s / 1e6).toFixed(1)
      } MIPS`,
    );
    if (proc.jit !== null) console.error(`run-user: translator ${JSON.stringify(proc.jit.stats)}`);
  }
  Deno.exit(r.status);
} catch (e) {
  console.error(`run-user: ${e instanceof Error ? e.message : e}`);
  Deno.exit(2);
}
