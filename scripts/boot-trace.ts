// A debugging tool: boot a kernel on the hart in this one thread — no
// workers, no devices, only the SBI console and timer — and print the boot
// log. On a stop (instruction budget, a trap into M-mode, a stuck wfi) it
// prints the last PCs symbolized with System.map, for comparing against
// QEMU's `-d in_asm` to find the first divergence.
// Usage: deno run -A scripts/boot-trace.ts [--max=<M instructions>] [--ring=<n>]
//        [--kernel=guest/Image] [--initrd=guest/initramfs.cpio] [--map=guest/System.map]
//        [--cmdline="earlycon=sbi console=hvc0"] [--profile] [--jit=on|off]
//        [--mmu=sv39|sv48|sv57]
// --profile samples the pc every 997 instructions and prints the hottest
// kernel functions (where boot time goes). --jit=on runs the boot on the
// translator (cpu/jit/, as the cpu actor does; default off) and prints its stats.
import { parseArgs } from "node:util";
import { Hart, RUN_STOP, RUN_WFI } from "../cpu/hart.ts";
import { createJitHart, createJitMemory, Jit } from "../cpu/jit/tier.ts";
import { warmUpJit } from "../cpu/warmup.ts";
import { buildMachineFdt } from "../launcher/devicetree.ts";
import { RAM_BASE } from "../machine/memmap.ts";
import { createSbi } from "../actors/cpu/sbi.ts";
import { setupDirectBoot } from "../actors/cpu/cpu_actor.ts";
import { SymbolMap } from "../launcher/symbols.ts";

const { values } = parseArgs({
  options: {
    max: { type: "string", default: "200" },
    ring: { type: "string", default: "64" },
    kernel: { type: "string", default: "guest/Image" },
    initrd: { type: "string", default: "guest/initramfs.cpio" },
    map: { type: "string", default: "guest/System.map" },
    cmdline: { type: "string", default: "earlycon=sbi console=hvc0" },
    mem: { type: "string", default: "128" },
    profile: { type: "boolean", default: false },
    jit: { type: "string", default: "off" },
    mmu: { type: "string", default: "sv48" },
    "jit-threshold": { type: "string" },
    "jit-chunk": { type: "string" },
  },
});

const mmu = values.mmu!;
if (mmu !== "sv39" && mmu !== "sv48" && mmu !== "sv57") {
  throw new Error(`--mmu=${mmu}: want sv39, sv48 or sv57`);
}
const memBytes = Number(values.mem) * 1024 * 1024;
const jitMem = values.jit === "on" ? createJitMemory(memBytes) : null;
const ram = jitMem ? jitMem.buffer : new SharedArrayBuffer(memBytes);
const ram8 = new Uint8Array(ram);
const kernel = Deno.readFileSync(values.kernel!);
ram8.set(kernel, 0x200000);
const initrd = values.initrd ? Deno.readFileSync(values.initrd) : null;
const pageDown = (n: number) => n - (n % 4096);
const initrdStart = initrd ? RAM_BASE + pageDown(memBytes - initrd.length) : 0;
if (initrd) ram8.set(initrd, initrdStart - RAM_BASE);
const fdt = buildMachineFdt({
  ramBytes: memBytes,
  bootargs: values.cmdline!,
  initrd: initrd ? { start: initrdStart, end: initrdStart + initrd.length } : undefined,
  virtioSlots: [],
  mmu,
});
const fdtAddr = pageDown((initrd ? initrdStart : RAM_BASE + memBytes) - fdt.length - 0x1000);
ram8.set(fdt, fdtAddr - RAM_BASE);

let deadline = -1n;
let time = 0n;
warmUpJit();
const modes = { sv48: mmu !== "sv39", sv57: mmu === "sv57" };
const hart = jitMem
  ? createJitHart(jitMem, { ramBase: RAM_BASE, readTime: () => time, ...modes })
  : new Hart({ ram, ramBase: RAM_BASE, readTime: () => time, ...modes });
