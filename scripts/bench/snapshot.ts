// Benchmark: machine snapshots (docs/snapshot.md). In the same run:
// - restore-to-answer against cold-boot-to-answer: the bundled guest from
//   start to answering `echo $((6*7))` at its prompt, cold and restored from
//   a snapshot taken at that prompt; both as a library machine in this
//   process and as a `mod.ts` process (Deno's own start-up in both);
// - the snapshot's size for the idle 128 MB guest, and how long it was paused;
// - a fork campaign of N restores (each answering and powering off, two at a
//   time) against N cold boots doing the same, two at a time.
// RUNS alternating cold/restore pairs; ACTORVM_BENCH_CAMPAIGN_RUNS (default 20).
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/snapshot.ts

import { fileURLToPath } from "node:url";
import { bootMachine, type Machine } from "../../launcher/library.ts";
import { READY_LINE } from "../../launcher/fate.ts";
import { runCampaign } from "../../launcher/campaign.ts";
import { median } from "./guest_qemu.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const RUNS = 5;
const CAMPAIGN_RUNS = Number(Deno.env.get("ACTORVM_BENCH_CAMPAIGN_RUNS") ?? 20);
const PARALLEL = 2;

/** Ask the guest and wait for the answer (the marker is computed, so the echo never matches). */
async function answer(vm: Machine): Promise<void> {
  await vm.send("echo answer-$((6*7))\n");
  await vm.waitFor("answer-42\r\n", 60_000);
}

async function finish(vm: Machine): Promise<void> {
  await vm.send("poweroff\n");
  await vm.output.pipeTo(new WritableStream()).catch(() => {});
  await vm.result;
}

/** Library machine: cold boot to the answer (ms). */
async function coldLibrary(): Promise<number> {
  const t0 = performance.now();
  const vm = await bootMachine({ log: () => {} });
  await vm.waitFor(READY_LINE, 120_000);
  await answer(vm);
  const ms = performance.now() - t0;
  await finish(vm);
  return ms;
}

/** Library machine: restore to the answer (ms). */
async function restoreLibrary(snap: string): Promise<number> {
  const t0 = performance.now();
  const vm = await bootMachine({ restore: snap, log: () => {} });
  await answer(vm);
  const ms = performance.now() - t0;
  await finish(vm);
  return ms;
}

/** A mod.ts process to the answer (ms): cold, or with --restore. */
async function processRun(extra: string[], cold: boolean): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...extra],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const w = child.stdin.getWriter();
  const dec = new TextDecoder();
  let out = "";
  let asked = false;
  let ms = NaN;
  const reader = child.stdout.getReader();
  if (!cold) {
    await w.write(new TextEncoder().encode("echo answer-$((6*7))\n"));
    asked = true;
  }
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += dec.decode(value, { stream: true });
    if (!asked && out.includes(READY_LINE)) {
      await w.write(new TextEncoder().encode("echo answer-$((6*7))\n"));
      asked = true;
    }
    if (asked && /answer-42\r?\n/.test(out)) {
      ms = performance.now() - t0;
      break;
    }
  }
  await w.write(new TextEncoder().encode("poweroff\n")).catch(() => {});
  await w.close().catch(() => {});
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  await child.status;
  clearTimeout(killer);
  return ms;
}

/** `n` jobs, `parallel` at a time; the wall time (ms). */
async function pool(n: number, parallel: number, job: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < n) await job();
    }),
  );
  return performance.now() - t0;
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "actorvm-bench-snap-" });
  try {
    // The snapshot: the idle guest at its prompt, after it answered once.
    const snap = `${dir}/prompt.snap`;
    const vm = await bootMachine({ log: () => {} });
    await vm.waitFor(READY_LINE, 120_000);
    await answer(vm);
    await new Promise((r) => setTimeout(r, 1000)); // idle at the prompt
    const taken = await vm.snapshot(snap);
    await finish(vm);

    const cold: number[] = [], restored: number[] = [];
    const coldProc: number[] = [], restoredProc: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      cold.push(await coldLibrary());
      restored.push(await restoreLibrary(snap));
      coldProc.push(await processRun([], true));
      restoredProc.push(await processRun([`--restore=${snap}`], false));
    }
    const c = median(cold), r = median(restored);
    const cp = median(coldProc), rp = median(restoredProc);

    const t0 = performance.now();
    const out = await runCampaign({
      snapshot: snap,
      parallel: PARALLEL,
      runs: Array.from({ length: CAMPAIGN_RUNS }, () => ({ script: ["echo $((6*7))"] })),
    });
    const campaign = performance.now() - t0;
    const bad = out.filter((o) => o.fate !== "powered off" || o.scriptStatus !== 0);
    if (bad.length) throw new Error(`campaign: ${bad.length} runs failed: ${bad[0].reason}`);
    const coldBoots = await pool(CAMPAIGN_RUNS, PARALLEL, async () => {
      const vm = await bootMachine({ log: () => {} });
      await vm.waitFor(READY_LINE, 120_000);
      await answer(vm);
      await finish(vm);
    });
    return {
      runs: RUNS,
      library: {
        coldBootToAnswerMs: Math.round(c),
        restoreToAnswerMs: Math.round(r),
        restoreVsCold: +(r / c).toFixed(3),
        coldRunsMs: cold.map(Math.round),
        restoreRunsMs: restored.map(Math.round),
      },
      process: {
        coldBootToAnswerMs: Math.round(cp),
        restoreToAnswerMs: Math.round(rp),
        restoreVsCold: +(rp / cp).toFixed(3),
        coldRunsMs: coldProc.map(Math.round),
        restoreRunsMs: restoredProc.map(Math.round),
      },
      target: "restoreVsCold <= 0.25",
      snapshotOfIdle128MbGuest: {
        bytes: taken.bytes,
        mib: +(taken.bytes / 2 ** 20).toFixed(2),
        ramPagesSaved: taken.pages,
        pausedMs: Math.round(taken.pausedMs),
        totalMs: Math.round(taken.totalMs),
        target: "<= 10 MiB",
      },
      campaign: {
        runs: CAMPAIGN_RUNS,
        parallel: PARALLEL,
        campaignWallMs: Math.round(campaign),
        coldBootsWallMs: Math.round(coldBoots),
        campaignVsColdBoots: +(campaign / coldBoots).toFixed(3),
      },
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
