// The user-mode runner as a user meets it: scripts/run-user.ts on the threaded
// programs with the host's clock (real sleeps, the default) prints what
// qemu-riscv64 printed (tests/unit/cpu/jit_diff_test.ts runs them translated);
// an unknown syscall is -ENOSYS and, with --verbose, one line naming it; bad
// flags are refused. The in-process differential runs (virtual clock) are
// tests/unit/cpu/diff_test.ts. Read next: usermode/runner.ts.

import assert from "../../../testing/assert.ts";
import { runUserElf } from "../../../usermode/runner.ts";
import { syscallName } from "../../../usermode/syscalls.ts";

const root = new URL("../../../", import.meta.url).pathname;
const prog = (name: string) => `${root}tests/programs/bin/${name}`;
const expected = (name: string) =>
  Deno.readTextFileSync(`${root}tests/programs/expected/${name}.out`);

async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/run-user.ts`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("run-user: a static Go program with threads, on the host's clock, prints what qemu printed", async () => {
  const r = await runCli([prog("gothreads")]);
  assert.equal(r.err, "");
  assert.equal(r.out, expected("gothreads"));
  assert.equal(r.code, 0);
});

Deno.test("run-user: glibc pthreads on the host's clock", async () => {
  const r = await runCli([prog("posix"), "pthread"]);
  assert.equal(r.out, expected("pthread"));
  assert.equal(r.code, 0, r.err);
});

Deno.test("run-user: --verbose names an unknown syscall once; it returns -ENOSYS", async () => {
  // syscalls makes syscall 4000 and prints the -ENOSYS it gets.
  const quiet = await runCli([prog("syscalls")]);
  assert.equal(quiet.err, "", "nothing without --verbose");
  const r = await runCli(["--verbose", prog("syscalls")]);
  assert.equal(r.out, expected("syscalls"));
  assert.equal(r.err, "actorvm: unknown syscall 4000 (?): -ENOSYS\n");
  assert.equal(r.code, 0);
});

Deno.test("run-user: bad --clock is refused with status 2", async () => {
  const r = await runCli(["--clock=sometimes", prog("glibc")]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--clock wants host or virtual/);
});

Deno.test("run-user: a virtual-clock run repeats exactly, threads and all", () => {
  const elf = Deno.readFileSync(prog("gothreads"));
  const runs = [1, 2].map(() => runUserElf(elf, { argv0: "gothreads", clock: "virtual", seed: 7 }));
  assert.equal(runs[0].status, 0);
  assert.ok(runs[0].threads >= 3, `threads: ${runs[0].threads}`);
  assert.equal(runs[0].instret, runs[1].instret);
});

Deno.test("run-user: unknown syscalls are named from asm-generic's table", () => {
  const want: [number, string][] = [
    [0, "io_setup"],
    [56, "openat"],
    [98, "futex"],
    [179, "sysinfo"],
    [222, "mmap"],
    [243, "recvmmsg"],
    [244, "?"],
    [261, "prlimit64"],
    [293, "rseq"],
    [435, "clone3"],
    [4000, "?"],
  ];
  for (const [nr, name] of want) assert.equal(syscallName(nr), name, `syscall ${nr}`);
});
