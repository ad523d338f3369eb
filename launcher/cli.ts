// The launcher's command line, in lguest's own shape:
//   mod.ts [options] <mem-in-mb> <kernel> [kernel args...]
// Options come first; the first plain word is the memory size, the second the
// kernel, and everything after it is the kernel command line. With no
// positional arguments the bundled guest in guest/ boots with 128 MB.
// Read next: launcher/machine.ts (what these options turn into).

import { fileURLToPath } from "node:url";
import { isMachineRole, MACHINE_ROLES } from "../actors/roles.ts";
import { MAX_HARTS } from "../machine/memmap.ts";

/** actorvm's version (`--version`). */
export const VERSION = "0.14.0";

/** One --block disk. */
export interface BlockOption {
  /** The backing file. */
  path: string;
  /** `,ro`: the guest sees a read-only disk. */
  readOnly: boolean;
  /**
   * `,snapshot`: the file stays untouched; the guest's writes go to a private
   * overlay that is gone when the run ends (QEMU's -snapshot; devices/block/overlay.ts).
   */
  snapshot?: boolean;
}

/** One --share directory. */
export interface ShareOption {
  /** The host directory. */
  path: string;
  /** The mount tag the guest names it by (`,tag=`; default share0, share1, ...). */
  tag: string;
  /** `,ro`: the guest may read, never change. */
  readOnly: boolean;
}

/** The widest satp mode the harts accept (--mmu). */
export type MmuMode = "sv39" | "sv48" | "sv57";

/** Everything the command line says (parseCommandLine): the options a machine boots with. */
export interface LaunchOptions {
  /** Guest RAM in MiB (`<mem-in-mb>`). */
  memMb: number;
  /** The kernel file (`<kernel>`). */
  kernel: string;
  /** --initrd: the initial RAM disk file, or null. */
  initrd: string | null;
  /** The kernel command line (`[kernel args...]`; the bundled guest's when empty). */
  cmdline: string;
  /** --block disks, /dev/vda first. */
  blocks: BlockOption[];
  /** --share directories, in command-line order. */
  shares: ShareOption[];
  /** --tunnet: `<ip>[/<n>]` or `bridge:<name>`, or null. */
  tunnet: string | null;
  /** --sharenet: the inter-guest segment's path, or null. */
  sharenet: string | null;
  /** --net=user: a user-mode network through passt (docs/net.md). */
  userNet: boolean;
  /** --forward: `tcp:<host-port>:<guest-port>` and `udp:...` specs, for --net=user. */
  forwards: string[];
  /** --mac: the guest's MAC address, or null for a stable local one. */
  mac: string | null;
  /** --actor: role to module, for swapped roles. */
  actors: Map<string, string>;
  /** --faults: the fault plan's file, or null. */
  faults: string | null;
  /** --seed for the fault plan's random choices, or null. */
  seed: number | null;
  /** --verbose. */
  verbose: boolean;
  /** Exit with status 0 on a guest reboot instead of restarting the machine. */
  noReboot: boolean;
  /** Keep a ring of recent PCs and print it, symbolized, if the guest dies. */
  traceOnCrash: boolean;
  /** Sample the guest's pc and print the hottest kernel functions at exit. */
  profile: boolean;
  /** --trace: the Chrome Trace Event / Perfetto JSON file to write the timeline to (docs/trace.md). */
  trace?: string | null;
  /** System.map for naming guest PCs (default: the bundled guest's). */
  systemMap: string | null;
  /** True when no kernel was named: the bundled guest is booting. */
  bundled: boolean;
  /** M-mode firmware to boot first (--bios, docs/firmware.md); null = direct S-mode boot. */
  bios: string | null;
  /** --uart was given: accepted for old command lines; the UART is always there. */
  uart: boolean;
  /** --gdb: where the gdbstub listens (docs/gdb.md), or null. */
  gdb: { host: string; port: number } | null;
  /** --gdb-wait: hold the hart before its first instruction until the debugger resumes it. */
  gdbWait: boolean;
  /** --jit=on|off: run hot guest code through the translator (cpu/jit/; default on). */
  jit: boolean;
  /**
   * --mmu=sv39|sv48|sv57: the widest paging mode the harts offer (default sv48);
   * the device tree's `mmu-type` says the same. Sv57 is opt-in, as QEMU's `sv57=on`.
   */
  mmu: MmuMode;
  /**
   * Deterministic mode (docs/replay.md): "plain" (--deterministic), "record"
   * (--record=<log>) or "replay" (--replay=<log>); null = off.
   */
  deterministic: "plain" | "record" | "replay" | null;
  /** --record or --replay: the log's file. */
  replayLog: string | null;
  /** --input-script: typed input keyed on instruction count, for --deterministic. */
  inputScript: string | null;
  /** --control: the control socket's path (launcher/control_socket.ts), or null. */
  control?: string | null;
  /** --restore: start from this machine snapshot instead of booting (launcher/snapshot.ts). */
  restore?: string | null;
  /**
   * --snapshot-at=<count>:<file>: in deterministic mode, snapshot the machine
   * into `path` at the first batch boundary where `instret` instructions have
   * retired (docs/replay.md), and run on.
   */
  snapshotAt?: { instret: number; path: string } | null;
  /** --smp=N: harts, 1..MAX_HARTS (default 1), each a cpu actor in its own worker (docs/smp.md). */
  smp: number;
}

