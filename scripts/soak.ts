// `deno run -A scripts/soak.ts [--kills=N] [--sigkills=M] [--seed=S] [--json]`:
// durability at scale. Phase 1 boots the bundled guest on an ext2 disk and
// kills the block actor N times (a fault plan: half just before a write
// reaches the file, half just after, before the request completes) while the
// guest writes and syncs files; after poweroff, e2fsck must find the image
// clean and every file must hold what the guest wrote. Phase 2 boots the guest
// M times; each boot writes a file and a raw-disk block, syncs, and the
// emulator is SIGKILLed the moment the shell reports the sync's status; the
// data must be on the host. It prints what was checked and what was lost.
// tests/e2e/soak_test.ts runs it small; docs/faults.md carries a 100+100 run.
// The 20-kill and 1-SIGKILL versions: tests/e2e/supervision_block_test.ts,
// tests/e2e/block_durability_test.ts (same helpers).

import { bundledBoot, GuestSession, READY_LINE } from "../testing/guest_session.ts";
import { debugfsRead, E2FS_MISSING, e2fsck, mke2fs } from "../testing/block_tools.ts";
import { MAX_PLAN_MS } from "../faults/plan.ts";

export interface SoakPhase {
  phase: "block-actor kills" | "emulator SIGKILLs";
  /** Kills asked for, and made. */
  planned: number;
  done: number;
  /** Files (and raw-disk blocks) compared with what the guest wrote, and how many differ or are missing. */
  checked: number;
  lost: number;
  /** e2fsck -fn of the image at the end. */
  fsckClean: boolean;
  ms: number;
  /** What went wrong, or what is worth knowing (a disarmed rule, a lost file's name). */
  notes: string[];
}

const enc = new TextEncoder();

/** What the guest writes with `yes "<line>" | head -c <n>`. */
function yesBytes(line: string, n: number): Uint8Array {
  const l = `${line}\n`;
  return enc.encode(l.repeat(Math.ceil(n / l.length) + 1).slice(0, n));
}

/** A file's size, from the seed: 1 KB .. 13 KB, so a file is one to four pages. */
const fileSize = (seed: number, i: number) => 1000 + ((i * 7919 + seed * 104_729) % 12_000);

const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

async function fsckClean(img: string, notes: string[]): Promise<boolean> {
  const r = await e2fsck(img);
  if (r.code !== 0) {
    notes.push(`e2fsck -fn exit ${r.code}: ${r.text.trim().split("\n").slice(-3).join(" / ")}`);
  }
  return r.code === 0;
}

