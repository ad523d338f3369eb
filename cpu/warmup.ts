// JIT warm-up for the instruction loop. V8 optimizes cpu/execute.ts's big
// switch speculatively from the type feedback gathered so far; a Linux boot
// then reaches paths it had not seen (negative kernel addresses, MMIO, traps,
// compressed forms) and each one deoptimizes and recompiles it — about 16
// recompilations and half a second lost in the first 30 M instructions. This
// runs a short synthetic program on a scratch hart that walks every path once,
// with kernel-like addresses, before the real guest starts. Whoever builds
// a long-running hart calls it first (the cpu actor, the user-mode runner,
// the benchmarks); cpu/hart.ts does not know about it, so the hart itself
// stays free of it and of an import cycle.
// Read next: cpu/execute.ts (the paths exercised), docs/cpu.md.

import { Hart } from "./hart.ts";
import { encB, encI, encJ, encR, encS, encU, OP } from "./decode.ts";

const RAM = 0x8000_0000;
/** The kernel-like virtual base: the last 2 GiB (Sv48 root index 511, then 510). */
const K = -0x8000_0000;
const MMIO = 0x1000_0000;

// Registers used below.
const RA = 1, SP = 2, T0 = 5, T1 = 6, T2 = 7, S0 = 8, A0 = 10, A5 = 15;
const S2 = 18, LOOP = 20; // s4: the lap counter (no compressed form below touches it)
const A7 = 17, T3 = 28, T4 = 29;

class Asm {
  readonly out: (number | { h: number })[] = [];
  pos = 0;
  w(...words: number[]): this {
    for (const x of words) {
      this.out.push(x);
      this.pos += 4;
    }
    return this;
  }
  c(...halves: number[]): this {
    for (const h of halves) {
      this.out.push({ h });
      this.pos += 2;
    }
    return this;
  }
  write(ram: Uint8Array, at: number): void {
    const dv = new DataView(ram.buffer);
    let off = at;
    for (const x of this.out) {
      if (typeof x === "number") {
        dv.setInt32(off, x, true);
        off += 4;
      } else {
        dv.setUint16(off, x.h, true);
        off += 2;
      }
    }
  }
}

const addi = (rd: number, rs: number, imm: number) => encI(OP.OP_IMM, rd, 0, rs, imm);
const csr = (f3: number, rd: number, c: number, rs: number) => encI(OP.SYSTEM, rd, f3, rs, c);

