// Fault plans end to end on the block layer, with the real guest: a plan
// fails one chosen sector with IOERR and corrupts reads of another range with
// a seeded probability. In the guest, `dd` over the bad sector reports an I/O
// error, the emulator keeps running, and other sectors still read back what
// the host wrote. The same plan and seed, run twice, inject the same faults at
// the same points of the guest's requests (the injection logs are equal).
// Read next: faults/layers/block.ts, docs/faults.md.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { sha256Hex } from "../../testing/sha256.ts";

/** Deterministic disk contents: sector s is filled from s. */
function diskBytes(sectors: number): Uint8Array {
  const b = new Uint8Array(sectors * 512);
  for (let i = 0; i < b.length; i++) b[i] = ((i >>> 9) * 31 + (i & 511) * 7) & 0xff;
  return b;
}

const PLAN = {
  comment:
    "sector 2048 (4 KiB block 256) is bad; reads in blocks 600..615 come back corrupted half the time",
  rules: [
    { layer: "block", effect: "ioerr", when: { sectors: [2048, 2048] } },
    {
      layer: "block",
      effect: "corrupt",
      when: { op: "read", sectors: [4800, 4927], probability: 0.5 },
    },
  ],
};

interface RunResult {
  log: string[];
  badRead: string;
  goodSum: string;
  corruptSums: string[];
}

async function boot(dir: string, disk: string): Promise<RunResult> {
  const s = new GuestSession({
    args: [
      `--faults=${dir}/plan.json`,
      "--seed=1234",
      `--block=${disk}`,
      ...bundledBoot([]),
    ],
  });
  try {
    await s.waitFor(READY_LINE, 60_000);
    await s.run("dmesg -n 1");
    const badRead = await s.run(
      "dd if=/dev/vda of=/dev/null bs=4096 skip=256 count=1 2>&1; echo status=$?",
    );
    const goodSum = await s.run("dd if=/dev/vda bs=4096 skip=1000 count=1 2>/dev/null | sha256sum");
    // 16 blocks, each its own request: readahead off, so a 4 KiB read is one request.
    const sums = await s.run(
      "blockdev --setra 0 /dev/vda; for b in $(seq 600 615); do " +
        "dd if=/dev/vda bs=4096 skip=$b count=1 2>/dev/null | sha256sum; done",
    );
    const corruptSums = sums.trim().split("\n").map((l) => l.trim());
    assert.deepEqual(corruptSums.length, 16, sums);
    await s.send("poweroff\n");
    const st = await s.exit(30_000);
    assert.deepEqual(st.code, 0, `exit status; stderr:\n${s.stderr}`);
    assert.match(s.stderr, /fault plan .*plan\.json, seed 1234/);
    assert.match(
      s.stderr,
      /fault plan .*\(seed 1234\): \d+ injected: rule 0 block ioerr ×\d+, rule 1 block corrupt ×\d+/,
    );
    const log = s.stderr.split("\n").filter((l) => l.includes("actorvm: fault: rule"));
    return { log, badRead, goodSum: goodSum.trim(), corruptSums };
  } finally {
    await s.close();
  }
}

Deno.test({
  name: "faults e2e: IOERR on a chosen sector, other sectors read; a seeded plan repeats exactly",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-faults-" });
    try {
      const bytes = diskBytes(8192); // 4 MiB
      const disk = `${dir}/disk.raw`;
      await Deno.writeFile(disk, bytes);
      await Deno.writeTextFile(`${dir}/plan.json`, JSON.stringify(PLAN));
      const a = await boot(dir, disk);
      // The guest saw an I/O error and carried on.
      assert.match(a.badRead, /Input\/output error/);
      assert.match(a.badRead, /status=1/);
      const block = (n: number) => bytes.subarray(n * 4096, (n + 1) * 4096);
      assert.deepEqual(a.goodSum, `${await sha256Hex(block(1000))}  -`);
      // Some of the 16 blocks were corrupted, some not: each sum is either right or not.
      let intact = 0;
      for (let i = 0; i < 16; i++) {
        if (a.corruptSums[i] === `${await sha256Hex(block(600 + i))}  -`) intact++;
      }
      const corrupted = a.log.filter((l) => l.includes("corrupt")).length;
      assert.ok(corrupted > 0 && intact > 0, `corrupted ${corrupted}, intact ${intact}`);
      assert.ok(
        a.log.some((l) => /rule 0 block ioerr at event #1: read sector 2048/.test(l)),
        a.log.join("\n"),
      );
      // Same plan, same seed: the same injections at the same events, and the same data.
      const b = await boot(dir, disk);
      assert.deepEqual(b.log, a.log);
      assert.deepEqual(b.corruptSums, a.corruptSums);
      // The disk itself was never written.
      assert.deepEqual(await sha256Hex(await Deno.readFile(disk)), await sha256Hex(bytes));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "faults e2e: a kill rule that kills the same write on every retry is disarmed; the write completes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // every write, after it reached the file: dd's first 64 KiB request is
    // one backend write (its segments go through the device's bounce buffer),
    // killed again on every retry until the rule is disarmed.
    const dir = await Deno.makeTempDir({ prefix: "actorvm-stall-" });
    let s: GuestSession | null = null;
    try {
      const img = `${dir}/raw.img`;
      await Deno.writeFile(img, new Uint8Array(4 << 20));
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          seed: 1,
          restart: { block: { maxRestarts: 40, windowMs: 60000, backoffMs: 5 } },
          rules: [{ layer: "block", effect: "kill", when: { op: "write", every: 1 } }],
        }),
      );
      s = new GuestSession({
        args: [`--faults=${dir}/plan.json`, `--block=${img}`, ...bundledBoot()],
      });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      await s.run(
        "yes stall | head -c 262144 | dd of=/dev/vda bs=64k conv=fsync 2>/dev/null",
        120_000,
      );
      await s.send("poweroff\n");
      const st = await s.exit(60_000);
      assert.deepEqual(st.code, 0, s.stderr);
      const said = s.stderr.match(/fault: rule 0 block kill disarmed: .*/g) ?? [];
      assert.deepEqual(said.length, 1, s.stderr);
      assert.match(said[0] ?? "", /its last 10 kills each hit a restarted block actor/);
      assert.match(s.stderr, /11 injected: rule 0 block kill ×11; disarmed .*: rule 0/);
      const want = new TextEncoder().encode("stall\n".repeat(43691).slice(0, 262144));
      const got = (await Deno.readFile(img)).subarray(0, want.length);
      assert.ok(got.every((b, i) => b === want[i]), "the write reached the disk");
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
