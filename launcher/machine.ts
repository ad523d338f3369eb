// The machine, assembled: what lguest's main() did after parsing its
// arguments. Check every input before anything starts (a bad file is a clear
// error, never a half-started guest), lay out guest RAM and the shared state
// of each device, load the kernel, initrd and device tree, start one
// supervised actor per component — interrupt controller, waker, console,
// disks, network, and the cpu last — and wait for the guest's fate. A reboot
// builds the machine again; the terminal and the network backends live across.
// Read next: actors/cpu/cpu_actor.ts (the cpu), actors/irq/irq.worker.ts (interrupts).

import {
  createControlBlock,
  CTL,
  CTL64,
  FATE,
  publishedInstret,
  wakeCpu,
} from "../machine/control.ts";
import type { ProtocolShape } from "../actors/runtime/protocol.ts";
import { ByteRingWriter, createByteRing } from "../lib/ring.ts";
import { probeModule, Registry } from "../actors/runtime/registry.ts";
import type { FaultEvent, FaultLayer } from "../faults/plan.ts";
import { FaultRun, PlanError } from "../faults/layers/plan_run.ts";
import { DeviceTransport } from "../devices/virtio/mmio.ts";
import { isMachineRole, type RoleDescriptor } from "../actors/runtime/protocol.ts";
import { Supervisor, type SupervisorEvent } from "../actors/runtime/supervisor.ts";
import { CPU, type CpuFate } from "../actors/cpu/protocol.ts";
import { WAKER } from "../actors/waker/protocol.ts";
import { createConsoleState } from "../devices/console.ts";
import { CONSOLE, type ConsoleProtocol } from "../actors/console/protocol.ts";
import { createBlockState } from "../devices/block/block.ts";
import {
  type BlockLock,
  BlockOpenError,
  type BlockProbe,
  lockBlockFile,
  probeBlockFile,
} from "../devices/block/backend.ts";
import { BLOCK } from "../actors/block/protocol.ts";
import { createNetState, setNetLink } from "../devices/net/net.ts";
import { NET, type NetProtocol } from "../actors/net/protocol.ts";
import { type PreparedNet, prepareNet } from "../actors/net/setup.ts";
import { createPlicState } from "../devices/plic.ts";
import { IRQ } from "../actors/irq/protocol.ts";
import { buildMachineFdt } from "./devicetree.ts";
import { RAM_BASE, VIRTIO_SLOTS, virtioSlotBase, virtioSlotIrq } from "../machine/memmap.ts";
import { checkMemorySize, loadFirmware, loadGuest, writeFwDynamicInfo } from "./loader.ts";
import { BUNDLED, type LaunchOptions } from "./cli.ts";
import { Terminal, TERMINAL_HOLD_BYTES } from "./terminal.ts";

/** Bad input from the user: a file that is missing or wrong, an impossible size. Exit 2. */
export class InputError extends Error {
  override name = "InputError";
}

export interface MachineOutcome {
  /** A value of FATE (machine/control.ts). */
  fate: number;
  reason: string;
  exitCode: number;
  instret: number;
  /** Recent PCs when the guest died and --trace-on-crash was given. */
  pcs?: string[];
  /** pc samples [hex pc, count] when --profile was given. */
  profile?: [string, number][];
}

/** Exit status for each fate. */
export function exitCodeFor(fate: number): number {
  switch (fate) {
    case FATE.POWEROFF:
    case FATE.REBOOT:
      return 0;
    case FATE.STOPPED:
      return 130;
    default:
      return 1;
  }
}

/**
 * Read a whole input file. `what` names it in messages: "kernel" (the
 * positional argument) or the option it came from ("--initrd:"). An empty
 * file is refused unless `mayBeEmpty`: an empty initrd or kernel is a
 * mistake (a failed download, a build that wrote nothing), not "none".
 */
