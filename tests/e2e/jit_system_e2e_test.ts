// The translator in the whole machine, end to end: the bundled guest with a
// disk and a network boots to the same self-check result (actorvm.selfcheck=1:
// shell, pipes, FPU, sha256, sleep, tmpfs, the disk's files, the network's
// carrier) with the translator (the default) and with --jit=off, and
// --verbose reports the code cache; CPU-bound work in the guest (gzip -9) is
// translated and hashes the same as on the interpreter. Read next: actors/cpu/cpu_actor.ts (useJit),
// docs/cpu.md "Translator".
import assert from "../../testing/assert.ts";
import { bundledBoot } from "../../testing/guest_session.ts";
import { fileURLToPath } from "node:url";
import { bootMachine } from "../../mod.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function selfCheck(jitArgs: string[]): Promise<{ lines: string[]; err: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}mod.ts`,
        ...jitArgs,
        `--block=${ROOT}guest/disk.img,ro`,
        `--sharenet=${dir}/segment`,
        "--mac=52:54:00:12:34:56", // the default MAC follows the segment path
        ...bundledBoot(["actorvm.selfcheck=1"]),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    const out = await child.output();
    clearTimeout(timer);
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `jit ${jitArgs}: stderr:\n${err}`);
    const lines = new TextDecoder().decode(out.stdout).split(/\r?\n/)
      .map((l) => l.trim()).filter((l) => l.startsWith("actorvm-selfcheck:"));
    return { lines, err };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jit e2e: the translator and the interpreter reach the same self-check result", async () => {
  const on = await selfCheck(["--verbose"]); // on by default
  const off = await selfCheck(["--jit=off"]);
  assert.ok(on.lines.includes("actorvm-selfcheck: pass 13/13"), on.lines.join("\n"));
  assert.deepEqual(on.lines, off.lines);
  // --verbose: the code cache, and it was used.
  const m = on.err.match(
    /translator: (\d+) pages translated \((\d+) KiB of wasm\), (\d+) compiles/,
  );
  assert.ok(m, on.err.slice(-2000));
  assert.ok(Number(m[1]) > 0 && Number(m[3]) > 0, m[0]);
  assert.match(on.err, /\d+ entries \(hits\), \d+ misses/);
  const share = on.err.match(/([\d.]+) M instructions ran translated \(([\d.]+)%\)/);
  assert.ok(share && Number(share[1]) > 0 && Number(share[2]) > 0, on.err.slice(-2000));
  assert.ok(!off.err.includes("translator:"), "--jit=off translates nothing");
});

/** Boot, compress and hash ~1.3 MB in the guest, power off; the hash line and the log. */
async function gzipInGuest(jit: boolean): Promise<{ sum: string; log: string[] }> {
  const log: string[] = [];
  const m = await bootMachine({ args: ["--verbose"], jit, log: (l) => log.push(l) });
  await m.waitFor("actorvm-guest: ready", 120_000);
  // The marker is computed by the shell, so the echoed command never matches.
  await m.send("seq 1 200000 | gzip -9 | md5sum; echo GZ-$((40+2))-END\n");
  const text = await m.waitFor(/GZ-42-END/, 300_000);
  const sum = text.match(/^([0-9a-f]{32}) {2}-/m)?.[1] ?? `no md5 in: ${text.slice(-300)}`;
  await m.send("poweroff\n");
  await m.output.pipeTo(new WritableStream());
  const r = await m.result;
  assert.equal(r.status, "powered off", r.reason);
  return { sum, log };
}

Deno.test("jit e2e: CPU-bound guest work is translated and computes what the interpreter does", async () => {
  const on = await gzipInGuest(true);
  const off = await gzipInGuest(false);
  assert.match(on.sum, /^[0-9a-f]{32}$/);
  assert.equal(on.sum, off.sum);
  const line = on.log.find((l) => l.includes("translator:")) ?? "";
  const m = line.match(/translator: (\d+) pages translated .* (\d+) entries \(hits\)/);
  assert.ok(m && Number(m[1]) > 0 && Number(m[2]) > 0, `hot pages were translated: ${line}`);
  assert.ok(!off.log.some((l) => l.includes("translator:")));
});
