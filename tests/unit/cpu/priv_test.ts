// Privileged architecture: trap entry and return (mret/sret) with the mstatus
// stacks, medeleg/mideleg delegation, vectored interrupts and their priority,
// wfi sleeping and waking, CSR privilege/read-only/counter checks, mstatus
// WARL fields and FS gating of the FPU. Read next: tests/unit/cpu/atomic_test.ts.

import assert from "../../../testing/assert.ts";
import { A, BASE, li, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";
import { RUN_BUDGET, RUN_STOP, RUN_WFI } from "../../../cpu/hart.ts";

const MTVEC = BASE + 0x800;
const STVEC = BASE + 0xc00;
const CODE = BASE + 0x1000;

/** M-mode prologue: mtvec/stvec, then mret into `priv` at CODE with extra mstatus bits. */
function enter(priv: number, extra: number[] = [], mstatus = 0n): number[] {
  return [
    ...li(5, BigInt(MTVEC)),
    A.csrrw(0, 0x305, 5),
    ...li(5, BigInt(STVEC)),
    A.csrrw(0, 0x105, 5),
    ...extra,
    ...li(5, (BigInt(priv) << 11n) | mstatus),
    A.csrrw(0, 0x300, 5),
    ...li(5, BigInt(CODE)),
    A.csrrw(0, 0x341, 5),
    A.mret(),
  ];
}

Deno.test("priv: ecall from U traps to M; mret returns past it", () => {
  const h = makeHart();
  load(h, BASE, enter(0, [], 1n << 7n /* MPIE */));
  // a7 = 1: the harness hook declines, so the ecall traps to M.
  load(h, CODE, [A.addi(17, 0, 1), A.ecall(), A.addi(10, 0, 55), ...A.exit()]);
  load(h, MTVEC, [
    A.addi(20, 20, 1),
    A.csrrs(21, 0x342, 0), // mcause
    A.csrrs(22, 0x341, 0), // mepc
    A.csrrs(23, 0x300, 0), // mstatus
    A.csrrs(24, 0x343, 0), // mtval
    A.addi(22, 22, 4),
    A.csrrw(0, 0x341, 22),
    A.mret(),
  ]);
  runToExit(h);
  assert.equal(h.x[10], 55n);
  assert.equal(h.x[20], 1n);
  assert.equal(h.x[21], 8n);
  assert.equal(h.x[22], BigInt(CODE + 8));
  assert.equal(h.x[24], 0n);
  assert.equal((h.x[23] >> 11n) & 3n, 0n, "MPP = U");
  assert.equal((h.x[23] >> 7n) & 1n, 1n, "MPIE = MIE at the trap (set by the first mret)");
  assert.equal((h.x[23] >> 3n) & 1n, 0n, "MIE cleared in the handler");
  assert.equal(h.priv, 0, "back in U");
  assert.equal((h.csrRead(0x300) >> 7n) & 1n, 1n, "mret sets MPIE");
});

Deno.test("priv: medeleg sends U ecalls and illegal instructions to S; sret returns", () => {
  const h = makeHart();
  const deleg = [...li(5, (1n << 8n) | (1n << 2n)), A.csrrw(0, 0x302, 5)];
  load(h, BASE, enter(0, deleg));
  load(h, CODE, [A.ecall(), 0xffffffff, A.addi(10, 0, 7), A.addi(17, 0, 93), A.ecall()]);
  // S handler: record scause/stval/sstatus, advance sepc, sret. The exit
  // ecall (a7 = 93) is handled by the harness hook before any trap.
  load(h, STVEC, [
    A.csrrs(21, 0x142, 0),
    A.csrrs(22, 0x143, 0),
    A.csrrs(23, 0x100, 0),
    A.add(24, 24, 21), // sum of causes: 8 + 2
    A.csrrs(25, 0x141, 0),
    A.addi(25, 25, 4),
    A.csrrw(0, 0x141, 25),
    A.sret(),
  ]);
  runToExit(h);
  assert.equal(h.x[24], 10n);
  assert.equal(h.x[22], 0xffffffffn, "stval = the illegal instruction");
  assert.equal((h.x[23] >> 8n) & 1n, 0n, "SPP = U");
  assert.equal(h.x[10], 7n);
  assert.equal(h.priv, 0);
  assert.equal(h.csrRead(0x342), 0n, "M never saw a trap");
});

Deno.test("priv: an exception in M is never delegated", () => {
  const h = makeHart();
  h.csrWrite(0x302, 0xb3ffn);
  h.csrWrite(0x305, BigInt(MTVEC));
  load(h, MTVEC, A.exit());
  load(h, BASE, [0x00000000]);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 2n);
  assert.equal(h.csrRead(0x343), 0n);
  assert.equal(h.csrRead(0x142), 0n);
});

