// `deno run -A scripts/chaos.ts [--markdown] [name...]`: boots the bundled guest under each
// single-fault plan of a matrix, runs a small workload (a shell command, a
// checksum of 256 KiB read off a disk, poweroff) with a bounded wait at every
// step, and prints a table of outcomes: recovered / clean error / wrong data /
// guest hang / emulator stopped. `--markdown` prints the table docs/faults.md
// carries. The pieces (runCase, chaosDisk) are used by tests/unit/faults/irq_test.ts.
// Read docs/faults.md for what each fault means.

import { fileURLToPath } from "node:url";
import { GuestSession, READY_LINE } from "../testing/guest_session.ts";
import { sha256Hex } from "../testing/sha256.ts";

const GUEST = fileURLToPath(new URL("../guest/", import.meta.url));

export interface ChaosCase {
  name: string;
  /** The single rule (and restart policy, if any) of the plan. */
  plan: Record<string, unknown>;
}

export type Verdict =
  | "recovered"
  | "clean error"
  | "wrong data"
  | "guest hang"
  | "emulator stopped"
  | "not triggered";

export interface ChaosResult {
  name: string;
  verdict: Verdict;
  /** Where it happened and what was seen, in a few words. */
  detail: string;
  injected: number;
  ms: number;
}

const rule = (r: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  rules: [r],
  ...extra,
});

/** One plan per row; the rules hit the workload, the boot, or both (see docs/faults.md). */
export const MATRIX: ChaosCase[] = [
  { name: "none (baseline)", plan: { rules: [] } },
  {
    name: "block ioerr on the workload's first read",
    plan: rule({ layer: "block", effect: "ioerr", when: { sectors: [2048, 2559], nth: 1 } }),
  },
  {
    name: "block ioerr on every workload read",
    plan: rule({ layer: "block", effect: "ioerr", when: { sectors: [2048, 2559] } }),
  },
  {
    name: "block corrupt p=0.5",
    plan: rule({ layer: "block", effect: "corrupt", when: { probability: 0.5 } }),
  },
  {
    name: "block delay 200 ms every request",
    plan: rule({ layer: "block", effect: "delay", ms: 200 }),
  },
  {
    name: "block kill every 3rd op (x4)",
    plan: rule({ layer: "block", effect: "kill", when: { every: 3, count: 4 } }),
  },
  {
    name: "block kill, no restarts allowed",
    plan: rule({ layer: "block", effect: "kill", when: { sectors: [2048, 2559], nth: 1 } }, {
      restart: { block: { maxRestarts: 0 } },
    }),
  },
  {
    name: "irq drop one (the 40th)",
    plan: rule({ layer: "irq", effect: "drop", when: { nth: 40 } }),
  },
  {
    name: "irq drop p=0.05",
    plan: rule({ layer: "irq", effect: "drop", when: { probability: 0.05 } }),
  },
  {
    name: "irq drop every disk interrupt (source 2)",
    plan: rule({ layer: "irq", effect: "drop", when: { sources: [2] } }),
  },
  {
    name: "irq drop every console interrupt (source 1)",
    plan: rule({ layer: "irq", effect: "drop", when: { sources: [1] } }),
  },
  { name: "irq delay 20 ms every", plan: rule({ layer: "irq", effect: "delay", ms: 20 }) },
  { name: "irq duplicate every", plan: rule({ layer: "irq", effect: "duplicate", ms: 1 }) },
  { name: "irq kill (the 40th)", plan: rule({ layer: "irq", effect: "kill", when: { nth: 40 } }) },
  {
    name: "console drop input p=0.05",
    plan: rule({ layer: "console", effect: "drop", when: { probability: 0.05 } }),
  },
  {
    name: "console delay input 30 ms every byte",
    plan: rule({ layer: "console", effect: "delay", ms: 30 }),
  },
  {
    name: "console kill (10th byte)",
    plan: rule({ layer: "console", effect: "kill", when: { nth: 10 } }),
  },
  {
    name: "waker drop one (the 30th)",
    plan: rule({ layer: "waker", effect: "drop", when: { nth: 30 } }),
  },
  {
    name: "waker drop p=0.02",
    plan: rule({ layer: "waker", effect: "drop", when: { probability: 0.02 } }),
  },
  { name: "waker delay 20 ms every", plan: rule({ layer: "waker", effect: "delay", ms: 20 }) },
  {
    name: "waker skew +50 ms (fires early)",
    plan: rule({ layer: "waker", effect: "skew", ms: 50 }),
  },
  {
    name: "waker kill (the 30th)",
    plan: rule({ layer: "waker", effect: "kill", when: { nth: 30 } }),
  },
];

/** The disk the workload reads: 4 MiB of a fixed pattern. */
export function chaosDisk(): Uint8Array {
  const b = new Uint8Array(4 << 20);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >>> 9)) & 0xff;
  return b;
}

/** Bounded waits (ms) for each step; a step that runs out is a hang. */
export const LIMITS = { boot: 20_000, command: 15_000, poweroff: 15_000 };

/**
 * Boot under `c.plan` (seed fixed) and classify what happens. `dir` holds the
 * plan and the disk (made by the caller with chaosDisk()).
 */
