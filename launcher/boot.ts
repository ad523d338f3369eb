// One boot: start one supervised actor per role on the board launcher/prepare.ts
// laid out — the interrupt controller, the waker, the console, one per disk
// and per network, and the cpu — and wait for the guest's fate. Every
// supervisor is built the same way from the role table (actors/roles.ts):
// its module, restart policy, fault-plan share and failure mode; only the
// buffers and config each role is handed differ (`actorsFor`).
// Read next: actors/cpu/cpu_actor.ts (the cpu), actors/irq/irq.worker.ts (interrupts).

import {
  CTL,
  FATE,
  INPUT,
  publishedInstret,
  releaseInput,
  requestStop,
  wakeCpu,
} from "../machine/control.ts";
import type { ProtocolShape } from "../actors/runtime/protocol.ts";
import type { Registry } from "../actors/runtime/registry.ts";
import { Supervisor, type SupervisorEvent } from "../actors/runtime/supervisor.ts";
import { type MachineRole, type RoleProtocols, ROLES } from "../actors/roles.ts";
import type { CpuFate } from "../actors/cpu/protocol.ts";
import type { ConsoleProtocol } from "../actors/console/protocol.ts";
import type { NetProtocol } from "../actors/net/protocol.ts";
import type { FaultEvent } from "../faults/plan.ts";
import { DeviceTransport } from "../devices/virtio/mmio.ts";
import { setNetLink } from "../devices/net/net.ts";
import { type ConsoleSize, setConsoleSize } from "../devices/console.ts";
import { RAM_BASE } from "../machine/memmap.ts";
import { createByteRing } from "../lib/ring.ts";
import { createDebugChannel } from "../actors/cpu/debug_channel.ts";
import type { GdbServer } from "./gdb/server.ts";
import type { LaunchOptions } from "./cli.ts";
import { type Board, buildBoard, type Prepared } from "./prepare.ts";
import type { TraceFile } from "./trace_file.ts";
import { BootControl } from "./boot_control.ts";
import type { MachineControl } from "./control.ts";
import { applySnapshot, type RestoredState } from "./snapshot.ts";
import { dropPrespawned } from "../actors/runtime/spawn.ts";
import type { EventDef } from "../lib/trace.ts";

/** --trace: the launcher's marks on the timeline (its own track and each actor's). */
const BOOT: EventDef = { name: "boot", cat: "milestone", ph: "i", track: "launcher" };
/** A boot milestone the launcher watches for on the consoles when tracing. */
export const LINUX_VERSION = "Linux version";
import {
  endedBy,
  exitCodeFor,
  type MachineOutcome,
  PanicPolicy,
  READY_LINE,
  SELFCHECK_FAIL,
  watchCpu,
} from "./fate.ts";

/** Hooks for a library user; the CLI passes none. */
export interface MachineHooks {
  /** Where emulator messages go (default: stderr). */
  log?: (line: string) => void;
  /** Called with each supervisor event (crash, restart, give up). */
  onActorEvent?: (e: SupervisorEvent) => void;
  /**
   * Strings to watch for on the guest's consoles (default: the bundled
   * guest's ready line). Each is reported once per boot to onSeen, and with --verbose.
   */
  watch?: string[];
  /** A watched string was seen: after how many instructions and milliseconds of this boot. */
  onSeen?: (text: string, instret: number, msSinceBoot: number) => void;
  /**
   * Called once the terminal is set up and its signal handlers (which stop
   * the machine and restore the terminal) are installed.
   */
  terminalReady?: () => void;
  /**
   * The guest's console goes here instead of the process's terminal and
   * stdout (a machine booted from the library, launcher/library.ts): no
   * stdin reader, raw mode or signal handlers, and output through rings.
   */
  console?: ConsolePort;
  /** The gdbstub (--gdb) is listening on `host`:`port` (the port bound, when 0 was asked). */
  gdbListening?: (host: string, port: number) => void;
  /** The run's control operations (pause, resume, snapshot: launcher/control.ts), once made. */
  controlReady?: (control: MachineControl) => void;
  /**
   * --snapshot-at's count was reached and the hart halted there: take the
   * snapshot (launcher/machine.ts sets it; not for library users).
   * @ignore
   */
  atSnapshotPoint?: (instret: number) => Promise<void>;
}