Deno.test("priv: CSR privilege, read-only and counter-enable checks", () => {
  const h = makeHart();
  load(h, BASE, enter(1));
  load(h, MTVEC, [
    A.csrrs(20, 0x342, 0),
    A.csrrs(21, 0x343, 0),
    A.csrrs(22, 0x341, 0),
    A.addi(22, 22, 4),
    A.csrrw(0, 0x341, 22),
    A.addi(23, 23, 1),
    A.mret(),
  ]);
  const readMstatus = A.csrrs(10, 0x300, 0);
  load(h, CODE, [
    readMstatus, // S reads an M CSR: illegal
    A.csrrs(11, 0xc00, 0), // cycle with mcounteren = 0: illegal
    A.csrrw(0, 0xc01, 5), // write to read-only time: illegal
    A.csrrs(12, 0x100, 0), // sstatus: fine
    ...A.exit(),
  ]);
  runToExit(h);
  assert.equal(h.x[23], 3n, "three illegal-instruction traps");
  assert.equal(h.x[20], 2n);
  assert.equal(h.x[21], BigInt(A.csrrw(0, 0xc01, 5) >>> 0));
  // With mcounteren.CY the read works in S.
  const g = makeHart();
  load(g, BASE, enter(1, [A.addi(5, 0, 7), A.csrrw(0, 0x306, 5)]));
  load(g, CODE, [A.csrrs(11, 0xc00, 0), A.csrrs(12, 0xc02, 0), ...A.exit()]);
  runToExit(g);
  assert.ok(g.x[11] > 0n && g.x[12] > 0n);
  assert.equal(g.lastTrap, null);
});

Deno.test("priv: mstatus fields (SD, UXL/SXL, MPP WARL) and the sstatus view", () => {
  const h = makeHart();
  h.csrWrite(0x300, (3n << 13n) | (2n << 11n) | (1n << 1n) | (1n << 3n));
  const ms = h.csrRead(0x300);
  assert.equal(ms >> 63n, 1n, "SD set with FS = dirty");
  assert.equal((ms >> 32n) & 15n, 10n, "UXL = SXL = 2");
  assert.equal((ms >> 11n) & 3n, 0n, "MPP = 2 is not kept");
  const ss = h.csrRead(0x100);
  assert.equal(ss & (1n << 3n), 0n, "MIE is not visible in sstatus");
  assert.equal(ss & 2n, 2n);
  h.csrWrite(0x100, 0n);
  assert.equal(h.csrRead(0x300) & 8n, 8n, "an sstatus write leaves MIE alone");
  assert.equal(h.csrRead(0x301) >> 62n & 3n, 2n);
  assert.equal(Number(h.csrRead(0x301) & 0x3ffffffn), 0x14112d, "misa = IMAFDC SU");
});

Deno.test("priv: vectored timer interrupt to M, in priority order", () => {
  const h = makeHart();
  h.csrWrite(0x305, BigInt(MTVEC) | 1n); // vectored
  h.csrWrite(0x304, (1n << 7n) | (1n << 11n));
  h.csrWrite(0x300, 1n << 3n); // MIE
  load(h, BASE, [A.addi(10, 10, 1), A.jal(0, -4)]);
  load(h, MTVEC + 4 * 7, [A.addi(11, 0, 7), ...A.exit()]);
  load(h, MTVEC + 4 * 11, [A.addi(11, 0, 11), ...A.exit()]);
  assert.equal(h.run(100), RUN_BUDGET);
  h.externalMip = (1 << 7) | (1 << 11); // both pending: MEI wins
  runToExit(h);
  assert.equal(h.x[11], 11n);
  assert.equal(h.csrRead(0x342), (1n << 63n) | 11n);
  assert.equal((h.csrRead(0x300) >> 7n) & 1n, 1n, "MPIE = 1");
  const g = makeHart();
  g.csrWrite(0x305, BigInt(MTVEC) | 1n);
  g.csrWrite(0x304, 1n << 7n);
  g.csrWrite(0x300, 1n << 3n);
  load(g, BASE, [A.addi(10, 10, 1), A.jal(0, -4)]);
  load(g, MTVEC + 4 * 7, [A.addi(11, 0, 7), ...A.exit()]);
  g.externalMip = (1 << 7) | (1 << 11); // MEI pending but not enabled
  runToExit(g);
  assert.equal(g.x[11], 7n);
});

