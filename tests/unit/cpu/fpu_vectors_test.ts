// Runs every vector of tests/cpu_fpu_vectors/vectors.txt (ground truth from
// qemu-riscv64, see gen.sh there) through Fpu.execute and checks the result
// bits (NaN-boxing included) and the exact fflags. Each vector is run with the
// rounding mode both static (rm field) and dynamic (rm=7, frm), and with the
// destination aliasing a source. FPU_VECTORS=<file> runs another vector file.

import { fileURLToPath } from "node:url";
import assert from "../../../testing/assert.ts";
import { Fpu } from "../../../cpu/fpu.ts";
import { fpOp } from "../../cpu_fpu_vectors/encode.ts";

const file = Deno.env.get("FPU_VECTORS") ??
  fileURLToPath(new URL("../../cpu_fpu_vectors/vectors.txt", import.meta.url));

Deno.test("fpu: qemu-riscv64 vectors, every F/D op, all rounding modes", () => {
  const lines = Deno.readTextFileSync(file).split("\n");
  const fpu = new Fpu();
  const x = new BigInt64Array(32);
  const failures: string[] = [];
  let count = 0;
  for (const line of lines) {
    if (line === "" || line.startsWith("#")) continue;
    const [name, rmText, ...hex] = line.split(" ");
    const op = fpOp(name);
    const rm = Number(rmText);
    const [a, b, c, want, wantFlags] = hex.map((h) => BigInt.asIntN(64, BigInt("0x" + h)));
    for (const variant of [0, 1]) {
      fpu.bits.fill(0n);
      x.fill(0n);
      fpu.fflags = 0;
      fpu.frm = variant ? rm : 0;
      fpu.bits[1] = a;
      fpu.bits[2] = b;
      fpu.bits[3] = c;
      x[6] = a;
      const fpDest = op.kind === "ff" || op.kind === "f" || op.kind === "fff" || op.kind === "x_f";
      // variant 1: dynamic rm, and the FP destination overwrites its first source.
      const rd = fpDest ? (variant ? 1 : 4) : 5;
      const rs1 = op.kind === "x_f" ? 6 : 1;
      const insn = op.encode(rd, rs1, 2, 3, variant ? 7 : rm);
      const ret = fpu.execute(insn, x);
      const got = fpDest ? fpu.bits[rd] : x[rd];
      count++;
      if (ret !== (fpDest ? 0 : 1) || got !== want || BigInt(fpu.fflags) !== wantFlags) {
        failures.push(
          `${line}${variant ? " (dyn)" : ""}: got ret ${ret} ${
            BigInt.asUintN(64, got).toString(16)
          } flags ${fpu.fflags.toString(16)}`,
        );
      }
    }
  }
  assert.ok(count > 1000, `only ${count} vectors in ${file}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${count} vectors fail`);
});
