// The FPU vectors (tests/cpu_fpu_vectors/vectors.txt, ground truth from
// qemu-riscv64) through the translator: every distinct instruction of the file
// — each op with its rounding mode static (rm field) and dynamic (rm=7, frm),
// the dynamic one with the destination aliasing a source — sits in one code
// page, translated at its first visit (threshold 1); each vector sets the
// operands and runs its slot in translated code. The result bits, fflags
// (exact), and mstatus.FS (Initial → Dirty) must be qemu's and the
// interpreter's, which runs the same slot on a second hart. A second test runs
// every op on every pair of a list of edge values (overflow, midpoints,
// subnormals, NaNs, bad boxes) in every rounding mode and compares the tiers.
// Read next: tests/unit/cpu/jit_lockstep_test.ts.

import { fileURLToPath } from "node:url";
import assert from "../../../testing/assert.ts";
import { Hart, RUN_BUDGET } from "../../../cpu/hart.ts";
import { encI, OP } from "../../../cpu/decode.ts";
import { createJitHart, createJitMemory, Jit } from "../../../cpu/jit/tier.ts";
import { fpOp } from "../../cpu_fpu_vectors/encode.ts";

const BASE = 0x8000_0000, RAM = 64 << 10, CODE = BASE + 0x1000;
const FS_INITIAL = 1 << 13;

Deno.test("cpu jit: the FPU vectors give qemu's bits and flags in translated code", () => {
  const file = fileURLToPath(new URL("../../cpu_fpu_vectors/vectors.txt", import.meta.url));
  const vectors = Deno.readTextFileSync(file).split("\n").filter((l) => l !== "" && l[0] !== "#");
  // Slots: the instruction, then `jalr x0, 0(x1)` (out of the page). A jalr
  // first, so that every slot follows one (the front end's sweep makes each a leader).
  const ret = encI(OP.JALR, 0, 0, 1, 0);
  const words: number[] = [ret];
  const slotOf = new Map<number, number>();
  const cases = vectors.flatMap((line) => {
    const [name, rmText, ...hex] = line.split(" ");
    const op = fpOp(name);
    const rm = Number(rmText);
    const [a, b, c, want, wantFlags] = hex.map((h) => BigInt.asIntN(64, BigInt("0x" + h)));
    return [0, 1].map((variant) => {
      const fpDest = op.kind === "ff" || op.kind === "f" || op.kind === "fff" || op.kind === "x_f";
      const rd = fpDest ? (variant ? 1 : 4) : 5;
      const insn = op.encode(rd, op.kind === "x_f" ? 6 : 1, 2, 3, variant ? 7 : rm);
      if (!slotOf.has(insn)) {
        slotOf.set(insn, CODE + 4 * words.length);
        words.push(insn, ret);
      }
      return { line, variant, rm, a, b, c, want, wantFlags, fpDest, rd, at: slotOf.get(insn)! };
    });
  });
  assert.ok(words.length * 4 <= 4096, `${words.length} words do not fit the page`);
  const code = new Uint8Array(new Int32Array(words).buffer);

  const ref = new Hart({ ram: new SharedArrayBuffer(RAM), ramBase: BASE });
  const mem = createJitMemory(RAM);
  const hj = createJitHart(mem, { ramBase: BASE });
  const jit = new Jit(hj, mem, { threshold: 1 });
  for (const h of [ref, hj]) h.ram8.set(code, CODE - BASE);

  const failures: string[] = [];
  for (const v of cases) {
    const got: string[] = [];
    for (const h of [ref, hj]) {
      h.fpu.bits.fill(0n);
      h.x.fill(0n);
      h.fpu.fflags = 0;
      h.fpu.frm = v.variant ? v.rm : 0;
      h.fpu.bits[1] = v.a;
      h.fpu.bits[2] = v.b;
      h.fpu.bits[3] = v.c;
      h.x[6] = v.a;
      h.x[1] = BigInt(BASE);
      h.mstatus = (h.mstatus & ~(3 << 13)) | FS_INITIAL;
      h.pc = BigInt(v.at);
      const st = h === hj ? jit.run(2) : h.run(2);
      const result = v.fpDest ? h.fpu.bits[v.rd] : h.x[v.rd];
      got.push(
        `${st} pc ${h.pc.toString(16)} ${BigInt.asUintN(64, result).toString(16)} ` +
          `flags ${h.fpu.fflags.toString(16)} FS ${(h.mstatus >>> 13) & 3} ` +
          `f ${[...h.fpu.bits].map((x) => x.toString(16))} x ${
            [...h.x].map((x) => x.toString(16))
          }`,
      );
      if (
        st !== RUN_BUDGET || result !== v.want || BigInt(h.fpu.fflags) !== v.wantFlags ||
        h.pcN !== BASE
      ) {
        failures.push(
          `${h === hj ? "translated" : "interpreter"}: ${v.line}` +
            `${v.variant ? " (dyn)" : ""}: got ${got[got.length - 1].slice(0, 60)}`,
        );
      }
    }
    if (got[0] !== got[1]) {
      failures.push(
        `tiers differ on ${v.line}${v.variant ? " (dyn)" : ""}:\n ${got[0]}\n ${got[1]}`,
      );
    }
    if (failures.length >= 20) break;
  }
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
  // Every vector ran in translated code (no slot missed, the page translated once).
  assert.ok(cases.length > 7000, `only ${cases.length} cases`);
  assert.equal(jit.stats.noEntry, 0);
  assert.ok(jit.stats.entries >= cases.length, `entries ${jit.stats.entries}`);
  assert.equal(jit.stats.compiles, 1);
});