Deno.test("priv: interrupts respect the global enables and privilege", () => {
  // M with MIE = 0: nothing taken.
  const h = makeHart();
  h.csrWrite(0x305, BigInt(MTVEC));
  h.csrWrite(0x304, 1n << 7n);
  load(h, BASE, [A.addi(10, 10, 1), A.jal(0, -4)]);
  load(h, MTVEC, A.exit());
  h.externalMip = 1 << 7;
  assert.equal(h.run(1000), RUN_BUDGET);
  assert.equal(h.lastTrap, null);
  // Lower privilege: an M interrupt is taken even with MIE = 0.
  const g = makeHart();
  load(g, BASE, enter(1, [...li(5, 1n << 7n), A.csrrw(0, 0x304, 5)]));
  load(g, CODE, [A.addi(10, 10, 1), A.jal(0, -4)]);
  load(g, MTVEC, A.exit());
  g.externalMip = 1 << 7;
  runToExit(g);
  assert.equal(g.csrRead(0x342), (1n << 63n) | 7n);
  assert.equal((g.csrRead(0x300) >> 11n) & 3n, 1n, "MPP = S");
});

Deno.test("priv: delegated supervisor interrupts go to vectored stvec; SSIP from software", () => {
  const h = makeHart();
  const setup = [
    ...li(5, (1n << 1n) | (1n << 5n) | (1n << 9n)),
    A.csrrw(0, 0x303, 5), // mideleg
    A.csrrw(0, 0x304, 5), // mie: SSIE STIE SEIE
    ...li(5, BigInt(STVEC) | 1n),
    A.csrrw(0, 0x105, 5),
  ];
  load(h, BASE, enter(1, setup, 1n << 5n /* SPIE, ignored */));
  load(h, CODE, [
    A.csrrsi(0, 0x100, 2), // sstatus.SIE = 1
    A.csrrsi(0, 0x144, 2), // sip.SSIP = 1: the interrupt is taken right after
    A.addi(10, 0, 1), // (returns here)
    ...A.exit(),
  ]);
  load(h, STVEC + 4, [
    A.csrrs(20, 0x142, 0),
    A.csrrci(0, 0x144, 2), // clear SSIP
    A.sret(),
  ]);
  runToExit(h);
  assert.equal(h.x[20], BigInt.asIntN(64, (1n << 63n) | 1n));
  assert.equal(h.x[10], 1n);
  assert.equal(h.csrRead(0x141), BigInt(CODE + 8), "sepc = the instruction after the csrrsi");
  // STIP is not writable from S.
  const g = makeHart();
  g.priv = 1;
  g.csrWrite(0x303, 1n << 5n);
  load(g, BASE, [A.csrrsi(0, 0x144, 16 + 2), A.csrrs(10, 0x144, 0), ...A.exit()]);
  runToExit(g);
  assert.equal(g.x[10] & (1n << 5n), 0n);
});

Deno.test("priv: wfi with nothing pending stops the batch past the wfi", () => {
  const h = makeHart();
  load(h, BASE, [A.addi(10, 0, 1), A.wfi(), A.addi(10, 0, 2), ...A.exit()]);
  assert.equal(h.run(1000), RUN_WFI);
  assert.equal(h.pc, BigInt(BASE + 8), "pc is past the wfi");
  assert.equal(h.x[10], 1n);
  assert.equal(h.run(1000), RUN_STOP, "the next run continues after it");
  assert.equal(h.x[10], 2n);
});

