// The firmware boot without OpenSBI: tiny hand-assembled M-mode firmwares
// (raw binaries at 0x80000000, via --bios) check the wiring of the pieces —
// the test/syscon device ends the machine with the right fate, and a CLINT
// mtimecmp deadline reaches the hart as MTIP through the waker — plus the
// launcher's refusals of a bad --bios (exit 2). Runs with no package installed.
// Read next: devices/syscon.ts, devices/clint.ts.

import assert from "../../testing/assert.ts";
import { A } from "../../testing/cpu_harness.ts";
import { parseCommandLine, USAGE, UsageError } from "../../launcher/cli.ts";

import { runMod } from "../../testing/guest_session.ts";
const [T0, T1, T2, T3, T4, T5, T6] = [5, 6, 7, 28, 29, 30, 31];
const MTVEC = 0x305, MIE = 0x304, MSTATUS = 0x300;

/** Write 0x5555 | code << 16 (or another command) to the test device at 0x100000, then spin. */
const finisher = (value: number) => [
  A.lui(T0, 0x100),
  A.lui(T1, value >>> 12),
  A.addi(T1, T1, value & 0xfff),
  A.sw(T1, 0, T0),
  A.jal(0, 0),
];

/** A never-reached kernel: the loader wants one at 0x80200000. */
function idleImage(): Uint8Array {
  const b = new Uint8Array(0x48);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x0000006f, true); // j .
  v.setBigUint64(8, 0x200000n, true);
  v.setBigUint64(16, BigInt(b.length), true);
  b.set(new TextEncoder().encode("RSC\x05"), 0x38);
  return b;
}

const words = (code: number[]) => {
  const b = new Uint8Array(4 * code.length);
  code.forEach((w, i) => new DataView(b.buffer).setUint32(4 * i, w, true));
  return b;
};

async function boot(firmware: Uint8Array | string, extra: string[] = []) {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/Image`, idleImage());
    let bios = firmware as string;
    if (typeof firmware !== "string") {
      bios = `${dir}/fw.bin`;
      Deno.writeFileSync(bios, firmware);
    }
    const { code, err } = await runMod([`--bios=${bios}`, ...extra, "32", `${dir}/Image`], 30_000);
    return { code, stderr: err };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("firmware fate: M-mode firmware powers off through the test device, exit 0", async () => {
  const r = await boot(words(finisher(0x5555)), ["--verbose"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /firmware \(raw\) at 0x80000000/);
});

Deno.test("firmware fate: the test device's failure code is a crash that names it, exit 1", async () => {
  const r = await boot(words(finisher((7 << 16) | 0x3333)));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /failure through the test device \(code 7\)/);
});

Deno.test("firmware fate: the test device's reset is a reboot (--no-reboot: exit 0)", async () => {
  const r = await boot(words(finisher(0x7777)), ["--no-reboot"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /rebooted: guest asked for reset through the test device/);
});

Deno.test("firmware fate: a CLINT deadline reaches the hart as MTIP (waker machine-timer mode)", async () => {
  // mtvec = handler; mtimecmp = mtime + 20 ms; mie.MTIE; mstatus.MIE; wfi forever.
  // The handler checks mcause = interrupt 7 and mtime >= mtimecmp, then powers off;
  // anything else writes failure code 1.
  const body = [
    A.lui(T3, 0x200c),
    A.addi(T3, T3, -8), // t3 = mtime (0x200bff8)
    A.lui(T0, 0x2004), // t0 = mtimecmp (0x2004000)
    A.ld(T4, 0, T3),
    A.lui(T5, 0x31), // 200000 ticks = 20 ms (0x30d40)
    A.addi(T5, T5, -0x2c0),
    A.add(T4, T4, T5),
    A.sd(T4, 0, T0),
    A.addi(T6, 0, 0x80),
    A.csrrw(0, MIE, T6),
    A.csrrsi(0, MSTATUS, 8),
    A.wfi(),
    A.jal(0, -4),
  ];
  const handler = [
    A.csrrs(T6, 0x342, 0), // mcause
    A.addi(T2, 0, 7),
    A.andi(T1, T6, 0x7ff),
    A.bne(T1, T2, 4 * 10), // not cause 7 -> fail
    A.bge(T6, 0, 4 * 9), // not an interrupt -> fail
    A.ld(T4, 0, T3),
    A.ld(T5, 0, T0),
    A.bltu(T4, T5, 4 * 6), // fired before mtime reached mtimecmp -> fail
    ...finisher(0x5555), // 5 words: the last one spins
    ...finisher((1 << 16) | 0x3333), // fail: code 1
  ];
  const head = 3; // auipc + addi + csrw
  const handlerAt = 4 * (head + body.length);
  const code = [
    A.auipc(T2, 0),
    A.addi(T2, T2, handlerAt),
    A.csrrw(0, MTVEC, T2),
    ...body,
    ...handler,
  ];
  const r = await boot(words(code));
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("firmware fate: a missing --bios file or one that overlaps the kernel is exit 2", async () => {
  const missing = await boot("/nonexistent/fw.bin");
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--bios: "\/nonexistent\/fw.bin" does not exist/);
  const big = await boot(new Uint8Array(3 << 20));
  assert.equal(big.code, 2, big.stderr);
  assert.match(big.stderr, /past the kernel's start 0x80200000/);
});

Deno.test("firmware cli: --bios takes a file once, --uart is a flag", () => {
  const o = parseCommandLine(["--bios=fw.bin", "--uart"])!;
  assert.equal(o.bios, "fw.bin");
  assert.equal(o.uart, true);
  const d = parseCommandLine([])!;
  assert.equal(d.bios, null);
  assert.equal(d.uart, false);
  assert.throws(() => parseCommandLine(["--bios=a", "--bios=b"]), UsageError);
  assert.throws(() => parseCommandLine(["--uart=1"]), UsageError);
  assert.throws(() => parseCommandLine(["--bios"]), /needs a value/);
  assert.match(USAGE, /--bios=<file>/);
});