/** A command line the launcher cannot use (exit status 2; bootMachine rejects with it). */
export class UsageError extends Error {
  /** "UsageError". */
  override name = "UsageError";
}

/** The --help text. */
export const USAGE =
  `actorvm: boot a RISC-V 64-bit Linux guest, every device an actor in its own worker.

Usage: deno run -A mod.ts [options] [<mem-in-mb> <kernel> [kernel args...]]

With no <mem-in-mb> and <kernel>, boots the bundled guest (guest/Image,
guest/initramfs.cpio, guest/cmdline.txt) with 128 MB.

Options (before <mem-in-mb>):
  -h, --help              this text
  --version               print actorvm's version
  --                      end of options: what follows is <mem-in-mb> <kernel> ...
  --verbose               print device setup, every notification and interrupt
  --initrd=<file>         load <file> as the initial RAM disk (top of RAM)
  --block=<file>[,ro]     a virtio-blk disk backed by <file>; repeatable:
                          /dev/vda, /dev/vdb, ... in command-line order
  --block=<file>,snapshot the same, but <file> stays untouched: the guest's
                          writes go to a private overlay dropped at exit
  --share=<dir>[,tag=<name>][,ro]
                          the host directory <dir> as a virtio-9p device (9P2000.L);
                          in the guest: mount -t 9p -o trans=virtio <name> /mnt/x
                          (default tag share0, share1, ...); repeatable
  --tunnet=<ip>[/<n>]     a virtio-net device on a new tap; the host end gets <ip>
  --tunnet=bridge:<name>  ... or the tap joins the existing bridge <name>
  --sharenet=<path>       a virtio-net device on the inter-guest segment <path>
  --net=user              a virtio-net device on a user-mode network through passt
                          (no root): the guest is 10.0.2.15, the gateway 10.0.2.2
                          reaches the host's loopback
  --forward=tcp:[<addr>:]<host-port>:<guest-port>
                          forward a host port (on 127.0.0.1 unless <addr>) into
                          the guest, with --net=user; also udp:...; repeatable
  --mac=<aa:bb:..>        the guest's MAC address (default: a stable local one)
  --actor <role>=<module> run <module> for <role> (cpu, waker, console, net,
                          block, irq, share) instead of the built-in actor; repeatable
  --faults=<plan.json>    turn on the fault layers described by a fault plan
  --seed=<n>              seed for the fault plan's random choices
  --no-reboot             exit (status 0) when the guest reboots, instead of
                          restarting the machine
  --trace=<file.json>     write a timeline of every actor and the hart to <file.json>
                          (Chrome Trace Event JSON: ui.perfetto.dev, chrome://tracing)
  --trace-on-crash        keep the last PCs and print them if the guest dies
  --profile               sample the guest's pc; print the hottest functions at exit
  --system-map=<file>     name guest PCs with this System.map (default: guest/System.map
                          for the bundled guest)
  --bios=<file>           boot M-mode firmware first, as QEMU's -bios: e.g. OpenSBI's
                          fw_jump.bin or fw_dynamic.bin (ELF or raw, at 0x80000000);
                          it serves the SBI to the kernel at 0x80200000 and prints on
                          the UART (a CLINT and a poweroff device are added)
  --jit=on|off            translate hot guest code to WebAssembly (default on);
                          off runs every instruction on the interpreter
  --mmu=sv39|sv48|sv57    the widest paging mode the hart offers (default sv48);
                          sv57's upper-half addresses take a slower path (docs/cpu.md)
  --deterministic         guest time from the instruction count, rng-seed from
                          --seed, every device and input at counts the hart chooses:
                          the same input at the same counts gives the same run
  --input-script=<file>   with --deterministic: typed input from <file> (JSON lines
                          {"k":"in","at":<count>,"b":"<base64>"}), not the terminal
    --record=<log>          deterministic, and write every outside event (typed bytes,
                          received frames) to <log>
  --replay=<log>          run a recording again from <log>, with no outside input:
                          same output, same fate at the same instruction count
                          (a recording made with --restore=<snap> replays with it)
  --snapshot-at=<n>:<file>
                          deterministic: snapshot the machine into <file> at the
                          first batch boundary after n instructions, and run on
  --smp=<n>               harts, 1..8 (default 1), each in its own worker, running in
                          parallel; with n > 1 the bundled guest boots its SMP kernel
                          (guest/variants/Image-smp)
  --uart                  accepted, changes nothing: the ns16550a UART (ttyS0) is
                          always there, as on QEMU virt
  --gdb=[<host>:]<port>   a gdbstub for gdb-multiarch (target remote <host>:<port>);
                          host 127.0.0.1 by default; port 0 picks a free one
  --gdb-wait              with --gdb: hold the hart before its first instruction
                          until the debugger continues it (QEMU's -S)
  --gdb-allow-remote      let --gdb listen on an address other than loopback
                          (anyone who reaches it controls the guest)
  --control=<path>        a control socket (owner-only) speaking QMP-shaped JSON
                          lines: status, pause, resume, snapshot {"path"}, quit;
                          events for the guest's fate and actor restarts
  --restore=<file>        start from a machine snapshot instead of booting; the
                          machine (RAM, disks, devices) comes from <file>; fault
                          plan, seed, trace, terminal and --control are this run's

This terminal is every console of the guest: hvc0 (virtio), the SBI console
and the UART; typed input goes to the one the guest reads (docs/machine.md).
Three ^C within one second stop the emulator; a single ^C goes to the guest.

Exit status: 0 guest powered off (or rebooted, with --no-reboot); 1 the guest
died, its self-check (actorvm.selfcheck=1) failed, or the emulator failed (the
reason is printed); 2 bad usage or input;
130 stopped by three ^C or a signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT and
every other signal that would end the process; SIGUSR1 is ignored).`;

