// The differential suite again, with the translator on (cpu/jit/) at hotness
// threshold 1, so every page the programs run is translated at its first visit:
// each case in tests/programs/cases.txt must print exactly what qemu-riscv64
// printed, exit with the same status, and retire exactly as many instructions
// as the interpreter (tier 0) does. Read next: tests/unit/cpu/jit_lockstep_test.ts.

import assert from "../../../testing/assert.ts";
import { runUserElf, UserProcess } from "../../../usermode/runner.ts";

const dir = new URL("../../programs/", import.meta.url);

/**
 * gothreads and posix files make temp names from their (seeded, so repeated) random
 * numbers: each run gets its own TMPDIR, so that runs in parallel test
 * processes never meet on a name and take a different path.
 */
function privateTmp(bin: string): string[] {
  if (bin !== "gothreads" && bin !== "posix") return [];
  const tmp = Deno.makeTempDirSync({ prefix: "actorvm-user-" });
  tmpDirs.push(tmp);
  return [`TMPDIR=${tmp}`];
}
const tmpDirs: string[] = [];

interface Case {
  name: string;
  bin: string;
  args: string[];
}

const cases: Case[] = [];
for (const line of Deno.readTextFileSync(new URL("cases.txt", dir)).split("\n")) {
  if (line.trim() === "" || line.startsWith("#")) continue;
  const [name, bin, ...args] = line.split("|");
  cases.push({ name, bin, args });
}

/** Where two outputs first differ (diff_test.ts prints the lines; a position is enough here). */
function firstDifference(want: Uint8Array, got: Uint8Array): string | null {
  let i = 0;
  while (i < want.length && i < got.length && want[i] === got[i]) i++;
  if (i === want.length && i === got.length) return null;
  const dec = new TextDecoder();
  return `first difference at byte ${i}: qemu ${
    JSON.stringify(dec.decode(want.subarray(i, i + 60)))
  }` +
    `, actorvm ${JSON.stringify(dec.decode(got.subarray(i, i + 60)))}`;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, b) => n + b.length, 0));
  let off = 0;
  for (const b of chunks) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

let translatedPages = 0;

for (const c of cases) {
  Deno.test(`cpu jit diff: ${c.name}`, () => {
    const elf = Deno.readFileSync(new URL(`bin/${c.bin}`, dir));
    const want = Deno.readFileSync(new URL(`expected/${c.name}.out`, dir));
    const wantStatus = Number(Deno.readTextFileSync(new URL(`expected/${c.name}.status`, dir)));
    const chunks: Uint8Array[] = [];
    const errs: string[] = [];
    const dec = new TextDecoder();
    // Both runs see the same TMPDIR: a path of another length would change
    // what the program executes (and makeTempDir's names vary in length).
    const env = privateTmp(c.bin);
    const p = new UserProcess(elf, {
      argv0: c.bin,
      args: c.args,
      stdout: (b) => chunks.push(b.slice()),
      stderr: (b) => errs.push(dec.decode(b)),
      maxInstructions: 200_000_000,
      jit: { threshold: 1 },
      clock: "virtual",
      env,
      seed: 1, // threads interleave the same way in both tiers
    });
    const r = p.run();
    translatedPages += p.jit!.stats.compiles;
    const diff = firstDifference(want, concat(chunks));
    if (diff !== null) {
      assert.fail(`${c.name}: stdout differs from qemu-riscv64's\n${diff}\n${errs.join("")}`);
    }
    assert.equal(r.status, wantStatus, `${c.name}: exit status (stderr: ${errs.join("")})`);
    assert.equal(r.signal, wantStatus >= 128 ? wantStatus - 128 : null, `${c.name}: signal`);
    // instret is exact in both tiers.
    const ref = runUserElf(elf, {
      argv0: c.bin,
      args: c.args,
      maxInstructions: 200_000_000,
      clock: "virtual",
      env,
      seed: 1,
    });
    assert.equal(r.instret, ref.instret, `${c.name}: instret with the translator`);
    assert.deepEqual(r.trap, ref.trap, `${c.name}: the trap with the translator`);
  });
}

Deno.test("cpu jit diff: the translator did translate the programs", () => {
  assert.ok(translatedPages >= cases.length, `only ${translatedPages} translations`);
});

Deno.test("cpu jit diff: the programs removed their temp files (then their TMPDIRs go too)", () => {
  for (const tmp of tmpDirs.splice(0)) {
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), [], tmp);
    Deno.removeSync(tmp);
  }
});

Deno.test("cpu jit diff: a cache too small for the program evicts and stays exact", () => {
  // glibc's run translates ~30 pages (~4 MB of wasm): a 3 MB cache must evict.
  const c = cases.find((k) => k.name === "glibc")!;
  const elf = Deno.readFileSync(new URL(`bin/${c.bin}`, dir));
  const want = Deno.readFileSync(new URL(`expected/${c.name}.out`, dir));
  const chunks: Uint8Array[] = [];
  const p = new UserProcess(elf, {
    argv0: c.bin,
    args: c.args,
    stdout: (b) => chunks.push(b.slice()),
    maxInstructions: 200_000_000,
    jit: { threshold: 1, cacheBytes: 3_000_000 },
  });
  p.run();
  assert.equal(firstDifference(want, concat(chunks)), null);
  const st = p.jit!.stats;
  assert.ok(st.evictions >= 1, `only ${st.evictions} evictions`);
  assert.ok(st.cacheBytes <= 3_000_000, `cache ${st.cacheBytes} bytes`);
  assert.ok(st.pages >= 1 && st.chains > 0, JSON.stringify(st));
});
