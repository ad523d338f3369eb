// The launcher's side of deterministic mode (--deterministic, --record,
// --replay; docs/replay.md): the seed, the device tree's rng-seed made from
// it, the fault plan checked for what can be made deterministic, and the log —
// a recording's header (digests of every input the run is made of) or a
// replay's log read, checked, and compared with this run's inputs, so a
// replay on another kernel, initrd, disk or plan is refused before it starts.
// Read next: actors/cpu/deterministic.ts (the cpu's side), machine/replay_log.ts.

import type { DeterministicConfig } from "../actors/cpu/deterministic.ts";
import type { FaultRun } from "../faults/layers/plan_run.ts";
import {
  parseInputScript,
  parseReplayLog,
  REPLAY_LOG_VERSION,
  type ReplayHeader,
  ReplayLogError,
} from "../machine/replay_log.ts";
import type { LaunchOptions } from "./cli.ts";

/** What a deterministic boot needs from preparation. */
export interface PreparedDeterministic {
  /** The seed: the fault plan's and the rng-seed's. */
  seed: number;
  /** 32 bytes for /chosen/rng-seed, made from the seed. */
  rngSeed: Uint8Array;
  /** For the cpu (CpuConfig.deterministic). */
  cpu: DeterministicConfig;
}

/** Layers whose injections happen inside passes the cpu waits for (docs/replay.md). */
const DETERMINISTIC_LAYERS = new Set(["block", "irq"]);

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** 32 rng-seed bytes from the seed: SHA-256 of a fixed prefix and the seed. */
export async function rngSeedFor(seed: number): Promise<Uint8Array> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`actorvm rng-seed ${seed}`),
  );
  return new Uint8Array(d);
}

/**
 * The seed a deterministic run uses: a replay's from its log (a different
 * --seed is refused), else --seed, else 0. Throws `bad` errors for the
 * caller to turn into an input error.
 */
export function deterministicSeed(o: LaunchOptions, bad: (m: string) => Error): number {
  if (o.deterministic !== "replay") return o.seed ?? 0;
  const header = readLog(o, bad).header;
  if (o.seed !== null && o.seed !== header.seed) {
    throw bad(`--replay=${o.replayLog}: recorded with --seed=${header.seed}, not ${o.seed}`);
  }
  return header.seed;
}

function readLog(o: LaunchOptions, bad: (m: string) => Error) {
  let text: string;
  try {
    text = Deno.readTextFileSync(o.replayLog!);
  } catch (e) {
    throw bad(`--replay=${o.replayLog}: ${e instanceof Deno.errors.NotFound ? "no such file" : e}`);
  }
  try {
    return { text, ...parseReplayLog(text, `--replay=${o.replayLog}`) };
  } catch (e) {
    if (e instanceof ReplayLogError) throw bad(e.message);
    throw e;
  }
}

