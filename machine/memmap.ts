// The machine's physical memory map, laid out like QEMU's `virt` machine so
// that stock kernels, U-Boot and OpenSBI find what they expect. The launcher
// builds the device tree from these numbers; the cpu actor routes MMIO by them.
// Read next: machine/control.ts (the shared control block every actor sees).

/** Guest RAM starts here; its length is `<mem-in-mb>` MiB. */
export const RAM_BASE = 0x8000_0000;
/** Where a RISC-V `Image` is loaded (RAM_BASE + its 2 MiB text_offset). */
export const KERNEL_BASE = 0x8020_0000;

/** CLINT (only for M-mode firmware boots). */
export const CLINT_BASE = 0x0200_0000;
export const CLINT_SIZE = 0x1_0000;

/** PLIC, `riscv,plic0`. */
export const PLIC_BASE = 0x0c00_0000;
export const PLIC_SIZE = 0x60_0000;
/** Interrupt sources 1..PLIC_NDEV (source 0 means "none"). */
export const PLIC_NDEV = 31;
/** The most harts a machine has (`--smp=N`, 1..MAX_HARTS): docs/smp.md. */
export const MAX_HARTS = 8;
/** PLIC contexts: 2h = hart h M-mode, 2h+1 = hart h S-mode, for every hart a machine may have. */
export const PLIC_CONTEXTS = 2 * MAX_HARTS;

/** Optional ns16550a UART. */
export const UART_BASE = 0x1000_0000;
export const UART_IRQ = 10;

/** virtio-mmio slots 0..VIRTIO_SLOTS-1, each one page; slot n raises irq 1+n. */
export const VIRTIO_BASE = 0x1000_1000;
export const VIRTIO_STRIDE = 0x1000;
export const VIRTIO_SLOTS = 8;
export const virtioSlotBase = (n: number): number => VIRTIO_BASE + n * VIRTIO_STRIDE;
export const virtioSlotIrq = (n: number): number => 1 + n;

/**
 * The timebase the hart's `time` CSR, SBI set_timer, the CLINT and the waker
 * count in (10 MHz, as QEMU virt); the device tree's timebase-frequency. Every
 * other tick rate derives from this one number.
 */
export const TIMEBASE_HZ = 10_000_000;
/** Timebase ticks per millisecond. */
export const TICKS_PER_MS = TIMEBASE_HZ / 1000;
