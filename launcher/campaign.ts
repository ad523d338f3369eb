// Fork campaigns: one machine snapshot, many restores — each with its own
// fault plan and seed and an optional guest command script — run N at a
// time, each to its fate, and the outcomes gathered: how the guest ended,
// the script's exit status, the last lines it printed, the faults injected.
// The library half of scripts/campaign.ts; `snapshotAtReady` makes the
// snapshot from a cold boot when there is none yet. Every run is a restore
// with its own overlay disks and RAM, so runs never see each other.
// Read next: launcher/snapshot.ts (what a restore is), docs/snapshot.md.

import { bootMachine, type Machine } from "./library.ts";
import { READY_LINE } from "./fate.ts";
import { FATE } from "../machine/control.ts";

/** One run of a campaign. */
export interface CampaignRun {
  /** A name for the table (default: "seed <n>" or "run <i>"). */
  name?: string;
  /** The fault plan file (--faults), or none. */
  faults?: string;
  /** The plan's seed (--seed). */
  seed?: number;
  /** Shell commands typed into the restored guest, one per line; the run ends after them. */
  script?: string[];
  /** More command-line options for this restore (e.g. --verbose). */
  args?: string[];
}

export interface CampaignOptions {
  /** The snapshot every run starts from. */
  snapshot: string;
  runs: CampaignRun[];
  /** Runs at once (default 2: each is a machine of its own, with its own workers). */
  parallel?: number;
  /** A run still going after this long is stopped (default 120 s). */
  timeoutMs?: number;
  /** Each run's progress line (default: none). */
  progress?: (line: string) => void;
}

/** How one run ended. */
export interface CampaignOutcome {
  name: string;
  seed: number | null;
  faults: string | null;
  /** The guest's fate in words ("powered off", "died", "stopped", ...), or "timeout". */
  fate: string;
  /** The emulator's exit status for that fate. */
  exitCode: number;
  /** The script's exit status ($? of its last command), or null if it did not finish. */
  scriptStatus: number | null;
  /** The last lines the guest printed (up to 3). */
  tail: string[];
  /** The fault plan's summary line ("... N injected: ..."), or "". */
  injected: string;
  /** Why the guest ended, as the emulator says. */
  reason: string;
  ms: number;
}

/**
 * Boot a machine with `args`, wait for the bundled guest's ready line, type
 * `setup` (each line waited for), and write a snapshot to `path`; the
 * machine is then stopped. Returns the boot's time to the ready line.
 */
export async function snapshotAtReady(
  args: string[],
  path: string,
  setup: string[] = [],
  log: (s: string) => void = () => {},
): Promise<{ bootMs: number; bytes: number }> {
  const t0 = performance.now();
  const vm = await bootMachine({ args, log });
  try {
    await vm.waitFor(READY_LINE, 120_000);
    const bootMs = performance.now() - t0;
    for (const line of setup) await runLine(vm, line, 120_000);
    const r = await vm.snapshot(path);
    return { bootMs, bytes: r.bytes };
  } finally {
    await vm.stop();
  }
}

const END = "CAMPAIGN-END";

/** Type one command and wait for it: its exit status and the output lines. */
async function runLine(
  vm: Machine,
  line: string,
  ms: number,
): Promise<{ status: number; out: string }> {
  // The marker is built by the shell, so the echoed command never matches it.
  await vm.send(`${line}\necho "CAMPAIGN""-END $?"\n`);
  const text = await vm.waitFor(new RegExp(`${END} (\\d+)\\r?\\n`), ms);
  const m = new RegExp(`${END} (\\d+)`).exec(text)!;
  return { status: Number(m[1]), out: text };
}

/** Run every restore, `parallel` at a time; outcomes in the order of `runs`. */
export async function runCampaign(opts: CampaignOptions): Promise<CampaignOutcome[]> {
  const parallel = Math.max(1, opts.parallel ?? 2);
  const out: CampaignOutcome[] = new Array(opts.runs.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.runs.length) return;
      out[i] = await runOne(opts, opts.runs[i], i);
      opts.progress?.(
        `${out[i].name}: ${out[i].fate}, script ${out[i].scriptStatus ?? "-"}` +
          (out[i].injected ? `; ${out[i].injected}` : ""),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, opts.runs.length) }, worker));
  return out;
}

