// CPU benchmark (`deno task bench cpu`): the integer and the FP benchmark
// programs (tests/programs/src/bench_*.c) run on the hart in U-mode with Sv48
// paging on, through usermode/runner.ts, and under qemu-riscv64 in the same
// run when it is installed. Reports MIPS (instructions retired / wall time,
// the hart's instret counting for both) and the time ratio actorvm / qemu,
// for both tiers: the interpreter (`actorvm`) and the translator
// (`actorvm_jit`, cpu/jit/, with its compile time and cache counters).
// Targets: at least 60 MIPS interpreted on the integer program; with the
// translator, bench_int within 4x of qemu-riscv64's time (issue 13).

import { fileURLToPath } from "node:url";
import { UserProcess } from "../../usermode/runner.ts";
import type { JitStats } from "../../cpu/jit/tier.ts";

const bin = (name: string) => new URL(`../../tests/programs/bin/${name}`, import.meta.url);

/** Sizes: about 300 M instructions for the integer program, 30 M for FP. */
const INT_ROUNDS = 280;
const FP_STEPS = 45_000;

interface Measured {
  instructions: number;
  seconds: number;
  mips: number;
  output: string;
  jit: JitStats | null;
}

function onHart(elf: Uint8Array, args: string[], jit = false): Measured {
  const out: Uint8Array[] = [];
  const t0 = performance.now();
  const p = new UserProcess(elf, { args, stdout: (b) => out.push(b.slice()), jit });
  const r = p.run();
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`exit status ${r.status} on the hart`);
  const output = out.map((b) => new TextDecoder().decode(b)).join("").trim();
  return {
    instructions: r.instret,
    seconds,
    mips: r.instret / seconds / 1e6,
    output,
    jit: p.jit === null ? null : { ...p.jit.stats },
  };
}

async function onQemu(
  path: string,
  args: string[],
): Promise<{ seconds: number; output: string } | null> {
  let cmd: Deno.Command;
  try {
    cmd = new Deno.Command("qemu-riscv64", {
      args: [path, ...args],
      stdout: "piped",
      stderr: "null",
    });
    const t0 = performance.now();
    const o = await cmd.output();
    const seconds = (performance.now() - t0) / 1000;
    if (!o.success) throw new Error(`qemu-riscv64 exited with ${o.code}`);
    return { seconds, output: new TextDecoder().decode(o.stdout).trim() };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function one(name: string, args: string[], warmArgs: string[]) {
  const path = bin(name);
  const elf = Deno.readFileSync(path);
  onHart(elf, warmArgs); // let the JIT settle on the interpreter loop first
  const hart = onHart(elf, args);
  // The translator's run includes its compiles (a fresh process each time: nothing cached).
  const jit = onHart(elf, args, true);
  if (jit.output !== hart.output || jit.instructions !== hart.instructions) {
    throw new Error(`${name}: the translator's run differs from the interpreter's`);
  }
  // QEMU's run is short, so its process start (translation cache, loader) is
  // measured with a size-0 run and taken off: best of three of each.
  const best = async (a: string[]) => {
    let r = await onQemu(fileURLToPath(path), a);
    for (let i = 0; i < 2 && r !== null; i++) {
      const n = await onQemu(fileURLToPath(path), a);
      if (n !== null && n.seconds < r.seconds) r = n;
    }
    return r;
  };
  const qemu = await best(args);
  if (qemu === null) {
    console.error(
      "bench cpu: qemu-riscv64 is not installed (apt-get install qemu-user): no ratios",
    );
  }
  const startup = qemu === null ? 0 : (await best(["0"]))!.seconds;
  const net = qemu === null ? 0 : Math.max(qemu.seconds - startup, 1e-6);
  return {
    program: `${name} ${args.join(" ")}`,
    instructions: hart.instructions,
    actorvm: { seconds: round(hart.seconds), mips: round(hart.mips) },
    actorvm_jit: {
      seconds: round(jit.seconds),
      mips: round(jit.mips),
      speedup_over_interpreter: round(hart.seconds / jit.seconds),
      compile_ms: round(jit.jit!.compileMs),
      pages: jit.jit!.pages,
      compiles: jit.jit!.compiles,
      cache_bytes: jit.jit!.cacheBytes,
      entries: jit.jit!.entries,
      interpreter_exits: jit.jit!.interpExits,
    },
    qemu: qemu === null ? null : {
      seconds: round(net),
      startup_seconds: round(startup),
      mips: round(hart.instructions / net / 1e6),
      same_output: qemu.output === hart.output,
    },
    time_ratio_actorvm_over_qemu: qemu === null ? null : round(hart.seconds / net),
    time_ratio_jit_over_qemu: qemu === null ? null : round(jit.seconds / net),
    output: hart.output,
  };
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}

export async function run(): Promise<Record<string, unknown>> {
  const integer = await one("bench_int", [String(INT_ROUNDS)], ["5"]);
  const fp = await one("bench_fp", [String(FP_STEPS)], ["2000"]);
  return {
    integer,
    fp,
    target_int_mips: 60,
    meets_target: integer.actorvm.mips >= 60,
    target_jit_int_ratio: 4,
    meets_jit_target: integer.time_ratio_jit_over_qemu !== null &&
      integer.time_ratio_jit_over_qemu <= 4,
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
