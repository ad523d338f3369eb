// Differential tests against QEMU: every case in tests/programs/cases.txt runs
// through the user-mode runner (usermode/runner.ts, in-process) and must print
// exactly the bytes qemu-riscv64 printed and exit with the same status. The
// binaries and qemu's outputs are committed (scripts/build-test-programs.sh
// regenerates them), so this needs neither the toolchain nor QEMU.
// Read next: tests/programs/src/*.c for what each program covers.

import assert from "../../../testing/assert.ts";
import { parseElf, runUserElf } from "../../../usermode/runner.ts";
import { type Coverage, ROUNDING, RV64GC, sweep } from "../../programs/coverage.ts";

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

function readCases(): Case[] {
  const text = Deno.readTextFileSync(new URL("cases.txt", dir));
  const cases: Case[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name, bin, ...args] = line.split("|");
    cases.push({ name, bin, args });
  }
  return cases;
}

/** Where two outputs first differ, as a readable message. */
export function firstDifference(want: Uint8Array, got: Uint8Array): string | null {
  const n = Math.min(want.length, got.length);
  let i = 0;
  while (i < n && want[i] === got[i]) i++;
  if (i === n && want.length === got.length) return null;
  const dec = new TextDecoder();
  const lineNo = dec.decode(want.subarray(0, i)).split("\n").length;
  const lineOf = (b: Uint8Array): string => {
    const start = b.lastIndexOf(10, i - 1) + 1;
    let end = b.indexOf(10, i);
    if (end < 0) end = b.length;
    return dec.decode(b.subarray(start, end));
  };
  return `first difference at byte ${i}, line ${lineNo}:\n` +
    `  qemu:    ${i < want.length ? lineOf(want) : "<end of output>"}\n` +
    `  actorvm: ${i < got.length ? lineOf(got) : "<end of output>"}`;
}

const cases = readCases();

Deno.test("cpu diff: the case list covers every committed binary", () => {
  const bins = new Set<string>();
  for (const e of Deno.readDirSync(new URL("bin/", dir))) bins.add(e.name);
  const used = new Set(cases.map((c) => c.bin));
  assert.deepEqual([...bins].sort(), [...used].sort());
  assert.ok(cases.length >= 20);
});

Deno.test("cpu diff: the programs hold every RV64GC instruction, rounding ops in every mode", () => {
  const cov: Coverage = { seen: new Set(), modes: new Map() };
  for (const bin of new Set(cases.map((c) => c.bin))) {
    for (const seg of parseElf(Deno.readFileSync(new URL(`bin/${bin}`, dir))).segments) {
      if (seg.perm & 8) sweep(seg.data, cov); // PTE_X: executable segments only
    }
  }
  const missing = RV64GC.filter((m) => !cov.seen.has(m));
  assert.deepEqual(missing, [], `instructions no program executes: ${missing.join(" ")}`);
  const thin = [...ROUNDING].filter((m) => (cov.modes.get(m)?.size ?? 0) < 6);
  assert.deepEqual(
    thin,
    [],
    `rounding ops not in all of rne rtz rdn rup rmm dyn: ${thin.join(" ")}`,
  );
});

Deno.test("cpu diff: firstDifference finds the line", () => {
  const e = new TextEncoder();
  assert.equal(firstDifference(e.encode("a\nb\n"), e.encode("a\nb\n")), null);
  assert.match(firstDifference(e.encode("a\nbc\n"), e.encode("a\nbd\n"))!, /line 2/);
  assert.match(firstDifference(e.encode("a\n"), e.encode("a\nx\n"))!, /<end of output>/);
});

for (const c of cases) {
  Deno.test(`cpu diff: ${c.name}`, () => {
    const elf = Deno.readFileSync(new URL(`bin/${c.bin}`, dir));
    const want = Deno.readFileSync(new URL(`expected/${c.name}.out`, dir));
    const wantStatus = Number(Deno.readTextFileSync(new URL(`expected/${c.name}.status`, dir)));
    const chunks: Uint8Array[] = [];
    const errs: string[] = [];
    const dec = new TextDecoder();
    const r = runUserElf(elf, {
      argv0: c.bin,
      args: c.args,
      stdout: (b) => chunks.push(b.slice()),
      stderr: (b) => errs.push(dec.decode(b)),
      maxInstructions: 200_000_000,
      clock: "virtual",
      env: privateTmp(c.bin),
      seed: 1, // deterministic: the threaded programs run the same every time
    });
    const got = new Uint8Array(chunks.reduce((n, b) => n + b.length, 0));
    let off = 0;
    for (const b of chunks) {
      got.set(b, off);
      off += b.length;
    }
    const diff = firstDifference(want, got);
    if (diff !== null) {
      assert.fail(`${c.name}: stdout differs from qemu-riscv64's\n${diff}\n${errs.join("")}`);
    }
    assert.equal(r.status, wantStatus, `${c.name}: exit status (stderr: ${errs.join("")})`);
    // A death by signal (a fault's, or one sent) must be reported and a clean exit must not.
    assert.equal(
      r.signal,
      wantStatus >= 128 ? wantStatus - 128 : null,
      `${c.name}: signal (trap ${r.trap?.name}) ${errs.join("")}`,
    );
    assert.equal(errs.join("").includes("actorvm: "), wantStatus >= 128, errs.join(""));
  });
}

Deno.test("cpu diff: the programs removed their temp files (then their TMPDIRs go too)", () => {
  for (const tmp of tmpDirs.splice(0)) {
    assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), [], tmp);
    Deno.removeSync(tmp);
  }
});