/** Edge values: doubles and boxed singles at the limits of the fast paths. */
const EDGE = [
  0n,
  1n << 63n,
  0x3ff0000000000000n,
  0xbff8000000000000n,
  0x7ff0000000000000n,
  0x7ff8000000000000n,
  0x7ff0000000000001n,
  1n,
  0x000fffffffffffffn,
  0x0010000000000000n,
  0x7fefffffffffffffn,
  0x7fe0000000000000n,
  0xffe8000000000000n,
  0x3fb999999999999an,
  0x4330000000000001n,
  0x3ff0000000000001n, // 1 + ulp: products at midpoints
  0x3fefffffffffffffn,
  0x1a70000000000000n, // 2^-600: below the TwoProduct guard
  0x6570000000000000n, // 2^600
  0x41e0000000000000n, // 2^31
  0xc3e0000000000000n, // -2^63
  0xffffffff3fc00000n,
  0xffffffff80000000n,
  0xffffffff7f800001n,
  0xffffffff00000001n,
  0xffffffff7f7fffffn,
  0xffffffff00800000n,
  0xffffffff4b800001n,
  0xffffffff3f800001n,
  0xffffffff7f000000n,
  0x000000003fc00000n,
].map((v) => BigInt.asIntN(64, v));

Deno.test("cpu jit: every FP op on pairs of edge values, all rounding modes, agrees with the interpreter", () => {
  const ret = encI(OP.JALR, 0, 0, 1, 0);
  const words: number[] = [ret];
  const slots: { at: number; rm: number }[] = [];
  const add = (insn: number, rm: number) => {
    slots.push({ at: CODE + 4 * words.length, rm });
    words.push(insn, ret);
  };
  const opFp = (f5: number, fmt: number, rs2: number, f3: number) =>
    ((f5 << 27) | (fmt << 25) | (rs2 << 20) | (1 << 15) | (f3 << 12) | (4 << 7) | 0x53) >>> 0;
  for (const fmt of [0, 1]) {
    for (const rm of [0, 1, 2, 3, 4, 7]) {
      for (const f5 of [0, 1, 2, 3]) add(opFp(f5, fmt, 2, rm), rm);
      add(opFp(0x0b, fmt, 0, rm), rm);
      for (const op of [0x43, 0x47, 0x4b, 0x4f]) {
        add(
          ((3 << 27) | (fmt << 25) | (2 << 20) | (1 << 15) | (rm << 12) | (4 << 7) | op) >>> 0,
          rm,
        );
      }
      for (let k = 0; k < 4; k++) add((opFp(0x18, fmt, k, rm) & ~(31 << 7)) | (5 << 7), rm);
      add(opFp(8, fmt, fmt ? 0 : 1, rm), rm);
    }
    for (let f3 = 0; f3 < 3; f3++) add(opFp(4, fmt, 2, f3), 0);
    for (let f3 = 0; f3 < 2; f3++) add(opFp(5, fmt, 2, f3), 0);
    for (let f3 = 0; f3 < 3; f3++) add((opFp(0x14, fmt, 2, f3) & ~(31 << 7)) | (5 << 7), 0);
    add((opFp(0x1c, fmt, 0, 1) & ~(31 << 7)) | (5 << 7), 0);
  }
  assert.ok(words.length * 4 <= 4096);
  const code = new Uint8Array(new Int32Array(words).buffer);
  const ref = new Hart({ ram: new SharedArrayBuffer(RAM), ramBase: BASE });
  const mem = createJitMemory(RAM);
  const hj = createJitHart(mem, { ramBase: BASE });
  const jit = new Jit(hj, mem, { threshold: 1 });
  for (const h of [ref, hj]) h.ram8.set(code, CODE - BASE);
  const failures: string[] = [];
  let runs = 0;
  for (const s of slots) {
    for (const a of EDGE) {
      for (const b of EDGE) {
        const got: string[] = [];
        for (const h of [ref, hj]) {
          h.fpu.fflags = 0;
          h.fpu.frm = s.rm === 7 ? 0 : 1; // the dynamic slots run in RNE (the fast paths)
          h.fpu.bits[1] = a;
          h.fpu.bits[2] = b;
          h.fpu.bits[3] = a ^ b;
          h.fpu.bits[4] = 0n;
          h.x[5] = 0n;
          h.x[1] = BigInt(BASE);
          h.mstatus = (h.mstatus & ~(3 << 13)) | FS_INITIAL;
          h.pc = BigInt(s.at);
          const st = h === hj ? jit.run(2) : h.run(2);
          got.push(
            `${st} pc ${h.pcN} f4 ${h.fpu.bits[4]} x5 ${h.x[5]} flags ${h.fpu.fflags} ` +
              `FS ${(h.mstatus >>> 13) & 3}`,
          );
        }
        runs++;
        if (got[0] !== got[1]) {
          const w = words[(s.at - CODE) / 4] >>> 0;
          failures.push(
            `insn ${w.toString(16)} a ${a.toString(16)} b ${b.toString(16)}: ` +
              `interpreter ${got[0]}, translated ${got[1]}`,
          );
        }
      }
      if (failures.length >= 10) break;
    }
  }
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${runs} differ`);
  assert.equal(jit.stats.noEntry, 0);
  assert.ok(jit.stats.entries >= runs, `entries ${jit.stats.entries}`);
});
