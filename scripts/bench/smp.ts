// Benchmark: several harts (--smp, docs/smp.md). Throughput: two CPU-bound
// guest processes at once (`gzip -9` of the same 3.9 MB file in tmpfs, in
// parallel) with --smp=2 against --smp=1, so the ratio is what the second
// hart's worker (the host's second core) buys; and boot-to-ready with
// --smp=2 against qemu-system-riscv64 -smp 2 on the same SMP kernel. Runs
// alternate so both sides see the same host load.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/smp.ts

import { fileURLToPath } from "node:url";
import { guestShell, median, timeBoot } from "./guest_qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const RUNS = 3;
const LIMIT_MS = 600_000;
const SETUP = "seq 1 550000 > /tmp/w; echo SETUP-$((1+1))-DONE";
/**
 * Two gzip -9 at once, then wait for both: ~2 s of translated work each, long
 * enough that each hart's own code cache warming up (a page is translated
 * after ~4 M instructions in it, per hart) does not dominate, as it did for
 * two md5sums (~0.2 s each once translated).
 */
const WORK = "gzip -9 -c /tmp/w > /dev/null & gzip -9 -c /tmp/w > /dev/null & wait";

/** Boot with `extra`, time WORK (ms) and the ready line (ms from spawn). */
async function measure(extra: string[]): Promise<{ readyMs: number; workMs: number }> {
  const t0 = performance.now();
  const sh = guestShell(Deno.execPath(), ["run", "-A", `${ROOT}mod.ts`, ...extra], LIMIT_MS);
  try {
    await sh.until(READY);
    const readyMs = performance.now() - t0;
    await sh.type(SETUP);
    await sh.until("SETUP-2-DONE");
    const t1 = performance.now();
    await sh.type(`${WORK}; echo WORK-$((6*7))-DONE`);
    await sh.until("WORK-42-DONE");
    const workMs = performance.now() - t1;
    await sh.type("poweroff");
    return { readyMs, workMs };
  } finally {
    await sh.close();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const one: { readyMs: number; workMs: number }[] = [];
  const two: { readyMs: number; workMs: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    one.push(await measure(["--smp=1"]));
    two.push(await measure(["--smp=2"]));
  }
  let qemu: number[] | null = null;
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .output();
    qemu = [];
    for (let i = 0; i < RUNS; i++) qemu.push(await timeBoot(["-n", "-p", "2"], READY));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error("bench smp: qemu-system-riscv64 is MISSING (apt-get install qemu-system-misc)");
  }
  const w1 = median(one.map((r) => r.workMs)), w2 = median(two.map((r) => r.workMs));
  const ready2 = median(two.map((r) => r.readyMs));
  const qemuMs = qemu ? median(qemu) : null;
  return {
    what: "two parallel gzip -9 of a 3.9 MB tmpfs file, --smp=2 vs --smp=1 (throughput ratio = " +
      "time on 1 hart / time on 2), and boot to the ready line with --smp=2 vs qemu -smp 2; " +
      "medians of " + RUNS,
    twoGzipMsSmp1: Math.round(w1),
    twoGzipMsSmp2: Math.round(w2),
    throughputSmp2OverSmp1: Number((w1 / w2).toFixed(2)),
    readyMsSmp1: Math.round(median(one.map((r) => r.readyMs))),
    readyMsSmp2: Math.round(ready2),
    qemuSmp2ReadyMs: qemuMs === null ? null : Math.round(qemuMs),
    ratioSmp2BootOverQemuSmp2: qemuMs === null ? null : Number((ready2 / qemuMs).toFixed(2)),
    missing: qemuMs === null ? ["qemu-system-riscv64"] : [],
    samples: {
      workMsSmp1: one.map((r) => Math.round(r.workMs)),
      workMsSmp2: two.map((r) => Math.round(r.workMs)),
      readyMsSmp2: two.map((r) => Math.round(r.readyMs)),
      qemuSmp2ReadyMs: qemu?.map((x) => Math.round(x)) ?? null,
    },
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