Deno.test("priv: wfi returns RUN_WFI, and run() after externalMip takes the interrupt", () => {
  const h = makeHart();
  h.csrWrite(0x305, BigInt(MTVEC));
  h.csrWrite(0x304, 1n << 7n);
  h.csrWrite(0x300, 1n << 3n);
  load(h, BASE, [A.wfi(), A.jal(0, -4)]);
  load(h, MTVEC, [A.addi(11, 0, 9), ...A.exit()]);
  assert.equal(h.run(1000), RUN_WFI);
  assert.equal(h.run(1000), RUN_WFI, "wfi again: the loop sleeps again");
  h.externalMip = 1 << 7;
  assert.equal(h.run(1000), RUN_STOP);
  assert.equal(h.x[11], 9n);
  assert.equal(h.csrRead(0x341), BigInt(BASE + 4), "mepc = after the wfi");
  // Pending and locally enabled but globally disabled: wfi does not sleep.
  const g = makeHart();
  g.csrWrite(0x304, 1n << 7n);
  g.externalMip = 1 << 7;
  load(g, BASE, [A.wfi(), ...A.exit()]);
  assert.equal(g.run(1000), RUN_STOP);
  assert.equal(g.lastTrap, null);
  // wfi in U-mode is illegal.
  const u = makeHart();
  load(u, BASE, enter(0));
  load(u, CODE, [A.wfi()]);
  load(u, MTVEC, A.exit());
  runToExit(u);
  assert.equal(u.csrRead(0x342), 2n);
});

Deno.test("priv: mret/sret/sfence are illegal from lower modes; TSR and TVM", () => {
  const cases: [number, number, bigint][] = [
    [1, A.mret(), 0n],
    [0, A.sret(), 0n],
    [1, A.sret(), 1n << 22n], // TSR
    [1, A.sfence(), 1n << 20n], // TVM
    [1, A.csrrs(10, 0x180, 0), 1n << 20n], // satp under TVM
    [0, A.sfence(), 0n],
  ];
  for (const [priv, insn, ms] of cases) {
    const h = makeHart();
    load(h, BASE, enter(priv, [], ms));
    load(h, CODE, [insn]);
    load(h, MTVEC, A.exit());
    runToExit(h);
    assert.equal(h.csrRead(0x342), 2n, `insn ${insn.toString(16)} from ${priv}`);
    assert.equal(h.csrRead(0x343), BigInt(insn >>> 0));
  }
});

Deno.test("priv: ebreak and ecall causes; onEcall can decline", () => {
  for (const [priv, cause] of [[0, 8n], [1, 9n], [3, 11n]] as const) {
    const h = makeHart();
    h.onEcall = () => false;
    load(h, BASE, priv === 3 ? [A.ecall()] : [...enter(priv)]);
    if (priv !== 3) load(h, CODE, [A.ecall()]);
    load(h, MTVEC, [A.ebreak()]);
    h.csrWrite(0x305, BigInt(MTVEC));
    h.run(100);
    // the ebreak in the handler traps to itself; the last trap is the breakpoint
    assert.equal(h.lastTrap?.cause, 3n);
    assert.equal(h.lastTrap?.tval, BigInt(MTVEC));
    const seen: number[] = [];
    const g = makeHart();
    g.onEcall = (_h, from) => {
      seen.push(from);
      g.stopRequested = true;
      return true;
    };
    load(g, BASE, priv === 3 ? [A.ecall()] : [...enter(priv)]);
    if (priv !== 3) load(g, CODE, [A.ecall()]);
    assert.equal(g.run(100), RUN_STOP);
    assert.deepEqual(seen, [priv]);
    assert.equal(g.lastTrap, null);
    void cause;
  }
});