/** The body executed in S-mode at K: every integer form, memory, branches, CSRs, traps. */
function kernelCode(loops: number): Asm {
  const a = new Asm();
  a.w(addi(LOOP, 0, loops)); // loop counter
  const top = a.pos;
  a.w(encU(OP.AUIPC, S0, 0x10 << 12)); // s0 = K + top + 0x10000 ...
  a.w(addi(S0, S0, -top)); // ... = K + 0x10000: kernel data at a negative address
  a.w(addi(SP, S0, 0x400), addi(T0, 0, -5), addi(T1, 0, 7));
  for (const f7 of [0, 0x20, 1]) {
    for (let f3 = 0; f3 < 8; f3++) {
      if (f7 === 0x20 && f3 !== 0 && f3 !== 5) continue;
      a.w(encR(OP.OP, T2, f3, T0, T1, f7), encR(OP.OP, T2, f3, T1, T0, f7));
      const w32 = f7 === 0 ? f3 === 0 || f3 === 1 || f3 === 5 : f7 === 0x20 || f3 === 0 || f3 >= 4;
      if (w32) a.w(encR(OP.OP_32, T2, f3, T0, T1, f7));
    }
  }
  a.w(encR(OP.OP, T2, 4, T0, 0, 1), encR(OP.OP, T2, 6, T0, 0, 1)); // division by zero
  for (let f3 = 0; f3 < 8; f3++) {
    const imm = f3 === 1 ? 13 : f3 === 5 ? 0x400 | 7 : -3;
    a.w(encI(OP.OP_IMM, T2, f3, T0, imm), encI(OP.OP_IMM, T2, f3, S0, f3 === 5 ? 33 : imm));
  }
  a.w(encI(OP.OP_IMM_32, T2, 0, T0, 9), encI(OP.OP_IMM_32, T2, 1, T0, 3));
  a.w(encI(OP.OP_IMM_32, T2, 5, T0, 3), encI(OP.OP_IMM_32, T2, 5, T0, 0x400 | 3));
  a.w(encU(OP.LUI, T2, 0x80000 << 12), encU(OP.AUIPC, T2, 0x1000));
  // Stores and loads of every width, aligned, misaligned, and across a page.
  // s2 = 0xffff_af80_0001_0000: an address in Linux's Sv48 linear map, whose
  // page number is beyond the int32 range too (V8 must not assume it is one).
  a.w(encU(OP.LUI, S2, 0xaf800 << 12), encI(OP.OP_IMM, S2, 1, S2, 16));
  a.w(encU(OP.LUI, T4, 0x10 << 12), encR(OP.OP, S2, 0, S2, T4, 0));
  for (const base of [S0, S2]) {
    for (const off of [0, 8, 3, 4093]) {
      for (let f3 = 0; f3 < 4; f3++) a.w(encS(OP.STORE, f3, base, T0, off + 8 * f3));
      for (let f3 = 0; f3 < 7; f3++) a.w(encI(OP.LOAD, T2, f3, base, off + 4 * f3));
    }
  }
  // Branches, each taken and not taken (t0 < 0 < t1).
  for (const f3 of [0, 1, 4, 5, 6, 7]) {
    a.w(encB(f3, T0, T1, 8), addi(0, 0, 0), encB(f3, T1, T0, 8), addi(0, 0, 0));
  }
  // bltu/bgeu whose upper words are equal (the low words decide).
  a.w(addi(T3, 0, 9), encB(6, T1, T3, 8), addi(0, 0, 0), encB(7, T1, T3, 8), addi(0, 0, 0));
  // Compressed forms (registers as in tests/unit/cpu/compressed_test.ts).
  a.c(0x1501, 0x52fd, 0x6585, 0x8105, 0x9581, 0x9afd, 0x8d0d, 0x8cbd, 0x8e55, 0x8f61, 0x9d1d);
  a.c(0x9ca1, 0x0506, 0x852e, 0x952e, 0x2505, 0x0001);
  a.c(0x4048, 0xc048, 0xe05c, 0x7c78, 0x70fe, 0xe422, 0x557e, 0xdfaa); // c.lw/sw/sd/ld, sp forms
  a.c(0xc011, 0x0001, 0xe011, 0x0001, 0xa009); // c.beqz, c.bnez, c.j
  // A call into another page (c.jalr through a5, the callee returns with c.jr ra).
  const p = a.pos;
  a.w(encU(OP.AUIPC, A5, 0x1000), addi(A5, A5, 0x10 - p)); // a5 = K + 0x1010
  a.c(0x9782); // c.jalr a5
  a.w(encJ(RA, 0x1000 - (a.pos % 0x1000) + 0x20)); // jal to the second function
  // CSRs: sstatus (fast path), sscratch, sie, time, then FP loads/stores and one FP op.
  a.w(csr(2, T2, 0x100, 0), csr(6, 0, 0x100, 2), csr(7, 0, 0x100, 2), csr(1, T2, 0x140, T0));
  a.w(csr(2, T2, 0x104, 0), csr(2, T2, 0xc01, 0), csr(2, T2, 0x003, 0));
  // An interrupt pending and enabled in sie while sstatus.SIE is off: the check
  // after each CSR write looks further; then SIE on, and it is taken after that
  // write (the handler clears SSIP and skips the nop after it).
  a.w(csr(6, 0, 0x104, 2), csr(6, 0, 0x144, 2), csr(6, 0, 0x100, 2), addi(0, 0, 0));
  a.w(csr(7, 0, 0x100, 2), csr(7, 0, 0x104, 2));
  a.w(encI(OP.LOAD_FP, 1, 3, S0, 16), encI(OP.LOAD_FP, 2, 2, S0, 24));
  a.w(encS(OP.STORE_FP, 3, S0, 1, 32), encS(OP.STORE_FP, 2, S0, 2, 40));
  a.w(encR(OP.OP_FP, 3, 7, 1, 1, 0x01)); // fadd.d f3, f1, f1 (dyn)
  // Atomics: lr/sc, amoadd.d, amoswap.w.
  a.w(encR(OP.AMO, T2, 3, S0, 0, 2 << 2), encR(OP.AMO, T2, 3, S0, T0, 3 << 2));
  a.w(encR(OP.AMO, T2, 3, S0, T1, 0), encR(OP.AMO, T2, 2, S0, T1, 1 << 2));
  a.w(0x0ff0000f); // fence
  // A misaligned AMO: it traps (cause 6, delegated to the S handler, which skips it).
  a.w(addi(T3, S0, 1), encR(OP.AMO, T2, 2, T3, T1, 0));
  // MMIO through the identity gigapage at VA 0x4000_0000 (PA 0).
  a.w(encU(OP.LUI, T3, 0x50000 << 12), encS(OP.STORE, 2, T3, T0, 0), encI(OP.LOAD, T2, 2, T3, 0));
  a.w(encS(OP.STORE, 3, T3, T0, 8), encI(OP.LOAD, T2, 3, T3, 8));
  // ecalls: one served by the hook, one that traps to stvec; an illegal instruction; ebreak.
  a.w(addi(A7, 0, 1), 0x00000073, addi(A7, 0, 2), 0x00000073, 0x00000000, 0x00100073);
  a.w(encI(OP.OP_IMM, A0, 0, 0, 0)); // (the handler resumes here)
  // Into U-mode at VA 0x7fff_ffff_0000, where Linux puts user stacks and the
  // vDSO (4 KiB pages, four-level walks, a pc whose page number is beyond
  // int32): t3 = -1 >>> 33 << 16; sepc, SPP = 0, sret.
  a.w(addi(T3, 0, -1), encI(OP.OP_IMM, T3, 5, T3, 33), encI(OP.OP_IMM, T3, 1, T3, 16));
  a.w(csr(1, 0, 0x141, T3), addi(T3, 0, 0x100));
  a.w(csr(3, 0, 0x100, T3), 0x10200073);
  const resume = a.pos; // the S handler returns here after the U ecall
  a.w(addi(LOOP, LOOP, -1));
  a.w(encB(1, LOOP, 0, top - a.pos)); // loop
  a.w(addi(A7, 0, 3), 0x00000073); // ask the hook to stop
  if (a.pos > 0x800 || resume !== a.pos - 16) throw new Error("warmUpJit: bad layout");
  return a;
}

