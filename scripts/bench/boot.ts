// Benchmark: boot-to-ready of the bundled guest on actorvm against
// qemu-system-riscv64 on the same kernel, initramfs and virtio devices
// (console + a disk), measured in the same run; the guest's instruction count
// to the ready line; and the host CPU an idle guest costs over 10 s. Boots
// with the translator (the default) and with --jit=off alternate, so both
// tiers see the same machine load.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/boot.ts

import { fileURLToPath } from "node:url";
import { median, timeBoot } from "./guest_qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const RUNS = 5;
const LIMIT_MS = 120_000;
const IDLE_SECONDS = 10;
const CLK_TCK = 100;

interface ActorvmBoot {
  readyMs: number;
  instret: number;
  /** Process CPU seconds over IDLE_SECONDS at the prompt (only when asked). */
  idleCpuSeconds?: number;
}

/** /proc/<pid>/stat utime + stime, in seconds (all threads of the process). */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * Boot `root`'s mod.ts (console + the bundled disk, read-only) with `extra`
 * options, wait for the guest's ready line, run `atReady` (given the process
 * id; stdout keeps draining meanwhile, so the guest never blocks on a full
 * pipe), then power the guest off. Returns ms from the spawn to the ready line
 * and the process's stderr; throws if it never got there or did not exit 0.
 * Also scripts/startup-timing.ts's boot.
 */
export async function bootToReady(
  root: string,
  extra: string[],
  limitMs: number,
  atReady?: (pid: number) => void | Promise<void>,
): Promise<{ readyMs: number; err: string }> {
  const dir = root.replace(/\/$/, "");
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}/mod.ts`, ...extra, `--block=${dir}/guest/disk.img,ro`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const watchdog = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const decoder = new TextDecoder();
  let err = "";
  const errDone = (async () => {
    for await (const c of child.stderr) err += decoder.decode(c, { stream: true });
  })();
  let out = "";
  let readyMs: number | null = null;
  const reader = child.stdout.getReader();
  while (readyMs === null) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
    if (out.includes(READY)) readyMs = performance.now() - t0;
  }
  const outDone = (async () => {
    for (;;) if ((await reader.read()).done) return;
  })();
  if (readyMs !== null) {
    await atReady?.(child.pid);
    await child.stdin.getWriter().write(new TextEncoder().encode("poweroff\n"));
  }
  const status = await child.status;
  clearTimeout(watchdog);
  await Promise.all([errDone, outDone]);
  if (readyMs === null) throw new Error(`${dir}: exited before "${READY}": ${err.slice(-800)}`);
  if (status.code !== 0) throw new Error(`${dir}: exited with ${status.code}: ${err.slice(-800)}`);
  return { readyMs, err };
}

async function bootActorvm(measureIdle: boolean, extra: string[] = []): Promise<ActorvmBoot> {
  let idleCpuSeconds: number | undefined;
  const { readyMs, err } = await bootToReady(
    ROOT,
    ["--verbose", ...extra],
    LIMIT_MS,
    measureIdle
      ? async (pid) => {
        await new Promise((r) => setTimeout(r, 2000)); // let the shell settle at its prompt
        const c0 = cpuSeconds(pid);
        await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
        idleCpuSeconds = cpuSeconds(pid) - c0;
      }
      : undefined,
  );
  const m = /console: "actorvm-guest: ready" after (\d+) instructions/.exec(err);
  return { readyMs, instret: m ? Number(m[1]) : NaN, idleCpuSeconds };
}

export async function run(): Promise<Record<string, unknown>> {
  const ours: ActorvmBoot[] = [];
  const interp: ActorvmBoot[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(await bootActorvm(i === 0));
    interp.push(await bootActorvm(false, ["--jit=off"]));
  }
  let qemu: number[] | null = null;
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .output();
    qemu = [];
    for (let i = 0; i < RUNS; i++) {
      qemu.push(await timeBoot(["-n", "-d", `${ROOT}guest/disk.img`], READY));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error("bench boot: qemu-system-riscv64 is MISSING (apt-get install qemu-system-misc)");
  }
  const readyMs = median(ours.map((b) => b.readyMs));
  const qemuMs = qemu ? median(qemu) : null;
  const instret = median(ours.map((b) => b.instret));
  const idle = ours[0].idleCpuSeconds!;
  return {
    what: "wall ms from spawning the process to the guest's ready line " +
      "(console + one virtio disk), median of " + RUNS,
    actorvmReadyMs: Math.round(readyMs),
    qemuReadyMs: qemuMs === null ? null : Math.round(qemuMs),
    ratioActorvmOverQemu: qemuMs === null ? null : Number((readyMs / qemuMs).toFixed(2)),
    interpreterReadyMs: Math.round(median(interp.map((b) => b.readyMs))),
    ratioInterpreterOverQemu: qemuMs === null
      ? null
      : Number((median(interp.map((b) => b.readyMs)) / qemuMs).toFixed(2)),
    guestInstructionsToReady: instret,
    bootMips: Number((instret / readyMs / 1000).toFixed(1)),
    idleCpuPercentOfACore: Number((idle / IDLE_SECONDS * 100).toFixed(2)),
    missing: qemuMs === null ? ["qemu-system-riscv64"] : [],
    samples: {
      actorvmReadyMs: ours.map((b) => Math.round(b.readyMs)),
      interpreterReadyMs: interp.map((b) => Math.round(b.readyMs)),
      qemuReadyMs: qemu?.map((x) => Math.round(x)) ?? null,
    },
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