Deno.test("priv: FS = Off makes FP instructions and fcsr illegal; FP loads set FS dirty", () => {
  const h = makeHart();
  h.csrWrite(0x305, BigInt(MTVEC));
  load(h, MTVEC, A.exit());
  load(h, BASE, [A.fld(1, 0, 0)]);
  runToExit(h);
  assert.equal(h.csrRead(0x342), 2n);
  const g = makeHart();
  g.csrWrite(0x305, BigInt(MTVEC));
  load(g, MTVEC, A.exit());
  load(g, BASE, [A.csrrs(10, 0x003, 0)]);
  runToExit(g);
  assert.equal(g.csrRead(0x342), 2n);
  const f = makeHart();
  f.csrWrite(0x300, 1n << 13n); // FS = Initial
  const src = BASE + 0x400;
  f.ram64[0x400 / 8] = 0x400921fb54442d18n;
  f.ram32[0x408 / 4] = 0x3f800000;
  load(f, BASE, [
    ...li(6, BigInt(src)),
    A.fld(1, 0, 6),
    A.flw(2, 8, 6),
    A.fsd(1, 16, 6),
    A.fsw(2, 24, 6),
    A.csrrwi(0, 0x001, 5), // fflags = 5
    A.csrrs(10, 0x003, 0), // fcsr
    ...A.exit(),
  ]);
  runToExit(f);
  assert.equal(f.fpu.bits[1], 0x400921fb54442d18n);
  assert.equal(f.fpu.bits[2], BigInt.asIntN(64, 0xffffffff3f800000n), "NaN-boxed");
  assert.equal(f.ram64[0x410 / 8], 0x400921fb54442d18n);
  assert.equal(f.ram32[0x418 / 4], 0x3f800000);
  assert.equal(f.x[10], 5n);
  assert.equal((f.csrRead(0x300) >> 13n) & 3n, 3n, "FS = Dirty");
});

Deno.test("priv: time comes from readTime; mhartid from the options", () => {
  const h = makeHart({ readTime: () => 123456789n, hartId: 3 });
  load(h, BASE, [A.csrrs(10, 0xc01, 0), A.csrrs(11, 0xf14, 0), ...A.exit()]);
  runToExit(h);
  assert.equal(h.x[10], 123456789n);
  assert.equal(h.x[11], 3n);
});

Deno.test("priv: an interrupt raised by an MMIO access is taken before the next instruction", () => {
  const IO = 0x1000_0000;
  const h = makeHart({
    bus: {
      read: () => 0,
      write: (addr) => {
        if (addr === IO) h.externalMip |= 1 << 11; // the device raises MEIP
        return true;
      },
    },
  });
  h.csrWrite(0x305, BigInt(MTVEC));
  h.csrWrite(0x304, 1n << 11n);
  h.csrWrite(0x300, 1n << 3n);
  load(h, BASE, [...li(6, BigInt(IO)), A.sw(0, 0, 6), A.addi(10, 0, 1), ...A.exit()]);
  load(h, MTVEC, A.exit());
  runToExit(h);
  assert.equal(h.x[10], 0n, "the addi after the store did not run");
  assert.equal(h.csrRead(0x342), (1n << 63n) | 11n);
  assert.equal(h.csrRead(0x341), BigInt(BASE + 4 * li(6, BigInt(IO)).length + 4));
});

Deno.test("priv: sstatus through csrrs/csrrc/csrrw from S matches the CSR view", () => {
  const h = makeHart();
  load(h, BASE, enter(1, [], (3n << 13n) | (1n << 18n)));
  load(h, CODE, [
    A.csrrs(10, 0x100, 0), // read
    A.csrrsi(11, 0x100, 2), // set SIE, old value to x11
    A.csrrci(12, 0x100, 2), // clear SIE
    ...li(5, (1n << 19n) | (1n << 3n)), // MXR, and MIE which sstatus cannot touch
    A.csrrw(13, 0x100, 5),
    A.csrrs(14, 0x100, 0),
    ...A.exit(),
  ]);
  runToExit(h);
  const sd = 1n << 63n, uxl = 2n << 32n, fs = 3n << 13n;
  const u = (v: bigint) => BigInt.asUintN(64, v);
  assert.equal(u(h.x[10]), sd | uxl | fs | (1n << 18n));
  assert.equal(u(h.x[11]), sd | uxl | fs | (1n << 18n));
  assert.equal(u(h.x[12]), sd | uxl | fs | (1n << 18n) | 2n);
  assert.equal(u(h.x[13]), sd | uxl | fs | (1n << 18n));
  assert.equal(u(h.x[14]), 1n << 19n | uxl, "csrrw replaced FS and SUM; SD follows FS");
  assert.equal(h.csrRead(0x300) & 8n, 0n, "MIE untouched");
  assert.equal(u(h.x[14]), h.csrRead(0x100));
});