/** S-mode trap handler (at K + 0x800): skip the faulting instruction, or come back from U. */
function handler(resumeAt: number): Asm {
  const a = new Asm();
  a.w(csr(7, 0, 0x144, 2)); // clear sip.SSIP (the software interrupt above)
  a.w(csr(2, T3, 0x142, 0), addi(T4, 0, 8)); // scause
  a.w(encB(0, T3, T4, 20)); // from U? (skips the four words below)
  a.w(csr(2, T3, 0x141, 0), addi(T3, T3, 4), csr(1, 0, 0x141, T3), 0x10200073);
  // from U: SPP = S, sepc = resume, sret
  a.w(addi(T3, 0, 0x100), csr(2, 0, 0x100, T3));
  const p = a.pos;
  a.w(encU(OP.AUIPC, T3, 0), addi(T3, T3, resumeAt - (0x800 + p)));
  a.w(csr(1, 0, 0x141, T3), 0x10200073);
  return a;
}

/** U-mode code at VA 0x10000: loads/stores on its own page, compressed ops, then ecall. */
function userCode(): Asm {
  const a = new Asm();
  // The page's first instruction has bit 31 set: fetched through the slow path,
  // whose result is then not a small integer (V8 must not assume one there).
  a.w(addi(T1, 0, -1));
  a.w(encU(OP.AUIPC, S0, 1 << 12), addi(S0, S0, -4)); // s0 = the data page
  a.w(addi(T0, 0, 3), encS(OP.STORE, 3, S0, T0, 0));
  a.w(encI(OP.LOAD, T1, 3, S0, 0), encI(OP.LOAD, T1, 2, S0, 4), encS(OP.STORE, 0, S0, T1, 9));
  a.c(0x4048, 0xc048, 0x1501, 0x852e);
  a.w(addi(A7, 0, 2), 0x00000073);
  return a;
}

