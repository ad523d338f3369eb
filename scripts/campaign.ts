// `deno run -A scripts/campaign.ts [options]`: a fork campaign — boot once
// (or take an existing snapshot), then restore it N times, a few at once,
// each run with its own fault plan seed and the same guest command script,
// and print a table of outcomes (fate, the script's exit status, the last
// line the guest printed, the faults injected), and with --json the same as
// JSON. The library half is launcher/campaign.ts; docs/snapshot.md shows a
// real 20-seed block-fault campaign.
//
//   --snapshot=<file>     start every run from this snapshot; or
//   --boot=<args>         boot `mod.ts <args>` (split on spaces) to the ready line,
//                         run --setup, snapshot it (into a temp file) first
//   --setup=<file>        guest commands typed before that snapshot, one a line
//   --faults=<plan.json>  every run's fault plan
//   --seeds=<a>..<b>      one run per seed (default 1..20); or --runs=<n> without seeds
//   --script=<file>       guest commands for each run, one a line (default: none)
//   --parallel=<n>        runs at once (default 2)
//   --timeout=<ms>        per run (default 120000)
//   --json=<file>         also write the outcomes as JSON

import { parseArgs } from "node:util";
import {
  type CampaignRun,
  campaignTable,
  runCampaign,
  snapshotAtReady,
} from "../launcher/campaign.ts";

const USAGE = "usage: campaign.ts (--snapshot=<file> | --boot=<args>) [--setup=<file>] " +
  "[--faults=<plan>] [--seeds=a..b | --runs=n] [--script=<file>] [--parallel=n] " +
  "[--timeout=ms] [--json=<file>]";

function lines(path: string | undefined): string[] {
  if (!path) return [];
  return Deno.readTextFileSync(path).split("\n").map((l) => l.trimEnd()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
}

async function main(): Promise<number> {
  const str = { type: "string" } as const;
  const { values: a } = parseArgs({
    args: Deno.args,
    options: {
      snapshot: str,
      boot: str,
      setup: str,
      faults: str,
      seeds: str,
      runs: str,
      script: str,
      parallel: str,
      timeout: str,
      json: str,
      help: { type: "boolean" },
    },
  });
  if (a.help || (!a.snapshot && a.boot === undefined)) {
    console.error(USAGE);
    return a.help ? 0 : 2;
  }
  let snapshot = a.snapshot;
  let tmp: string | null = null;
  const t0 = performance.now();
  if (!snapshot) {
    tmp = await Deno.makeTempFile({ prefix: "actorvm-campaign-", suffix: ".snap" });
    snapshot = tmp;
    const args = a.boot!.split(/\s+/).filter((x) => x !== "");
    const r = await snapshotAtReady(args, snapshot, lines(a.setup), (s) => console.error(s));
    console.error(
      `campaign: booted in ${(r.bootMs / 1000).toFixed(1)} s, snapshot ${
        (r.bytes / 2 ** 20).toFixed(1)
      } MiB`,
    );
  }
  const script = lines(a.script);
  const runs: CampaignRun[] = [];
  if (a.runs !== undefined) {
    const n = Number(a.runs);
    for (let i = 0; i < n; i++) runs.push({ faults: a.faults, script });
  } else {
    const m = /^(\d+)\.\.(\d+)$/.exec(a.seeds ?? "1..20");
    if (!m) {
      console.error(`--seeds=${a.seeds}: want <a>..<b>`);
      return 2;
    }
    for (let s = Number(m[1]); s <= Number(m[2]); s++) {
      runs.push({ faults: a.faults, seed: s, script });
    }
  }
  const t1 = performance.now();
  try {
    const out = await runCampaign({
      snapshot,
      runs,
      parallel: a.parallel ? Number(a.parallel) : 2,
      timeoutMs: a.timeout ? Number(a.timeout) : 120_000,
      progress: (l) => console.error(`campaign: ${l}`),
    });
    const wall = performance.now() - t1;
    console.log(campaignTable(out));
    const fates = new Map<string, number>();
    for (const o of out) fates.set(o.fate, (fates.get(o.fate) ?? 0) + 1);
    console.log(
      `\n${out.length} runs in ${(wall / 1000).toFixed(1)} s (${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s with the first boot): ` + [...fates].map(([f, n]) => `${n} ${f}`).join(", "),
    );
    if (a.json) {
      await Deno.writeTextFile(
        a.json,
        JSON.stringify({ snapshot, wallMs: wall, runs: out }, null, 2),
      );
    }
    return 0;
  } finally {
    if (tmp) await Deno.remove(tmp).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
