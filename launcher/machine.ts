// The machine, run: what lguest's main() did after parsing its arguments.
// Check every input before anything starts (launcher/prepare.ts), set up the
// terminal, which lives across reboots as the network backends and disk locks
// do, then boot (launcher/boot.ts) until the guest's fate (launcher/fate.ts);
// a reboot builds the machine again, unless --no-reboot.
// Read next: launcher/prepare.ts, launcher/boot.ts, launcher/fate.ts.

import { FATE } from "../machine/control.ts";
import { ByteRingWriter } from "../lib/ring.ts";
import type { Registry } from "../actors/runtime/registry.ts";
import { machineRegistry, type MachineRole } from "../actors/roles.ts";
import type { LaunchOptions } from "./cli.ts";
import { Terminal, TERMINAL_HOLD_BYTES, type TerminalHooks } from "./terminal.ts";
import { applySwaps, prepare } from "./prepare.ts";
import { bootOnce, type MachineHooks } from "./boot.ts";
import type { MachineOutcome } from "./fate.ts";
import { InputError } from "./prepare.ts";
import { TraceFile } from "./trace_file.ts";
import { installTracer, tracer } from "../lib/trace.ts";
import { GdbServer } from "./gdb/server.ts";
import { MachineControl } from "./control.ts";
import { ControlSocket } from "./control_socket.ts";
import {
  checkSnapshotable,
  type LoadedSnapshot,
  loadSnapshot,
  restoreOptions,
} from "./snapshot.ts";

export { InputError } from "./prepare.ts";
export type { ConsolePort, MachineHooks } from "./boot.ts";
export {
  CPU_WATCHDOG_MS,
  exitCodeFor,
  type MachineOutcome,
  PANIC_END,
  PANIC_LINE,
  panicTimeout,
  READY_LINE,
} from "./fate.ts";

/**
 * Boot the machine `o` describes and run it to its fate (through reboots,
 * unless --no-reboot). Throws InputError before anything starts if an input
 * is bad.
 */
