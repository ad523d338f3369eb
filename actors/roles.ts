// The machine's roles, in one table: for each of the seven actors, the protocol
// it speaks, the worker module that plays it unless `--actor` swaps it, its
// restart policy, the fault layer a plan reaches it through, and what its
// failure does to the run. The generic runtime (actors/runtime/) knows no
// role: the launcher hands it this table. Adding a role is one row here, its
// protocol and worker under actors/<role>/, and the buffers the launcher
// builds for it (launcher/boot.ts).
// Read next: actors/runtime/registry.ts and actors/runtime/supervisor.ts (what takes the table).

import type { RoleDescriptor } from "./runtime/protocol.ts";
import { parseRoleOption, Registry } from "./runtime/registry.ts";
import type { RestartPolicy } from "./runtime/supervisor.ts";
import type { FaultLayer } from "../faults/plan.ts";
import { CPU, type CpuProtocol } from "./cpu/protocol.ts";
import { WAKER, type WakerProtocol } from "./waker/protocol.ts";
import { CONSOLE, type ConsoleProtocol } from "./console/protocol.ts";
import { NET, type NetProtocol } from "./net/protocol.ts";
import { BLOCK, type BlockProtocol } from "./block/protocol.ts";
import { IRQ, type IrqProtocol } from "./irq/protocol.ts";
import { SHARE, type ShareProtocol } from "./share/protocol.ts";

/** The machine's roles; `--actor <role>=<module>` accepts exactly these (in this order in messages). */
export const MACHINE_ROLES = ["cpu", "waker", "console", "net", "block", "irq", "share"] as const;
/** One of MACHINE_ROLES. */
export type MachineRole = typeof MACHINE_ROLES[number];

/** Whether `s` names one of the machine's roles. */
export function isMachineRole(s: string): s is MachineRole {
  return (MACHINE_ROLES as readonly string[]).includes(s);
}

/** Each role's protocol (its buffers, config, messages), for code that builds any role. */
export interface RoleProtocols {
  cpu: CpuProtocol;
  waker: WakerProtocol;
  console: ConsoleProtocol;
  net: NetProtocol;
  block: BlockProtocol;
  irq: IrqProtocol;
  share: ShareProtocol;
}

/**
 * What an actor's failure does to the run:
 * - "crash-ends-run": the first crash ends it (nothing to resync after a restart);
 * - "give-up-ends-run": restarts within policy, then the run ends;
 * - "device-needs-reset": past its policy its virtio device shows DEVICE_NEEDS_RESET
 *   and the machine runs on without it.
 */
export type FailureMode = "crash-ends-run" | "give-up-ends-run" | "device-needs-reset";

/** One row of the role table: how the launcher starts, supervises and judges a role's actor. */
export interface RoleSpec {
  /** The role's protocol name and version (what a swapped module must answer). */
  descriptor: RoleDescriptor;
  /** What the role is, in a few words, for messages. */
  what: string;
  /** The worker the launcher starts unless the role is swapped. */
  module: URL;
  /** Its restart policy (a fault plan may override it). */
  policy: RestartPolicy;
  /** The fault-plan layer that reaches this role; null: none (the cpu). */
  faultLayer: FaultLayer | null;
  /** What its failure does to the run. */
  failure: FailureMode;
  /** One actor per device of its kind (each disk, each network) instead of one per machine. */
  perDevice: boolean;
}

const mod = (path: string) => new URL(path, import.meta.url);

/**
 * The table. The cpu is not restarted: the hart's registers live in its
 * worker, so a crash there is the guest's death. Neither is the interrupt
 * controller: an interrupt may be lost mid-flight, and nothing could tell the
 * guest to resync. Device actors keep their state in guest RAM and shared
 * memory, so a restarted one resumes where the last one stopped.
 */
export const ROLES: Record<MachineRole, RoleSpec> = {
  cpu: {
    what: "a hart (one actor per hart with --smp)",
    descriptor: CPU,
    module: mod("./cpu/cpu.worker.ts"),
    policy: { maxRestarts: 0, windowMs: 60_000, backoffMs: 0 },
    // Its IPIs to other harts (--smp): the "ipi" layer can hold them back.
    faultLayer: "ipi",
    failure: "give-up-ends-run",
    perDevice: false,
  },
  waker: {
    what: "timer",
    descriptor: WAKER,
    module: mod("./waker/waker.worker.ts"),
    policy: { maxRestarts: 5, windowMs: 10_000, backoffMs: 20 },
    faultLayer: "waker",
    failure: "give-up-ends-run",
    perDevice: false,
  },
  console: {
    what: "virtio-console",
    descriptor: CONSOLE,
    module: mod("./console/console.worker.ts"),
    policy: { maxRestarts: 5, windowMs: 10_000, backoffMs: 50 },
    faultLayer: "console",
    failure: "device-needs-reset",
    perDevice: false,
  },
  net: {
    what: "virtio-net",
    descriptor: NET,
    module: mod("./net/net.worker.ts"),
    policy: { maxRestarts: 5, windowMs: 10_000, backoffMs: 50 },
    faultLayer: "net",
    failure: "device-needs-reset",
    perDevice: true,
  },
  block: {
    what: "virtio-blk",
    descriptor: BLOCK,
    module: mod("./block/block.worker.ts"),
    policy: { maxRestarts: 5, windowMs: 10_000, backoffMs: 50 },
    faultLayer: "block",
    failure: "device-needs-reset",
    perDevice: true,
  },
  irq: {
    what: "interrupt controller",
    descriptor: IRQ,
    module: mod("./irq/irq.worker.ts"),
    policy: { maxRestarts: 0, windowMs: 60_000, backoffMs: 0 },
    faultLayer: "irq",
    failure: "crash-ends-run",
    perDevice: false,
  },
  share: {
    what: "virtio-9p",
    descriptor: SHARE,
    module: mod("./share/share.worker.ts"),
    policy: { maxRestarts: 5, windowMs: 10_000, backoffMs: 50 },
    faultLayer: "share",
    failure: "device-needs-reset",
    perDevice: true,
  },
};

/** Defaults per role (the table's `policy` column), as the docs and `--faults` restart overrides name them. */
export const ROLE_POLICIES: Record<MachineRole, RestartPolicy> = Object.fromEntries(
  MACHINE_ROLES.map((r) => [r, ROLES[r].policy]),
) as Record<MachineRole, RestartPolicy>;

/** Default worker module per role (the table's `module` column). */
export const DEFAULT_MODULES: Record<MachineRole, URL> = Object.fromEntries(
  MACHINE_ROLES.map((r) => [r, ROLES[r].module]),
) as Record<MachineRole, URL>;

/** A registry of the machine's roles: the defaults above unless `defaults` says otherwise. */
export function machineRegistry(
  defaults: Record<MachineRole, URL> = DEFAULT_MODULES,
): Registry<MachineRole> {
  return new Registry(defaults);
}

/** Parse one `--actor` value, `<role>=<path-or-url>`, against the machine's roles. */
export function parseActorOption(
  spec: string,
  cwd = Deno.cwd(),
): { role: MachineRole; url: URL } {
  return parseRoleOption(spec, MACHINE_ROLES, cwd);
}
