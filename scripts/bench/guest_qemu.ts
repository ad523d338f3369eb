// Benchmark: how long QEMU (TCG) takes to boot the bundled guest to its ready
// line, and to run the self-check through to power-off, via
// scripts/qemu-boot.sh. The boot benchmark divides our own times by these.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/guest_qemu.ts
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RUNS = 5;
const READY = "actorvm-guest: ready";
const LIMIT_MS = 60_000;

/** Milliseconds from spawning QEMU until `marker` shows on the console, or until exit. */
export async function timeBoot(args: string[], marker: string | null): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command("bash", {
    args: [`${ROOT}scripts/qemu-boot.sh`, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const watchdog = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
  let seen: number | null = null;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk, { stream: true });
    if (marker !== null && seen === null && text.includes(marker)) {
      seen = performance.now() - t0;
      child.kill("SIGKILL");
    }
  }
  const status = await child.status;
  const exitMs = performance.now() - t0;
  clearTimeout(watchdog);
  await child.stdin.close().catch(() => {});
  if (marker !== null) {
    if (seen === null) throw new Error(`QEMU exited (${status.code}) before "${marker}"`);
    return seen;
  }
  if (status.code !== 0) throw new Error(`QEMU exited with ${status.code}`);
  return exitMs;
}

/**
 * A guest's shell on a piped console (`cmd args`, killed after `limitMs`):
 * `type(line)` sends a line, `until(marker)` reads the console up to a
 * marker, `close()` kills the process if it has not powered off. Markers are
 * built by the guest's shell (`echo X-$((6*7))-DONE`), so the echoed command
 * line never matches them. The guest_cpu and smp benchmarks drive their
 * guests through it.
 */
export function guestShell(cmd: string, args: string[], limitMs: number) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const watchdog = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const w = child.stdin.getWriter();
  const enc = new TextEncoder(), dec = new TextDecoder();
  const reader = child.stdout.getReader();
  let text = "";
  return {
    type: (line: string) => w.write(enc.encode(line + "\n")),
    async until(marker: string): Promise<void> {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`${cmd} ended before "${marker}": ${text.slice(-300)}`);
        text += dec.decode(value, { stream: true });
      }
      text = text.slice(text.indexOf(marker) + marker.length);
    },
    async close(): Promise<void> {
      clearTimeout(watchdog);
      try {
        child.kill("SIGKILL");
      } catch { /* it powered off already */ }
      await child.status;
      await w.close().catch(() => {});
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function run(): Promise<Record<string, unknown>> {
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .output();
  } catch {
    return { skipped: "qemu-system-riscv64 not found" };
  }
  const ready: number[] = [];
  const selfcheck: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    ready.push(await timeBoot([], READY));
    selfcheck.push(await timeBoot(["-s"], null));
  }
  const round = (x: number) => Math.round(x);
  return {
    what: "qemu-system-riscv64 (TCG, -bios default, our hart: RV64GC+Sstc, Sv48) on guest/, " +
      "wall ms from spawn: to the ready line; through self-check to power-off",
    runs: RUNS,
    readyMsMedian: round(median(ready)),
    selfcheckExitMsMedian: round(median(selfcheck)),
    readyMs: ready.map(round),
    selfcheckExitMs: selfcheck.map(round),
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
