// Benchmark: a shell command's round trip through the console — type a line,
// the guest echoes it (hvc0, one transmit per character), runs it, and its
// output arrives — on actorvm and on qemu-system-riscv64 with the same kernel
// and initramfs, in the same run. What a user at the prompt feels, and what
// every console-driven test pays per command. Median and p90 of ROUNDS after a
// warm-up. Driven by scripts/bench.ts; alone: deno run -A scripts/bench/console.ts

import { fileURLToPath } from "node:url";
import { guestShell, median } from "./guest_qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const ROUNDS = 30;
const LIMIT_MS = 300_000;
/** A line as long as a test's command with its markers; the reply is computed by the shell. */
const LINE = "echo typed-at-the-prompt-like-a-command-with-its-markers-around-it R-$((40+2))-D";

async function roundTrips(
  cmd: string,
  args: string[],
): Promise<{ medianMs: number; p90Ms: number }> {
  const sh = guestShell(cmd, args, LIMIT_MS);
  const times: number[] = [];
  try {
    await sh.until(READY);
    for (let i = 0; i < 3 + ROUNDS; i++) {
      const t0 = performance.now();
      await sh.type(LINE);
      await sh.until("R-42-D");
      if (i >= 3) times.push(performance.now() - t0);
    }
    await sh.type("poweroff");
  } finally {
    await sh.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    medianMs: +median(times).toFixed(1),
    p90Ms: +sorted[Math.floor(sorted.length * 0.9)].toFixed(1),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const actorvm = await roundTrips(Deno.execPath(), ["run", "-A", `${ROOT}mod.ts`]);
  let qemu: { medianMs: number; p90Ms: number } | null = null;
  const missing: string[] = [];
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .output();
    qemu = await roundTrips("bash", [`${ROOT}scripts/qemu-boot.sh`, "-n"]);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    missing.push("qemu-system-riscv64");
  }
  return {
    what: `ms from typing a ${LINE.length}-character shell line to its output, ` +
      `median and p90 of ${ROUNDS} (after 3 warm-up lines)`,
    actorvm,
    qemu,
    ratio: qemu ? +(actorvm.medianMs / qemu.medianMs).toFixed(2) : null,
    missing,
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
