// The cpu actor: runs one hart until the guest powers off, reboots, dies, or the
// launcher asks it to stop — lguest's "read /dev/lguest to run the Guest". With
// --smp=N there are N of these, one worker per hart on the one guest RAM: hart
// 0 boots the kernel, the others wait for SBI HSM hart_start (actors/cpu/smp.ts,
// docs/smp.md). It
// plugs the machine into the hart: MMIO to the PLIC and the virtio register
// pages (executed here, synchronously, on their shared state), and the SBI
// served by the host. Between instruction batches it takes the interrupt lines
// from the control block; in `wfi` it sleeps with Atomics.wait on CTL.WAKE.
// Each batch runs on the translator (cpu/jit/, tier 1) or the interpreter
// (tier 0): `useJit` below is the one place that chooses.
// The worker file (actors/cpu/cpu.worker.ts) only wires cpuHandlers() to its port.
// Read next: cpu/hart.ts (the hart), actors/cpu/sbi.ts (the hypercalls).

import type { ActorHandlers } from "../runtime/protocol.ts";
import { shareStdoutState } from "../output.ts";
import { Hart, RUN_BREAK, RUN_STOP, RUN_WFI } from "../../cpu/hart.ts";
import { createJitHart, Jit, openJitMemory } from "../../cpu/jit/tier.ts";
import { warmUpJitOrWarn } from "../../cpu/warmup.ts";
import type { Bus } from "../../cpu/bus.ts";
import { createSbi, DBCN_CHUNK, type SbiHost } from "./sbi.ts";
import { PolledInput } from "./polled_input.ts";
import { DeterministicCpu } from "./deterministic.ts";
import { CpuDebugger } from "./debugger.ts";
import { loadHart } from "../../cpu/hart_state.ts";
import { STOP } from "./debug_channel.ts";
import { PlicRegisters } from "../../devices/plic.ts";
import { OutputSink, OutputWatch } from "../output.ts";
import { MmioTransport, REG } from "../../devices/virtio/mmio.ts";
import { DEVICE_ID } from "../../devices/virtio/constants.ts";
import { Clint } from "../../devices/clint.ts";
import { Uart } from "../../devices/uart.ts";
import { Htif } from "../../devices/htif.ts";
import { Syscon, SYSCON_BASE, SYSCON_SIZE, type SysconAction } from "../../devices/syscon.ts";
import {
  CLINT_BASE,
  CLINT_SIZE,
  PLIC_BASE,
  PLIC_SIZE,
  TICKS_PER_MS,
  UART_BASE,
  UART_IRQ,
  VIRTIO_BASE,
  VIRTIO_SLOTS,
  VIRTIO_STRIDE,
  virtioSlotIrq,
} from "../../machine/memmap.ts";
import {
  armTimer,
  beatWord,
  cpuSleep,
  CTL,
  CTL64,
  FATE,
  guestTimeTicks,
  irqLine,
  MIP,
  mipWord,
  openControlBlock,
  publishInstret,
  requestStop,
  setClockSkew,
  setFate,
  setIrqLine,
  timerClockMoved,
  wakeWord,
} from "../../machine/control.ts";
import { HartPeers } from "./smp.ts";
import { armFaults } from "../../faults/arm.ts";
import { ipiFaultHook } from "../../faults/layers/ipi.ts";
import type { CpuConfig, CpuFate, CpuProtocol } from "./protocol.ts";
import { traceNow, tracer } from "../../lib/trace.ts";
import { HartTrace } from "./hart_trace.ts";
import { PLIC_REG } from "../../devices/plic.ts";

/** Instructions per batch: the longest the hart runs without looking at CTL words (~1 ms). */
const BATCH = 40_000;
/**
 * When a page is translated: after JIT_THRESHOLD visits of JIT_CHUNK
 * interpreted instructions starting in it (~4 M instructions). Far later than
 * the user-mode runner's 16 x 16: a kernel's code mostly runs a few times,
 * and each page costs ~15 ms to translate (docs/cpu.md). At 8192 visits of 64
 * a boot to the shell translated ~16 pages and was slower than interpreting;
 * at ~4 M it translates none, while long CPU-bound guest work still gets its
 * hot pages translated within ~50 ms of interpretation. Chunks of 1024, not
 * 64: the driver's round trip per chunk cost a cold kernel path (a boot, the
 * network stack) up to a third of its speed (net bench host -> guest 5.4 vs
 * 8.0 MB/s, boot 1,400 vs 1,375 ms against 1,176 and 1,423 interpreted).
 */
