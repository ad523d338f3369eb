// Where a boot's first second goes, timed from the process's spawn: boots the
// bundled guest (console + the bundled disk, as `deno task bench boot` does)
// from one or more checkouts, alternating between them (A, B, A, B...) so all
// see the same machine load, and prints per checkout the median and range of:
// Deno's own start, the trace's origin (the launcher's modules loaded), each
// actor's "started", the hart's first instruction, the ready line, and the
// CPU time the process had used by then. Traced boots give the milestones
// (`--trace`, whose file records its clock: launcher/trace_file.ts); untraced
// boots, alternated with them, give the ready line as the benchmark sees it.
// Run it under the bench lock (docs/cpu.md, "Start-up"):
//
//   flock /tmp/actorvm-bench.lock deno run -A scripts/startup-timing.ts [--runs=10] [--json] \
//     <checkout> [<checkout>...]

import { parseArgs } from "node:util";
import { median } from "./bench/guest_qemu.ts";
import { bootToReady, cpuSeconds } from "./bench/boot.ts";

const READY = "actorvm-guest: ready";
const LIMIT_MS = 60_000;

/** One boot's times, ms since the process was spawned (CPU: seconds of all its threads). */
type Sample = Record<string, number>;

interface TraceEvent {
  name: string;
  ph: string;
  ts?: number;
  tid?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

/** Boot `root`'s mod.ts once; with `trace`, read the milestones from its trace file. */
async function boot(root: string, trace: string | null): Promise<Sample> {
  const extra = trace ? [`--trace=${trace}`] : [];
  const spawnEpoch = performance.timeOrigin + performance.now();
  let cpu = NaN;
  const { readyMs: ready } = await bootToReady(root, extra, LIMIT_MS, (pid) => {
    cpu = cpuSeconds(pid);
  });
  const s: Sample = { "ready line": ready, "cpu s at ready": cpu };
  if (!trace) return s;
  const file = JSON.parse(Deno.readTextFileSync(trace)) as {
    traceEvents: TraceEvent[];
    otherData: { originEpochMs?: number; processStartEpochMs?: number };
  };
  Deno.removeSync(trace);
  const { originEpochMs, processStartEpochMs } = file.otherData;
  if (originEpochMs === undefined || processStartEpochMs === undefined) {
    throw new Error(`${root}: its trace file does not record its clock (otherData.originEpochMs)`);
  }
  const since = (tsUs: number) => originEpochMs + tsUs / 1000 - spawnEpoch;
  s["deno started"] = processStartEpochMs - spawnEpoch;
  s["trace origin"] = since(0);
  const tracks = new Map<number, string>();
  for (const e of file.traceEvents) {
    if (e.ph === "M" && e.name === "thread_name") tracks.set(e.tid!, String(e.args?.name));
  }
  for (const e of file.traceEvents) {
    if (e.ts === undefined) continue;
    if (e.name === "first instruction" && !("first instruction" in s)) {
      s["first instruction"] = since(e.ts);
    } else if (e.name === "supervisor: started") {
      s[`${tracks.get(e.tid!)} started`] = since(e.ts);
    } else if (e.cat === "milestone" && e.name === 'seen "Linux version"') {
      s["Linux version"] = since(e.ts);
    } else if (e.cat === "milestone" && e.name === `seen "${READY}"`) {
      s["M instructions to ready"] = Number(e.args?.instret ?? NaN) / 1e6;
    }
  }
  return s;
}

const { values, positionals } = parseArgs({
  options: { runs: { type: "string", default: "10" }, json: { type: "boolean", default: false } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error("usage: startup-timing.ts [--runs=N] [--json] <checkout> [<checkout>...]");
  Deno.exit(2);
}
const roots = positionals.map((r) => Deno.realPathSync(r));
const runs = Number(values.runs);
const traced = new Map<string, Sample[]>(roots.map((r) => [r, []]));
const plain = new Map<string, Sample[]>(roots.map((r) => [r, []]));
const tmp = Deno.makeTempDirSync({ prefix: "startup-timing-" });
try {
  for (let i = 0; i < runs; i++) {
    for (const r of roots) traced.get(r)!.push(await boot(r, `${tmp}/trace.json`));
    for (const r of roots) plain.get(r)!.push(await boot(r, null));
    console.error(`run ${i + 1}/${runs} done`);
  }
} finally {
  Deno.removeSync(tmp, { recursive: true });
}

/** Per measure: median, min and max over the samples that have it. */
function stats(samples: Sample[]): Record<string, { median: number; min: number; max: number }> {
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  const out: Record<string, { median: number; min: number; max: number }> = {};
  const byMedian = keys.map((k) => {
    const xs = samples.map((s) => s[k]).filter((x) => x !== undefined);
    return { k, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  }).sort((a, b) => a.median - b.median);
  for (const { k, ...v } of byMedian) out[k] = v;
  return out;
}

/**
 * Per measure, the median of the run-by-run differences from the first
 * checkout (each boot minus the first checkout's boot of the same round):
 * steadier than a difference of medians while the machine's load drifts.
 */
function paired(samples: Sample[], base: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(samples[0])) {
    const d = samples.flatMap((s, i) =>
      s[k] !== undefined && base[i][k] !== undefined ? [s[k] - base[i][k]] : []
    );
    if (d.length) out[k] = median(d);
  }
  return out;
}

const result = roots.map((r, i) => ({
  checkout: r,
  runs,
  traced: stats(traced.get(r)!),
  untraced: stats(plain.get(r)!),
  ...(i > 0
    ? {
      pairedDifference: {
        traced: paired(traced.get(r)!, traced.get(roots[0])!),
        untraced: paired(plain.get(r)!, plain.get(roots[0])!),
      },
    }
    : {}),
  samples: { traced: traced.get(r)!, untraced: plain.get(r)! },
}));
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  const f = (x: number, cpu: boolean) => cpu ? x.toFixed(2) : x.toFixed(0);
  for (const r of result) {
    console.log(`${r.checkout} (${r.runs} traced + ${r.runs} untraced boots; ms from spawn)`);
    for (const [what, st] of [["traced", r.traced], ["untraced", r.untraced]] as const) {
      for (const [k, v] of Object.entries(st)) {
        const cpu = k === "cpu s at ready" || k.startsWith("M instructions");
        const d = r.pairedDifference?.[what][k];
        console.log(
          `  ${what.padEnd(8)} ${k.padEnd(22)} ${f(v.median, cpu).padStart(6)}  ` +
            `[${f(v.min, cpu)}–${f(v.max, cpu)}]` +
            (d === undefined ? "" : `  paired vs the first: ${d > 0 ? "+" : ""}${f(d, cpu)}`),
        );
      }
    }
  }
}