/** A console other than the process's terminal: the library's streams (launcher/library.ts). */
export interface ConsolePort {
  /** The run starts: `guest` takes typed bytes (as TerminalHooks.input and room) and stops it. */
  open(guest: { input(bytes: Uint8Array): number; room(): Promise<void>; stop(): void }): void;
  /** Each boot's output byte rings, one per writer (the console actor, the cpu): drain them. */
  boot(outputRings: SharedArrayBuffer[]): void;
  /** The run is over: every writer has stopped. */
  close(): void;
}

/** Bytes of each output ring of a library machine: what a reader that does not read lets pile up. */
export const OUTPUT_RING_BYTES = 64 * 1024;

/** What one boot hands the run loop (launcher/machine.ts) while it runs. */
export interface Attach {
  /** This boot's handle for pause, resume and snapshot (launcher/control.ts). */
  control: BootControl;
  /** The ring the terminal writes typed bytes into (read by the console or the cpu actor). */
  inputRing: SharedArrayBuffer;
  stop: (fate: number) => void;
  /** Called after typed bytes went in: wakes the cpu (a UART interrupt may be due, or a handover). */
  wake: () => void;
  /** The terminal was resized: tell the guest's virtio console (VIRTIO_CONSOLE_F_SIZE). */
  resize: (size: ConsoleSize) => void;
}

/** One actor to start: its role, which device of its kind, and what it is handed. */
interface ActorPlan {
  role: MachineRole;
  /** The disk or network index (0 for a role with one actor). */
  index: number;
  buffers: object;
  config: object;
  /** The virtio device it serves: marked DEVICE_NEEDS_RESET if its actor gives up. */
  device?: { state: SharedArrayBuffer; name: string };
}

/** One actor of `role`, its buffers and config checked against the role's protocol. */
function actor<R extends MachineRole>(
  role: R,
  index: number,
  buffers: Omit<RoleProtocols[R]["buffers"], "faults">,
  config: Omit<RoleProtocols[R]["config"], "faults">,
  device?: ActorPlan["device"],
): ActorPlan {
  return { role, index, buffers, config, device };
}

