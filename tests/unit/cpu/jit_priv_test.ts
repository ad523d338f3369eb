// The hart tests that drive a program to its exit — privilege, traps,
// interrupts, Sv39/Sv48 paging with A/D bits, SUM/MXR/MPRV, sfence.vma and
// satp, integer, compressed and atomic instructions — run again with every
// hart in the translator's memory and every run through the translator at
// threshold 1 (ACTORVM_TEST_JIT=1, testing/cpu_harness.ts). They must pass
// unchanged: the translator is never the reason a result differs.
// Read next: testing/cpu_harness.ts, cpu/jit/tier.ts.
import assert from "../../../testing/assert.ts";

const TESTS = [
  "priv_test.ts",
  "mmu_test.ts",
  "integer_test.ts",
  "compressed_test.ts",
  "atomic_test.ts",
  "mip_rmw_test.ts",
].map((f) => new URL(f, import.meta.url).pathname);

Deno.test("cpu jit: the privileged, paging and integer hart tests pass under the translator", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check", ...TESTS],
    env: { ACTORVM_TEST_JIT: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text.slice(-4000));
  const m = text.match(/ok \| (\d+) passed \| 0 failed/);
  assert.ok(m && Number(m[1]) >= 70, text.slice(-600));
});