export async function runCase(
  c: ChaosCase,
  dir: string,
  seed = 1,
  limits = LIMITS,
): Promise<ChaosResult> {
  const t0 = performance.now();
  const planPath = `${dir}/plan-${c.name.replace(/[^a-z0-9]+/gi, "_")}.json`;
  await Deno.writeTextFile(planPath, JSON.stringify(c.plan));
  const disk = `${dir}/disk.raw`;
  const want = await sha256Hex((await Deno.readFile(disk)).subarray(2048 * 512, 2560 * 512));
  const s = new GuestSession({
    args: [
      `--faults=${planPath}`,
      `--seed=${seed}`,
      `--block=${disk},ro`,
      `--initrd=${GUEST}initramfs.cpio`,
      "128",
      `${GUEST}Image`,
      "console=hvc0",
      "earlycon=sbi",
    ],
  });
  let exited: Deno.CommandStatus | null = null;
  s.child.status.then((st) => exited = st);
  const result = (verdict: Verdict, detail: string): ChaosResult => {
    const m = /: (\d+) injected/.exec(s.stderr);
    const injected = m ? Number(m[1]) : s.stderr.split("actorvm: fault: rule").length - 1;
    // A skew rule has no events: it is always on.
    const rules = (c.plan.rules as { effect: string }[]).filter((r) => r.effect !== "skew").length;
    return {
      name: c.name,
      verdict: rules > 0 && injected === 0 && verdict === "recovered" ? "not triggered" : verdict,
      detail,
      injected,
      ms: Math.round(performance.now() - t0),
    };
  };
  const why = () => {
    const line = s.stderr.split("\n").reverse().find((l) => /guest |crashed|gave up/.test(l));
    return line?.replace(/^actorvm: /, "").slice(0, 160) ?? `status ${exited?.code}`;
  };
  // A step ran out of time: is the shell still there (a lost or garbled command) or not?
  const hang = async (step: string): Promise<ChaosResult> => {
    for (let i = 0; i < 3 && step !== "boot"; i++) {
      const from = s.output.length;
      await s.send("\x03\necho alive-$((40+2))\n").catch(() => {});
      try {
        await s.waitFor("alive-42", 3000, from);
        return result("clean error", `${step}: the command was lost or garbled; the shell answers`);
      } catch {
        // again: a probe may be garbled too
      }
    }
    return result("guest hang", `${step}: no answer within the bound, nor to a probe`);
  };
  const failed = (step: string, e: unknown): ChaosResult | Promise<ChaosResult> => {
    const msg = (e as Error).message;
    if (exited || msg.startsWith("emulator exited")) {
      return result("emulator stopped", `${step}: ${why()}`);
    }
    if (msg.startsWith("timed out")) return hang(step);
    return result("clean error", `${step}: ${msg.split("\n")[0].slice(0, 100)}`);
  };
  try {
    try {
      await s.waitFor(READY_LINE, limits.boot);
    } catch (e) {
      return await failed("boot", e);
    }
    let out: string;
    try {
      out = await s.run(
        "echo chaos-$((6*7)); dd if=/dev/vda bs=4096 skip=256 count=64 | sha256sum",
        limits.command,
      );
    } catch (e) {
      return await failed("workload", e);
    }
    const okEcho = out.includes("chaos-42");
    const io = /Input\/output error|I\/O error/.test(out);
    const sumOk = out.includes(`${want}  -`);
    await s.send("poweroff\n");
    let st: Deno.CommandStatus;
    try {
      st = await s.exit(limits.poweroff);
    } catch {
      return result("guest hang", "poweroff: the guest did not power off in time");
    }
    if (st.code !== 0) return result("emulator stopped", `exit ${st.code}: ${why()}`);
    if (!okEcho) return result("clean error", "the typed command came out garbled");
    if (io) return result("clean error", "the guest reported an I/O error, then powered off");
    if (!sumOk) return result("wrong data", "the checksum of the data read is wrong");
    return result("recovered", "workload right, powered off");
  } finally {
    await s.close();
  }
}

function table(rows: ChaosResult[], markdown: boolean): string {
  const head = ["fault (single-rule plan)", "outcome", "injected", "what the guest saw", "ms"];
  const body = rows.map((r) => [r.name, r.verdict, String(r.injected), r.detail, String(r.ms)]);
  if (markdown) {
    return [head, head.map(() => "---"), ...body].map((r) => `| ${r.join(" | ")} |`).join("\n");
  }
  const w = head.map((_, i) => Math.max(...[head, ...body].map((r) => r[i].length)));
  return [head, ...body].map((r) => r.map((x, i) => x.padEnd(w[i])).join("  ")).join("\n");
}

if (import.meta.main) {
  const markdown = Deno.args.includes("--markdown");
  const names = Deno.args.filter((a) => !a.startsWith("--"));
  const cases = MATRIX.filter((c) => names.length === 0 || names.some((n) => c.name.includes(n)));
  const dir = await Deno.makeTempDir({ prefix: "actorvm-chaos-" });
  try {
    await Deno.writeFile(`${dir}/disk.raw`, chaosDisk());
    const rows: ChaosResult[] = [];
    for (const c of cases) {
      const r = await runCase(c, dir);
      console.error(`${r.name}: ${r.verdict} (${r.detail})`);
      rows.push(r);
    }
    console.log(table(rows, markdown));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
