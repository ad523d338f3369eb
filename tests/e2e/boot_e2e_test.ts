// End-to-end: boot the bundled guest with stdin and stdout as pipes, wait for
// the guest's ready line, run a few commands through the virtio console,
// power off, and expect exit status 0. One boot serves every check.
// Read next: testing/guest_session.ts (the expect-style handle), mod.ts.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";

Deno.test("boot the bundled guest to a shell, run commands, reboot, power off", async () => {
  const s = new GuestSession();
  try {
    await s.waitFor(READY_LINE, 240_000);
    const uname = await s.run("uname -a");
    assert.match(uname, /^Linux actorvm 6\.12\.\S+ .* riscv64/m);
    const cpuinfo = await s.run("cat /proc/cpuinfo");
    assert.match(cpuinfo, /isa\s*:\s*rv64imafdc/);
    assert.match(cpuinfo, /mmu\s*:\s*sv(39|48)/);
    assert.deepEqual((await s.run("echo $((6*7))")).trim(), "42");
    // The earlycon boot log came out through the SBI console before hvc0 was up.
    assert.ok(s.output.includes("Linux version 6.12"), "boot log via earlycon=sbi");
    // reboot restarts the machine: a second boot, a fresh shell.
    const mark = s.output.length;
    await s.send("reboot\n");
    await s.waitFor(READY_LINE, 240_000, mark);
    assert.deepEqual((await s.run("echo again-$((2+3))")).trim(), "again-5");
    await s.send("poweroff\n");
    const status = await s.exit(120_000);
    assert.deepEqual(status.code, 0, `exit status; stderr:\n${s.stderr}`);
  } finally {
    await s.close();
  }
});

Deno.test("--no-reboot: a guest reboot ends the emulator with status 0", async () => {
  const s = new GuestSession({ args: ["--no-reboot"] });
  try {
    await s.waitFor(READY_LINE, 240_000);
    await s.send("reboot\n");
    const status = await s.exit(120_000);
    assert.deepEqual(status.code, 0, `exit status; stderr:\n${s.stderr}`);
    assert.match(s.stderr, /guest rebooted/);
  } finally {
    await s.close();
  }
});

Deno.test("console: input piped before the guest is ready is delivered; stdin's end does not stop the guest", async () => {
  // The whole of stdin is written and closed at once, long before the guest
  // has a console: the bytes must wait, and end-of-file must not end the run.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(new URL("../../mod.ts", import.meta.url))],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(240_000),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("echo early-$((20+1)); sleep 1; poweroff\n"));
  await w.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.deepEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(stdout, /actorvm-guest: ready[\s\S]*\nearly-21\r?\n/);
});
