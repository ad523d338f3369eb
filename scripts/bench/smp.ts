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

interface Sample {
  readyMs: number;
  /** WORK right after the setup (each hart translates the pages it finds hot)... */
  workMs: number;
  /** ...and WORK again at once, on warm translations: what a second hart buys in steady state. */
  warmMs: number;
}

/** Boot with `extra`, time WORK twice (ms) and the ready line (ms from spawn). */
async function measure(extra: string[]): Promise<Sample> {
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
    const t2 = performance.now();
    await sh.type(`${WORK}; echo WARM-$((6*7))-DONE`);
    await sh.until("WARM-42-DONE");
    const warmMs = performance.now() - t2;
    await sh.type("poweroff");
    return { readyMs, workMs, warmMs };
  } finally {
    await sh.close();
  }
}

/**
 * One hart on the SMP kernel (which --smp=2 boots; --smp=1 boots the one-hart
 * kernel, whose locks and per-cpu code cost less): the ratio against it is
 * what the second hart alone buys.
 */
const SMP_KERNEL_ON_ONE_HART = [
  "--smp=1",
  `--initrd=${ROOT}guest/initramfs.cpio`,
  "128",
  `${ROOT}guest/variants/Image-smp`,
  ...Deno.readTextFileSync(`${ROOT}guest/cmdline.txt`).trim().split(/\s+/),
];

export async function run(): Promise<Record<string, unknown>> {
  const one: Sample[] = [], oneSmpKernel: Sample[] = [], two: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    one.push(await measure(["--smp=1"]));
    oneSmpKernel.push(await measure(SMP_KERNEL_ON_ONE_HART));
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
  const warm1 = median(one.map((r) => r.warmMs)), warm2 = median(two.map((r) => r.warmMs));
  const w1k = median(oneSmpKernel.map((r) => r.workMs));
  const warm1k = median(oneSmpKernel.map((r) => r.warmMs));
  const ready2 = median(two.map((r) => r.readyMs));
  const qemuMs = qemu ? median(qemu) : null;
  return {
    what: "two parallel gzip -9 of a 3.9 MB tmpfs file, --smp=2 vs --smp=1 (throughput ratio = " +
      "time on 1 hart / time on 2), first right after boot (cold translations) and again (warm), " +
      "and against one hart on the SMP kernel; boot to the ready line with --smp=2 vs qemu -smp 2; " +
      "medians of " + RUNS,
    twoGzipMsSmp1: Math.round(w1),
    twoGzipMsSmp2: Math.round(w2),
    throughputSmp2OverSmp1: Number((w1 / w2).toFixed(2)),
    warmTwoGzipMsSmp1: Math.round(warm1),
    warmTwoGzipMsSmp2: Math.round(warm2),
    warmThroughputSmp2OverSmp1: Number((warm1 / warm2).toFixed(2)),
    smpKernelOneHartTwoGzipMs: Math.round(w1k),
    smpKernelOneHartWarmTwoGzipMs: Math.round(warm1k),
    throughputSmp2OverSmpKernelOneHart: Number((w1k / w2).toFixed(2)),
    warmThroughputSmp2OverSmpKernelOneHart: Number((warm1k / warm2).toFixed(2)),
    readyMsSmp1: Math.round(median(one.map((r) => r.readyMs))),
    readyMsSmp2: Math.round(ready2),
    qemuSmp2ReadyMs: qemuMs === null ? null : Math.round(qemuMs),
    ratioSmp2BootOverQemuSmp2: qemuMs === null ? null : Number((ready2 / qemuMs).toFixed(2)),
    missing: qemuMs === null ? ["qemu-system-riscv64"] : [],
    samples: {
      workMsSmp1: one.map((r) => Math.round(r.workMs)),
      workMsSmp2: two.map((r) => Math.round(r.workMs)),
      warmMsSmp1: one.map((r) => Math.round(r.warmMs)),
      warmMsSmp2: two.map((r) => Math.round(r.warmMs)),
      workMsSmpKernelOneHart: oneSmpKernel.map((r) => Math.round(r.workMs)),
      warmMsSmpKernelOneHart: oneSmpKernel.map((r) => Math.round(r.warmMs)),
      readyMsSmp2: two.map((r) => Math.round(r.readyMs)),
      qemuSmp2ReadyMs: qemu?.map((x) => Math.round(x)) ?? null,
    },
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