const VALUE_OPTIONS = new Set([
  "initrd",
  "block",
  "share",
  "tunnet",
  "sharenet",
  "net",
  "forward",
  "mac",
  "actor",
  "faults",
  "seed",
  "system-map",
  "bios",
  "trace",
  "gdb",
  "jit",
  "mmu",
  "record",
  "replay",
  "input-script",
  "control",
  "restore",
  "snapshot-at",
  "smp",
]);
const FLAG_OPTIONS = new Set([
  "help",
  "version",
  "verbose",
  "no-reboot",
  "trace-on-crash",
  "profile",
  "uart",
  "gdb-wait",
  "gdb-allow-remote",
  "deterministic",
]);

/** Where the bundled guest lives, relative to this file. */
export const BUNDLED = {
  kernel: new URL("../guest/Image", import.meta.url),
  initrd: new URL("../guest/initramfs.cpio", import.meta.url),
  cmdline: new URL("../guest/cmdline.txt", import.meta.url),
  systemMap: new URL("../guest/System.map", import.meta.url),
  /** The kernel for --smp=N, N > 1 (CONFIG_SMP, guest/variants/smp.fragment) and its symbols. */
  smpKernel: new URL("../guest/variants/Image-smp", import.meta.url),
  smpSystemMap: new URL("../guest/variants/System.map-smp", import.meta.url),
};

/** Parse argv. Returns null for -h or --help (the caller prints USAGE) and for --version. */
export function parseCommandLine(argv: string[]): LaunchOptions | null {
  const r = readCommandLine(argv);
  return typeof r === "string" ? null : r;
}

/**
 * Parse argv: the options to boot with, or "help" (-h, --help: print USAGE)
 * or "version" (--version: print VERSION). `--` ends the options.
 */