const JIT_THRESHOLD = 4096;
const JIT_CHUNK = 1024;
/**
 * hvc0's transmit queue (devices/console.ts CONSOLE_TX: not imported, which
 * would load the virtio device's modules into this worker before its first
 * instruction), and how long the hart waits for the console actor to take a buffer.
 */
const CONSOLE_TXQ = 1;
const CONSOLE_TX_WAIT_MS = 5;
const CSR_MIE = 0x304;
const CSR_MCAUSE = 0x342;
const CSR_MEPC = 0x341;
const CSR_MTVAL = 0x343;
const CSR_MEDELEG = 0x302;
const CSR_MIDELEG = 0x303;
const CSR_MCOUNTEREN = 0x306;
const CSR_STVEC = 0x105;
const CSR_MTVEC = 0x305;
const CSR_SCOUNTEREN = 0x106;
const CSR_MSTATUS = 0x300;
const CSR_MENVCFG = 0x30a;
const CSR_TIME = 0xc01;

const hex = (n: number | bigint) => "0x" + BigInt.asUintN(64, BigInt(n)).toString(16);

/**
 * The cpu role's handlers. After the start handshake the hart runs — off the
 * event loop, until the guest's fate — then the fate goes out as an event and
 * the worker is back in its event loop, where a stop request can end it.
 */
export function cpuHandlers(): ActorHandlers<CpuProtocol> {
  return {
    start(ctx) {
      // Let the "ready" reply go out first: runCpu does not return until the guest's fate.
      setTimeout(() => runCpu(ctx.config, ctx.buffers, (m) => ctx.emit(m)), 0);
    },
    request: {},
    cast: {},
  };
}