function readInput(
  path: string,
  what: string,
  maxBytes = Infinity,
  mayBeEmpty = false,
): Uint8Array {
  try {
    const st = Deno.statSync(path);
    if (st.isDirectory) throw new InputError(`${what} "${path}" is a directory, not a file`);
    // A device or a pipe (/dev/zero, a fifo) would be read until memory runs out.
    if (!st.isFile) {
      throw new InputError(`${what} "${path}" is not a regular file (a device or a pipe?)`);
    }
    // Checked before reading: a huge file would be read whole (gigabytes) just to be refused.
    if (st.size > maxBytes) {
      throw new InputError(
        `${what} "${path}" is ${(st.size / 2 ** 20).toFixed(1)} MiB, ` +
          `more than the ${maxBytes / 2 ** 20} MB of guest RAM`,
      );
    }
    const bytes = Deno.readFileSync(path);
    if (bytes.length === 0 && !mayBeEmpty) {
      throw new InputError(`${what} "${path}" is empty (0 bytes)`);
    }
    return bytes;
  } catch (e) {
    if (e instanceof InputError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(`${what} "${path}" does not exist`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new InputError(`${what} "${path}" cannot be read: permission denied`);
    }
    throw new InputError(`${what} "${path}" cannot be read: ${(e as Error).message}`);
  }
}

/** Everything checked and opened before the first boot; reused across reboots. */
interface Prepared {
  memBytes: number;
  kernel: Uint8Array;
  initrd: Uint8Array | null;
  cmdline: string;
  disks: { path: string; readOnly: boolean; probe: BlockProbe }[];
  /** Each disk file's lock (exclusive, or shared for ,ro), held for the whole run. */
  diskLocks: BlockLock[];
  nets: PreparedNet[];
  /** The fault plan (--faults), checked; null without one. */
  faults: FaultRun | null;
  /** M-mode firmware (--bios); null for the direct S-mode boot. */
  bios: Uint8Array | null;
  /** The System.map text (--system-map, or the bundled guest's); null if none or unreadable. */
  systemMap: string | null;
}

/**
 * The System.map, for the loader's truncation check: an Image's exact file
 * length when the map is its kernel's. Optional: a missing, unreadable or
 * huge map is no error (it only names PCs); the loader ignores one that does
 * not match the kernel.
 */
function readSystemMap(path: string): string | null {
  try {
    const st = Deno.statSync(path);
    if (!st.isFile || st.size > 64 * 2 ** 20) return null;
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

async function prepare(o: LaunchOptions, log: (s: string) => void): Promise<Prepared> {
  // The console takes one virtio-mmio slot; every disk and network another.
  const netCount = (o.tunnet === null ? 0 : 1) + (o.sharenet === null ? 0 : 1);
  if (1 + o.blocks.length + netCount > VIRTIO_SLOTS) {
    throw new InputError(
      `too many devices: the machine has ${VIRTIO_SLOTS} virtio slots, the console takes one, ` +
        `so at most ${VIRTIO_SLOTS - 1} disks and networks (asked for ${o.blocks.length} ` +
        `disk(s) and ${netCount} network(s))`,
    );
  }
  let memBytes: number;
  try {
    memBytes = checkMemorySize(o.memMb);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const kernel = readInput(o.kernel, "kernel");
  // An ELF kernel may be larger than RAM (debug sections); these are copied whole.
  const initrd = o.initrd === null ? null : readInput(o.initrd, "--initrd:", memBytes);
  const bios = o.bios === null ? null : readInput(o.bios, "--bios:", memBytes);
  const systemMap = o.systemMap === null ? null : readSystemMap(o.systemMap);
  let cmdline = o.cmdline;
  if (o.bundled && cmdline === "") {
    cmdline = new TextDecoder().decode(
      readInput(BUNDLED.cmdline.pathname, "command line", Infinity, true),
    )
      .trim();
  }
  const diskLocks: BlockLock[] = [];
  const unlock = () => diskLocks.forEach((l) => l.release());
  const disks = o.blocks.map((b) => {
    try {
      const probe = probeBlockFile(b.path, b.readOnly);
      diskLocks.push(lockBlockFile(b.path, b.readOnly));
      for (const w of probe.warnings) log(`warning: ${w}`);
      return { ...b, probe };
    } catch (e) {
      unlock();
      // "--block=<path>: <what is wrong>": every BlockOpenError starts with its path.
      if (e instanceof BlockOpenError) {
        throw new InputError(
          e.message.startsWith(`${e.path}: `) ? `--block=${e.message}` : `--block: ${e.message}`,
        );
      }
      throw e;
    }
  });
  let nets: PreparedNet[] = [];
  try {
    nets = await prepareNet({ tunnet: o.tunnet, sharenet: o.sharenet, mac: o.mac });
  } catch (e) {
    unlock();
    throw new InputError((e as Error).message);
  }
  let faults: FaultRun | null = null;
  if (o.faults !== null) {
    try {
      faults = FaultRun.load(o.faults, o.seed);
    } catch (e) {
      unlock();
      if (e instanceof PlanError) throw new InputError(`--faults: ${e.message}`);
      throw e;
    }
    for (const line of faults.describe()) log(line);
  } else if (o.seed !== null) {
    log("warning: --seed without --faults does nothing");
  }
  return { memBytes, kernel, initrd, cmdline, disks, diskLocks, nets, faults, bios, systemMap };
}

/** Hooks for a library user; the CLI passes none. */
export interface MachineHooks {
  /** Where emulator messages go (default: stderr). */
  log?: (line: string) => void;
  /** Called with each supervisor event (crash, restart, give up). */
  onActorEvent?: (e: SupervisorEvent) => void;
  /**
   * Strings to watch for on the guest's console (default: the bundled
   * guest's ready line). Each is reported once to onSeen, and with --verbose.
   */
  watch?: string[];
  onSeen?: (text: string, instret: number, msSinceBoot: number) => void;
  /**
   * Called once the terminal is set up and its signal handlers (which stop
   * the machine and restore the terminal) are installed.
   */
  terminalReady?: () => void;
}

/**
 * What Linux prints when it panics. With panic=0 it then loops forever with
 * interrupts off (no wfi, so the cpu burns a core); the launcher watches the
 * console for it; a panic before hvc0 is up, on the SBI console, the cpu
 * actor sees (CpuConfig.stopOnPanic).
 */
export const PANIC_LINE = "Kernel panic - not syncing";
/** Time for the rest of the panic report (the stack, the end marker) to reach the console. */
const PANIC_GRACE_MS = 2000;

/** The guest kernel's panic timeout from its command line (0, Linux's default, if none). */
export function panicTimeout(cmdline: string): number {
  const m = [...cmdline.matchAll(/(?:^|\s)panic=(-?\d+)(?=\s|$)/g)].at(-1);
  return m ? Number(m[1]) : 0;
}

/** Free bytes left after the device tree on a firmware boot (OpenSBI grows it in place). */
const FIRMWARE_FDT_ROOM = 64 * 1024;

/** The line the bundled guest prints when its shell is about to start (docs/guest.md). */
export const READY_LINE = "actorvm-guest: ready";

/**
 * Boot the machine `o` describes and run it to its fate (through reboots,
 * unless --no-reboot). Throws InputError before anything starts if an input
 * is bad.
 */
export async function runMachine(
  o: LaunchOptions,
  registry = new Registry(),
  hooks: MachineHooks = {},
): Promise<MachineOutcome> {
  const log = hooks.log ?? ((s: string) => console.error(`actorvm: ${s}`));
  for (const [role, mod] of o.actors) {
    try {
      registry.set(role as Parameters<Registry["set"]>[0], mod);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
  }
  // A swapped module must speak its role's protocol: refuse it before boot (exit 2).
  const descriptors: Record<string, RoleDescriptor> = {
    cpu: CPU,
    waker: WAKER,
    console: CONSOLE,
    block: BLOCK,
    net: NET,
    irq: IRQ,
  };
  for (const role of o.actors.keys()) {
    if (!isMachineRole(role)) continue;
    try {
      await probeModule(registry.get(role), descriptors[role]);
    } catch (e) {
      throw new InputError(`--actor ${role}: ${(e as Error).message}`);
    }
  }
  const p = await prepare(o, log);
  let input: ByteRingWriter | null = null;
  let stop: (why: number) => void = () => {};
  // A stop asked for between boots (a signal while a reboot is under way) is
  // kept, so the next boot stops at once instead of running on.
  let stopping = false;
  // With --uart the terminal types into the UART, which the cpu polls: wake it.
  let inputWake: () => void = () => {};
  // The input ring never drops: what does not fit waits in the terminal
  // (launcher/terminal.ts), which stops reading a pipe meanwhile.
  const terminal = new Terminal({
    input(bytes) {
      const n = input?.write(bytes) ?? 0; // no machine yet (or between boots): wait
      if (n > 0) inputWake();
      return n;
    },
    async room() {
      // Bounded: a reboot replaces the ring, and the new one must be seen.
      const ring = input;
      if (ring) await ring.waitForSpaceAsync(100);
      else await new Promise((r) => setTimeout(r, 20));
    },
    dropping() {
      log(
        `input: the guest has not taken the last ${TERMINAL_HOLD_BYTES / 1024} KiB typed; ` +
          "further typed bytes are dropped until it does",
      );
    },
    interrupt() {
      log("three ^C: stopping");
      stopping = true;
      stop(FATE.STOPPED);
    },
    signal(sig) {
      log(`${sig}: stopping`);
      stopping = true;
      stop(FATE.STOPPED);
    },
  });
  terminal.start();
  hooks.terminalReady?.();
  try {
    for (let boot = 1;; boot++) {
      const outcome = await bootOnce(o, p, registry, log, hooks, (ring, stopFn, wake) => {
        input = new ByteRingWriter(ring);
        stop = stopFn;
        if (stopping) stopFn(FATE.STOPPED);
        inputWake = wake;
      });
      if (outcome.fate === FATE.REBOOT && !o.noReboot && !stopping) {
        log(`guest rebooted: booting again (boot ${boot + 1})`);
        continue;
      }
      return outcome;
    }
  } finally {
    terminal.close();
    if (terminal.dropped > 0) {
      log(`input: ${terminal.dropped} typed bytes were dropped (the guest was not reading)`);
    }
    for (const n of p.nets) n.release();
    for (const l of p.diskLocks) l.release();
    if (p.faults) log(p.faults.summary());
  }
}

async function bootOnce(
  o: LaunchOptions,
  p: Prepared,
  registry: Registry,
  log: (s: string) => void,
  hooks: MachineHooks,
  attach: (
    inputRing: SharedArrayBuffer,
    stop: (fate: number) => void,
    wake: () => void,
  ) => void,
): Promise<MachineOutcome> {
  const bootStart = performance.now();
  const ram = new SharedArrayBuffer(p.memBytes);
  const control = createControlBlock();
  const ctl = new Int32Array(control);
  // A waker skew rule is a constant offset of the waker's clock (docs/ipc.md, CLOCK_SKEW).
  if (p.faults?.clockSkew) {
    Atomics.store(new BigInt64Array(control), CTL64.CLOCK_SKEW / 8, p.faults.clockSkew);
  }
  // Each actor's share of the fault plan: its rules, its counters, its restart policy.
  const shares = new Map<string, ReturnType<typeof share>>();
  const share = (layer: FaultLayer, device: number) => {
    const f = p.faults?.forActor(layer, device);
    return {
      buffers: f ? { faults: f.counters } : {},
      config: f ? { faults: f.config } : {},
      policy: p.faults?.policy(layer),
    };
  };
  const plan = (layer: FaultLayer, device = 0) => {
    const key = `${layer}:${device}`;
    if (!shares.has(key)) shares.set(key, share(layer, device));
    return shares.get(key)!;
  };
  const plic = createPlicState();
  const inputRing = createByteRing(1 << 16);
  // A firmware boot prints on a UART; --uart adds one that also takes the input.
  const firmware = p.bios !== null;
  const uart = o.uart || firmware;
  const uartInput = o.uart ? createByteRing(1 << 16) : null;

  // Devices, slot by slot: the console first, then disks (vda, vdb, ...), then networks.
  let slot = 0;
  const slots: number[] = [];
  const slotBuffers: Record<string, SharedArrayBuffer> = {};
  const claim = (state: SharedArrayBuffer, what: string) => {
    const n = slot++;
    slots.push(n);
    slotBuffers[`slot${n}`] = state;
    if (o.verbose) {
      log(`slot ${n}: ${what} at 0x${virtioSlotBase(n).toString(16)}, irq ${virtioSlotIrq(n)}`);
    }
    return { n, state };
  };
  const consoleSlot = claim(createConsoleState(virtioSlotIrq(0)), "virtio-console (hvc0)");
  const diskSlots = p.disks.map((d, i) =>
    claim(
      createBlockState({
        irq: virtioSlotIrq(slot),
        sectors: d.probe.sectors,
        readOnly: d.readOnly,
      }),
      `virtio-blk /dev/vd${String.fromCharCode(97 + i)} on ${d.path}${d.readOnly ? " (ro)" : ""}`,
    )
  );
  const netSlots = p.nets.map((n) =>
    claim(createNetState(virtioSlotIrq(slot), n.mac), `virtio-net on ${n.description}`)
  );

  let loaded;
  let firmwareEntry = 0, fwDynamicInfo = 0;
  try {
    loaded = loadGuest({
      ram,
      kernel: p.kernel,
      kernelName: o.kernel,
      systemMap: p.systemMap,
      initrd: p.initrd,
      buildFdt: (layout) => {
        const fdt = buildMachineFdt({
          ramBytes: p.memBytes,
          bootargs: p.cmdline,
          initrd: layout.initrd ?? undefined,
          virtioSlots: slots,
          uart,
          clint: firmware,
          syscon: firmware,
        });
        if (!firmware) return fdt;
        // OpenSBI edits the tree in place (fdt_open_into past its end): leave it room.
        const room = new Uint8Array(fdt.length + FIRMWARE_FDT_ROOM);
        room.set(fdt);
        return room;
      },
    });
    if (p.bios) {
      const fw = loadFirmware(ram, p.bios, `--bios: ${o.bios}`, loaded.kernelStart);
      // fw_dynamic's handoff sits just below the kernel (fw_jump ignores it).
      fwDynamicInfo = Math.floor((loaded.kernelStart - 64) / 8) * 8;
      if (fwDynamicInfo < fw.end) {
        throw new InputError(`--bios: ${o.bios}: no room between the firmware and the kernel`);
      }
      writeFwDynamicInfo(ram, fwDynamicInfo, loaded.entry, 0);
      firmwareEntry = fw.entry;
      if (o.verbose) {
        log(
          `firmware (${fw.kind}) at 0x${fw.start.toString(16)}..0x${fw.end.toString(16)}, ` +
            `entry 0x${fw.entry.toString(16)}; fw_dynamic info at 0x${fwDynamicInfo.toString(16)}`,
        );
      }
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError((e as Error).message);
  }
  if (o.verbose) {
    log(
      `kernel entry 0x${loaded.entry.toString(16)}, device tree at 0x${
        loaded.fdtAddr.toString(16)
      }` + (p.initrd ? `, initrd 0x${loaded.initrdStart.toString(16)}` : ""),
    );
    log(`command line: ${p.cmdline}`);
  }

  // Supervise everything; the cpu's fate (or a fatal actor failure) ends the boot.
  let settle!: (o: MachineOutcome) => void;
  const done = new Promise<MachineOutcome>((r) => settle = r);
  const supervisors: Supervisor<ProtocolShape>[] = [];
  const watch = <P extends ProtocolShape>(
    s: Supervisor<P>,
    fatal: boolean,
    device?: { state: SharedArrayBuffer; name: string },
  ) => {
    s.onEvent((e) => {
      hooks.onActorEvent?.(e);
      switch (e.kind) {
        case "crashed":
          log(`${e.role} actor crashed: ${e.reason}`);
          // The interrupt controller holds no state a restart could trust the
          // guest to resync (an interrupt may be lost mid-flight): stop, as for the cpu.
          if (e.role === "irq") {
            settle({
              fate: FATE.INTERNAL_ERROR,
              reason: `the irq actor (interrupt controller) crashed: ${e.reason}`,
              exitCode: 1,
              instret: publishedInstret(ctl),
            });
          }
          break;
        case "restarted":
          log(`${e.role} actor restarted (${e.restarts})`);
          break;
        case "gave-up":
          log(`${e.role} actor: gave up: ${e.reason}`);
          if (fatal) {
            settle({
              fate: FATE.INTERNAL_ERROR,
              reason: `the ${e.role} actor failed: ${e.reason}`,
              exitCode: 1,
              instret: publishedInstret(ctl),
            });
          } else if (device && e.failure.kind === "gave-up") {
            // What real hardware shows: the device needs a reset (§2.1.2). The
            // guest's driver may reset it; nobody serves its queues until then.
            const t = new DeviceTransport(device.state, control);
            // A network nobody serves has no link: clear LINK_UP first, so the
            // config interrupt also tells the guest (eth0 NO-CARRIER).
            if (e.role === "net") setNetLink(t, false);
            t.needsReset();
            log(
              `${device.name}: ${e.role === "net" ? "link down, " : ""}` +
                `set DEVICE_NEEDS_RESET and raised a config interrupt; ` +
                `the machine keeps running without this device`,
            );
          }
          break;
        default:
          break;
      }
    });
    s.onMessage((m) => {
      const msg = m as { kind: string; text?: string };
      if (msg.kind === "log") log(msg.text ?? "");
      if (msg.kind === "fault" && p.faults) {
        const line = p.faults.record(s.role, m as unknown as FaultEvent);
        if (line) log(line);
      }
    });
    supervisors.push(s as unknown as Supervisor<ProtocolShape>);
    return s;
  };

  const verbose = o.verbose;
  watch(
    new Supervisor({
      descriptor: IRQ,
      url: registry.get("irq"),
      buffers: { control, plic, ...plan("irq").buffers },
      config: { verbose, ...plan("irq").config },
      policy: plan("irq").policy,
    }),
    true,
  );
  watch(
    new Supervisor({
      descriptor: WAKER,
      url: registry.get("waker"),
      buffers: { control, ...plan("waker").buffers },
      config: { machineTimer: firmware, ...plan("waker").config },
      policy: plan("waker").policy,
    }),
    true,
  );
  const userWatch = hooks.watch ?? [READY_LINE];
  const consoleSup = watch(
    new Supervisor({
      descriptor: CONSOLE,
      url: registry.get("console"),
      buffers: {
        ram,
        state: consoleSlot.state,
        control,
        input: inputRing,
        ...plan("console").buffers,
      },
      config: {
        ramBase: RAM_BASE,
        verbose,
        watch: [...userWatch, PANIC_LINE],
        ...plan("console").config,
      },
      policy: plan("console").policy,
    }),
    false,
    { state: consoleSlot.state, name: "virtio-console (hvc0)" },
  );
  let panicTimer: ReturnType<typeof setTimeout> | undefined;
  consoleSup.onMessage((m) => {
    if (m.kind !== "seen") return;
    if (m.text === PANIC_LINE) {
      // panic=0 (Linux's default) spins forever with interrupts off: end the
      // run once the panic report is out (said then: a line now would land in
      // the middle of the guest's). Any other panic= reboots by itself.
      if (panicTimeout(p.cmdline) === 0) {
        panicTimer = setTimeout(() =>
          settle({
            fate: FATE.CRASHED,
            reason: "the guest kernel panicked (boot it with panic=-1 to reboot instead)",
            exitCode: 1,
            instret: publishedInstret(ctl),
          }), PANIC_GRACE_MS);
      }
      if (!userWatch.includes(PANIC_LINE)) return;
    }
    const instret = publishedInstret(ctl);
    const ms = performance.now() - bootStart;
    if (o.verbose) log(`console: "${m.text}" after ${instret} instructions, ${ms.toFixed(0)} ms`);
    hooks.onSeen?.(m.text, instret, ms);
  });
  p.disks.forEach((d, i) =>
    watch(
      new Supervisor({
        descriptor: BLOCK,
        url: registry.get("block"),
        buffers: { ram, state: diskSlots[i].state, control, ...plan("block", i).buffers },
        config: {
          path: d.path,
          readOnly: d.readOnly,
          identity: d.probe.identity,
          ramBase: RAM_BASE,
          verbose,
          ...plan("block", i).config,
        },
        policy: plan("block", i).policy,
      }),
      false,
      { state: diskSlots[i].state, name: `virtio-blk /dev/vd${String.fromCharCode(97 + i)}` },
    )
  );
  const netSups = p.nets.map((n, i) =>
    watch(
      new Supervisor({
        descriptor: NET,
        url: registry.get("net"),
        buffers: { ram, state: netSlots[i].state, control, ...plan("net", i).buffers },
        config: { backend: n.spec, verbose, ramBase: RAM_BASE, ...plan("net", i).config },
        policy: plan("net", i).policy,
      }),
      false,
      { state: netSlots[i].state, name: `virtio-net ${i}` },
    )
  );
  const cpu = watch(
    new Supervisor({
      descriptor: CPU,
      url: registry.get("cpu"),
      buffers: { ram, control, plic, ...slotBuffers, ...(uartInput ? { uartInput } : {}) },
      config: {
        ramBase: RAM_BASE,
        slots,
        entry: firmware ? firmwareEntry : loaded.entry,
        firmware: firmware ? { fwDynamicInfo } : undefined,
        uart,
        fdtAddr: loaded.fdtAddr,
        hartId: 0,
        verbose,
        tracePcs: o.traceOnCrash,
        profile: o.profile,
        stopOnPanic: panicTimeout(p.cmdline) === 0,
      },
    }),
    true,
  );
  cpu.onMessage((m) => {
    if (m.kind !== "fate") return;
    const f = m as CpuFate;
    settle({
      fate: f.fate,
      reason: f.reason,
      exitCode: exitCodeFor(f.fate),
      instret: f.instret,
      pcs: f.pcs,
      profile: f.profile,
    });
  });
  attach(uartInput ?? inputRing, (fate) => {
    Atomics.store(ctl, CTL.STOP, fate);
    wakeCpu(ctl);
  }, uartInput ? () => wakeCpu(ctl) : () => {});

  try {
    // Every actor at once. Start order does not matter: a device's registers,
    // queues, interrupt lines and the timer deadline are all shared state, so
    // whatever the cpu does before an actor is up waits for it in memory.
    await Promise.all(supervisors.map((s) => s.start()));
  } catch (e) {
    settle({
      fate: FATE.INTERNAL_ERROR,
      reason: (e as Error).message,
      exitCode: 1,
      instret: 0,
    });
  }
  const watchdog = watchCpu(
    ctl,
    (reason) =>
      settle({ fate: FATE.INTERNAL_ERROR, reason, exitCode: 1, instret: publishedInstret(ctl) }),
  );
  const outcome = await done;
  clearInterval(watchdog);
  clearTimeout(panicTimer);
  await reportDrops(consoleSup, netSups, verbose, log);
  // Make sure the cpu is off the guest before the devices go away.
  Atomics.store(ctl, CTL.STOP, FATE.STOPPED);
  wakeCpu(ctl);
  await Promise.all(supervisors.map((s) => withTimeout(s.stop(), 2000)));
  return outcome;
}

/**
 * Where dropping is the policy (a full receive queue, a frame the guest sent
 * that no host could take, typed input past the console's room), the count is
 * said at the end of the boot; with --verbose every counter is. An actor that
 * is not running (it gave up) has nothing to say.
 */
async function reportDrops(
  consoleSup: Supervisor<ConsoleProtocol>,
  netSups: Supervisor<NetProtocol>[],
  verbose: boolean,
  log: (s: string) => void,
): Promise<void> {
  const c = await consoleSup.request({ kind: "stats" }, { timeoutMs: 500 }).catch(() => null);
  if (c && (verbose || c.droppedInput > 0)) {
    log(
      `console: ${c.bytesIn} bytes in, ${c.bytesOut} out, ` +
        `${c.droppedInput} input bytes dropped`,
    );
  }
  for (const [i, s] of netSups.entries()) {
    const r = await s.request({ kind: "stats" }, { timeoutMs: 500 }).catch(() => null);
    if (!r) continue;
    const d = r.device, b = r.backend;
    const drops: [string, number][] = [
      ["receive queue full", d.rxDroppedFull],
      ["driver not ready", d.rxDroppedNotReady],
      ["frame bigger than the guest's buffer", d.rxDroppedTooBig],
      ["bad receive buffer", d.rxDroppedBad],
      ["transmitted frame too short", d.txDroppedShort],
      ["transmitted frame too long", d.txDroppedLong],
      ["bad offload header", d.txDroppedHeader],
      ["host side refused", d.txDroppedBackend + b.txDropped],
    ];
    const said = drops.filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`);
    if (verbose || said.length) {
      log(
        `virtio-net ${i}: ${b.rxFrames} frames received, ${b.txFrames} sent; dropped: ` +
          (said.length ? said.join(", ") : "none"),
      );
    }
  }
}

/** How long the cpu may go without finishing a batch while not in wfi (a batch takes ~1 ms). */
export const CPU_WATCHDOG_MS = 10_000;

/**
 * The launcher's watchdog on the cpu actor: a hung cpu (an emulator bug, or a
 * swapped-in cpu that stopped) would otherwise go unnoticed, because the cpu
 * never answers messages while it runs. It reads the heartbeat words of the
 * control block; a cpu asleep in wfi owes no beat.
 */
function watchCpu(ctl: Int32Array, hung: (reason: string) => void): ReturnType<typeof setInterval> {
  let beat = Atomics.load(ctl, CTL.CPU_BEAT);
  let since = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const b = Atomics.load(ctl, CTL.CPU_BEAT);
    if (b !== beat || Atomics.load(ctl, CTL.CPU_IDLE) === 1) {
      beat = b;
      since = now;
    } else if (now - since >= CPU_WATCHDOG_MS) {
      clearInterval(timer);
      hung(
        `the cpu actor stopped making progress: no instruction batch finished in ${
          Math.round((now - since) / 1000)
        } s and it is not waiting in wfi`,
      );
    }
  }, 1000);
  return timer;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<void>((r) => t = setTimeout(r, ms))]).finally(() =>
    clearTimeout(t)
  );
}