export function readCommandLine(argv: string[]): LaunchOptions | "help" | "version" {
  const o: LaunchOptions = {
    memMb: 128,
    kernel: "",
    initrd: null,
    cmdline: "",
    blocks: [],
    shares: [],
    tunnet: null,
    sharenet: null,
    userNet: false,
    forwards: [],
    mac: null,
    actors: new Map(),
    faults: null,
    seed: null,
    verbose: false,
    noReboot: false,
    traceOnCrash: false,
    profile: false,
    trace: null,
    systemMap: null,
    bundled: false,
    bios: null,
    uart: false,
    gdb: null,
    gdbWait: false,
    jit: true,
    mmu: "sv48",
    deterministic: null,
    replayLog: null,
    inputScript: null,
    control: null,
    restore: null,
    snapshotAt: null,
    smp: 1,
  };
  let gdbAllowRemote = false;
  let deterministicFlag = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++; // everything after it is positional, even if it starts with "-"
      break;
    }
    if (arg === "-h") return "help";
    if (/^-[^-0-9]/.test(arg)) throw new UsageError(`unknown option ${arg} (see --help)`);
    if (!arg.startsWith("--")) break;
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (FLAG_OPTIONS.has(name)) {
      if (value !== undefined) throw new UsageError(`option --${name} takes no value`);
      if (name === "help") return "help";
      if (name === "version") return "version";
      if (name === "verbose") o.verbose = true;
      if (name === "no-reboot") o.noReboot = true;
      if (name === "trace-on-crash") o.traceOnCrash = true;
      if (name === "profile") o.profile = true;
      if (name === "uart") o.uart = true;
      if (name === "gdb-wait") o.gdbWait = true;
      if (name === "gdb-allow-remote") gdbAllowRemote = true;
      if (name === "deterministic") deterministicFlag = true;
      continue;
    }
    if (!VALUE_OPTIONS.has(name)) {
      throw new UsageError(`unknown option ${arg} (see --help)`);
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option --${name} needs a value`);
      value = argv[++i];
    }
    if (value === "") throw new UsageError(`option --${name} needs a value`);
    switch (name) {
      case "initrd":
        o.initrd = value;
        break;
      case "block": {
        const parts = value.split(",");
        const path = parts[0];
        let readOnly = false;
        let snapshot = false;
        for (const flag of parts.slice(1)) {
          if (flag === "ro") readOnly = true;
          else if (flag === "snapshot") snapshot = true;
          else if (flag !== "rw") {
            throw new UsageError(
              `--block=${value}: unknown flag "${flag}" (use ,ro or ,snapshot)`,
            );
          }
        }
        if (!path) throw new UsageError(`--block=${value}: no file named`);
        if (readOnly && snapshot) {
          throw new UsageError(
            `--block=${value}: ,ro and ,snapshot together: a read-only disk has nothing to overlay`,
          );
        }
        o.blocks.push(snapshot ? { path, readOnly, snapshot } : { path, readOnly });
        break;
      }
      case "share": {
        const parts = value.split(",");
        const path = parts[0];
        let readOnly = false;
        let tag = `share${o.shares.length}`;
        for (const flag of parts.slice(1)) {
          if (flag === "ro") readOnly = true;
          else if (flag === "rw") readOnly = false;
          else if (flag.startsWith("tag=")) tag = flag.slice(4);
          else {
            throw new UsageError(
              `--share=${value}: unknown flag "${flag}" (use ,tag=<name> or ,ro)`,
            );
          }
        }
        if (!path) throw new UsageError(`--share=${value}: no directory named`);
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tag)) {
          throw new UsageError(
            `--share=${value}: tag "${tag}" must be 1 to 64 of letters, digits, "_", "." and "-"`,
          );
        }
        if (o.shares.some((s) => s.tag === tag)) {
          throw new UsageError(`--share=${value}: tag "${tag}" is already used by another --share`);
        }
        o.shares.push({ path, tag, readOnly });
        break;
      }
      case "tunnet":
        if (o.tunnet !== null) throw new UsageError("--tunnet given twice");
        o.tunnet = value;
        break;
      case "sharenet":
        if (o.sharenet !== null) throw new UsageError("--sharenet given twice");
        o.sharenet = value;
        break;
      case "net":
        if (value !== "user") {
          throw new UsageError(
            `--net=${value}: the one network type is "user" (passt); ` +
              "use --tunnet or --sharenet for the others",
          );
        }
        o.userNet = true;
        break;
      case "forward":
        o.forwards.push(value);
        break;
      case "mac":
        if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(value)) {
          throw new UsageError(`--mac=${value}: want six hex bytes like 52:54:00:12:34:56`);
        }
        if (parseInt(value.slice(0, 2), 16) & 1) {
          throw new UsageError(`--mac=${value}: a multicast address cannot be a NIC's address`);
        }
        o.mac = value.toLowerCase();
        break;
      case "actor": {
        const at = value.indexOf("=");
        const role = at < 0 ? "" : value.slice(0, at);
        const mod = at < 0 ? "" : value.slice(at + 1);
        if (!isMachineRole(role) || mod === "") {
          throw new UsageError(
            `--actor ${value}: want <role>=<module> with role one of ${MACHINE_ROLES.join(", ")}`,
          );
        }
        o.actors.set(role, mod);
        break;
      }
      case "system-map":
        o.systemMap = value;
        break;
      case "trace":
        if (o.trace) throw new UsageError("--trace given twice");
        o.trace = value;
        break;
      case "bios":
        if (o.bios !== null) throw new UsageError("--bios given twice");
        o.bios = value;
        break;
      case "gdb":
        if (o.gdb !== null) throw new UsageError("--gdb given twice");
        o.gdb = parseGdbAddress(value);
        break;
      case "control":
        if (o.control) throw new UsageError("--control given twice");
        o.control = value;
        break;
      case "restore":
        if (o.restore) throw new UsageError("--restore given twice");
        o.restore = value;
        break;
      case "jit":
        if (value !== "on" && value !== "off") {
          throw new UsageError(`--jit=${value}: want on or off`);
        }
        o.jit = value === "on";
        break;
      case "mmu":
        if (value !== "sv39" && value !== "sv48" && value !== "sv57") {
          throw new UsageError(`--mmu=${value}: want sv39, sv48 or sv57`);
        }
        o.mmu = value;
        break;
      case "smp": {
        const n = Number(value);
        if (!/^[0-9]+$/.test(value) || n < 1 || n > MAX_HARTS) {
          throw new UsageError(`--smp=${value}: want a number of harts, 1..${MAX_HARTS}`);
        }
        o.smp = n;
        break;
      }
      case "faults":
        o.faults = value;
        break;
      case "record":
      case "replay":
        if (o.replayLog !== null) throw new UsageError(`--${name}: one --record or --replay only`);
        o.replayLog = value;
        o.deterministic = name;
        break;
      case "input-script":
        o.inputScript = value;
        break;
      case "snapshot-at": {
        const m = /^(\d+):(.+)$/.exec(value);
        const n = m ? Number(m[1]) : NaN;
        if (!m || !Number.isSafeInteger(n)) {
          throw new UsageError(
            `--snapshot-at=${value}: want <instructions>:<file>, e.g. --snapshot-at=30000000:boot.snap`,
          );
        }
        o.snapshotAt = { instret: n, path: m[2] };
        break;
      }
      case "seed": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) {
          throw new UsageError(`--seed=${value}: want a non-negative integer`);
        }
        o.seed = n;
        break;
      }
    }
  }
  if (deterministicFlag && o.deterministic === null) o.deterministic = "plain";
  // One log, one boot: a guest reboot ends a deterministic run (docs/replay.md).
  if (o.deterministic !== null) o.noReboot = true;
  checkDeterministic(o);
  if (o.gdbWait && o.gdb === null) throw new UsageError("--gdb-wait needs --gdb=<host:port>");
  if (o.smp > 1 && o.bios !== null) {
    // The CLINT (MSIP, mtimecmp) is one hart's so far: docs/smp.md, "Not yet".
    throw new UsageError(`--smp=${o.smp} with --bios: firmware boots have one hart for now`);
  }
  if (o.smp > 1 && o.restore) {
    throw new UsageError(`--smp=${o.smp} with --restore: a snapshot holds one hart for now`);
  }
  if (gdbAllowRemote && o.gdb === null) {
    throw new UsageError("--gdb-allow-remote needs --gdb=<host:port>");
  }
  if (o.gdb && !gdbAllowRemote && !isLoopbackHost(o.gdb.host)) {
    throw new UsageError(
      `--gdb=${o.gdb.host}:${o.gdb.port}: not a loopback address; anyone who can reach it ` +
        "could read and change the guest: add --gdb-allow-remote if that is what you want",
    );
  }
  const rest = argv.slice(i);
  if (o.restore) {
    // The machine is the snapshot's: what would build another one is a mistake.
    const clash = [
      rest.length > 0 && "<mem-in-mb> <kernel>",
      o.initrd !== null && "--initrd",
      o.blocks.length > 0 && "--block",
      o.shares.length > 0 && "--share",
      o.tunnet !== null && "--tunnet",
      o.sharenet !== null && "--sharenet",
      o.userNet && "--net",
      o.mac !== null && "--mac",
      o.bios !== null && "--bios",
    ].filter((x) => x);
    if (clash.length) {
      throw new UsageError(
        `--restore: the machine comes from the snapshot; ${clash.join(", ")} cannot change it`,
      );
    }
  }
  if (rest.length === 0) {
    o.bundled = true;
    // fileURLToPath, not .pathname: a clone in "/home/me/my vms" has %20 in its URL.
    // Several harts need the SMP kernel; one hart boots faster without it (docs/smp.md).
    const smp = o.smp > 1;
    o.kernel = fileURLToPath(smp ? BUNDLED.smpKernel : BUNDLED.kernel);
    if (o.initrd === null) o.initrd = fileURLToPath(BUNDLED.initrd);
    if (o.systemMap === null) {
      o.systemMap = fileURLToPath(smp ? BUNDLED.smpSystemMap : BUNDLED.systemMap);
    }
    return o;
  }
  if (rest.length < 2) {
    throw new UsageError(`want <mem-in-mb> <kernel> [kernel args...], got "${rest.join(" ")}"`);
  }
  const mem = Number(rest[0]);
  if (!/^[0-9]+$/.test(rest[0]) || !Number.isSafeInteger(mem) || mem <= 0) {
    throw new UsageError(`<mem-in-mb> must be a positive whole number of MiB, got "${rest[0]}"`);
  }
  o.memMb = mem;
  o.kernel = rest[1];
  o.cmdline = rest.slice(2).join(" ");
  return o;
}