async function runOne(
  opts: CampaignOptions,
  run: CampaignRun,
  i: number,
): Promise<CampaignOutcome> {
  const t0 = performance.now();
  const name = run.name ?? (run.seed !== undefined ? `seed ${run.seed}` : `run ${i}`);
  const logs: string[] = [];
  const args = [
    ...(run.faults ? [`--faults=${run.faults}`] : []),
    ...(run.seed !== undefined ? [`--seed=${run.seed}`] : []),
    ...(run.args ?? []),
  ];
  const base = {
    name,
    seed: run.seed ?? null,
    faults: run.faults ?? null,
  };
  let vm: Machine;
  try {
    vm = await bootMachine({ args, restore: opts.snapshot, log: (s) => logs.push(s) });
  } catch (e) {
    return {
      ...base,
      fate: "refused",
      exitCode: 2,
      scriptStatus: null,
      tail: [],
      injected: "",
      reason: (e as Error).message,
      ms: performance.now() - t0,
    };
  }
  const deadline = t0 + (opts.timeoutMs ?? 120_000);
  let scriptStatus: number | null = null;
  let printed = "";
  /** What the script's commands printed (the tail comes from it when there is a script). */
  let scriptOut = "";
  let timedOut = false;
  try {
    for (const line of run.script ?? []) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error("timeout");
      const r = await runLine(vm, line, left);
      scriptStatus = r.status;
      scriptOut += r.out;
    }
    await vm.send("poweroff\n");
  } catch (e) {
    // The guest died or hung mid-script: its fate says which.
    if ((e as Error).message === "timeout" || /not seen within/.test((e as Error).message)) {
      timedOut = true;
    }
  }
  // Drain the console to the end (the fate resolves once the machine is gone).
  const drain = (async () => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of vm.output) printed += dec.decode(chunk, { stream: true });
    } catch { /* the run ended */ }
  })();
  const left = Math.max(1000, deadline - performance.now());
  const res = await Promise.race([
    vm.result,
    new Promise<null>((r) => setTimeout(() => r(null), left)),
  ]);
  const result = res ?? await vm.stop();
  if (res === null) timedOut = true;
  await Promise.race([drain, new Promise((r) => setTimeout(r, 1000))]);
  return {
    ...base,
    fate: timedOut && result.fate === FATE.STOPPED ? "timeout" : result.status,
    exitCode: result.exitCode,
    scriptStatus,
    tail: lastLines(scriptStatus !== null ? scriptOut : scriptOut + printed, 3, run.script),
    injected: logs.find((l) => l.startsWith("fault plan ") && l.includes("injected")) ??
      logs.find((l) => l.startsWith("fault plan ")) ?? "",
    reason: result.reason,
    ms: performance.now() - t0,
  };
}

/**
 * The last `n` meaningful lines: no kernel timestamps, prompts, the script's
 * own lines echoed back, markers or the poweroff.
 */
function lastLines(text: string, n: number, script: string[] = []): string[] {
  const typed = new Set(script.map((l) => l.trim()));
  return text
    .replace(/\r/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) =>
      l !== "" && !/^\[ *\d+\.\d+\]/.test(l) && !l.includes("CAMPAIGN") && !/# ?$/.test(l) &&
      !/^[\w@:\/.~-]*[#$] /.test(l) && !typed.has(l) &&
      !/poweroff|Power down|reboot: /.test(l)
    )
    .slice(-n);
}

/** "fault plan p (seed 3): 6 injected: rule 0 block ioerr ×2, rule 1 ... ×0" as "6: r0 ioerr ×2, ...". */
function shortInjected(line: string): string {
  const m = /: (\d+) injected(?:: (.*))?$/.exec(line);
  if (!m) return line === "" ? "-" : line.slice(0, 60);
  if (!m[2]) return m[1];
  const parts = [...m[2].matchAll(/rule (\d+) \w+ ([\w-]+) ×(\d+)/g)]
    .filter((p) => p[3] !== "0")
    .map((p) => `r${p[1]} ${p[2]} ×${p[3]}`);
  return `${m[1]}: ${parts.join(", ")}`;
}

/** The outcomes as a fixed-width text table. */
export function campaignTable(rows: CampaignOutcome[]): string {
  const head = ["run", "fate", "script", "last line", "faults injected"];
  const body = rows.map((r) => [
    r.name,
    r.fate,
    r.scriptStatus === null ? "-" : String(r.scriptStatus),
    (r.tail.at(-1) ?? "").slice(0, 48),
    shortInjected(r.injected),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd();
  return [fmt(head), fmt(w.map((n) => "-".repeat(n))), ...body.map(fmt)].join("\n");
}