/** mstatus misa medeleg mideleg mie mtvec mcounteren menvcfg mscratch mepc mcause mtval mip,
 * the S-mode ones, satp, the counters, the FP CSRs, one PMP pair. */
const WRITTEN_CSRS = [
  0x300,
  0x301,
  0x302,
  0x303,
  0x304,
  0x305,
  0x306,
  0x30a,
  0x340,
  0x341,
  0x342,
  0x343,
  0x344,
  0x100,
  0x104,
  0x105,
  0x106,
  0x10a,
  0x140,
  0x141,
  0x142,
  0x143,
  0x144,
  0x180,
  0xb00,
  0xb02,
  0x001,
  0x002,
  0x003,
  0x3a0,
  0x3b0,
]; // deno-fmt-ignore

let done = false;
/**
 * The warm-up's harts, kept for the life of the process: the optimized loop
 * embeds weak references to what it saw (their buses, their maps), and when
 * the garbage collector cleared those V8 threw the loop's optimized code away
 * (--trace-deopt: "embedded weak objects cleared") and compiled it again.
 */
const kept: Hart[] = [];

/**
 * Run the warm-up once per process (later calls return at once). Takes a few
 * tens of milliseconds. Call it before starting a long-running guest.
 */
export function warmUpJit(rounds = 40): void {
  if (done) return;
  done = true;
  // A machine's hart has a readTime function and its own bus object; the warm-up
  // hart has neither. Build one of each kind first, so the Hart map's field
  // types are general before any code is compiled against them (otherwise the
  // machine's hart arrives with a new map and the loop deoptimizes on entry).
  kept.push(
    new Hart({
      ram: new SharedArrayBuffer(4096),
      ramBase: RAM,
      readTime: () => 0n,
      bus: new class {
        read(): number {
          return -1;
        }
        write(): boolean {
          return false;
        }
      }(),
    }),
  );
  const h = warmupHart(rounds);
  kept.push(h);
  for (let i = 0; i < 1000 && !h.stopRequested; i++) h.run(500);
  if (!h.stopRequested) {
    throw new Error(`warmUpJit: the program did not finish (pc ${h.pc.toString(16)})`);
  }
}

/**
 * warmUpJit for a machine about to start: only an optimization, so a
 * warm-up that went wrong is reported and the machine starts anyway
 * (tests/unit/cpu/warmup_test.ts is where it fails loudly).
 */
export function warmUpJitOrWarn(): void {
  try {
    warmUpJit();
  } catch (e) {
    console.error(`hart: JIT warm-up skipped: ${e instanceof Error ? e.message : e}`);
  }
}

