// actorvm's launcher and library entry. As a program — `deno run -A mod.ts
// [options] [<mem-in-mb> <kernel> [kernel args...]]` — it parses the lguest
// command line, runs the machine to the guest's fate, and exits with it. As a
// library it exports bootMachine — a machine run from code, its console as
// Web Streams (launcher/library.ts) — and the pieces: the registry of actor
// modules (swap any role), the supervisor and the protocol helpers.
// Read next: launcher/cli.ts, then launcher/machine.ts.

// First: this starts the cpu worker when mod.ts runs as the program, so that
// its modules load while the rest of these do (launcher/prespawn.ts).
import "./launcher/prespawn.ts";
import { dropPrespawned } from "./actors/runtime/spawn.ts";
import { readCommandLine, USAGE, UsageError, VERSION } from "./launcher/cli.ts";
import { InputError, runMachine } from "./launcher/machine.ts";
import { FATE } from "./machine/control.ts";
import { SymbolMap } from "./launcher/symbols.ts";
import { ignoreSigusr1, stopSignals } from "./launcher/signals.ts";

export { readCommandLine, VERSION } from "./launcher/cli.ts";

export {
  type BlockOption,
  BUNDLED,
  type LaunchOptions,
  type MmuMode,
  parseCommandLine,
  type ShareOption,
  USAGE,
  UsageError,
} from "./launcher/cli.ts";
export {
  type ConsolePort,
  exitCodeFor,
  InputError,
  type MachineHooks,
  type MachineOutcome,
  READY_LINE,
  runMachine,
} from "./launcher/machine.ts";
export {
  bootMachine,
  type BootOptions,
  fateName,
  type Machine,
  type MachineResult,
} from "./launcher/library.ts";
export {
  exportSnapshotDisk,
  type PlainDisks,
  type SnapshotOptions,
  SnapshotRefused,
  type SnapshotResult,
} from "./launcher/snapshot.ts";
export {
  ControlError,
  type ControlEvent,
  type ControlStatus,
  MachineControl,
} from "./launcher/control.ts";
export { probeModule, Registry } from "./actors/runtime/registry.ts";
export {
  type FailureMode,
  isMachineRole,
  MACHINE_ROLES,
  machineRegistry,
  type MachineRole,
  parseActorOption,
  ROLE_POLICIES,
  ROLES,
  type RoleSpec,
} from "./actors/roles.ts";
export {
  type RestartPolicy,
  Supervisor,
  type SupervisorEvent,
  type SupervisorOptions,
  type SupervisorState,
} from "./actors/runtime/supervisor.ts";
export {
  type ActorContext,
  ActorFailure,
  type ActorHandlers,
  type ActorPort,
  type ByKind,
  defineRole,
  type Failure,
  type Message,
  type ProtocolShape,
  type RemoteError,
  type ReplyOf,
  type RoleDescriptor,
  serveActor,
} from "./actors/runtime/protocol.ts";
export { CTL, FATE } from "./machine/control.ts";
export { FAULT_LAYERS, type FaultLayer } from "./faults/plan.ts";

const FATE_NAMES: Record<number, string> = {
  [FATE.POWEROFF]: "powered off",
  [FATE.REBOOT]: "rebooted",
  [FATE.CRASHED]: "died",
  [FATE.INTERNAL_ERROR]: "emulator failure",
  [FATE.STOPPED]: "stopped",
};

async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = readCommandLine(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`actorvm: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts === "help" || opts === "version") {
    try {
      console.log(opts === "version" ? `actorvm ${VERSION}` : USAGE);
    } catch (e) {
      // `--help >/dev/full`: say so, like coreutils, not with a stack trace.
      console.error(`actorvm: cannot write the usage: ${(e as Error).message}`);
      return 1;
    }
    return 0;
  }
  // Until the machine's terminal takes over signals, one still means "stop"
  // (exit 130, as documented): probing --actor modules can take seconds.
  const SIGNALS = stopSignals();
  const early = () => Deno.exit(130);
  for (const sig of SIGNALS) Deno.addSignalListener(sig, early);
  const dropEarly = () => {
    for (const sig of SIGNALS) Deno.removeSignalListener(sig, early);
  };
  try {
    const out = await runMachine(opts, undefined, { terminalReady: dropEarly });
    // A failed self-check powers off with status 1: say why too.
    if (
      out.fate !== FATE.POWEROFF || out.exitCode !== 0 || opts.verbose ||
      opts.deterministic !== null
    ) {
      console.error(
        `actorvm: guest ${FATE_NAMES[out.fate] ?? `fate ${out.fate}`}: ${out.reason}` +
          ` (${out.instret} instructions)`,
      );
    }
    const syms = opts.systemMap ? SymbolMap.load(opts.systemMap) : null;
    if (out.pcs) {
      console.error(`actorvm: last ${out.pcs.length} PCs, oldest first:`);
      for (const pc of out.pcs) console.error(`  ${pc} ${syms?.describe(BigInt(pc)) ?? ""}`);
    }
    if (out.profile) {
      const samples = out.profile.map(([pc, n]) => [BigInt(pc), n] as [bigint, number]);
      const total = samples.reduce((a, [, n]) => a + n, 0);
      console.error(`actorvm: profile, ${total} samples (one per 997 instructions):`);
      if (syms) {
        for (const r of syms.profile(samples)) {
          console.error(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
        }
      } else {
        samples.sort((a, b) => b[1] - a[1]);
        for (const [pc, n] of samples.slice(0, 25)) console.error(`  ${n}  0x${pc.toString(16)}`);
      }
    }
    return out.exitCode;
  } catch (e) {
    if (e instanceof InputError) {
      console.error(`actorvm: ${e.message}`);
      return 2;
    }
    console.error(`actorvm: internal error: ${e instanceof Error ? e.stack : e}`);
    return 1;
  }
}

if (import.meta.main) {
  // First, before Deno's inspector starts listening for SIGUSR1 (half a
  // second into the run): the emulator never opens a debugger port.
  ignoreSigusr1();
  // Deno.exit, not a return: the cpu worker may still be inside the guest
  // (docs/deno-facts.md: terminate() cannot stop a worker that never yields).
  const status = await main(Deno.args);
  // A run that ended before it booted, or swapped the cpu's module, left it unadopted.
  dropPrespawned();
  Deno.exit(status);
}