/** Phase 1: the block actor killed `n` times during write + sync. */
export async function soakKills(
  n: number,
  seed: number,
  progress: (s: string) => void = () => {},
): Promise<SoakPhase> {
  const t0 = Date.now();
  const notes: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "actorvm-soak-" });
  let s: GuestSession | null = null;
  let files = 0, kills = 0, checked = 0, lost = 0, clean = false;
  try {
    await Deno.mkdir(`${dir}/root`);
    const img = `${dir}/disk.img`;
    await mke2fs(`${dir}/root`, img, "32M");
    // A kill hits a write with p = 0.05 per rule: a request of several
    // segments still gets through on some retry (a fixed `every` could kill it
    // on every one), and the counts make the total exactly n.
    const rules = [
      { before: true, count: Math.ceil(n / 2) },
      { before: false, count: Math.floor(n / 2) },
    ].filter((r) => r.count > 0).map((r) => ({
      layer: "block",
      effect: "kill",
      ...(r.before ? { before: true } : {}),
      when: { op: "write", probability: 0.05, count: r.count },
    }));
    await Deno.writeTextFile(
      `${dir}/plan.json`,
      JSON.stringify({
        seed,
        restart: { block: { maxRestarts: n + 5, windowMs: MAX_PLAN_MS, backoffMs: 5 } },
        rules,
      }),
    );
    s = new GuestSession({
      args: [`--faults=${dir}/plan.json`, `--block=${img}`, ...bundledBoot(["actorvm.mount=1"])],
    });
    await s.waitFor(READY_LINE, 60_000);
    await s.run("dmesg -n 1");
    const restarts = () => {
      const all = [...s!.stderr.matchAll(/block actor restarted \((\d+)\)/g)];
      return all.length ? Number(all[all.length - 1][1]) : 0;
    };
    // Rounds of 20 files, each written and synced, until n kills are in.
    const ROUND = 20, maxFiles = Math.max(200, 30 * n);
    let idle = 0;
    while (kills < n && files < maxFiles && idle < 10) {
      const a = files + 1, b = files + ROUND;
      await s.run(
        `i=${a}; while [ $i -le ${b} ]; do yes "soak ${seed} file $i" | ` +
          `head -c $((1000 + (i * 7919 + ${seed * 104_729}) % 12000)) > /mnt/f$i; sync; ` +
          `i=$((i+1)); done`,
        180_000,
      );
      files = b;
      const k = restarts();
      idle = k === kills ? idle + 1 : 0;
      kills = k;
      progress(`kills: ${kills}/${n} after ${files} files`);
    }
    if (kills < n) notes.push(`only ${kills} of ${n} kills happened in ${files} files`);
    const errs = (await s.run("dmesg | grep -ci 'error\\|not a head\\|vring' || true")).trim();
    if (errs !== "0") notes.push(`the guest logged ${errs} error line(s)`);
    await s.send("poweroff\n");
    const st = await s.exit(120_000);
    if (st.code !== 0) notes.push(`exit status ${st.code}`);
    for (const m of s.stderr.matchAll(/fault: rule \d+ block kill disarmed.*/g)) notes.push(m[0]);
    clean = await fsckClean(img, notes);
    for (let i = 1; i <= files; i++) {
      checked++;
      const want = yesBytes(`soak ${seed} file ${i}`, fileSize(seed, i));
      const got = await debugfsRead(img, `/f${i}`).catch(() => null);
      if (!got || !same(got, want)) {
        lost++;
        if (lost <= 5) notes.push(`/f${i}: ${got ? "differs" : "missing"}`);
      }
    }
  } catch (e) {
    notes.push(`stopped: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await s?.close();
    await Deno.remove(dir, { recursive: true });
  }
  return {
    phase: "block-actor kills",
    planned: n,
    done: kills,
    checked,
    lost,
    fsckClean: clean,
    ms: Date.now() - t0,
    notes,
  };
}

/** Phase 2: `n` boots, each SIGKILLed right after the guest's sync. */
export async function soakSigkills(
  n: number,
  seed: number,
  progress: (s: string) => void = () => {},
): Promise<SoakPhase> {
  const t0 = Date.now();
  const notes: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "actorvm-soak-" });
  let done = 0, checked = 0, lost = 0, clean = false;
  const fs = `${dir}/fs.img`, raw = `${dir}/raw.img`;
  const rawBlock = (i: number) => yesBytes(`raw ${seed} ${i}`, 4096);
  const check = async (i: number) => {
    checked += 2;
    const want = yesBytes(`soak ${seed} sig ${i}`, fileSize(seed, i));
    const got = await debugfsRead(fs, `/s${i}`).catch(() => null);
    if (!got || !same(got, want)) {
      lost++;
      if (lost <= 5) notes.push(`/s${i}: ${got ? "differs" : "missing"} after SIGKILL ${i}`);
    }
    const f = await Deno.open(raw);
    try {
      const buf = new Uint8Array(4096);
      await f.seek(i * 4096, Deno.SeekMode.Start);
      let at = 0;
      while (at < buf.length) {
        const r = await f.read(buf.subarray(at));
        if (r === null) break;
        at += r;
      }
      if (!same(buf, rawBlock(i))) {
        lost++;
        if (lost <= 5) notes.push(`raw block ${i}: differs after SIGKILL ${i}`);
      }
    } finally {
      f.close();
    }
  };
  try {
    await Deno.mkdir(`${dir}/root`);
    await mke2fs(`${dir}/root`, fs, "32M");
    await Deno.writeFile(raw, new Uint8Array(Math.max(1 << 20, (n + 1) * 4096)));
    for (let i = 1; i <= n; i++) {
      const s = new GuestSession({
        args: [`--block=${fs}`, `--block=${raw}`, ...bundledBoot(["actorvm.mount=1"])],
      });
      try {
        await s.waitFor(READY_LINE, 60_000);
        await s.run("dmesg -n 1");
        // dd's fsync is the raw disk's FLUSH; sync flushes the file, its inode
        // and directory. run() returns when `$?` is on the console: the kill
        // follows with no await in between.
        await s.run(
          `yes "soak ${seed} sig ${i}" | head -c ${fileSize(seed, i)} > /mnt/s${i} && ` +
            `yes "raw ${seed} ${i}" | head -c 4096 | ` +
            `dd of=/dev/vdb bs=4096 seek=${i} conv=fsync 2>/dev/null && sync`,
        );
        s.child.kill("SIGKILL");
        const st = await s.exit(10_000);
        if (st.signal !== "SIGKILL") notes.push(`boot ${i}: exited (${st.code}) before the kill`);
        done++;
      } finally {
        await s.close();
      }
      await check(i);
      progress(`SIGKILLs: ${done}/${n}, lost ${lost}`);
    }
    // Everything written before is still there (later boots mounted the
    // image uncleanly and wrote more), and the file system is consistent.
    for (let i = 1; i <= done; i++) await check(i);
    clean = await fsckClean(fs, notes);
  } catch (e) {
    notes.push(`stopped: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return {
    phase: "emulator SIGKILLs",
    planned: n,
    done,
    checked,
    lost,
    fsckClean: clean,
    ms: Date.now() - t0,
    notes,
  };
}

/** The report as a small table. */
export function table(rows: SoakPhase[], seed: number): string {
  const head = ["phase", "kills", "checked", "lost", "fsck", "time"];
  const cells = rows.map((r) => [
    r.phase,
    `${r.done}/${r.planned}`,
    String(r.checked),
    String(r.lost),
    r.fsckClean ? "clean" : "NOT clean",
    `${(r.ms / 1000).toFixed(1)} s`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd();
  const notes = rows.flatMap((r) => r.notes.map((n) => `  ${r.phase}: ${n}`));
  return [`soak, seed ${seed}`, line(head), ...cells.map(line), ...notes].join("\n");
}

function parseArgs(
  args: string[],
): { kills: number; sigkills: number; seed: number; json: boolean } {
  const o = { kills: 100, sigkills: 100, seed: 1, json: false };
  for (const a of args) {
    const m = /^--(kills|sigkills|seed)=(\d+)$/.exec(a);
    if (m) o[m[1] as "kills" | "sigkills" | "seed"] = Number(m[2]);
    else if (a === "--json") o.json = true;
    else {throw new Error(
        `unknown or malformed argument ${a} (--kills=N --sigkills=M --seed=S --json)`,
      );}
  }
  if (o.kills > 10_000 || o.sigkills > 10_000) throw new Error("at most 10000 kills per phase");
  return o;
}

if (import.meta.main) {
  let o;
  try {
    o = parseArgs(Deno.args);
  } catch (e) {
    console.error(`soak: ${(e as Error).message}`);
    Deno.exit(2);
  }
  if (E2FS_MISSING) {
    console.error(`soak: needs e2fsprogs: ${E2FS_MISSING}`);
    Deno.exit(2);
  }
  const say = (s: string) => console.error(`soak: ${s}`);
  const rows: SoakPhase[] = [];
  if (o.kills) rows.push(await soakKills(o.kills, o.seed, say));
  if (o.sigkills) rows.push(await soakSigkills(o.sigkills, o.seed, say));
  console.log(
    o.json ? JSON.stringify({ seed: o.seed, phases: rows }, null, 2) : table(rows, o.seed),
  );
  const bad = rows.some((r) => r.lost > 0 || !r.fsckClean || r.done < r.planned || r.notes.length);
  Deno.exit(bad ? 1 : 0);
}