/** What each role is handed on this board: the only per-role code of a boot. */
function actorsFor(
  o: LaunchOptions,
  p: Prepared,
  b: Board,
  watch: string[],
  panic: PanicPolicy,
  output: SharedArrayBuffer[] | null,
  debug: SharedArrayBuffer | null,
  pause: SharedArrayBuffer,
  restored: RestoredState | null,
): ActorPlan[] {
  const { ram, control, plic } = b;
  const verbose = o.verbose;
  const vd = (i: number) => `/dev/vd${String.fromCharCode(97 + i)}`;
  return [
    actor("irq", 0, { control, plic }, { verbose }),
    actor("waker", 0, { control }, { machineTimer: b.firmware }),
    actor(
      "console",
      0,
      {
        ram,
        dmaDirty: b.dmaDirty,
        state: b.consoleSlot.state,
        control,
        // Deterministic mode: the ring only the cpu writes (actors/cpu/deterministic.ts).
        input: b.consoleInputRing ?? b.inputRing,
        ...(output ? { output: output[0] } : {}),
      },
      {
        ramBase: RAM_BASE,
        ramBytes: b.ramBytes,
        verbose,
        watch,
        ...(restored?.consoleInUse ? { restoredInUse: true } : {}),
      },
      { state: b.consoleSlot.state, name: "virtio-console (hvc0)" },
    ),
    ...p.disks.map((d, i) =>
      actor(
        "block",
        i,
        {
          ram,
          dmaDirty: b.dmaDirty,
          state: b.diskSlots[i].state,
          control,
          ...(d.overlay ? { overlayMap: d.overlay.map } : {}),
        },
        {
          path: d.path,
          readOnly: d.readOnly,
          ...(d.overlay ? { overlay: d.overlay.path } : {}),
          identity: d.probe.identity,
          ramBase: RAM_BASE,
          ramBytes: b.ramBytes,
          verbose,
        },
        { state: b.diskSlots[i].state, name: `virtio-blk ${vd(i)}` },
      )
    ),
    ...p.shares.map((sh, i) =>
      actor(
        "share",
        i,
        { ram, state: b.shareSlots[i].state, control, fids: b.shareSlots[i].fids },
        { path: sh.path, tag: sh.tag, readOnly: sh.readOnly, ramBase: RAM_BASE, verbose },
        { state: b.shareSlots[i].state, name: `virtio-9p "${sh.tag}"` },
      )
    ),
    ...p.nets.map((n, i) =>
      actor(
        "net",
        i,
        {
          ram,
          dmaDirty: b.dmaDirty,
          state: b.netSlots[i].state,
          control,
          ...(b.netRings
            ? { framesFromHost: b.netRings[i].fromHost, framesToGuest: b.netRings[i].toGuest }
            : {}),
        },
        { backend: n.spec, verbose, ramBase: RAM_BASE, ramBytes: b.ramBytes },
        { state: b.netSlots[i].state, name: `virtio-net ${i}` },
      )
    ),
    // One cpu actor per hart (--smp): hart 0 boots, the others wait for SBI HSM.
    // The terminal's input, the gdbstub, the pause channel, deterministic
    // mode and a snapshot's restore are hart 0's (the others refuse them).
    ...Array.from({ length: o.smp }, (_, h) =>
      actor(
        "cpu",
        h,
        {
          ram,
          dmaDirty: b.dmaDirty,
          control,
          plic,
          ...b.slotBuffers,
          ...(h === 0 ? { input: b.inputRing } : {}),
          ...(h === 0 && b.consoleInputRing ? { consoleInput: b.consoleInputRing } : {}),
          ...(h === 0
            ? Object.fromEntries(
              (b.netRings ?? []).flatMap((r, i) => [
                [`netFromHost${b.netSlots[i].n}`, r.fromHost],
                [`netToGuest${b.netSlots[i].n}`, r.toGuest],
              ]),
            )
            : {}),
          ...(output ? { output: output[1 + h] } : {}),
          ...(debug && h === 0 ? { debug } : {}),
          ...(h === 0 ? { pause } : {}),
        },
        {
          ramBase: RAM_BASE,
          ramBytes: b.ramBytes,
          memory: b.memory,
          jit: o.jit,
          mmu: o.mmu,
          ...(p.deterministic && h === 0
            ? {
              deterministic: p.deterministic.cpu,
              consoleSlot: 0,
              netSlots: b.netSlots.map((s) => s.n),
            }
            : {}),
          slots: b.slots,
          entry: b.entry,
          firmware: b.firmware ? { fwDynamicInfo: b.fwDynamicInfo } : undefined,
          htif: b.htif ?? undefined,
          uart: b.uart,
          fdtAddr: b.fdtAddr,
          hartId: h,
          harts: o.smp,
          verbose,
          tracePcs: o.traceOnCrash,
          profile: o.profile && h === 0,
          watch,
          stopOn: panic.cpuStopOn,
          ...(debug && h === 0 ? { gdb: { wait: o.gdbWait } } : {}),
          ...(restored && h === 0
            ? {
              restore: {
                hart: restored.hart,
                time: restored.time,
                ...(restored.deterministic ? { deterministic: restored.deterministic } : {}),
              },
            }
            : {}),
        },
      )),
  ];
}