const num = (s: string | undefined) => s === undefined ? undefined : Number(s);
const jit = jitMem
  ? new Jit(hart, jitMem, {
    threshold: num(values["jit-threshold"]),
    chunk: num(values["jit-chunk"]),
  })
  : null;
hart.enablePcRing(Number(values.ring));
// The host's own SBI (actors/cpu/sbi.ts), with the timer kept here: time advances
// with the instruction count, so a run is repeatable.
hart.onEcall = createSbi({
  consoleWrite: (bytes) => void Deno.stdout.writeSync(bytes),
  consoleRead: () => new Uint8Array(0),
  setTimer(d) {
    deadline = d;
    hart.externalMip &= ~(1 << 5);
  },
  reset(type) {
    console.error(`\n[boot-trace] SBI reset: ${type}`);
    hart.stopRequested = true;
  },
  readPhys(addr, len) {
    const buf = new Uint8Array(len);
    return hart.readPhys(addr, buf) ? buf : null;
  },
  writePhys: (addr, data) => hart.writePhys(addr, data),
  sendIpi: () => hart.setMipSoftware(1 << 1, true),
});
setupDirectBoot(hart, { entry: RAM_BASE + 0x200000, hartId: 0, fdtAddr });
// Linux sets its timer through Sstc's stimecmp (setupDirectBoot enables it), not set_timer.
hart.onStimecmp = (d) => {
  deadline = d >= 1n << 63n ? -1n : d;
  hart.externalMip &= ~(1 << 5);
};

const max = Number(values.max) * 1e6;
const t0 = performance.now();
let why = "instruction budget used";
const samples = new Map<number, number>();
const step = values.profile ? 997 : 10_000;
while (hart.instretN < max) {
  const r = jit ? jit.run(step) : hart.run(step);
  if (values.profile) samples.set(hart.pcN, (samples.get(hart.pcN) ?? 0) + 1);
  time = BigInt(Math.floor(hart.instretN / 10)); // 100 MIPS-equivalent clock
  if (deadline >= 0n && time >= deadline) hart.externalMip |= 1 << 5;
  if (r === RUN_STOP) {
    why = "stop requested";
    break;
  }
  if (hart.priv === 3) {
    why = `trap into M-mode: mcause ${hart.csrRead(0x342)} mepc 0x${
      hart.csrRead(0x341).toString(16)
    } mtval 0x${hart.csrRead(0x343).toString(16)}`;
    break;
  }
  if (r === RUN_WFI) {
    if (deadline < 0n) {
      why = "wfi with no timer";
      break;
    }
    time = deadline;
    hart.externalMip |= 1 << 5;
  }
}
const secs = (performance.now() - t0) / 1000;
if (jit) console.error(`\n[boot-trace] translator ${JSON.stringify(jit.stats)}`);
console.error(
  `\n[boot-trace] ${why}: ${hart.instretN} instructions in ${secs.toFixed(2)} s (${
    (hart.instretN / secs / 1e6).toFixed(1)
  } MIPS), pc 0x${hart.pc.toString(16)} priv ${hart.priv}`,
);
console.error(
  `[boot-trace] scause ${hart.csrRead(0x142)} sepc 0x${hart.csrRead(0x141).toString(16)} stval 0x${
    hart.csrRead(0x143).toString(16)
  }`,
);

// Symbolize the recent PCs with System.map.
const syms = SymbolMap.load(values.map!);
const sym = (pc: bigint) => syms?.describe(pc) ?? "?";
for (const pc of hart.recentPcs()) console.error(`  0x${pc.toString(16)} ${sym(pc)}`);

if (values.profile && syms) {
  const rows = syms.profile([...samples].map(([pc, n]) => [BigInt.asUintN(64, BigInt(pc)), n]));
  console.error(`[boot-trace] profile:`);
  for (const r of rows) console.error(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
}
