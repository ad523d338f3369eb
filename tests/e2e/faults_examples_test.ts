// The swap-in actors in examples/, each doing its job in one boot of the real
// guest: a scripted console types a session (no stdin at all), a block device
// with bad sectors gives the guest an I/O error there and good data elsewhere,
// and an interrupt controller logs every raise and claim. The cpu and waker
// roles are swapped too (for their built-in modules, named by path), so the
// `--actor` route is exercised for every role that can boot without a network.
// The scripted console reuses the real console's handlers, so the launcher
// still sees the guest's panic line through it.
// Read next: examples/, docs/faults.md (the examples table).

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession } from "../../testing/guest_session.ts";
import { parseScript } from "../../examples/scripted_console.ts";
import { parseSectors } from "../../examples/bad_sector_block.ts";
import { sha256Hex } from "../../testing/sha256.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

Deno.test("examples: script and sector-list parsers refuse bad input clearly", () => {
  assert.deepEqual(parseScript("# c\nexpect a b\nsend x\\n\n"), [
    { kind: "expect", text: "a b" },
    { kind: "send", text: "x\n" },
  ]);
  try {
    parseScript("expect a\nwait 3\n");
    assert.ok(false);
  } catch (e) {
    assert.match((e as Error).message, /line 2: want "expect <text>" or "send <text>"/);
  }
  assert.deepEqual(parseSectors("7, 10-12"), [[7, 7], [10, 12]]);
  try {
    parseSectors("9-3");
    assert.ok(false);
  } catch (e) {
    assert.match((e as Error).message, /runs backwards/);
  }
});

Deno.test({
  name: "examples e2e: scripted console + bad-sector disk + logging irq controller, one boot",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-examples-" });
    let s: GuestSession | null = null;
    try {
      const disk = new Uint8Array(4 << 20);
      for (let i = 0; i < disk.length; i++) disk[i] = (i * 13 + (i >>> 12)) & 0xff;
      await Deno.writeFile(`${dir}/disk.raw`, disk);
      const good = await sha256Hex(disk.subarray(700 * 4096, 701 * 4096));
      await Deno.writeTextFile(
        `${dir}/script.txt`,
        [
          "expect actorvm-guest: ready",
          "send dmesg -n 1; dd if=/dev/vda of=/dev/null bs=4096 skip=256 count=1; echo bad-rc=$?\\n",
          "expect bad-rc=1",
          "send dd if=/dev/vda bs=4096 skip=700 count=1 2>/dev/null | sha256sum; echo good-rc=$?\\n",
          "expect good-rc=0",
          "send poweroff\\n",
        ].join("\n"),
      );
      s = new GuestSession({
        args: [
          "--actor",
          `console=${ROOT}examples/scripted_console.worker.ts`,
          "--actor",
          `block=${ROOT}examples/bad_sector_block.worker.ts`,
          "--actor",
          `irq=${ROOT}examples/irq_logger.worker.ts`,
          "--actor",
          `cpu=${ROOT}actors/cpu/cpu.worker.ts`,
          "--actor",
          `waker=${ROOT}actors/waker/waker.worker.ts`,
          `--block=${dir}/disk.raw`,
          ...bundledBoot([]),
        ],
        env: {
          ACTORVM_CONSOLE_SCRIPT: `${dir}/script.txt`,
          ACTORVM_BAD_SECTORS: "2048-2050",
          ACTORVM_IRQ_LOG: `${dir}/irq.log`,
        },
      });
      const st = await s.exit(60_000);
      assert.deepEqual(st.code, 0, `stderr:\n${s.stderr}`);
      // The disk: an I/O error on the bad sectors, the right bytes elsewhere.
      assert.match(s.output, /dd: \/dev\/vda: Input\/output error/);
      assert.match(s.stderr, /bad sector in read of sectors 2048\.\.2055/);
      assert.ok(s.output.includes(`${good}  -`), "block 700 read back intact");
      assert.match(s.stderr, /scripted console: saw "good-rc=0"/);
      assert.deepEqual(s.output.split("good-rc=0").length, 2, "each scripted line typed once");
      // The irq logger: every raise was claimed, per source, and the log file agrees.
      const m = /irq logger: (\d+) raised, (\d+) claimed/.exec(s.stderr);
      assert.ok(m, s.stderr);
      assert.ok(Number(m[1]) > 10, `raised ${m[1]}`);
      assert.deepEqual(m[2], m[1]);
      const lines = (await Deno.readTextFile(`${dir}/irq.log`)).trim().split("\n");
      assert.deepEqual(lines.filter((l) => / raise \d+$/.test(l)).length, Number(m[1]));
      assert.deepEqual(lines.filter((l) => / claim \d+$/.test(l)).length, Number(m[2]));
      // Slot 0 is the console (source 1), slot 1 the disk (source 2): both interrupted.
      assert.ok(
        lines.some((l) => l.endsWith("raise 1")) && lines.some((l) => l.endsWith("raise 2")),
      );
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "examples e2e: the scripted console reports the panic line, so a dead guest ends the run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // No init: Linux panics once hvc0 is up. Only the console's "seen" report
    // tells the launcher (panic=0 spins with interrupts off): without it the
    // run would go on until the bound below.
    const dir = await Deno.makeTempDir({ prefix: "actorvm-examples-" });
    let s: GuestSession | null = null;
    try {
      await Deno.writeTextFile(`${dir}/script.txt`, "# types nothing\n");
      s = new GuestSession({
        args: [
          "--actor",
          `console=${ROOT}examples/scripted_console.worker.ts`,
          ...bundledBoot(["rdinit=/nope", "init=/nope"], 64),
        ],
        env: { ACTORVM_CONSOLE_SCRIPT: `${dir}/script.txt` },
      });
      const st = await s.exit(60_000);
      assert.deepEqual(st.code, 1, `stderr:\n${s.stderr}`);
      assert.match(s.stderr, /the guest kernel panicked/);
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
