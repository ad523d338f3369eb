// The target description GDB reads with qXfer:features:read:target.xml: an
// rv64 hart with the four features GDB's riscv target knows (the same names
// and register numbers as gdb/features/riscv/64bit-{cpu,fpu,csr}.xml and
// QEMU's generated CSR list): x0..x31 and pc, f0..f31 with fflags/frm/fcsr,
// every CSR the hart has (cpu/csr.ts), and the virtual "priv" register.
// Read next: launcher/gdb/server.ts.

import { CSR } from "../../cpu/csr.ts";
import { GDB_REG } from "../../cpu/debug.ts";

// deno-fmt-ignore
const XNAMES = [
  "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
  "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

// deno-fmt-ignore
const FNAMES = [
  "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3",
  "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
  "ft8", "ft9", "ft10", "ft11",
];

/** The CSRs in the csr feature: the hart's, less the three the fpu feature carries. */
const FP_CSRS = new Set<number>([CSR.FFLAGS, CSR.FRM, CSR.FCSR]);
const CSRS: [string, number][] = [
  ...Object.entries(CSR).filter(([, n]) =>
    !FP_CSRS.has(n) && n !== CSR.PMPCFG0 &&
    n !== CSR.PMPADDR0
  ),
  // The even pmpcfg registers (rv64 has no odd ones) and every pmpaddr.
  ...Array.from(
    { length: 8 },
    (_, i) => [`PMPCFG${2 * i}`, CSR.PMPCFG0 + 2 * i] as [string, number],
  ),
  ...Array.from({ length: 64 }, (_, i) => [`PMPADDR${i}`, CSR.PMPADDR0 + i] as [string, number]),
];

/** Bytes of register `n` (GDB numbering) in `g`/`p` packets; 0 = no such register. */
export function registerBytes(n: number): number {
  if (n >= 0 && n <= GDB_REG.PC) return 8;
  if (n >= GDB_REG.F0 && n < GDB_REG.F0 + 32) return 8;
  const csr = n - GDB_REG.FIRST_CSR;
  if (FP_CSRS.has(csr)) return 4;
  if (n === GDB_REG.PRIV) return 8;
  return CSRS.some(([, c]) => c === csr) ? 8 : 0;
}

/** target.xml, built once. */
export const TARGET_XML = (() => {
  const reg = (name: string, bits: number, type: string, regnum: number, group = "") =>
    `<reg name="${name}" bitsize="${bits}" type="${type}" regnum="${regnum}"${
      group ? ` group="${group}"` : ""
    }/>`;
  const cpu = [
    ...XNAMES.map((n, i) =>
      reg(n, 64, i === 1 ? "code_ptr" : i === 2 || i === 8 ? "data_ptr" : "int", i)
    ),
    reg("pc", 64, "code_ptr", GDB_REG.PC),
  ];
  const fpu = [
    ...FNAMES.map((n, i) => reg(n, 64, "riscv_double", GDB_REG.F0 + i)),
    reg("fflags", 32, "int", GDB_REG.FIRST_CSR + CSR.FFLAGS, "float"),
    reg("frm", 32, "int", GDB_REG.FIRST_CSR + CSR.FRM, "float"),
    reg("fcsr", 32, "int", GDB_REG.FIRST_CSR + CSR.FCSR, "float"),
  ];
  const csr = CSRS.map(([name, n]) =>
    reg(name.toLowerCase(), 64, "int", GDB_REG.FIRST_CSR + n, "system")
  );
  return `<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>riscv:rv64</architecture>
<feature name="org.gnu.gdb.riscv.cpu">
${cpu.join("\n")}
</feature>
<feature name="org.gnu.gdb.riscv.fpu">
<union id="riscv_double"><field name="float" type="ieee_single"/><field name="double" type="ieee_double"/></union>
${fpu.join("\n")}
</feature>
<feature name="org.gnu.gdb.riscv.csr">
${csr.join("\n")}
</feature>
<feature name="org.gnu.gdb.riscv.virtual">
${reg("priv", 64, "int", GDB_REG.PRIV, "system")}
</feature>
</target>
`;
})();
