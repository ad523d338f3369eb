// What a newcomer trips over first, each with a real guest: a clone in a path
// with a space boots; a failing self-check (actorvm.selfcheck=1) ends the run
// with status 1 and a passing one with 0; --trace-on-crash prints named PCs
// when the kernel panics on hvc0 (the launcher ends that run, not the cpu).
// The "output discarded" line and -h/--version/-- are in
// robustness_stdout_test.ts and launcher_cli_test.ts.
// Read next: launcher/boot.ts (self-check and panic outcomes), launcher/cli.ts.
import assert from "../../testing/assert.ts";
import { bundledBoot, READY_LINE, runMod } from "../../testing/guest_session.ts";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const GUEST = join(ROOT, "guest");
const SELFCHECK = ["actorvm.selfcheck=1"];

Deno.test("papercuts: a clone in a path with a space boots the bundled guest", async () => {
  const top = await Deno.makeTempDir({ prefix: "avm papercut " });
  try {
    // The tree as it is here (tracked and new files), copied under "a b/".
    const clone = join(top, "a b", "actorvm");
    const ls = await new Deno.Command("git", {
      args: ["-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      stdout: "piped",
    }).output();
    assert.ok(ls.success, "git ls-files");
    for (const f of new TextDecoder().decode(ls.stdout).split("\0")) {
      if (f === "" || f.startsWith("tests/")) continue;
      try {
        await Deno.mkdir(join(clone, dirname(f)), { recursive: true });
        await Deno.copyFile(join(ROOT, f), join(clone, f));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e; // deleted but not committed
      }
    }
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(clone, "mod.ts")],
      cwd: top,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    // Held until the guest reads its console (README).
    await w.write(new TextEncoder().encode("poweroff\n"));
    await w.close();
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const out = await child.output();
    clearTimeout(timer);
    const err = new TextDecoder().decode(out.stderr);
    assert.deepEqual(out.code, 0, `stderr:\n${err}`);
    assert.ok(new TextDecoder().decode(out.stdout).includes(READY_LINE), `stderr:\n${err}`);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
});

Deno.test("papercuts: a failing self-check exits 1 with the reason", async () => {
  // No disk and no network: the vda and eth0 checks fail (docs/guest.md).
  const { code, err } = await runMod(bundledBoot(SELFCHECK), 120_000);
  assert.deepEqual(code, 1, err);
  assert.match(err, /guest powered off: the guest's self-check failed/);
});

Deno.test("papercuts: a passing self-check exits 0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = [`--block=${GUEST}/disk.img,ro`, `--sharenet=${dir}/segment`];
    const { code, err } = await runMod([...args, ...bundledBoot(SELFCHECK)], 120_000);
    assert.deepEqual(code, 0, err);
    assert.ok(!err.includes("self-check failed"), err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("papercuts: --trace-on-crash prints named PCs after a kernel panic on hvc0", async () => {
  const args = ["--trace-on-crash", `--system-map=${GUEST}/System.map`];
  // No init anywhere: Linux panics once hvc0 is up (as robustness_panic_test.ts).
  const { code, err } = await runMod(
    [...args, ...bundledBoot(["rdinit=/nope", "init=/nope"], 64)],
    60_000,
  );
  assert.deepEqual(code, 1, err);
  assert.match(err, /the guest kernel panicked/);
  assert.match(err, /last \d+ PCs, oldest first/);
  // Spinning in panic(): its PCs are named from System.map.
  assert.match(err, /^ {2}0x[0-9a-f]+ \S*(panic|delay|udelay|touch)\S*/m);
});