/** Boot once and run to the guest's fate (or a fatal actor failure). */
export async function bootOnce(
  o: LaunchOptions,
  p: Prepared,
  registry: Registry<MachineRole>,
  log: (s: string) => void,
  hooks: MachineHooks,
  trace: TraceFile | null,
  attach: (a: Attach) => void,
  gdb: GdbServer | null = null,
): Promise<MachineOutcome> {
  const bootStart = performance.now();
  trace?.newBoot();
  trace?.tracer.instant(BOOT);
  // The terminal's size is the guest console's only when the terminal is its console.
  const b = buildBoard(o, p, log, hooks.console ? null : undefined);
  // --restore: the snapshot's state over the fresh board, on the run's first boot only.
  let restored: RestoredState | null = null;
  if (p.restore) {
    const snap = p.restore;
    p.restore = undefined;
    restored = applySnapshot(snap, p, b);
  }
  const { control } = b;
  const ctl = new Int32Array(control);
  // Stdout failed in an earlier boot: it stays failed, and was said once.
  if (stdoutGone) Atomics.store(ctl, CTL.STDOUT_GONE, 1);

  // Supervise everything; the cpu's fate (or a fatal actor failure) ends the boot.
  let settle!: (o: MachineOutcome) => void;
  const done = new Promise<MachineOutcome>((r) => settle = r);
  const panic = new PanicPolicy(p.cmdline, (out) => settle(out));
  const userWatch = hooks.watch ?? [READY_LINE];
  const reported = new Set<string>();
  // The bundled guest's self-check failed: the poweroff that follows exits 1.
  let selfcheckFailed = false;
  // One report per string per boot, whichever console (hvc0, SBI, UART) saw it first.
  const seen = (text: string) => {
    panic.seen(text, ctl);
    if (text === SELFCHECK_FAIL) selfcheckFailed = true;
    if (trace && !reported.has(`trace:${text}`)) {
      reported.add(`trace:${text}`);
      const t = trace.tracer;
      t.instant(
        t.named(`seen "${text}"`, { cat: "milestone", ph: "i", args: ["instret"] }),
        publishedInstret(ctl),
      );
    }
    if (!userWatch.includes(text) || reported.has(text)) return;
    reported.add(text);
    const instret = publishedInstret(ctl);
    const ms = performance.now() - bootStart;
    if (o.verbose) log(`console: "${text}" after ${instret} instructions, ${ms.toFixed(0)} ms`);
    hooks.onSeen?.(text, instret, ms);
  };

  // A library machine's output rings: [the console actor's, the cpu's] (actors/output.ts).
  // [the console actor's, hart 0's, hart 1's, ...]
  const output = hooks.console
    ? Array.from({ length: 1 + o.smp }, () => createByteRing(OUTPUT_RING_BYTES))
    : null;
  if (output) hooks.console!.boot(output);
  // The gdbstub's channel to this boot's cpu (launcher/gdb/server.ts).
  const debug = gdb ? createDebugChannel() : null;
  // The control operations' channel to the cpu (pause, snapshot: launcher/boot_control.ts).
  const pause = createDebugChannel();
  const supervisors = new Map<ActorPlan, Supervisor<ProtocolShape>>();
  // The PCs of the cpu's last fate message (--trace-on-crash), stopped or not.
  let cpuPcs: string[] | undefined;
  for (
    const a of actorsFor(
      o,
      p,
      b,
      [...userWatch, ...panic.watch, SELFCHECK_FAIL, ...(trace ? [LINUX_VERSION] : [])],
      panic,
      output,
      debug,
      pause,
      restored,
    )
  ) {
    const spec = ROLES[a.role];
    // The fault plan's share for this actor: its rules, its counters, its restart policy.
    const share = spec.faultLayer ? p.faults?.forActor(spec.faultLayer, a.index) : undefined;
    // --trace: one event ring per actor, kept across its restarts (one writer at a time).
    const track = spec.perDevice || (a.role === "cpu" && a.index > 0)
      ? `${a.role} ${a.index}`
      : a.role;
    // In messages: "cpu" on one hart, "cpu (hart 1)" among several.
    const who = a.role === "cpu" && o.smp > 1 ? `cpu (hart ${a.index})` : a.role;
    const traced: Record<string, SharedArrayBuffer> = trace
      ? { traceRing: trace.ring(track), traceBoard: trace.board }
      : {};
    const s = new Supervisor<ProtocolShape>({
      descriptor: spec.descriptor,
      url: registry.get(a.role),
      buffers: { ...a.buffers, ...(share ? { faults: share.counters } : {}), ...traced },
      config: { ...a.config, ...(share ? { faults: share.config } : {}) },
      policy: { ...spec.policy, ...(spec.faultLayer ? p.faults?.policy(spec.faultLayer) : {}) },
    });
    s.onEvent((e) => {
      hooks.onActorEvent?.(e);
      if (trace) {
        const t = trace.tracer;
        t.instant(t.named(`supervisor: ${e.kind}`, { cat: "supervisor", ph: "i", track }));
      }
      if (e.kind === "crashed") {
        log(`${who} actor crashed: ${e.reason}`);
        if (spec.failure === "crash-ends-run") {
          // Nothing a restart could trust the guest to resync (actors/roles.ts): stop.
          const why = `the ${who} actor (${spec.what}) crashed: ${e.reason}`;
          settle(endedBy(FATE.INTERNAL_ERROR, why, ctl));
        }
      } else if (e.kind === "restarted") {
        log(`${e.role} actor restarted (${e.restarts})`);
      } else if (e.kind === "gave-up") {
        log(`${who} actor: gave up: ${e.reason}`);
        if (spec.failure !== "device-needs-reset") {
          settle(endedBy(FATE.INTERNAL_ERROR, `the ${who} actor failed: ${e.reason}`, ctl));
        } else if (a.device && e.failure.kind === "gave-up") {
          needsReset(a.role, a.device, control, log);
          // The SBI console and the UART may then have the input (docs/machine.md).
          if (a.role === "console") releaseInput(ctl, INPUT.CONSOLE);
        }
      }
    });
    s.onMessage((m) => {
      const msg = m as { kind: string; text?: string; message?: string };
      if (msg.kind === "log") log(msg.text ?? "");
      else if (msg.kind === "backend-failed") {
        // The net actor set the link down; say why (a tap gone, passt past its restarts).
        log(`${a.device?.name ?? a.role}: ${msg.message ?? "backend failed"}; link down`);
      } else if (msg.kind === "seen" && msg.text !== undefined) seen(msg.text);
      else if (msg.kind === "snapshot-point" && a.role === "cpu") {
        // The hart halted itself at --snapshot-at's count; the snapshot resumes it.
        const at = (m as unknown as { instret: number }).instret;
        const taken = hooks.atSnapshotPoint?.(at) ?? Promise.reject(new Error("nobody to take it"));
        taken.catch((e) => {
          settle(endedBy(FATE.INTERNAL_ERROR, `--snapshot-at: ${(e as Error).message}`, ctl));
        });
      } else if (msg.kind === "fault" && p.faults) {
        const line = p.faults.record(s.role, m as unknown as FaultEvent);
        if (line) log(line);
      } else if (msg.kind === "fate" && a.role === "cpu") {
        const f = m as unknown as CpuFate;
        cpuPcs = f.pcs;
        settle({
          fate: f.fate,
          reason: f.reason,
          exitCode: f.exitCode ?? exitCodeFor(f.fate),
          instret: f.instret,
          pcs: f.fate === FATE.CRASHED ? f.pcs : undefined,
          profile: f.profile,
        });
      }
    });
    supervisors.set(a, s);
  }
  const bootControl = new BootControl(
    o,
    p,
    b,
    [...supervisors].map(([a, sup]) => ({ role: a.role, index: a.index, sup })),
    pause,
  );
  attach({
    control: bootControl,
    inputRing: b.inputRing,
    // Deterministic mode: the guest's console has no size, and no resize reaches it.
    resize: (size) =>
      p.deterministic
        ? undefined
        : setConsoleSize(new DeviceTransport(b.consoleSlot.state, control), size),
    stop: (fate) => requestStop(ctl, fate),
    wake: () => wakeCpu(ctl),
  });

  gdb?.attach({
    channel: debug!,
    ctl,
    kill: () => {
      // QEMU's `k` quits: the run ends as stopped (exit status 130).
      settle(endedBy(FATE.STOPPED, "killed by the debugger", ctl));
    },
  });
  if (gdb && o.gdbWait) {
    log(`gdb: the hart waits for a debugger: target remote ${gdb.host}:${gdb.port}`);
  }

  // The cpu first: it is the boot's critical path, and the workers spawned
  // after it load their modules while it does.
  const all = [...supervisors].sort(([a], [b]) =>
    Number(b.role === "cpu") - Number(a.role === "cpu")
  )
    .map(([, s]) => s);
  try {
    // Every actor at once. Start order does not matter for correctness: a
    // device's registers, queues, interrupt lines and the timer deadline are
    // all shared state, so whatever the cpu does before an actor is up waits
    // for it in memory.
    await Promise.all(all.map((s) => s.start()));
  } catch (e) {
    settle({ fate: FATE.INTERNAL_ERROR, reason: (e as Error).message, exitCode: 1, instret: 0 });
  }
  // A cpu worker started early (launcher/prespawn.ts) that this boot did not
  // adopt (--actor swapped the cpu's module) would only sit idle: end it.
  dropPrespawned();
  const stopWatchdog = watchCpu(ctl, (reason) => settle(endedBy(FATE.INTERNAL_ERROR, reason, ctl)));
  const outcome = await done;
  stopWatchdog();
  gdb?.bootEnded(outcome.exitCode);
  panic.dispose();
  const of = <P extends ProtocolShape>(role: MachineRole) =>
    [...supervisors].filter(([a]) => a.role === role).map(([, s]) => s as unknown as Supervisor<P>);
  await reportDrops(of<ConsoleProtocol>("console")[0], of<NetProtocol>("net"), o.verbose, log);
  // Make sure the cpu is off the guest before the devices go away.
  requestStop(ctl, FATE.STOPPED);
  await Promise.all(all.map((s) => withTimeout(s.stop(), 2000)));
  stdoutGone ||= Atomics.load(ctl, CTL.STDOUT_GONE) !== 0;
  // A death the launcher saw (a panic on hvc0): the PCs come from the cpu's stop.
  if (outcome.fate === FATE.CRASHED && !outcome.pcs && cpuPcs) outcome.pcs = cpuPcs;
  if (selfcheckFailed && outcome.fate === FATE.POWEROFF && outcome.exitCode === 0) {
    const reason = `the guest's self-check failed ("${SELFCHECK_FAIL}" on its console)`;
    return { ...outcome, reason, exitCode: 1 };
  }
  return outcome;
}