/** Run the machine's hart to its fate. Returns the fate message (also posted). */
export function runCpu(
  start: CpuConfig,
  buffers: CpuProtocol["buffers"],
  post: (m: CpuProtocol["event"]) => void,
): CpuFate {
  const control = buffers.control;
  const ctl = openControlBlock(control);
  // This hart's words: hart 0 keeps the machine's historical CTL.WAKE/MIP/CPU_BEAT.
  const me = start.hartId;
  const harts = start.harts ?? 1;
  const primary = me === 0;
  const mipW = mipWord(me), wakeW = wakeWord(me), beatW = beatWord(me);
  const ctl64 = new BigInt64Array(control);
  shareStdoutState(control); // a failed stdout is said once, not per writer
  const plic = new PlicRegisters(buffers.plic, control);
  const slots: (MmioTransport | null)[] = new Array(VIRTIO_SLOTS).fill(null);
  // The board's wiring: virtio slot n raises PLIC source 1+n.
  for (const n of start.slots) {
    slots[n] = new MmioTransport(buffers[`slot${n}`], irqLine(ctl, virtioSlotIrq(n)));
  }
  // hvc0's output: Linux's virtio console spins, interrupts off, until the
  // host returns each transmit buffer (one per echoed keystroke), so the hart
  // waits for the console actor instead of running that spin (below).
  const consoleSlot = slots.findIndex((t) => t?.read(REG.DEVICE_ID, 4) === DEVICE_ID.CONSOLE);
  const log = (text: string) => post({ kind: "log", text });
  // The bus and the SBI need the hart, and the hart is built with them.
  // deno-lint-ignore prefer-const
  let hart: Hart;
  // --trace: the hart's spans and the cpu's arrows (actors/cpu/hart_trace.ts); null when off.
  // deno-lint-ignore prefer-const
  let trace: HartTrace | null;
  let fate: number = FATE.RUNNING;
  let reason = "";
  let exitCode: number | undefined;
  /** How the guest set its timers, said with --verbose at the end (Sstc: no SBI calls). */
  const timerCalls = { sbi: 0, stimecmp: 0 };
  const firmware = start.firmware ?? null;
  // The one output watcher (actors/output.ts) on each of the cpu's consoles:
  // the strings the launcher asked to see, and the one that ends the run (the
  // end of a panic that hvc0 never shows; the policy is launcher/fate.ts's).
  const watched = [...(start.watch ?? []), ...(start.stopOn ? [start.stopOn.text] : [])];
  const watchOutput = (where: string) => {
    const w = new OutputWatch(watched);
    return (bytes: Uint8Array) => {
      if (!w.watching) return;
      for (const text of w.feed(bytes)) {
        if (start.watch?.includes(text)) post({ kind: "seen", text });
        if (text === start.stopOn?.text && fate === FATE.RUNNING) {
          fate = FATE.CRASHED;
          reason = start.stopOn.reason.replace("{where}", where);
          hart.stopRequested = true;
        }
      }
    };
  };
  // stdout, or the library's output ring (actors/output.ts). Waiting for a
  // reader counts as idle, as wfi does, for the launcher's watchdog.
  const sink = new OutputSink(
    buffers.output,
    () => Atomics.load(ctl, CTL.STOP) !== 0,
    (waiting) => Atomics.store(ctl, CTL.CPU_IDLE, waiting ? 1 : 0),
  );
  const watchSbi = watchOutput("SBI console");
  const watchUart = watchOutput("UART");

  // Firmware boots add the CLINT and QEMU's test/syscon device (docs/firmware.md).
  const skewSlot = CTL64.CLOCK_SKEW / 8;
  const clint = firmware ? new Clint(ctl, () => BigInt(guestTimeTicks(control))) : null;
  const syscon = firmware
    ? new Syscon((a: SysconAction) => {
      fate = a.kind === "poweroff"
        ? FATE.POWEROFF
        : a.kind === "reset"
        ? FATE.REBOOT
        : FATE.CRASHED;
      reason = a.kind === "fail"
        ? `guest reported failure through the test device (code ${a.code})`
        : `guest asked for ${a.kind} through the test device`;
      hart.stopRequested = true;
    })
    : null;
  // The terminal's input, for the consoles the guest polls from here (the SBI
  // console, the UART) while it polls them: actors/cpu/polled_input.ts.
  // (Not in deterministic mode: there the cpu moves typed input to the virtio console.)
  const polled = buffers.input && primary && !start.deterministic
    ? new PolledInput(buffers.input, ctl)
    : null;
  // Deterministic mode (actors/cpu/deterministic.ts), made once the hart is.
  // deno-lint-ignore prefer-const
  let det: DeterministicCpu | null;
  const consoleIn = new Uint8Array(DBCN_CHUNK);
  // The UART's output is gathered and written after each batch (and at a newline).
  let uartOut: number[] = [];
  const flushUart = () => {
    if (uartOut.length === 0) return;
    const bytes = new Uint8Array(uartOut);
    uartOut = [];
    sink.write(bytes);
    watchUart(bytes);
  };
  // The UART's registers live in hart 0's worker: only hart 0 has it (docs/smp.md).
  const uart = start.uart && primary
    ? new Uart({
      out(b) {
        uartOut.push(b);
        if (b === 10 || uartOut.length >= 4096) flushUart();
      },
      input: polled,
      setIrq: (level) => setIrqLine(ctl, UART_IRQ, level),
    })
    : null;

  // MMIO: the virtio register pages, the PLIC and the UART; with firmware also
  // the CLINT and test device. Everything else is an access fault.
  const bus: Bus = {
    read(addr, size) {
      if (addr >= VIRTIO_BASE && addr < VIRTIO_BASE + VIRTIO_SLOTS * VIRTIO_STRIDE) {
        const t = slots[(addr - VIRTIO_BASE) >>> 12];
        return t ? t.read(addr & 0xfff, size) : -1;
      }
      if (addr >= PLIC_BASE && addr < PLIC_BASE + PLIC_SIZE) {
        const v = plic.read(addr - PLIC_BASE, size);
        if (trace !== null && isClaimRegister(addr - PLIC_BASE)) trace.claim(v);
        // A claim changes which external interrupts are pending: see it now.
        hart.externalMip = Atomics.load(ctl, mipW);
        return v;
      }
      if (uart && addr >= UART_BASE && addr < UART_BASE + 0x100) {
        const v = uart.read(addr - UART_BASE, size);
        det?.settleIrq();
        return v;
      }
      if (clint && addr >= CLINT_BASE && addr < CLINT_BASE + CLINT_SIZE) {
        return clint.read(addr - CLINT_BASE, size);
      }
      if (syscon && addr >= SYSCON_BASE && addr < SYSCON_BASE + SYSCON_SIZE) {
        return syscon.read(addr - SYSCON_BASE, size);
      }
      return -1;
    },
    write(addr, size, value) {
      if (addr >= VIRTIO_BASE && addr < VIRTIO_BASE + VIRTIO_SLOTS * VIRTIO_STRIDE) {
        const n = (addr - VIRTIO_BASE) >>> 12;
        const t = slots[n];
        if (!t) return false;
        if (start.verbose && (addr & 0xfff) === 0x50) log(`notify: slot ${n} queue ${value}`);
        if (trace !== null && (addr & 0xfff) === 0x50) trace.notify(virtioSlotIrq(n), n, value);
        const seq = det !== null ? t.doorbellSeq() : 0;
        const ok = t.write(addr & 0xfff, size, value);
        det?.afterVirtioWrite(n, addr & 0xfff, value, seq);
        if (
          n === consoleSlot && (addr & 0xfff) === REG.QUEUE_NOTIFY && value === CONSOLE_TXQ &&
          det === null
        ) {
          // Bounded: a console actor that is slow, dead or restarting leaves
          // the guest to its spin after CONSOLE_TX_WAIT_MS.
          t.waitServed(CONSOLE_TX_WAIT_MS);
        }
        hart.externalMip = Atomics.load(ctl, mipW);
        return ok;
      }
      if (addr >= PLIC_BASE && addr < PLIC_BASE + PLIC_SIZE) {
        if (trace !== null && isClaimRegister(addr - PLIC_BASE)) trace.complete(value);
        const ok = plic.write(addr - PLIC_BASE, size, value);
        hart.externalMip = Atomics.load(ctl, mipW);
        return ok;
      }
      if (uart && addr >= UART_BASE && addr < UART_BASE + 0x100) {
        const ok = uart.write(addr - UART_BASE, size, value);
        det?.settleIrq();
        return ok;
      }
      if (clint && addr >= CLINT_BASE && addr < CLINT_BASE + CLINT_SIZE) {
        // msip and mtimecmp change MSIP/MTIP: the hart sees them after this instruction.
        const ok = clint.write(addr - CLINT_BASE, size, value);
        hart.externalMip = Atomics.load(ctl, mipW);
        return ok;
      }
      if (syscon && addr >= SYSCON_BASE && addr < SYSCON_BASE + SYSCON_SIZE) {
        return syscon.write(addr - SYSCON_BASE, size, value);
      }
      return false;
    },
  };

  const host: SbiHost = {
    consoleWrite(bytes) {
      sink.write(bytes);
      watchSbi(bytes);
    },
    consoleRead(max) {
      const n = polled ? polled.read(consoleIn.subarray(0, Math.min(max, consoleIn.length))) : 0;
      return consoleIn.subarray(0, n);
    },
    setTimer(deadline) {
      timerCalls.sbi++;
      // A new deadline retires the old timer interrupt (SBI TIME semantics).
      if (trace !== null) trace.armTimer(Number(deadline));
      if (det !== null) {
        // Deterministic: the cpu counts its way to the deadline; no waker.
        det.sbiDeadline = deadline < 0n ? -1n : deadline;
        hart.setMipSoftware(MIP.STIP, false);
      } else if (!primary) {
        // A secondary keeps its own deadline: raised between batches, bounds its wfi.
        peers!.setTimer(deadline);
        hart.externalMip &= ~MIP.STIP;
        return;
      } else armTimer(ctl, deadline);
      hart.externalMip &= ~MIP.STIP;
    },
    reset(type, why) {
      fate = type === "shutdown" ? FATE.POWEROFF : FATE.REBOOT;
      reason = `guest asked for ${type} (reason ${why})`;
      hart.stopRequested = true;
    },
    readPhys(addr, len) {
      const buf = new Uint8Array(len);
      return hart.readPhys(addr, buf) ? buf : null;
    },
    writePhys: (addr, data) => hart.writePhys(addr, data),
    sendIpi(mask, base) {
      if (peers !== null) return peers.sendIpi(mask);
      // One hart: an IPI to hart 0 sets its supervisor software interrupt.
      if (start.hartId >= base && ((mask >> (BigInt(start.hartId) - base)) & 1n) === 1n) {
        // Only the software-writable bit: reading mip would fold in external lines.
        hart.setMipSoftware(MIP.SSIP, true);
      }
    },
  };

  // HTIF (Spike's tohost/fromhost, devices/htif.ts), when the program has the symbols.
  const htif = start.htif
    ? new Htif(
      new Uint8Array(buffers.ram, 0, start.ramBytes),
      start.ramBase,
      start.htif.tohost,
      start.htif.fromhost,
      {
        write(bytes) {
          sink.write(bytes);
          watchSbi(bytes);
        },
        exit(code) {
          fate = FATE.POWEROFF;
          // The status a shell sees: 0 = pass; a failure whose low byte is 0 still fails.
          exitCode = code === 0 ? 0 : (code & 0xff) || 1;
          reason = `the program exited through HTIF with status ${code}` +
            (code === 0 ? " (pass)" : ` (riscv-tests: test ${code} failed)`);
          hart.stopRequested = true;
        },
        warn: log,
      },
    )
    : null;

  // Once per worker, ~30 ms, saving ~0.4 s of a Linux boot (cpu/warmup.ts); the
  // worker file did it already before "ready", so this returns at once there.
  warmUpJitOrWarn();
  const hartOpts = {
    ramBase: start.ramBase,
    bus,
    hartId: start.hartId,
    sv48: start.mmu !== "sv39",
    sv57: start.mmu === "sv57",
    readTime: start.deterministic
      ? (n?: number) => det!.readTime(n)
      : () => BigInt(guestTimeTicks(control)) + Atomics.load(ctl64, skewSlot),
  };
  // With the launcher's WebAssembly.Memory the hart keeps its registers and
  // TLBs after RAM in it, whichever tier runs (switching copies nothing).
  const jitMem = start.memory ? openJitMemory(start.memory, start.ramBytes, me, harts) : null;
  hart = jitMem
    ? createJitHart(jitMem, hartOpts)
    : new Hart({ ...hartOpts, ram: buffers.ram, ramBytes: start.ramBytes });
  hart.sharedRam = harts > 1; // AMOs and SC atomic across the harts' workers
  const jit = jitMem && start.jit
    ? new Jit(hart, jitMem, {
      threshold: JIT_THRESHOLD,
      chunk: JIT_CHUNK,
      dmaDirty: buffers.dmaDirty ? new Int32Array(buffers.dmaDirty) : undefined,
    })
    : null;
  if (start.jit && !jit) log("translator off: guest RAM has no WebAssembly.Memory");
  // Sstc: a stimecmp write is a new S-timer deadline, as SBI set_timer is.
  // On the direct boot the waker fires it (its timer bit is STIP there); on a
  // firmware boot the waker keeps the CLINT's mtimecmp, so a wfi sleeps no
  // longer than the stimecmp deadline instead (below). The hart itself
  // raises STIP when it sees time >= stimecmp.
  hart.onStimecmp = (deadline) => {
    timerCalls.stimecmp++;
    // Deterministic: the cpu counts to stimecmp itself; a secondary's wfi
    // sleeps no longer than its stimecmp deadline (wfiWaitMs).
    if (firmware || det !== null || !primary) return;
    if (trace !== null) trace.armTimer(Number(BigInt.asIntN(64, deadline)));
    armTimer(ctl, BigInt.asIntN(64, deadline));
    hart.externalMip &= ~MIP.STIP;
  };
  det = start.deterministic
    ? new DeterministicCpu({
      hart,
      control,
      slots,
      consoleSlot: start.consoleSlot ?? 0,
      terminal: buffers.input,
      consoleInput: buffers.consoleInput,
      nets: (start.netSlots ?? []).map((slot) => ({
        slot,
        fromHost: buffers[`netFromHost${slot}`],
        toGuest: buffers[`netToGuest${slot}`],
      })),
      config: start.deterministic,
    })
    : null;
  // Several harts: HSM, IPIs and remote fences cross workers (actors/cpu/smp.ts).
  // The "ipi" fault layer (faults/layers/ipi.ts): armed only with --faults rules for it.
  const faults = harts > 1 && start.faults?.rules.length
    ? armFaults("ipi", { config: start, buffers, emit: (e) => post(e), exit: () => {} })
    : null;
  const peers = harts > 1
    ? new HartPeers(ctl, me, harts, hart, jit, faults ? ipiFaultHook(faults) : undefined)
    : null;
  // Interrupts raised during a batch are seen at the guest's next interrupt
  // check, not only between batches (Hart.pollInterrupts); deterministic
  // mode delivers them at counts of its own choosing instead.
  if (det === null) {
    hart.pollInterrupts = () => {
      hart.externalMip = Atomics.load(ctl, mipW);
      peers?.takeIpisNow();
    };
  }
  if (peers !== null) {
    host.startHart = (h, addr, opaque) => peers.startHart(h, addr, opaque);
    host.stopHart = () => peers.stopSelf();
    host.hartStatus = (h) => peers.status(h);
    host.remoteFence = (mask, fenceI) => peers.remoteFence(mask, fenceI);
  }
  // How long a wfi may sleep: to the Sstc deadline where no waker keeps it.
  const wfiWaitMs = () =>
    firmware ? stimecmpWaitMs(hart) : peers !== null ? peers.wfiWaitMs() : undefined;
  // On a firmware boot the firmware serves the SBI: ecalls trap to M-mode as on hardware.
  hart.onEcall = firmware ? null : createSbi(host, { hartId: me, harts });
  trace = tracer !== null ? new HartTrace(tracer, hart) : null;
  if (trace !== null) hart.onEcall = trace.wrapEcall(hart.onEcall);
  if (start.tracePcs) hart.enablePcRing(4096);
  // Profiling samples the pc between short batches (a prime, so loops do not alias).
  const profile = start.profile ? new Map<number, number>() : null;
  const batch = profile ? 997 : BATCH;
  // The tier, chosen per batch: the translator unless it is off or the pc
  // ring is on (only the interpreter records pcs). A debugger that steps or
  // sets breakpoints makes this false while it does.
  const useJit = jit !== null && !start.tracePcs;

  if (start.restore) {
    // A machine snapshot: the hart as it was; the guest's clock goes on from
    // the snapshot's moment (plus any skew a fault plan set on this board).
    loadHart(hart, start.restore.hart);
    const saved = start.restore.deterministic;
    if (det !== null && saved) {
      // A deterministic snapshot into a deterministic run: time is made of
      // instructions, so the mode's own state carries it on (and every device's
      // first pass lands here, before the first batch).
      det.restoreState(saved);
    } else {
      const behind = BigInt(start.restore.time) - BigInt(guestTimeTicks(control));
      setClockSkew(ctl, Atomics.load(ctl64, skewSlot) + behind);
      // A deterministic snapshot's SBI deadline was the cpu's own: the waker keeps it now.
      const sbi = saved ? BigInt(saved.sbiDeadline) : -1n;
      if (sbi >= 0n) armTimer(ctl, sbi); // in the guest's ticks, which go on unbroken
      timerClockMoved(ctl); // the waker may have measured its sleep on the old clock
    }
  } else if (!primary) {
    // A secondary waits (stopped) for SBI HSM hart_start, then starts as the
    // spec says: S-mode at start_addr, a0 = hartid, a1 = opaque, satp 0.
    peers!.waitForStart();
  } else if (firmware) {
    // Firmware boot, as QEMU's reset vector: M-mode at the firmware's entry,
    // a0 = hartid, a1 = device tree, a2 = fw_dynamic info. The firmware sets
    // up delegation, counters and the next stage itself.
    hart.priv = 3;
    hart.pc = BigInt(start.entry);
    hart.x[10] = BigInt(start.hartId);
    hart.x[11] = BigInt(start.fdtAddr);
    hart.x[12] = BigInt(firmware.fwDynamicInfo);
  } else {
    setupDirectBoot(hart, start);
  }
  // The gdbstub's channel (actors/cpu/debugger.ts): checked once per batch,
  // and only when a --gdb run handed one over.
  const debug = buffers.debug ? new CpuDebugger(buffers.debug, control, hart) : null;
  if (debug && start.gdb?.wait) debug.halt(STOP.START); // --gdb-wait: before the first instruction
  // The control socket's pause and snapshot (launcher/control.ts): the same halt, its own channel.
  // In deterministic mode a snapshot also takes that mode's state (DeterministicCpu.snapshotState).
  const pause = buffers.pause
    ? new CpuDebugger(buffers.pause, control, hart, det ? () => det!.snapshotState() : null)
    : null;
  if (det !== null && pause !== null) det.haltRequested = () => pause.haltRequested;

  for (;;) {
    if (Atomics.load(ctl, CTL.STOP) !== 0) {
      fate = FATE.STOPPED;
      reason = "stopped by the launcher";
      break;
    }
    // Read before anything below looks at the words others write: a wfi at the
    // end of this batch then sleeps only while nothing arrived since (an IPI or
    // remote fence that came after between() had looked was slept through: a
    // peer's fence.i waited 30 s for hart 0 in CI).
    const seen = Atomics.load(ctl, wakeW);
    // IPIs, remote fences and (secondaries) the timer; a stopped hart parks here.
    if (peers !== null && !peers.between()) continue;
    if (debug !== null && debug.haltRequested) {
      debug.halt(STOP.REQUESTED);
      continue; // the top again: the launcher may have stopped the machine meanwhile
    }
    if (pause !== null && pause.haltRequested) {
      det?.publishTime(); // the halt reads guest time: this count's, not the batch's start
      pause.halt(STOP.REQUESTED);
      continue;
    }
    if (det !== null && pause !== null && det.atSnapshotPoint()) {
      // --snapshot-at: halt here, at this count, and let the launcher take it (it resumes us).
      det.publishTime();
      post({ kind: "snapshot-point", instret: hart.instretN });
      pause.halt(STOP.REQUESTED);
      continue;
    }
    if (det !== null && !det.beforeBatch()) {
      if (det.failure === null) {
        fate = FATE.STOPPED;
        reason = "stopped where the recording was stopped";
      }
      break;
    }
    hart.externalMip = Atomics.load(ctl, mipW);
    if (trace !== null) trace.beforeBatch();
    // Deterministic mode cuts batches at the counts where something is due.
    const n = det !== null ? det.budget(batch) : batch;
    // Breakpoints are a pc compare in the interpreter's loop only: while a
    // debugger has any set, the batch runs on the interpreter.
    const r = useJit && !(debug?.needsInterpreter) ? jit!.run(n, det !== null) : hart.run(n);
    if (profile) profile.set(hart.pcN, (profile.get(hart.pcN) ?? 0) + 1);
    if (primary) publishInstret(ctl, hart.instretN);
    Atomics.add(ctl, beatW, 1); // the heartbeat (cpuBeat, for hart 0)
    if (htif !== null && htif.poll() && hart.stopRequested) break;
    if (uart) {
      flushUart();
      uart.update(); // input may have arrived during the batch
    }
    // After update(): a receive interrupt the guest enabled counts as polling.
    polled?.idle();
    if (r === RUN_STOP) {
      // SBI HSM hart_stop: park until started again (peers.between).
      if (peers !== null && peers.stopping) continue;
      break;
    }
    if (r === RUN_BREAK && debug !== null) {
      debug.halt(STOP.BREAKPOINT);
      continue;
    }
    if (!firmware && hart.priv === 3) {
      // Nothing runs in M-mode on a direct boot: a trap got here undelegated.
      fate = FATE.CRASHED;
      reason = `trap into M-mode with no firmware: mcause ${hex(hart.csrRead(CSR_MCAUSE))} ` +
        `mepc ${hex(hart.csrRead(CSR_MEPC))} mtval ${hex(hart.csrRead(CSR_MTVAL))}`;
      break;
    }
    // A double fault: the last trap was a fetch fault at the very trap vector,
    // taken from the vector's own mode (a user program that jumps to the
    // kernel's vector faults from U and is handled), and the hart is back there.
    const t = hart.lastTrap;
    const inM = hart.priv === 3;
    const vector = hart.csrRead(inM ? CSR_MTVEC : CSR_STVEC) & ~3n;
    const status = hart.csrRead(CSR_MSTATUS);
    const fromSameMode = inM ? ((status >> 11n) & 3n) === 3n : ((status >> 8n) & 1n) === 1n;
    if (
      t !== null && (t.cause === 1n || t.cause === 12n) && t.epc === vector &&
      fromSameMode && hart.pc === vector
    ) {
      // The trap vector itself cannot be fetched: every trap lands back here.
      fate = FATE.CRASHED;
      reason = `double fault: the trap vector ${hex(t.epc)} cannot be fetched (cause ${t.cause})`;
      break;
    }
    if (r === RUN_WFI) {
      if (hart.csrRead(CSR_MIE) === 0n) {
        fate = FATE.CRASHED;
        reason = `hart stuck: wfi at ${hex(hart.pc - 4n)} with every interrupt disabled`;
        break;
      }
      if (det !== null) {
        // A divergence ends the run here; the launcher's stop, at the top of the loop.
        if (!det.onWfi() && det.failure !== null) break;
      } else if (trace !== null) {
        trace.endRun();
        const slept = traceNow();
        cpuSleep(ctl, seen, wfiWaitMs(), me);
        trace.wfi(slept);
      } else {
        cpuSleep(ctl, seen, wfiWaitMs(), me);
      }
    }
  }
  trace?.finish();
  faults?.dispose();
  if (primary) publishInstret(ctl, hart.instretN);
  flushUart();
  polled?.release();
  if (start.verbose) {
    log(`timer: ${timerCalls.sbi} SBI set_timer calls, ${timerCalls.stimecmp} stimecmp writes`);
  }
  if (jit && start.verbose) log(`translator: ${describeJitStats(jit, hart.instretN)}`);
  if (det !== null) {
    // Recorded, or compared with the log; a divergence or a device that did not answer ends it.
    const failed = det.finish(fate === FATE.RUNNING ? FATE.INTERNAL_ERROR : fate, reason);
    if (failed !== null) {
      fate = FATE.INTERNAL_ERROR;
      reason = failed;
    }
  }
  if (fate === FATE.RUNNING) {
    fate = FATE.CRASHED;
    reason = "the hart stopped without a reason";
  }
  const msg: CpuFate = { kind: "fate", fate, reason, instret: hart.instretN };
  if (harts > 1) {
    // One hart speaks for the machine: the first to decide the guest's fate
    // (the others are then stopped), or hart 0 when the launcher stopped them all.
    if (fate === FATE.STOPPED ? !primary : !claimFate(ctl, fate)) return msg;
    if (fate === FATE.STOPPED && Atomics.load(ctl, CTL.FATE) !== FATE.RUNNING) return msg;
    if (fate !== FATE.STOPPED) {
      if (!primary) msg.reason = `hart ${me}: ${reason}`;
      requestStop(ctl, fate);
    }
  }
  setFate(ctl, fate);
  if (exitCode !== undefined) msg.exitCode = exitCode;
  // STOPPED too: after a panic on hvc0 the launcher ends the run and stops us.
  if ((fate === FATE.CRASHED || fate === FATE.STOPPED) && start.tracePcs) {
    msg.pcs = hart.recentPcs().map((pc) => hex(pc));
  }
  if (profile) msg.profile = [...profile].map(([pc, n]) => [hex(pc), n] as [string, number]);
  post(msg);
  return msg;
}