/**
 * What deterministic mode cannot make deterministic yet is refused, named
 * (docs/replay.md, "What is not covered"): a host directory, firmware that
 * keeps its own timer, a debugger's pauses, a swapped actor.
 */
function checkDeterministic(o: LaunchOptions): void {
  if (o.inputScript !== null && o.deterministic !== "plain") {
    throw new UsageError(
      "--input-script is for --deterministic (a replay has its inputs in the log)",
    );
  }
  if (o.snapshotAt && o.deterministic === null) {
    throw new UsageError(
      "--snapshot-at needs deterministic mode (--deterministic, --record or --replay), " +
        "where an instruction count names one moment of the run",
    );
  }
  if (o.deterministic === null) return;
  const mode = o.deterministic === "plain" ? "--deterministic" : `--${o.deterministic}`;
  const refuse = (what: string) => {
    throw new UsageError(
      `${mode}: ${what} is not supported in deterministic mode (docs/replay.md)`,
    );
  };
  if (o.shares.length) refuse("--share");
  if (o.bios !== null) refuse("--bios");
  if (o.gdb !== null) refuse("--gdb");
  if (o.actors.size) refuse("--actor");
  if (o.smp > 1) refuse(`--smp=${o.smp}`);
  // --restore and --control are fine: a snapshot is taken at a batch boundary,
  // with the deterministic cpu's state (docs/replay.md, "Snapshots"), and a
  // pause holds the hart between batches, where guest time stands still.
}

/** `[<host>:]<port>` (an IPv6 host in brackets: `[::1]:1234`); the host defaults to 127.0.0.1. */
export function parseGdbAddress(value: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):)?(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) {
    throw new UsageError(`--gdb=${value}: want [<host>:]<port>, e.g. --gdb=127.0.0.1:1234`);
  }
  let host = m[1] ?? "";
  if (host.startsWith("[")) host = host.slice(1, -1);
  return { host: host === "" ? "127.0.0.1" : host, port };
}

/** Is `host` a loopback address or name (the gdbstub's default reach)? */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
