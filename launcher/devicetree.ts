// The device tree of our machine, laid out like QEMU virt's: RAM, the harts
// (--smp=N) and their interrupt controllers, the PLIC, the virtio-mmio slots in use,
// and on request the UART, the CLINT and the test/syscon device (firmware
// boots). The launcher builds it once the loader knows where the initrd goes
// and hands it to the kernel in a1. The encoding is lib/fdt.ts's; the
// addresses and interrupt numbers are machine/memmap.ts's.
// Read next: docs/machine.md (the tree node by node), then launcher/terminal.ts.

import { FdtWriter } from "../lib/fdt.ts";
import {
  CLINT_BASE,
  CLINT_SIZE,
  MAX_HARTS,
  PLIC_BASE,
  PLIC_NDEV,
  PLIC_SIZE,
  RAM_BASE,
  TIMEBASE_HZ,
  UART_BASE,
  UART_IRQ,
  VIRTIO_SLOTS,
  VIRTIO_STRIDE,
  virtioSlotBase,
  virtioSlotIrq,
} from "../machine/memmap.ts";

/** What `buildMachineFdt` needs to know about the machine being booted. */
export interface MachineFdtConfig {
  /** Guest RAM length in bytes (RAM starts at RAM_BASE). */
  ramBytes: number;
  /** The kernel command line (`/chosen/bootargs`). */
  bootargs: string;
  /** The initrd's physical range [start, end), when there is one. */
  initrd?: { start: number; end: number };
  /** Populated virtio-mmio slots (0..VIRTIO_SLOTS-1); each gets a node. */
  virtioSlots: number[];
  /** Harts (cpu nodes), 1..MAX_HARTS (default 1). */
  harts?: number;
  /** The MMU mode the cpu node advertises (default sv48; the hart's --mmu). */
  mmu?: "sv39" | "sv48" | "sv57";
  /** Add an ns16550a UART node (and point stdout-path at it). */
  uart?: boolean;
  /** Add a CLINT node (for M-mode firmware boots). */
  clint?: boolean;
  /**
   * Add QEMU virt's test/syscon device at 0x100000 with syscon-poweroff and
   * syscon-reboot nodes (firmware boots: OpenSBI's reset driver; devices/syscon.ts).
   */
  syscon?: boolean;
  /** Override the ISA description (default: RV64GC as below). */
  isa?: { string: string; base: string; extensions: string[] };
  /**
   * `/chosen/rng-seed`: seeds the kernel's CRNG at once (as QEMU does). Default
   * 32 random bytes; pass fixed bytes for a reproducible run, or an empty array for none.
   */
  rngSeed?: Uint8Array;
  /** Extra memory reservation block entries. */
  reservations?: { address: number; size: number }[];
  /** Free bytes at the end of the blob (default 0). */
  padBytes?: number;
}

/**
 * What the hart implements (docs/cpu.md), named as QEMU 8.2+ names the same
 * extensions (QEMU 7.2 predates the names zicntr and zihpm and leaves them
 * out): the counters (zicntr: cycle, time, instret; zihpm: hpmcounter3..31,
 * which read 0), Sstc (stimecmp), and Sv48 as the widest paging mode.
 */
export const DEFAULT_ISA = {
  string: "rv64imafdc_zicntr_zicsr_zifencei_zihpm_sstc",
  base: "rv64i",
  extensions: ["i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei", "zihpm", "sstc"],
};

const hex = (n: number) => n.toString(16);

