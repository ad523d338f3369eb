// Benchmark: what deterministic mode costs (docs/replay.md). Boot-to-ready of
// the bundled guest normally and with --deterministic, alternating; a short
// session (a direct-I/O disk read, console output, `sleep 1`, poweroff) from
// spawn to exit normally, with --deterministic, with --record, and replayed
// from that recording (a replay never waits for a timer: its sleep takes no
// wall time). The reference in the same run: QEMU's boot-to-ready without and
// with `-icount shift=3,sleep=off`, its own deterministic clock.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/replay.ts

import { fileURLToPath } from "node:url";
import { median, timeBoot } from "./guest_qemu.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const RUNS = 5;
const LIMIT_MS = 120_000;
const DISK = `--block=${ROOT}guest/disk.img,ro`;
const SESSION = "dd if=/dev/vda of=/dev/null bs=4096 count=1024 iflag=direct 2>/dev/null\n" +
  "seq 1 3000 | md5sum\nsleep 1\npoweroff\n";

/** Spawn mod.ts with `stdin` piped in; ms to the ready line (if `ready`) or to its exit. */
async function timeActorvm(args: string[], stdin: string, ready: boolean): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}mod.ts`, ...args, DISK],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const watchdog = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
  const w = child.stdin.getWriter();
  const decoder = new TextDecoder();
  let out = "";
  let readyMs: number | null = null;
  const errText = new Response(child.stderr).text();
  for await (const c of child.stdout) {
    out += decoder.decode(c, { stream: true });
    if (ready && readyMs === null && out.includes(READY)) {
      readyMs = performance.now() - t0;
      await w.write(new TextEncoder().encode("poweroff\n"));
    }
  }
  if (!ready) await w.write(new TextEncoder().encode(stdin)).catch(() => {});
  await w.close().catch(() => {});
  const status = await child.status;
  const exitMs = performance.now() - t0;
  clearTimeout(watchdog);
  if (status.code !== 0) {
    throw new Error(
      `actorvm ${args.join(" ")}: status ${status.code}: ${(await errText).slice(-400)}`,
    );
  }
  if (ready && readyMs === null) throw new Error(`actorvm ${args.join(" ")}: no ready line`);
  return ready ? readyMs! : exitMs;
}

/** As timeActorvm for a session: stdin written at once, before reading. */
async function timeSession(args: string[]): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}mod.ts`, ...args, DISK],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const watchdog = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(SESSION));
  await w.close();
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(watchdog);
  if (status.code !== 0) {
    throw new Error(`actorvm ${args.join(" ")}: status ${status.code}: ${err.slice(-400)}`);
  }
  return performance.now() - t0;
}

const ms = (xs: number[]) => Math.round(median(xs));
const ratio = (a: number[], b: number[]) => Number((median(a) / median(b)).toFixed(2));

export async function run(): Promise<Record<string, unknown>> {
  const log = await Deno.makeTempFile({ prefix: "actorvm-bench-replay-", suffix: ".log" });
  const boot = { normal: [] as number[], deterministic: [] as number[] };
  const session = {
    normal: [] as number[],
    deterministic: [] as number[],
    record: [] as number[],
    replay: [] as number[],
  };
  try {
    for (let i = 0; i < RUNS; i++) {
      boot.normal.push(await timeActorvm([], "", true));
      boot.deterministic.push(await timeActorvm(["--deterministic"], "", true));
      session.normal.push(await timeSession([]));
      session.deterministic.push(await timeSession(["--deterministic"]));
      session.record.push(await timeSession([`--record=${log}`]));
      session.replay.push(await timeSession([`--replay=${log}`]));
    }
  } finally {
    await Deno.remove(log).catch(() => {});
  }
  let qemu: { plain: number[]; icount: number[] } | null = null;
  try {
    await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" }).output();
    qemu = { plain: [], icount: [] };
    for (let i = 0; i < RUNS; i++) {
      qemu.plain.push(await timeBoot(["-n", "-d", `${ROOT}guest/disk.img`], READY));
      qemu.icount.push(
        await timeBoot(
          ["-n", "-d", `${ROOT}guest/disk.img`, "--", "-icount", "shift=3,sleep=off"],
          READY,
        ),
      );
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.error(
      "bench replay: qemu-system-riscv64 is MISSING (apt-get install qemu-system-misc)",
    );
  }
  return {
    what: "deterministic mode's cost: wall ms, median of " + RUNS + " alternating runs; " +
      "boot = spawn to the ready line; session = spawn to exit of a piped session " +
      "(4 MiB direct-I/O read, console output, sleep 1, poweroff)",
    bootMs: { normal: ms(boot.normal), deterministic: ms(boot.deterministic) },
    ratioDeterministicOverNormalBoot: ratio(boot.deterministic, boot.normal),
    sessionMs: {
      normal: ms(session.normal),
      deterministic: ms(session.deterministic),
      record: ms(session.record),
      replay: ms(session.replay),
    },
    ratioRecordOverNormalSession: ratio(session.record, session.normal),
    ratioReplayOverNormalSession: ratio(session.replay, session.normal),
    qemuBootMs: qemu ? { plain: ms(qemu.plain), icount: ms(qemu.icount) } : null,
    ratioQemuIcountOverPlainBoot: qemu ? ratio(qemu.icount, qemu.plain) : null,
    missing: qemu ? [] : ["qemu-system-riscv64"],
    samples: { boot, session, qemu },
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