export async function runMachine(
  o: LaunchOptions,
  registry: Registry<MachineRole> = machineRegistry(),
  hooks: MachineHooks = {},
): Promise<MachineOutcome> {
  const log = hooks.log ?? ((s: string) => console.error(`actorvm: ${s}`));
  // --restore: the snapshot is read and checked (exit 2 if it is bad) before anything starts.
  let snapshot: LoadedSnapshot | null = null;
  if (o.restore) {
    snapshot = await loadSnapshot(o.restore);
    if (o.deterministic !== null && !snapshot.header.deterministic) {
      // Its guest clock was the host's and its devices ran on their own: nothing
      // from here on could be replayed (docs/replay.md, "Snapshots").
      throw new InputError(
        `--restore=${o.restore}: taken in normal mode; a deterministic run (--deterministic, ` +
          `--record, --replay) starts only from a snapshot taken in deterministic mode`,
      );
    }
    o = restoreOptions(o, snapshot);
    log(
      `restoring ${o.restore} (taken ${snapshot.header.created}, ` +
        `${snapshot.header.instret} instructions into its boot)`,
    );
  }
  // A swapped module must speak its role's protocol: refuse it before boot (exit 2).
  await applySwaps(o, registry);
  // --trace: the file is opened (and a bad path refused) before anything starts.
  let trace: TraceFile | null = null;
  if (o.trace) {
    // The launcher's marks go through this thread's one tracer (lib/trace.ts).
    if (tracer !== null) {
      throw new InputError("--trace: another machine in this process is tracing");
    }
    try {
      trace = new TraceFile(o.trace);
    } catch (e) {
      throw new InputError(`--trace: cannot write "${o.trace}": ${(e as Error).message}`);
    }
    installTracer(trace.tracer);
  }
  /** A run refused before it boots leaves no trace file behind. */
  const dropTrace = () => {
    if (trace) {
      installTracer(null);
      trace.close();
      Deno.removeSync(trace.path);
    }
  };
  let p: Awaited<ReturnType<typeof prepare>>;
  try {
    p = await prepare(o, log, snapshot?.sha256);
  } catch (e) {
    dropTrace();
    throw e;
  }
  let socket: ControlSocket | null = null;
  /**
   * ...nor holds the control socket, the networks or the disks' locks. Callers
   * `return await refuse(...)`, so TypeScript sees the path end.
   */
  const refuse = async (message: string): Promise<never> => {
    await socket?.close();
    for (const n of p.nets) n.release();
    for (const l of p.diskLocks) l.release();
    dropTrace();
    throw new InputError(message);
  };
  if (snapshot) p.restore = snapshot;
  // The control operations (launcher/control.ts), and --control's socket on them.
  const control = new MachineControl(() => {
    stopping = true;
    stop(FATE.STOPPED);
  });
  if (o.control) {
    try {
      socket = ControlSocket.listen(o.control, control, log);
    } catch (e) {
      return await refuse((e as Error).message);
    }
  }
  hooks.controlReady?.(control);
  // --snapshot-at: refused now, not at its count, if this machine cannot be snapshotted.
  if (o.snapshotAt) {
    const at = o.snapshotAt;
    try {
      checkSnapshotable(o, p);
      if (snapshot && snapshot.header.instret > at.instret) {
        throw new Error(`the run starts at ${snapshot.header.instret} (--restore), past it`);
      }
    } catch (e) {
      return await refuse(`--snapshot-at=${at.instret}:${at.path}: ${(e as Error).message}`);
    }
  }
  // The machine runs on while the file is compressed and written: the run's end waits for it.
  let snapshotAt: Promise<void> | null = null;
  const bootHooks: MachineHooks = {
    ...hooks,
    atSnapshotPoint(instret) {
      snapshotAt = control.snapshot(o.snapshotAt!.path).then((r) => {
        log(`--snapshot-at: ${r.path} at ${instret} instructions (${r.bytes} bytes)`);
      });
      return snapshotAt;
    },
    onActorEvent(e) {
      hooks.onActorEvent?.(e);
      control.actorEvent(e);
    },
  };
  // The gdbstub listens across reboots, as the terminal lives (docs/gdb.md).
  let gdb: GdbServer | null = null;
  if (o.gdb) {
    try {
      gdb = GdbServer.listen(o.gdb, log);
    } catch (e) {
      return await refuse((e as Error).message);
    }
    log(`gdb: listening on ${gdb.host}:${gdb.port}`);
    hooks.gdbListening?.(gdb.host, gdb.port);
  }
  let input: ByteRingWriter | null = null;
  let stop: (why: number) => void = () => {};
  // A stop asked for between boots (a signal while a reboot is under way) is
  // kept, so the next boot stops at once instead of running on.
  let stopping = false;
  // Typed bytes wake the cpu: the guest may wait for them in wfi (a UART interrupt).
  let inputWake: () => void = () => {};
  // SIGWINCH: the new size goes to the console of the boot under way.
  let resize: (size: { cols: number; rows: number }) => void = () => {};
  // The input ring never drops: what does not fit waits in the terminal
  // (launcher/terminal.ts), which stops reading a pipe meanwhile.
  const guest: TerminalHooks = {
    input(bytes) {
      const n = input?.write(bytes) ?? 0; // no machine yet (or between boots): wait
      if (n > 0) {
        tracer?.inputWritten(n);
        inputWake();
      }
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
    resize(size) {
      resize(size);
    },
  };
  // The process's terminal, or (a library machine) the caller's console port.
  const terminal = hooks.console ? null : new Terminal(guest);
  terminal?.start();
  hooks.console?.open({
    input: guest.input,
    room: guest.room,
    stop() {
      stopping = true;
      stop(FATE.STOPPED);
    },
  });
  hooks.terminalReady?.();
  try {
    for (let boot = 1;; boot++) {
      let outcome = await bootOnce(o, p, registry, log, bootHooks, trace, (a) => {
        control.bootStarted(a.control);
        input = new ByteRingWriter(a.inputRing);
        stop = a.stop;
        if (stopping) a.stop(FATE.STOPPED);
        inputWake = a.wake;
        resize = a.resize;
      }, gdb);
      control.bootEnded();
      if (outcome.fate === FATE.REBOOT && !o.noReboot && !stopping) {
        log(`guest rebooted: booting again (boot ${boot + 1})`);
        control.emit({ event: "RESET" });
        continue;
      }
      if (o.snapshotAt) {
        if (snapshotAt === null) {
          log(
            `warning: --snapshot-at=${o.snapshotAt.instret}: the run ended at ` +
              `${outcome.instret} instructions, before it; no snapshot written`,
          );
        } else {
          // A failure after the hart ran on (writing the file) is said here: the run already ended.
          await (snapshotAt as Promise<void>).catch((e) => {
            log(`--snapshot-at: ${(e as Error).message}`);
            if (outcome.exitCode === 0) {
              outcome = {
                ...outcome,
                exitCode: 1,
                reason: `${outcome.reason}; --snapshot-at failed`,
              };
            }
          });
        }
      }
      control.ended(outcome);
      await socket?.close();
      return outcome;
    }
  } finally {
    await socket?.close();
    gdb?.close();
    terminal?.close();
    hooks.console?.close();
    if (terminal && terminal.dropped > 0) {
      log(`input: ${terminal.dropped} typed bytes were dropped (the guest was not reading)`);
    }
    for (const n of p.nets) n.release();
    for (const l of p.diskLocks) l.release();
    if (p.faults) log(p.faults.summary());
    if (trace) {
      installTracer(null);
      const t = trace.close();
      if (trace.failed) {
        log(`trace: writing ${trace.path} failed, the trace is cut short: ${trace.failed}`);
      } else {
        log(
          `trace: ${t.events} events, ${(t.bytes / 1e6).toFixed(1)} MB in ${trace.path}` +
            (t.dropped ? ` (${t.dropped} records dropped on full rings)` : ""),
        );
      }
    }
  }
}