/** The device tree of our machine, laid out like QEMU virt's (compare `docs/machine.md`). */
export function buildMachineFdt(cfg: MachineFdtConfig): Uint8Array {
  if (!Number.isSafeInteger(cfg.ramBytes) || cfg.ramBytes <= 0) {
    throw new Error(`fdt: bad RAM size ${cfg.ramBytes}`);
  }
  for (const s of cfg.virtioSlots) {
    if (!Number.isInteger(s) || s < 0 || s >= VIRTIO_SLOTS) {
      throw new Error(`fdt: virtio slot ${s} out of range 0..${VIRTIO_SLOTS - 1}`);
    }
  }
  if (new Set(cfg.virtioSlots).size !== cfg.virtioSlots.length) {
    throw new Error(`fdt: virtio slot listed twice in ${cfg.virtioSlots.join(",")}`);
  }
  if (cfg.initrd && !(cfg.initrd.start >= 0 && cfg.initrd.end >= cfg.initrd.start)) {
    throw new Error(`fdt: bad initrd range ${cfg.initrd.start}..${cfg.initrd.end}`);
  }
  const harts = cfg.harts ?? 1;
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) {
    throw new Error(`fdt: ${harts} harts (1..${MAX_HARTS})`);
  }
  const isa = cfg.isa ?? DEFAULT_ISA;
  const t = new FdtWriter();
  const root = t.root;
  root.u32("#address-cells", 2).u32("#size-cells", 2);
  root.string("compatible", "riscv-virtio").string("model", "riscv-virtio,actorvm");

  const chosen = root.child("chosen");
  chosen.string("bootargs", cfg.bootargs);
  if (cfg.initrd) {
    chosen.u64("linux,initrd-start", cfg.initrd.start).u64("linux,initrd-end", cfg.initrd.end);
  }
  if (cfg.uart) chosen.string("stdout-path", `/soc/serial@${hex(UART_BASE)}`);
  const seed = cfg.rngSeed ?? crypto.getRandomValues(new Uint8Array(32));
  if (seed.length) chosen.bytes("rng-seed", seed);

  root.child(`memory@${hex(RAM_BASE)}`)
    .string("device_type", "memory")
    .u64("reg", RAM_BASE, cfg.ramBytes);

  const cpus = root.child("cpus");
  cpus.u32("#address-cells", 1).u32("#size-cells", 0).u32("timebase-frequency", TIMEBASE_HZ);
  // One node per hart, as QEMU virt: cpu@h with reg h, its own interrupt
  // controller, and a core in the one cluster of the cpu-map.
  const intcPhs: number[] = [];
  const cpuPhs: number[] = [];
  for (let h = 0; h < harts; h++) {
    const cpu = cpus.child(`cpu@${h}`);
    cpuPhs.push(cpu.phandle());
    cpu.string("device_type", "cpu").u32("reg", h).string("status", "okay")
      .string("compatible", "riscv")
      .string("riscv,isa", isa.string)
      .string("riscv,isa-base", isa.base)
      .strings("riscv,isa-extensions", ...isa.extensions)
      .string("mmu-type", `riscv,${cfg.mmu ?? "sv48"}`);
    const intc = cpu.child("interrupt-controller");
    // #address-cells 0 keeps dtc's interrupt_provider check quiet (newer QEMUs add it too).
    intc.u32("#address-cells", 0).u32("#interrupt-cells", 1).empty("interrupt-controller")
      .string("compatible", "riscv,cpu-intc");
    intcPhs.push(intc.phandle());
  }
  const cluster = cpus.child("cpu-map").child("cluster0");
  for (let h = 0; h < harts; h++) cluster.child(`core${h}`).u32("cpu", cpuPhs[h]);
  // interrupts-extended: (intc, irq) of every hart in turn.
  const perHart = (...irqs: number[]) => intcPhs.flatMap((ph) => irqs.flatMap((i) => [ph, i]));

  const soc = root.child("soc");
  soc.u32("#address-cells", 2).u32("#size-cells", 2).string("compatible", "simple-bus")
    .empty("ranges");

  if (cfg.clint) {
    // Software (3 = MSIP) and timer (7 = MTIP) interrupts of each hart.
    soc.child(`clint@${hex(CLINT_BASE)}`)
      .strings("compatible", "sifive,clint0", "riscv,clint0")
      .u64("reg", CLINT_BASE, CLINT_SIZE)
      .u32("interrupts-extended", ...perHart(3, 7));
  }

  if (cfg.syscon) {
    const test = soc.child("test@100000");
    const testPh = test.phandle();
    test.strings("compatible", "sifive,test1", "sifive,test0", "syscon")
      .u64("reg", 0x100000, 0x1000);
    root.child("poweroff").string("compatible", "syscon-poweroff").u32("regmap", testPh)
      .u32("offset", 0).u32("value", 0x5555);
    root.child("reboot").string("compatible", "syscon-reboot").u32("regmap", testPh)
      .u32("offset", 0).u32("value", 0x7777);
  }

  const plic = soc.child(`plic@${hex(PLIC_BASE)}`);
  const plicPh = plic.phandle();
  // Context 2h is hart h's M-mode (external irq 11), context 2h+1 its S-mode (9).
  plic.u32("#interrupt-cells", 1).u32("#address-cells", 0)
    .strings("compatible", "sifive,plic-1.0.0", "riscv,plic0")
    .empty("interrupt-controller")
    .u32("interrupts-extended", ...perHart(11, 9))
    .u64("reg", PLIC_BASE, PLIC_SIZE)
    .u32("riscv,ndev", PLIC_NDEV);

  if (cfg.uart) {
    soc.child(`serial@${hex(UART_BASE)}`)
      .string("compatible", "ns16550a")
      .u64("reg", UART_BASE, 0x100)
      .u32("clock-frequency", 3_686_400)
      .u32("interrupts", UART_IRQ)
      .u32("interrupt-parent", plicPh);
  }

  // Ascending slot order: Linux probes in tree order, so slot 0 is found first.
  for (const s of [...cfg.virtioSlots].sort((a, b) => a - b)) {
    soc.child(`virtio_mmio@${hex(virtioSlotBase(s))}`)
      .string("compatible", "virtio,mmio")
      .u64("reg", virtioSlotBase(s), VIRTIO_STRIDE)
      .u32("interrupts", virtioSlotIrq(s))
      .u32("interrupt-parent", plicPh);
  }

  for (const r of cfg.reservations ?? []) t.reserve(r.address, r.size);
  return t.toBytes(cfg.padBytes ?? 0);
}
