// End-to-end: actorvm as a library (launcher/library.ts, exported by mod.ts).
// examples/library.ts copied to a temporary directory runs there; two
// machines booted in one process each answer their own console; output
// nobody reads holds the guest back without losing a byte, and stop() ends a
// machine whose writers wait for a reader; `deno doc --lint mod.ts` is clean.
// The in-process scenarios run in a child `deno run -A` of this very file.
// Read next: launcher/library.ts, examples/library.ts.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { bootMachine, FATE, InputError, type Machine, READY_LINE, UsageError } from "../../mod.ts";

const MOD = new URL("../../mod.ts", import.meta.url);
const EXAMPLE = new URL("../../examples/library.ts", import.meta.url);
const BOOT_MS = 240_000;

/** Power off, read what is left of the output, and return the fate. */
async function powerOff(m: Machine) {
  await m.send("poweroff\n");
  await m.output.pipeTo(new WritableStream());
  return await m.result;
}

Deno.test("examples/library.ts runs from another directory, importing mod.ts by absolute path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "actorvm lib " }); // a space, as in a user's path
  try {
    const src = (await Deno.readTextFile(EXAMPLE)).replace(
      `from "../mod.ts"`,
      `from ${JSON.stringify(MOD.href)}`,
    );
    assert.ok(src.includes(MOD.href), "the example imports ../mod.ts");
    await Deno.writeTextFile(`${dir}/library.ts`, src);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "library.ts"],
      cwd: dir,
      stdin: "null",
      signal: AbortSignal.timeout(BOOT_MS),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `exit status; stdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.match(stdout, /^Linux actorvm 6\.12\.\S+ .* riscv64 GNU\/Linux$/m);
    assert.match(stdout, /^guest powered off after \d+ instructions$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The in-process scenarios run in a child `deno run` of this file, as a user's
// program would: under `deno test` each worker module is type-checked when
// it is spawned, which on a cold cache outlasts an actor's start timeout.
const SCENARIOS: Record<string, () => Promise<void>> = {
  /** Two machines in this one process, typed at together, each answering its own console; then `await using`. */
  async two() {
    const [a, b] = await Promise.all([bootMachine(), bootMachine()]);
    try {
      await Promise.all([a.waitFor(READY_LINE, BOOT_MS), b.waitFor(READY_LINE, BOOT_MS)]);
      await Promise.all([a.send("echo A-$((20+1))\n"), b.send("echo B-$((40+2))\n")]);
      const [ta, tb] = await Promise.all([a.waitFor("A-21", 60_000), b.waitFor("B-42", 60_000)]);
      assert.ok(!ta.includes("B-"), `machine A saw B's output: ${JSON.stringify(ta)}`);
      assert.ok(!tb.includes("A-"), `machine B saw A's output: ${JSON.stringify(tb)}`);
      // A waitFor leaves what follows its match unread: the next one finds it.
      await a.send("echo one-$((1+0)); echo two-$((1+1))\n");
      assert.match(await a.waitFor(/one-1\r?\n/, 60_000), /one-1\r?\n$/);
      assert.match(await a.waitFor("two-2", 60_000), /two-2$/);
      const [ra, rb] = await Promise.all([powerOff(a), powerOff(b)]);
      for (const r of [ra, rb]) {
        assert.equal(r.fate, FATE.POWEROFF, r.reason);
        assert.equal(r.status, "powered off");
        assert.equal(r.exitCode, 0);
        assert.ok(r.instret > 1_000_000, `instret ${r.instret}`);
      }
      console.log(`two machines: ${ra.instret} and ${rb.instret} instructions, both powered off`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    // `await using`: the machine is stopped when its scope ends.
    let kept: Machine;
    {
      await using c = await bootMachine();
      await c.waitFor(READY_LINE, BOOT_MS);
      kept = c;
    }
    const rc = await kept.result;
    assert.equal(rc.fate, FATE.STOPPED, rc.reason);
    console.log("await using: stopped at the end of its scope");
  },
  /** Output nobody reads waits, whole and in order; stop() ends a machine whose writers wait. */
  async backpressure() {
    const m = await bootMachine();
    try {
      await m.waitFor(READY_LINE, BOOT_MS);
      // ~170 KB, well over the output rings (64 KiB each): while nobody
      // reads, the guest's writes must wait, and then arrive complete.
      await m.send("seq 1 30000; echo END-$((3*3))\n");
      await new Promise((r) => setTimeout(r, 3000));
      const text = (await m.waitFor("END-9", 240_000)).replace(/\r/g, "");
      const from = text.indexOf("\n1\n");
      assert.ok(from >= 0, "seq's first line");
      const lines = text.slice(from + 1).split("\n").filter((l) => /^\d+$/.test(l));
      assert.equal(lines.length, 30000, "every line of seq arrived");
      assert.ok(lines.every((l, i) => Number(l) === i + 1), "in order");
      // Now a flood nobody will read: the writers wait on the full rings,
      // and stop() must still end the machine promptly.
      await m.send("seq 1 100000000\n");
      await new Promise((r) => setTimeout(r, 2000));
      const t0 = performance.now();
      const r = await m.stop();
      assert.equal(r.fate, FATE.STOPPED, r.reason);
      assert.equal(r.status, "stopped");
      const ms = performance.now() - t0;
      assert.ok(ms < 15_000, `stop() took ${ms} ms`);
      console.log(`backpressure: 30000 lines whole and in order; stopped in ${ms.toFixed(0)} ms`);
    } finally {
      await m.stop();
    }
  },
};

/** Run scenario `name` in a child `deno run` of this file; returns its stdout. */
async function runScenario(name: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(import.meta.url), "--scenario", name],
    stdin: "null",
    signal: AbortSignal.timeout(2 * BOOT_MS),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `scenario ${name}: stdout:\n${stdout}\nstderr:\n${stderr}`);
  return stdout;
}

Deno.test("two machines in one process, each answering its own console", async () => {
  const out = await runScenario("two");
  assert.match(out, /both powered off/);
  assert.match(out, /await using: stopped/);
});

Deno.test("output nobody reads waits, whole and in order; stop() ends a waiting machine", async () => {
  assert.match(await runScenario("backpressure"), /whole and in order; stopped/);
});

Deno.test("bootMachine refuses a bad command line or input before anything starts", async () => {
  await assert.rejects(bootMachine({ args: ["--no-such-option"] }), UsageError);
  await assert.rejects(
    bootMachine({ args: ["64", "/nonexistent/Image"] }),
    (e: Error) => e instanceof InputError && /nonexistent\/Image/.test(e.message),
  );
});

Deno.test("deno doc --lint mod.ts: every exported symbol is documented", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", fileURLToPath(MOD)],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
});

if (import.meta.main && Deno.args[0] === "--scenario") {
  const run = SCENARIOS[Deno.args[1]];
  if (!run) throw new Error(`no scenario ${Deno.args[1]}`);
  await run();
}