/** Several harts: the first to decide the guest's fate takes CTL.FATE (false: another did). */
function claimFate(ctl: Int32Array, fate: number): boolean {
  return Atomics.compareExchange(ctl, CTL.FATE, FATE.RUNNING, fate) === FATE.RUNNING;
}

/** Whether a PLIC register offset is a context's claim/complete word. */
function isClaimRegister(off: number): boolean {
  return off >= PLIC_REG.CONTEXT && (off & 0xfff) === 4;
}

/** How long a wfi may sleep before the Sstc deadline is due (undefined: no deadline). */
function stimecmpWaitMs(hart: Hart): number | undefined {
  if (!hart.sstcEnabled || hart.stimecmp >= 1n << 63n) return undefined;
  const ticks = hart.stimecmp - hart.csrRead(CSR_TIME);
  return ticks <= 0n ? 0 : Number(ticks) / TICKS_PER_MS;
}

/**
 * Direct boot, as lguest's setup_regs: S-mode at the entry, a0 = hartid,
 * a1 = device tree. With no M-mode firmware, every trap and interrupt the
 * supervisor can take is delegated to it, as OpenSBI would do.
 */
export function setupDirectBoot(
  hart: Hart,
  start: Pick<CpuConfig, "entry" | "hartId" | "fdtAddr">,
): void {
  hart.priv = 1;
  hart.pc = BigInt(start.entry);
  hart.x[10] = BigInt(start.hartId);
  hart.x[11] = BigInt(start.fdtAddr);
  hart.csrWrite(CSR_MEDELEG, 0xb3ffn & ~(1n << 9n) & ~(1n << 11n));
  hart.csrWrite(CSR_MIDELEG, BigInt(MIP.SSIP | MIP.STIP | MIP.SEIP));
  // cycle, time and instret readable from S-mode, as OpenSBI leaves mcounteren.
  hart.csrWrite(CSR_MCOUNTEREN, 7n);
  // ... and from U-mode too: the vDSO reads `time` (Linux never sets scounteren).
  hart.csrWrite(CSR_SCOUNTEREN, 7n);
  // Sstc on, as OpenSBI enables it when the hart has it: Linux then programs
  // stimecmp itself instead of calling SBI set_timer.
  hart.csrWrite(CSR_MENVCFG, 1n << 63n);
}

/** The code cache in one line, for --verbose. */
export function describeJitStats(jit: Jit, instret: number): string {
  const s = jit.stats;
  const share = instret > 0 ? ` (${(100 * s.translatedInsns / instret).toFixed(1)}%)` : "";
  return `${s.pages} pages translated (${(s.cacheBytes / 1024).toFixed(0)} KiB of wasm), ` +
    `${s.compiles} compiles in ${s.compileMs.toFixed(0)} ms, ` +
    (s.adopted > 0 ? `${s.adopted} taken from other harts, ` : "") +
    `${s.entries} entries (hits), ` +
    `${s.noEntry} misses, ${s.interpExits} exits to the interpreter, ` +
    `${s.invalidations} invalidations (${s.dmaInvalidations} by device writes), ` +
    `${s.evictions} cache flushes; ` +
    `${(s.translatedInsns / 1e6).toFixed(1)} M instructions ran translated${share}`;
}
