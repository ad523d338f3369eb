// Conformance, end to end: the riscv-tests-style bare-metal programs of
// tests/programs/src/conf/ (built by scripts/build-test-programs.sh, binaries
// in tests/programs/bare-bin/conf_*) run on the whole machine — given with
// --bios, or as the kernel — and report through HTIF: the exit status is
// theirs (0 = every check passed, N = check N failed); `conf_sv57` runs with
// --mmu=sv57, on both tiers. Then boots of the bundled Linux check what the
// hart advertises is what Linux uses: Sstc (no SBI set_timer call at all),
// 16-bit ASIDs, the complete ISA string; and Sv57 with --mmu=sv57.
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
async function runBios(program: string, args: string[] = []) {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/Image`, kernelImage([0x0000006f])); // j .
    return await runMachine([...args, `--bios=${BIN}${program}`, "32", `${dir}/Image`]);
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

for (const jit of ["on", "off"]) {
  Deno.test(`conformance: conf_sv57 (--mmu=sv57, --jit=${jit}): five-level walks, every leaf size, exact bytes and fault addresses beyond 2^53`, async () => {
    const r = await runBios("conf_sv57", ["--mmu=sv57", `--jit=${jit}`]);
    assert.equal(r.code, 0, `check ${r.code} failed (tests/programs/src/conf/sv57.S): ${r.stderr}`);
  });
}

Deno.test("conformance: conf_sv57 on the default machine: satp refuses Sv57 (check 1 fails)", async () => {
  const r = await runBios("conf_sv57");
  assert.equal(r.code, 1, r.stderr);
});

Deno.test("conformance: Linux with --mmu=sv57 runs in Sv57 to the shell and powers off", async () => {
  const s = new GuestSession({ args: ["--mmu=sv57"] });
  try {
    await s.waitFor(READY_LINE, 240_000);
    assert.match(await s.run("cat /proc/cpuinfo"), /^mmu\s*: sv57$/m);
    // Sv57's kernel layout: 16 PiB of vmalloc space (Sv48's is 32 TiB), the
    // linear map at 0xff60…, beyond 2^53: every access there is a wide one.
    assert.match(await s.run("cat /proc/meminfo"), /^VmallocTotal:\s+17592186044416 kB$/m);
    assert.equal(
      (await s.run("seq 1 5000 | md5sum")).trim(),
      "a5a208cd26b07cadade3450fe14d1d93  -",
    );
    assert.equal(
      (await s.run("echo sv57 > /tmp/f; cat /tmp/f; wc -c < /tmp/f")).trim(),
      "sv57\n5",
    );
    await s.send("poweroff\n");
    const status = await s.exit(120_000);
    assert.equal(status.code, 0, s.stderr);
  } finally {
    await s.close();
  }
});

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

/** A copy of an ELF whose symbol `name` has the value `to` (found through .symtab). */
function withSymbol(file: Uint8Array, name: string, to: bigint): Uint8Array {
  const b = file.slice();
  const v = new DataView(b.buffer);
  const shoff = Number(v.getBigUint64(40, true));
  const shentsize = v.getUint16(58, true), shnum = v.getUint16(60, true);
  const sh = (i: number) => shoff + i * shentsize;
  for (let i = 0; i < shnum; i++) {
    if (v.getUint32(sh(i) + 4, true) !== 2) continue; // SHT_SYMTAB
    const off = Number(v.getBigUint64(sh(i) + 24, true));
    const size = Number(v.getBigUint64(sh(i) + 32, true));
    const strs = Number(v.getBigUint64(sh(v.getUint32(sh(i) + 40, true)) + 24, true));
    for (let o = off; o < off + size; o += 24) {
      let s = strs + v.getUint32(o, true), text = "";
      while (b[s] !== 0) text += String.fromCharCode(b[s++]);
      if (text === name) {
        v.setBigUint64(o + 8, to, true);
        return b;
      }
    }
  }
  throw new Error(`no symbol ${name}`);
}

Deno.test("conformance: an HTIF symbol outside RAM or misaligned is refused (exit 2), nothing runs", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = Deno.readFileSync(`${BIN}conf_htif_pass`);
    for (const [to, what] of [[0x1000n, "outside"], [0x8000_1004n, "misaligned"]] as const) {
      Deno.writeFileSync(`${dir}/bad`, withSymbol(file, "tohost", to));
      Deno.writeFileSync(`${dir}/Image`, kernelImage([0x0000006f]));
      const r = await runMachine([`--bios=${dir}/bad`, "32", `${dir}/Image`]);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /HTIF symbol tohost \(0x[0-9a-f]+\) is not an aligned word in RAM/);
      assert.equal(r.stdout, "");
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
