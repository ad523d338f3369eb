// Existing end-to-end tests again with two harts (docs/smp.md, "Tests"): a
// representative subset — boot, reboot and power-off, disks, 9p shares,
// panics and fates, a supervised console restart — run by `deno test` in a
// child process with ACTORVM_TEST_SMP=2, which makes the test harness
// (testing/guest_session.ts) add --smp=2 and boot the bundled SMP kernel.
// Any of tests/e2e/ runs the same way by hand:
//   ACTORVM_TEST_SMP=2 deno test -A tests/e2e/<file>
// (trace_test.ts's "sbi TIME" check does not hold there: the SMP kernel sets
// its timers through stimecmp only.)

import assert from "../../testing/assert.ts";

const SUBSET = [
  "boot_e2e_test.ts",
  "block_e2e_test.ts",
  "share_e2e_test.ts",
  "robustness_panic_test.ts",
  "launcher_fate_test.ts",
  "supervision_console_test.ts",
];

Deno.test({
  name: "smp suite: boot, disks, shares, panics, fates and supervision pass with --smp=2",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = new URL("./", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", ...SUBSET.map((f) => dir + f)],
      env: { ACTORVM_TEST_SMP: "2", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `the subset failed with --smp=2:\n${text.slice(-6000)}`);
    assert.match(text, /ok \| \d+ passed \| 0 failed/);
  },
});
