// Benchmark: CPU-bound work inside the bundled guest — busybox `md5sum` and
// `gzip -9` over a few MiB of text in tmpfs — on actorvm with the translator
// (the default), with --jit=off, and under qemu-system-riscv64 (TCG) on the
// same kernel and initramfs, in the same run. Each machine boots to its shell;
// the host times each command from sending it to its end marker (console
// latency is ~1 ms of the seconds measured). Reported as ratios to QEMU.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/guest_cpu.ts

import { fileURLToPath } from "node:url";
import { guestShell } from "./guest_qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const LIMIT_MS = 600_000;
/** ~3.9 MB of text (`seq 1 550000`), made before timing starts. */
const SETUP = "seq 1 550000 > /tmp/w; echo SETUP-$((1+1))-DONE";
const WORK: Record<string, string> = {
  md5sum: "md5sum /tmp/w",
  gzip9: "gzip -9 -c /tmp/w | wc -c",
};

/** Boot `cmd args`, wait for the ready line, run SETUP then each WORK command; ms per command. */
async function timeInGuest(cmd: string, args: string[]): Promise<Record<string, number>> {
  const sh = guestShell(cmd, args, LIMIT_MS);
  const out: Record<string, number> = {};
  try {
    await sh.until(READY);
    await sh.type(SETUP);
    await sh.until("SETUP-2-DONE");
    for (const [name, c] of Object.entries(WORK)) {
      const t0 = performance.now();
      await sh.type(`${c}; echo WORK-$((6*7))-DONE`);
      await sh.until("WORK-42-DONE");
      out[name] = Math.round(performance.now() - t0);
    }
    await sh.type("poweroff");
  } finally {
    await sh.close();
  }
  return out;
}

export async function run(): Promise<Record<string, unknown>> {
  const missing: string[] = [];
  let haveQemu = true;
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .output();
  } catch {
    haveQemu = false;
    missing.push("qemu-system-riscv64");
    console.error(
      "bench guest_cpu: qemu-system-riscv64 is MISSING (apt-get install qemu-system-misc): " +
        "no ratios, only actorvm's own times",
    );
  }
  const mod = ["run", "-A", `${ROOT}mod.ts`];
  const jit = await timeInGuest(Deno.execPath(), mod);
  const interp = await timeInGuest(Deno.execPath(), [...mod, "--jit=off"]);
  const qemu = haveQemu ? await timeInGuest("bash", [`${ROOT}scripts/qemu-boot.sh`, "-n"]) : null;
  const ratio = (a: number, b: number | undefined) =>
    b === undefined ? null : Math.round((a / b) * 100) / 100;
  const ratios: Record<string, unknown> = {};
  for (const k of Object.keys(WORK)) {
    ratios[k] = {
      jitVsQemuTime: ratio(jit[k], qemu?.[k]),
      interpVsQemuTime: ratio(interp[k], qemu?.[k]),
      jitSpeedupOverInterp: ratio(interp[k], jit[k]),
    };
  }
  return {
    what: "ms to run each command in the bundled guest's shell (md5sum, gzip -9 over " +
      "`seq 1 550000`, 3.9 MB in tmpfs): actorvm (translator on), --jit=off, qemu-system-riscv64",
    commands: WORK,
    jitMs: jit,
    interpMs: interp,
    qemuMs: qemu,
    ratios,
    missing,
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
