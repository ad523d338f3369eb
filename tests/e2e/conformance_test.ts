// Conformance, end to end: the riscv-tests-style bare-metal programs of
// tests/programs/src/conf/ (built by scripts/build-test-programs.sh, binaries
// in tests/programs/bare-bin/conf_*) run on the whole machine — given with
// --bios, or as the kernel — and report through HTIF: the exit status is
// theirs (0 = every check passed, N = check N failed). Then one boot of the
// bundled Linux checks what the hart advertises is what Linux uses: Sstc
// (no SBI set_timer call at all), 16-bit ASIDs, the complete ISA string.
// Read next: devices/htif.ts, tests/programs/src/conf/conf.h, docs/cpu.md.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { kernelImage } from "../../testing/kernel_image.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const BIN = fileURLToPath(new URL("../programs/bare-bin/", import.meta.url));

/** Run mod.ts to its end; stdout and stderr as text. */
async function runMachine(args: string[], limitMs = 60_000) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(limitMs),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A --bios program, with a never-reached kernel (the loader wants one at 0x80200000). */
async function runBios(program: string) {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/Image`, kernelImage([0x0000006f])); // j .
    return await runMachine([`--bios=${BIN}${program}`, "32", `${dir}/Image`]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("conformance: HTIF putchar and pass, through --bios (M-mode)", async () => {
  const r = await runBios("conf_htif_pass");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "htif: hello from putchar\n");
});

Deno.test("conformance: HTIF fail: the program's status is the emulator's exit status", async () => {
  const r = await runBios("conf_htif_fail");
  assert.equal(r.code, 21, r.stderr);
  assert.equal(r.stdout, "htif: hello from putchar\n");
  assert.match(r.stderr, /exited through HTIF with status 21/);
});

Deno.test("conformance: HTIF in an ELF booted as the kernel (S-mode, direct boot)", async () => {
  const r = await runMachine(["32", `${BIN}conf_htif_kernel`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "htif: hello from putchar\n");
});

for (
  const [program, what] of [
    ["conf_csr", "every CSR's width and WARL rule, 64-bit counters, no-trigger tselect/tdata"],
    ["conf_asid", "ASID-tagged TLB entries survive a switch and go with sfence.vma of that ASID"],
    ["conf_sstc", "stimecmp raises the S timer interrupt from wfi; STCE gates S access"],
  ]
) {
  Deno.test(`conformance: ${program}: ${what}`, async () => {
    const r = await runBios(program);
    assert.equal(r.code, 0, `check ${r.code} failed (tests/programs/src/conf/): ${r.stderr}`);
  });
}

Deno.test("conformance: Linux uses Sstc (no SBI set_timer), 16-bit ASIDs, the full ISA string", async () => {
  const s = new GuestSession({ args: ["--verbose"] });
  try {
    await s.waitFor(READY_LINE, 240_000);
    const cpuinfo = await s.run("cat /proc/cpuinfo");
    // Linux adds zca/zcd for C on its own; the rest is our device tree's string.
    assert.match(cpuinfo, /^isa\s*: rv64imafdc_zicntr_zicsr_zifencei_zihpm(_zca_zcd)?_sstc$/m);
    assert.match(cpuinfo, /^mmu\s*: sv48$/m);
    assert.ok(s.output.includes("Timer interrupt in S-mode is available via sstc extension"));
    assert.ok(s.output.includes("ASID allocator using 16 bits"), "Linux found the ASID bits");
    // The timer works on stimecmp alone: a sleep ends on time.
    const t0 = Date.now();
    assert.equal((await s.run("sleep 1; echo slept")).trim(), "slept");
    assert.ok(Date.now() - t0 >= 1000);
    await s.send("poweroff\n");
    const status = await s.exit(120_000);
    assert.equal(status.code, 0, s.stderr);
    const m = s.stderr.match(/timer: (\d+) SBI set_timer calls, (\d+) stimecmp writes/);
    assert.ok(m, `no timer summary in:\n${s.stderr.slice(-2000)}`);
    assert.equal(Number(m[1]), 0, "Linux never called SBI set_timer");
    assert.ok(Number(m[2]) > 10, "Linux programmed stimecmp itself");
  } finally {
    await s.close();
  }
});