/** A writer found stdout failed in some boot of this process (CTL.STDOUT_GONE). */
let stdoutGone = false;

/**
 * A device actor past its restart policy: what real hardware shows is a
 * device that needs a reset (virtio §2.1.2). The guest's driver may reset
 * it; nobody serves its queues until then.
 */
function needsReset(
  role: MachineRole,
  device: { state: SharedArrayBuffer; name: string },
  control: SharedArrayBuffer,
  log: (s: string) => void,
): void {
  const t = new DeviceTransport(device.state, control);
  // A network nobody serves has no link: clear LINK_UP first, so the config
  // interrupt also tells the guest (eth0 NO-CARRIER).
  if (role === "net") setNetLink(t, false);
  t.needsReset();
  log(
    `${device.name}: ${role === "net" ? "link down, " : ""}` +
      `set DEVICE_NEEDS_RESET and raised a config interrupt; ` +
      `the machine keeps running without this device`,
  );
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
      ["bad receive offload header", d.rxDroppedHeader],
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
    if (verbose) {
      log(
        `virtio-net ${i}: offloads: ${d.rxSuperFrames} TCP super-frames received whole ` +
          `(${d.rxMerged} frames over several buffers), ${d.txSuperFrames} sent whole, ` +
          `${d.txSegmented} cut into segments here, ${d.txChecksummed} checksums completed here, ` +
          `${d.rxChecksumValid} received checksums marked valid`,
      );
    }
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<void>((r) => t = setTimeout(r, ms))]).finally(() =>
    clearTimeout(t)
  );
}