Deno.test("priv: an MMIO write that sets stopRequested ends the batch after that instruction", () => {
  const IO = 0x1000_0000;
  const h = makeHart({
    bus: {
      read: () => 0,
      write: () => {
        h.stopRequested = true; // e.g. a power-off register
        return true;
      },
    },
  });
  load(h, BASE, [...li(6, BigInt(IO)), A.sw(0, 0, 6), A.addi(10, 0, 1), ...A.exit()]);
  assert.equal(h.run(1000), RUN_STOP);
  assert.equal(h.x[10], 0n);
  assert.equal(h.pc, BigInt(BASE + 4 * li(6, BigInt(IO)).length + 4));
});

Deno.test("priv: setMipSoftware raises SSIP without making external lines stick", () => {
  const h = makeHart();
  h.externalMip = 1 << 5; // STIP from the waker
  h.setMipSoftware(1 << 1, true);
  assert.equal(h.csrRead(0x344), (1n << 5n) | (1n << 1n));
  h.externalMip = 0; // the waker drops STIP
  assert.equal(h.csrRead(0x344), 1n << 1n);
  h.setMipSoftware(1 << 1, false);
  assert.equal(h.csrRead(0x344), 0n);
});

Deno.test("priv: instret/cycle count across batches; minstret is writable; pcRing keeps recent pcs", () => {
  const h = makeHart();
  h.enablePcRing(4);
  load(h, BASE, [A.addi(10, 10, 1), A.addi(10, 10, 1), A.jal(0, -8)]);
  assert.equal(h.run(5), 0);
  assert.equal(h.run(5), 0);
  assert.equal(h.instret, 10n);
  assert.equal(h.csrRead(0xb02), 10n);
  assert.equal(h.csrRead(0xb00), 10n);
  assert.deepEqual(h.recentPcs(), [BASE, BASE + 4, BASE + 8, BASE].map(BigInt));
  h.csrWrite(0xb02, 1000n);
  h.run(3);
  assert.equal(h.instret, 1003n);
  // In the guest: csrr minstret reads the count before itself retires (Zicntr).
  const g = makeHart();
  load(g, BASE, [A.addi(0, 0, 0), A.addi(0, 0, 0), A.csrrs(10, 0xb02, 0), ...A.exit()]);
  runToExit(g);
  assert.equal(g.x[10], 2n, "two nops before the csrr");
});

Deno.test("priv: minstret/mcycle keep 64 bits through the host API and wrap at 2^64", () => {
  const h = makeHart();
  load(h, BASE, [A.addi(0, 0, 0), A.jal(0, -4)]);
  h.csrWrite(0xb02, 1n << 63n);
  assert.equal(h.csrRead(0xb02), 1n << 63n);
  h.csrWrite(0xb00, (1n << 64n) - 2n);
  h.run(3);
  assert.equal(h.csrRead(0xb02), (1n << 63n) + 3n);
  assert.equal(h.instret, (1n << 63n) + 3n);
  assert.equal(h.csrRead(0xb00), 1n, "mcycle wrapped past 2^64");
  assert.equal(h.instretN, 3, "instretN still counts executed instructions");
});

Deno.test("priv: Sstc — STIP is time >= stimecmp while STCE is set, software's otherwise", () => {
  let now = 100n;
  const h = makeHart({ readTime: () => now });
  h.csrWrite(0x344, 1n << 5n); // STCE off: STIP is a software bit
  assert.equal(h.csrRead(0x344), 1n << 5n);
  h.csrWrite(0x344, 0n);
  const seen: bigint[] = [];
  h.onStimecmp = (d) => seen.push(d);
  h.csrWrite(0x30a, 1n << 63n);
  h.csrWrite(0x14d, 150n);
  assert.deepEqual(seen, [150n]);
  assert.equal(h.csrRead(0x344) & (1n << 5n), 0n);
  h.csrWrite(0x344, 1n << 5n); // read-only now
  assert.equal(h.csrRead(0x344) & (1n << 5n), 0n);
  now = 150n;
  assert.equal(h.csrRead(0x344) & (1n << 5n), 1n << 5n, "due at equality");
  h.csrWrite(0x14d, (1n << 64n) - 1n);
  assert.equal(h.csrRead(0x144) & (1n << 5n), 0n, "the far future clears it (sip too)");
});