/** Check and gather everything a deterministic run needs; throws `bad` errors. */
export async function prepareDeterministic(
  o: LaunchOptions,
  inputs: {
    kernel: Uint8Array;
    initrd: Uint8Array | null;
    disks: string[];
    faults: FaultRun | null;
    memMb: number;
    cmdline: string;
    macs: string[];
    /** --restore: the snapshot file's SHA-256; null for a boot from reset. */
    snapshot: string | null;
  },
  seed: number,
  bad: (m: string) => Error,
): Promise<PreparedDeterministic> {
  const mode = o.deterministic!;
  const flag = mode === "plain" ? "--deterministic" : `--${mode}=${o.replayLog}`;
  for (const r of inputs.faults?.plan.rules ?? []) {
    if (!DETERMINISTIC_LAYERS.has(r.layer)) {
      throw bad(
        `${flag}: the fault plan's ${r.layer} rules are not supported in ` +
          `deterministic mode (block and irq are; docs/replay.md)`,
      );
    }
    if (r.when?.atMs !== undefined) {
      throw bad(
        `${flag}: a kill at a wall-clock time (when.atMs) cannot be replayed; ` +
          `use when.nth or a window`,
      );
    }
  }
  const planText = o.faults !== null ? Deno.readFileSync(o.faults) : null;
  const header: ReplayHeader = {
    k: "actorvm-replay",
    v: REPLAY_LOG_VERSION,
    kernel: await sha256(inputs.kernel),
    initrd: inputs.initrd ? await sha256(inputs.initrd) : "",
    disks: await Promise.all(inputs.disks.map((d) => Deno.readFile(d).then(sha256))),
    faults: planText ? await sha256(planText) : "",
    seed,
    memMb: inputs.memMb,
    cmdline: inputs.cmdline,
    jit: o.jit,
    mmu: o.mmu,
    macs: inputs.macs,
    ...(inputs.snapshot !== null ? { snapshot: inputs.snapshot } : {}),
  };
  const cpu: DeterministicConfig = {
    mode,
    ...(o.snapshotAt ? { snapshotAt: o.snapshotAt.instret } : {}),
  };
  if (mode === "record") {
    cpu.logPath = o.replayLog!;
    cpu.header = header;
    try {
      Deno.writeTextFileSync(o.replayLog!, ""); // writable, now: not at the first event
    } catch (e) {
      throw bad(`${flag}: cannot write the log: ${e instanceof Error ? e.message : e}`);
    }
  } else if (mode === "replay") {
    const log = readLog(o, bad);
    const h = log.header;
    const differs = (what: string) =>
      bad(
        `${flag}: ${what} is not the one recorded (a replay needs the same inputs, ` +
          `disks as they were when the recording started)`,
      );
    // The snapshot first: a restore's kernel, disks and command line are the snapshot's.
    const recorded = typeof h.snapshot === "string" ? h.snapshot : "";
    if (recorded !== "" && header.snapshot === undefined) {
      throw bad(
        `${flag}: recorded from a snapshot (sha256 ${recorded.slice(0, 16)}…), and this run ` +
          `boots from reset: give that snapshot, --restore=<file>`,
      );
    }
    if (recorded === "" && header.snapshot !== undefined) {
      throw bad(
        `${flag}: recorded from a boot, not from a snapshot: --restore=${o.restore} ` +
          `cannot be replayed against it`,
      );
    }
    if (recorded !== (header.snapshot ?? "")) {
      throw bad(
        `${flag}: --restore=${o.restore} is not the snapshot recorded from (sha256 ` +
          `${header.snapshot!.slice(0, 16)}…, the log names ${recorded.slice(0, 16)}…)`,
      );
    }
    if (h.kernel !== header.kernel) throw differs("the kernel");
    if (h.initrd !== header.initrd) throw differs("the initrd");
    if (JSON.stringify(h.disks) !== JSON.stringify(header.disks)) {
      const i = header.disks.findIndex((d, k) => h.disks?.[k] !== d);
      throw differs(i >= 0 ? `--block=${inputs.disks[i]}` : "the set of disks");
    }
    if (h.faults !== header.faults) throw differs("the fault plan");
    if (h.memMb !== header.memMb) throw differs(`the memory size (${inputs.memMb} MB)`);
    if (h.cmdline !== header.cmdline) throw differs("the kernel command line");
    if (JSON.stringify(h.macs ?? []) !== JSON.stringify(header.macs)) {
      throw bad(
        `${flag}: recorded with network(s) of MAC ${(h.macs ?? []).join(", ") || "none"}, ` +
          `this run has ${header.macs.join(", ") || "none"} (give the same networks, and --mac=)`,
      );
    }
    if (h.jit !== header.jit) {
      throw bad(
        `${flag}: recorded with --jit=${h.jit ? "on" : "off"}: replay on the same tier ` +
          `(they take interrupts at different instructions; docs/replay.md)`,
      );
    }
    if ((h.mmu ?? "sv48") !== o.mmu) {
      throw bad(`${flag}: recorded with --mmu=${h.mmu ?? "sv48"}, this run has --mmu=${o.mmu}`);
    }
    cpu.logText = log.text;
    cpu.logName = o.replayLog!;
  } else if (o.inputScript !== null) {
    let text: string;
    try {
      text = Deno.readTextFileSync(o.inputScript);
    } catch (e) {
      throw bad(
        `--input-script=${o.inputScript}: ${
          e instanceof Deno.errors.NotFound ? "no such file" : e
        }`,
      );
    }
    try {
      parseInputScript(text, `--input-script=${o.inputScript}`);
    } catch (e) {
      if (e instanceof ReplayLogError) throw bad(e.message);
      throw e;
    }
    cpu.logText = text;
    cpu.logName = o.inputScript;
  }
  return { seed, rngSeed: await rngSeedFor(seed), cpu };
}
