// The cpu actor's protocol: the launcher starts it with guest RAM, the control
// block, the PLIC state and one transport state per virtio slot; it reports
// the guest's fate once, as an event. While the guest runs the cpu never
// returns to its event loop, so everything it must react to is a word in the
// control block (machine/control.ts), never a message. Read next: actors/cpu/cpu_actor.ts.

import { defineRole } from "../runtime/protocol.ts";
import type { DeterministicConfig, DeterministicState } from "./deterministic.ts";
import type { HartState } from "../../cpu/hart_state.ts";
import type { FaultConfig, FaultEvent } from "../../faults/plan.ts";

export interface CpuConfig {
  /**
   * Deterministic mode (--deterministic, --record, --replay): time from the
   * instruction count, every device waited for (actors/cpu/deterministic.ts).
   * Its buffers: consoleInput (the console's input ring, written only by the
   * cpu); input is then the terminal's ring the cpu takes typed bytes from.
   */
  deterministic?: DeterministicConfig;
  /** Deterministic mode: the virtio slot of the console the cpu feeds input to. */
  consoleSlot?: number;
  /**
   * Deterministic mode: the networks' virtio slots; buffers netFromHost<n>
   * and netToGuest<n> carry each one's frames (actors/net/protocol.ts).
   */
  netSlots?: number[];
  ramBase: number;
  /** Bytes of `ram` that are guest RAM; with `memory`, the hart's state follows them. */
  ramBytes: number;
  /**
   * The shared WebAssembly.Memory whose buffer is `ram` (cpu/jit/tier.ts
   * createJitMemory): the hart keeps its registers and TLBs in it, and the
   * translator runs on it. null: a plain RAM buffer, the interpreter only.
   */
  memory: WebAssembly.Memory | null;
  /** Run hot code through the translator (--jit, default on); needs `memory`. */
  jit: boolean;
  /** The widest satp mode the hart accepts (--mmu; default sv48). */
  mmu?: "sv39" | "sv48" | "sv57";
  /** Virtio slot numbers in use; slot n's transport state is buffer `slot<n>`. */
  slots: number[];
  entry: number;
  fdtAddr: number;
  /** This actor's hart; hart 0 boots the kernel, the others wait for SBI HSM hart_start. */
  hartId: number;
  /** The machine's harts (--smp, default 1): one cpu actor each (docs/smp.md). */
  harts?: number;
  verbose: boolean;
  /** Keep a ring of recent PCs and report it with a crash. */
  tracePcs: boolean;
  /** Sample the pc every 997 instructions and report the samples with the fate. */
  profile?: boolean;
  /**
   * A firmware boot (--bios, docs/firmware.md): the hart starts in M-mode at
   * `entry` (the firmware) with a0 = hartid, a1 = fdtAddr, a2 = fwDynamicInfo;
   * no host SBI (the firmware serves it); a CLINT and the test/syscon device
   * join the bus. Absent: the direct S-mode boot.
   */
  firmware?: { fwDynamicInfo: number };
  /** An ns16550a UART at UART_BASE (the launcher always adds it, as QEMU virt has one). */
  uart?: boolean;
  /**
   * Strings to watch for on the SBI console and the UART (actors/output.ts);
   * each sighting is reported once as "seen", as the console actor does for hvc0.
   */
  watch?: string[];
  /**
   * End the run as CRASHED when `text` appears on the SBI console or the UART,
   * with `reason` ("{where}" in it names which). The launcher's panic policy
   * (launcher/fate.ts): the end of a panic report hvc0 never shows (an early
   * panic; with panic=0 Linux then loops forever with interrupts off).
   */
  stopOn?: { text: string; reason: string };
  /**
   * A gdbstub is attached through buffer `debug` (actors/cpu/debug_channel.ts);
   * `wait`: halt before the first instruction until the debugger resumes.
   */
  gdb?: { wait: boolean };
  /**
   * Spike's HTIF (devices/htif.ts): the physical addresses of the ELF's
   * `tohost`/`fromhost` words, polled after every batch. An exit through it
   * ends the run with the program's status.
   */
  htif?: { tohost: number; fromhost: number };
  /**
   * Start from a machine snapshot (launcher/snapshot.ts) instead of booting:
   * the hart's saved state (cpu/hart_state.ts), and the guest's time when it
   * was taken (ticks, decimal), from which the guest's clock continues; a
   * snapshot of a deterministic run adds that mode's state (docs/replay.md).
   */
  restore?: { hart: HartState; time: string; deterministic?: DeterministicState };
  /** The fault plan's "ipi" rules (faults/layers/ipi.ts); none without --faults. */
  faults?: FaultConfig;
}

export interface CpuFate {
  kind: "fate";
  /** A value of FATE in machine/control.ts. */
  fate: number;
  /** What happened, in words (the lguest `lg->dead` string). */
  reason: string;
  instret: number;
  /** The exit status the run should end with, when the guest chose one (an HTIF exit). */
  exitCode?: number;
  /** Recent PCs, oldest first, hex (when tracePcs was set and the guest died). */
  pcs?: string[];
  /** pc samples as [pc in hex, count] (when profiling). */
  profile?: [string, number][];
}

export interface CpuProtocol {
  request: never;
  reply: Record<never, never>;
  cast: never;
  event:
    | CpuFate
    | { kind: "log"; text: string }
    | { kind: "seen"; text: string }
    | FaultEvent
    /** --snapshot-at's count reached: the hart halts on the pause channel for the snapshot. */
    | { kind: "snapshot-point"; instret: number };
  config: CpuConfig;
  /**
   * ram, control, plic, dmaDirty (the pages devices wrote, one bit each:
   * devices/virtio/ram.ts), slot<n> for each slot in config.slots, input (the
   * terminal's byte ring, read by the SBI console and the UART while the guest
   * polls them: actors/cpu/polled_input.ts), and output (a byte ring for the
   * guest's output from a library machine; absent, it goes to stdout), and
   * debug (the gdbstub's channel, with --gdb: actors/cpu/debug_channel.ts),
   * and pause (the same kind of channel for the control socket's pause and
   * snapshot: launcher/control.ts).
   */
  buffers: Record<string, SharedArrayBuffer>;
}

export const CPU = defineRole<CpuProtocol>("cpu", 1);