/** The scratch hart, loaded and ready to run `rounds` laps of the program (exported for tests). */
export function warmupHart(rounds: number): Hart {
  const ramBytes = 1 << 20;
  const ram = new SharedArrayBuffer(ramBytes);
  const mmio = new Uint32Array(16);
  const h = new Hart({
    ram,
    ramBase: RAM,
    bus: {
      read: (addr, size) => {
        if (addr < MMIO || addr >= MMIO + 64) return -1;
        const v = mmio[(addr - MMIO) >>> 2];
        return size === 4 ? v : v & ((1 << (size * 8)) - 1);
      },
      write: (addr, _size, v) => {
        if (addr < MMIO || addr >= MMIO + 64) return false;
        mmio[(addr - MMIO) >>> 2] = v;
        return true;
      },
    },
  });
  const u8 = new Uint8Array(ram);
  const code = kernelCode(rounds);
  // Locate the resume point: the loop decrement, 4 words before the end-of-program ecall pair.
  const resume = code.pos - 4 * 4;
  code.write(u8, 0);
  handler(resume).write(u8, 0x800);
  // Two callees: at +0x1010 (c.jr ra) and at the page of the jal.
  const callee = new Asm().c(0x0001, 0x8082);
  callee.write(u8, 0x1010);
  callee.write(u8, 0x1020);
  userCode().write(u8, 0x20000);
  // Sv48 page tables (the machine's default mode): root at 0xf0000; index 511 ->
  // 0xf3000, whose 510 is RAM as a kernel gigapage; 351 -> 0xf4000, whose 0 is the
  // same (the linear map at 0xffff_af80_0000_0000); 0 -> 0xf5000, whose 1 is PA 0
  // (MMIO at VA 0x4000_0000); 255 -> 0xf1000 -> 0xf6000 -> L0 (0xf2000) -> user
  // pages 0x7fff_ffff_0000 (code) and 0x7fff_ffff_1000 (data).
  const pte = (pa: number, flags: number) => (BigInt(Math.floor(pa / 4096)) << 10n) | BigInt(flags);
  const r64 = new BigInt64Array(ram);
  const at = (table: number, i: number) => (table >>> 3) + i;
  r64[at(0xf0000, 511)] = pte(RAM + 0xf3000, 1);
  r64[at(0xf3000, 510)] = pte(RAM, 0xef); // V R W X G A D
  r64[at(0xf0000, 0)] = pte(RAM + 0xf5000, 1);
  r64[at(0xf5000, 1)] = pte(0, 0xc7); // V R W A D
  r64[at(0xf0000, 351)] = pte(RAM + 0xf4000, 1);
  r64[at(0xf4000, 0)] = pte(RAM, 0xe7); // V R W G A D
  r64[at(0xf0000, 255)] = pte(RAM + 0xf1000, 1);
  r64[at(0xf1000, 511)] = pte(RAM + 0xf6000, 1);
  r64[at(0xf6000, 511)] = pte(RAM + 0xf2000, 1);
  r64[at(0xf2000, 0x1f0)] = pte(RAM + 0x20000, 0x1b); // V R X U (A set by the walk)
  r64[at(0xf2000, 0x1f1)] = pte(RAM + 0x21000, 0x17); // V R W U
  // Write every CSR and host-set field once, as a machine's setup will: V8
  // treats a field never written after construction as constant, and the
  // first write by the real machine would deoptimize the compiled loop.
  for (const csr of WRITTEN_CSRS) {
    const v = h.csrRead(csr);
    h.csrWrite(csr, 1n);
    h.csrWrite(csr, v);
  }
  // Likewise the fields holding addresses: give each a value outside the
  // small-integer range once, so they are doubles from the start.
  const big = 2 ** 40;
  h.pcN =
    h.mepc =
    h.sepc =
    h.mtvec =
    h.stvec =
    h.satpRoot =
    h.resAddr =
      big;
  h.fetchVa =
    h.fetchOff =
    h.faultTval =
      big;
  h.mepc =
    h.sepc =
    h.mtvec =
    h.stvec =
    h.satpRoot =
    h.resAddr =
    h.faultTval =
      0;
  h.fetchVa = NaN;
  h.fetchOff = 0;
  h.externalMip = 1 << 9;
  h.externalMip = 0;
  h.stopRequested = true;
  h.stopRequested = false;
  h.enablePcRing(16);
  h.enablePcRing(0);
  // With the translator on, the loop checks every new code page against the
  // translated pages (Hart.stopAtCode). Walk those checks too (no page is
  // translated here, so nothing stops): a boot with the translator on took
  // the first of them only after the loop was optimized without it, and
  // deoptimized it (V8's --trace-deopt: "insufficient type feedback").
  h.codePages = new Uint8Array(ramBytes / 4096);
  h.stopAtCode = true;
  h.csrWrite(0x180, (9n << 60n) | BigInt((RAM + 0xf0000) / 4096)); // Sv48
  h.csrWrite(0x105, BigInt.asUintN(64, BigInt(K + 0x800)));
  // Delegate illegal, ebreak, a misaligned AMO, ecall from U and S to the S handler.
  h.csrWrite(0x302, (1n << 2n) | (1n << 3n) | (1n << 6n) | (1n << 8n) | (1n << 9n));
  h.csrWrite(0x303, 1n << 1n); // the S software interrupt is S-mode's (sie/sip.SSIP writable)
  h.csrWrite(0x300, 1n << 13n); // FS initial
  h.csrWrite(0x306, 7n); // counters readable from S
  h.priv = 1;
  h.pcN = K;
  // A long-running guest's instruction count soon leaves the small-integer
  // range; let the loop's feedback see a double from the start.
  h.instretN = 2 ** 40;
  h.onEcall = (hart, from) => {
    if (from !== 1) return false;
    const n = hart.x[A7];
    if (n === 3n) hart.stopRequested = true;
    return n !== 2n; // 2: let it trap
  };
  return h;
}
