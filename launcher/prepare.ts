// Everything a boot needs, made before anything starts: the inputs read and
// checked once per run (a bad file is a clear error, never a half-started
// guest; exit 2), then, for each boot, the board — guest RAM, the control
// block, the interrupt controller's state, one transport state per virtio
// slot, and the kernel, initrd, device tree (and firmware) loaded into RAM.
// Read next: launcher/loader.ts (what goes where in RAM), launcher/boot.ts (who runs on it).

import { createControlBlock, setClockSkew, setDeterministic } from "../machine/control.ts";
import { createJitMemory, jitMemoryFits } from "../cpu/jit/tier.ts";
import { dmaBitmapWords } from "../devices/virtio/ram.ts";
import { createByteRing } from "../lib/ring.ts";
import { FaultRun, PlanError } from "../faults/layers/plan_run.ts";
import {
  deterministicSeed,
  type PreparedDeterministic,
  prepareDeterministic,
} from "./deterministic.ts";
import { fileURLToPath } from "node:url";
import { createConsoleState } from "../devices/console.ts";
import { terminalSize } from "./terminal.ts";
import { createBlockState } from "../devices/block/block.ts";
import {
  type BlockLock,
  BlockOpenError,
  type BlockProbe,
  lockBlockFile,
  probeBlockFile,
} from "../devices/block/backend.ts";
import { createOverlay, type OverlayFiles } from "../devices/block/overlay.ts";
import { createNetState } from "../devices/net/net.ts";
import { createShareState } from "../devices/p9/device.ts";
import { createFidStore } from "../devices/p9/fidstore.ts";
import { type PreparedNet, prepareNet } from "../actors/net/setup.ts";
import { USER_NET_CMDLINE } from "../devices/net/passt.ts";
import { probeModule, type Registry } from "../actors/runtime/registry.ts";
import { isMachineRole, type MachineRole, ROLES } from "../actors/roles.ts";
import { createPlicState } from "../devices/plic.ts";
import { buildMachineFdt } from "./devicetree.ts";
import { RAM_BASE, VIRTIO_SLOTS, virtioSlotBase, virtioSlotIrq } from "../machine/memmap.ts";
import { findSymbols, isElf } from "../lib/elf.ts";
import { checkMemorySize, loadFirmware, loadGuest, writeFwDynamicInfo } from "./loader.ts";
import { BUNDLED, type LaunchOptions } from "./cli.ts";
import type { LoadedSnapshot } from "./snapshot.ts";

/** Bad input from the user: a file that is missing or wrong, an impossible size. Exit 2. */
export class InputError extends Error {
  /** "InputError". */
  override name = "InputError";
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
export interface Prepared {
  memBytes: number;
  kernel: Uint8Array;
  initrd: Uint8Array | null;
  cmdline: string;
  disks: {
    path: string;
    readOnly: boolean;
    probe: BlockProbe;
    /** A `,snapshot` disk's overlay (devices/block/overlay.ts), kept across reboots. */
    overlay?: OverlayFiles;
  }[];
  /** Each --share, its directory made absolute and checked to be one. */
  shares: { path: string; tag: string; readOnly: boolean }[];
  /**
   * Each disk file's lock (exclusive, or shared for ,ro and ,snapshot), held for
   * the whole run; a ,snapshot disk's overlay file is removed with its lock.
   */
  diskLocks: BlockLock[];
  nets: PreparedNet[];
  /** The fault plan (--faults), checked; null without one. */
  faults: FaultRun | null;
  /** M-mode firmware (--bios); null for the direct S-mode boot. */
  bios: Uint8Array | null;
  /** The System.map text (--system-map, or the bundled guest's); null if none or unreadable. */
  systemMap: string | null;
  /** Deterministic mode's seed, rng-seed and the cpu's share (launcher/deterministic.ts); null when off. */
  deterministic: PreparedDeterministic | null;
  /** --restore: the snapshot to paste over the first boot's board (taken by that boot). */
  restore?: LoadedSnapshot;
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

/** Read and check every input; locks the disks and opens the networks (released by the caller). */
export async function prepare(
  o: LaunchOptions,
  log: (s: string) => void,
  /** --restore: the snapshot file's SHA-256 (a recording's header names it). */
  snapshotSha256?: string,
): Promise<Prepared> {
  // The console takes one virtio-mmio slot; every disk, share and network another.
  const netCount = (o.tunnet === null ? 0 : 1) + (o.userNet ? 1 : 0) +
    (o.sharenet === null ? 0 : 1);
  if (1 + o.blocks.length + o.shares.length + netCount > VIRTIO_SLOTS) {
    throw new InputError(
      `too many devices: the machine has ${VIRTIO_SLOTS} virtio slots, the console takes one, ` +
        `so at most ${VIRTIO_SLOTS - 1} disks, shares and networks (asked for ${o.blocks.length} ` +
        `disk(s), ${o.shares.length} share(s) and ${netCount} network(s))`,
    );
  }
  const shares = o.shares.map((sh) => ({ ...sh, path: checkShareDir(sh.path) }));
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
      readInput(fileURLToPath(BUNDLED.cmdline), "command line", Infinity, true),
    )
      .trim();
    // The bundled guest takes its addresses from the command line: give it the
    // user network's when that network is its eth0 (no tap before it).
    if (o.userNet && o.tunnet === null) cmdline += ` ${USER_NET_CMDLINE}`;
  }
  const diskLocks: BlockLock[] = [];
  const unlock = () => diskLocks.forEach((l) => l.release());
  const disks = o.blocks.map((b) => {
    try {
      // A ,snapshot disk's file is only read: probed and locked as ,ro is.
      const baseOnly = b.readOnly || b.snapshot === true;
      const probe = probeBlockFile(b.path, baseOnly);
      diskLocks.push(lockBlockFile(b.path, baseOnly));
      for (const w of probe.warnings) log(`warning: ${w}`);
      if (!b.snapshot) return { path: b.path, readOnly: b.readOnly, probe };
      let overlay: OverlayFiles;
      try {
        overlay = createOverlay(probe.size, b.path);
      } catch (e) {
        throw new BlockOpenError(
          "io",
          b.path,
          `${b.path}: cannot make its snapshot overlay: ${(e as Error).message}`,
        );
      }
      diskLocks.push({ release: () => overlay.remove() });
      return { path: b.path, readOnly: false, probe, overlay };
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
    nets = await prepareNet({
      tunnet: o.tunnet,
      sharenet: o.sharenet,
      mac: o.mac,
      user: o.userNet,
      forwards: o.forwards,
    });
  } catch (e) {
    unlock();
    throw new InputError((e as Error).message);
  }
  let faults: FaultRun | null = null;
  let seed = o.seed;
  if (o.deterministic !== null) {
    try {
      seed = deterministicSeed(o, (m) => new InputError(m));
    } catch (e) {
      unlock();
      for (const n of nets) n.release();
      throw e;
    }
  }
  if (o.faults !== null) {
    try {
      faults = FaultRun.load(o.faults, seed);
    } catch (e) {
      unlock();
      for (const n of nets) n.release(); // a tap closed, a user network's socket directory gone
      if (e instanceof PlanError) throw new InputError(`--faults: ${e.message}`);
      throw e;
    }
    for (const line of faults.describe()) log(line);
  } else if (o.seed !== null && o.deterministic === null) {
    log("warning: --seed without --faults does nothing");
  }
  let deterministic: PreparedDeterministic | null = null;
  if (o.deterministic !== null) {
    try {
      deterministic = await prepareDeterministic(
        o,
        {
          kernel,
          initrd,
          disks: disks.map((d) => d.path),
          faults,
          memMb: o.memMb,
          cmdline,
          macs: nets.map((n) => [...n.mac].map((b) => b.toString(16).padStart(2, "0")).join(":")),
          snapshot: snapshotSha256 ?? null,
        },
        seed ?? 0,
        (m) => new InputError(m),
      );
    } catch (e) {
      unlock();
      for (const n of nets) n.release();
      throw e;
    }
  }
  return {
    deterministic,
    memBytes,
    kernel,
    initrd,
    cmdline,
    disks,
    shares,
    diskLocks,
    nets,
    faults,
    bios,
    systemMap,
  };
}

/** A --share directory: it must exist and be a directory; returned absolute. */
function checkShareDir(path: string): string {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`--share=${path}: does not exist`);
    throw new InputError(`--share=${path}: ${(e as Error).message}`);
  }
  if (!Deno.statSync(real).isDirectory) {
    throw new InputError(`--share=${path}: not a directory`);
  }
  return real;
}

/**
 * Apply the `--actor` swaps to `registry`, and refuse before boot (exit 2) a
 * swapped module that does not speak its role's protocol.
 */
export async function applySwaps(o: LaunchOptions, registry: Registry<MachineRole>): Promise<void> {
  for (const [role, mod] of o.actors) {
    try {
      registry.set(role as MachineRole, mod);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
  }
  for (const role of o.actors.keys()) {
    if (!isMachineRole(role)) continue;
    try {
      await probeModule(registry.get(role), ROLES[role].descriptor);
    } catch (e) {
      throw new InputError(`--actor ${role}: ${(e as Error).message}`);
    }
  }
}

/** Free bytes left after the device tree on a firmware boot (OpenSBI grows it in place). */
const FIRMWARE_FDT_ROOM = 64 * 1024;
/** Free space at the end of every device tree (see buildFdt below). */
const FDT_FREE_BYTES = 16 * 1024;

/** One virtio slot: its number and its transport state. */
export interface Slot {
  n: number;
  state: SharedArrayBuffer;
}

/** One boot's machine, laid out and loaded, before any actor runs. */
export interface Board {
  /**
   * Guest RAM: `ramBytes` bytes at offset 0 of the buffer. With `memory`, it is
   * that WebAssembly.Memory's buffer and the hart's registers and TLBs follow
   * RAM (cpu/jit/tier.ts), so actors bound every access by `ramBytes`.
   */
  ram: SharedArrayBuffer;
  ramBytes: number;
  /** The shared, non-growable memory the translator runs in; null when RAM leaves it no room. */
  memory: WebAssembly.Memory | null;
  /** One bit per RAM page a device wrote (devices/virtio/ram.ts), read by the translator. */
  dmaDirty: SharedArrayBuffer;
  control: SharedArrayBuffer;
  plic: SharedArrayBuffer;
  /**
   * The terminal's input ring, read by the console actor or the cpu actor —
   * whichever console the guest reads (CTL.INPUT_OWNER, docs/machine.md).
   */
  inputRing: SharedArrayBuffer;
  /** Deterministic mode: the console's input ring, which only the cpu writes (else null). */
  consoleInputRing: SharedArrayBuffer | null;
  /**
   * Deterministic mode: per network, the frames its backend received (net
   * actor → cpu) and the frames the cpu hands to the device (cpu → net actor),
   * each a byte ring of length-prefixed frames (else null).
   */
  netRings: { fromHost: SharedArrayBuffer; toGuest: SharedArrayBuffer }[] | null;
  /** A firmware boot (--bios): M-mode firmware first, the CLINT and syscon. */
  firmware: boolean;
  /** The ns16550a UART: always there, as on QEMU virt. */
  uart: boolean;
  /** Slot numbers in use, and each as buffer `slot<n>` for the cpu. */
  slots: number[];
  slotBuffers: Record<string, SharedArrayBuffer>;
  consoleSlot: Slot;
  diskSlots: Slot[];
  /** Each share's slot and its fid store (devices/p9/fidstore.ts), kept across actor restarts. */
  shareSlots: (Slot & { fids: SharedArrayBuffer })[];
  netSlots: Slot[];
  /** Where the cpu starts (the firmware's entry on a firmware boot), and the device tree. */
  entry: number;
  fdtAddr: number;
  fwDynamicInfo: number;
  /** HTIF's words when the firmware (or else the kernel) ELF has `tohost`/`fromhost` symbols. */
  htif: { tohost: number; fromhost: number } | null;
}

/** Lay out and load one boot's machine. Throws InputError if the guest does not fit. */
export function buildBoard(
  o: LaunchOptions,
  p: Prepared,
  log: (s: string) => void,
  /** The console's size (VIRTIO_CONSOLE_F_SIZE), or null not to offer one. */
  consoleSize: { cols: number; rows: number } | null = terminalSize(),
): Board {
  let ram: SharedArrayBuffer;
  let memory: WebAssembly.Memory | null = null;
  try {
    // One shared WebAssembly.Memory: RAM, then the hart's state (cpu/jit/).
    // 4 GiB of RAM leaves no room after it: a plain buffer, interpreter only.
    // With several harts, a code store after their state (cpu/jit/code_store.ts):
    // one translation of a page for all of them (docs/smp.md).
    const share = o.smp > 1 && jitMemoryFits(p.memBytes, o.smp, true);
    if (share || jitMemoryFits(p.memBytes, o.smp)) {
      memory = createJitMemory(p.memBytes, o.smp, share).memory;
      ram = memory.buffer as unknown as SharedArrayBuffer;
    } else {
      ram = new SharedArrayBuffer(p.memBytes);
      if (o.jit) {
        log(
          `warning: ${p.memBytes / 2 ** 20} MB of RAM leaves no room for the translator; --jit=off`,
        );
      }
    }
  } catch (e) {
    throw new InputError(
      `cannot allocate ${p.memBytes / 2 ** 20} MB of guest RAM: ${(e as Error).message}`,
    );
  }
  const control = createControlBlock(o.smp);
  // Deterministic mode (docs/replay.md): on before any actor starts.
  if (p.deterministic) setDeterministic(new Int32Array(control));
  // A waker skew rule is a constant offset of the waker's clock (docs/ipc.md, CLOCK_SKEW).
  if (p.faults?.clockSkew) setClockSkew(new Int32Array(control), p.faults.clockSkew);
  const plic = createPlicState();
  const inputRing = createByteRing(1 << 16);
  // Deterministic mode: the console's own input ring, written only by the cpu.
  const consoleInputRing = p.deterministic ? createByteRing(1 << 16) : null;
  const firmware = p.bios !== null;
  // The UART is part of the machine, as on QEMU virt (--uart is accepted and changes nothing);
  // its registers live in hart 0's worker, so a machine with several harts has none yet
  // (any hart may run its driver: docs/smp.md).
  const uart = o.smp === 1;

  // Devices, slot by slot: the console first, then disks (vda, vdb, ...), shares, networks.
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
  const consoleSlot = claim(
    // Deterministic: no terminal size (it differs from one terminal to the next).
    createConsoleState(virtioSlotIrq(0), p.deterministic ? null : consoleSize),
    "virtio-console (hvc0)",
  );
  const diskSlots = p.disks.map((d, i) =>
    claim(
      createBlockState({
        irq: virtioSlotIrq(slot),
        sectors: d.probe.sectors,
        readOnly: d.readOnly,
      }),
      `virtio-blk /dev/vd${String.fromCharCode(97 + i)} on ${d.path}${
        d.readOnly ? " (ro)" : d.overlay ? ` (snapshot overlay ${d.overlay.path})` : ""
      }`,
    )
  );
  const shareSlots = p.shares.map((sh) => ({
    ...claim(
      createShareState({ irq: virtioSlotIrq(slot), tag: sh.tag }),
      `virtio-9p "${sh.tag}" on ${sh.path}${sh.readOnly ? " (ro)" : ""}`,
    ),
    fids: createFidStore(),
  }));
  // Receive offloads (TSO super-frames, merged buffers) where the backend
  // carries virtio-net headers: the tap; not in deterministic mode, whose
  // frames go through the cpu bare (actors/net/net_actor.ts).
  const netSlots = p.nets.map((n) =>
    claim(
      createNetState(virtioSlotIrq(slot), n.mac, {
        receiveOffloads: n.spec.kind === "tap" && !p.deterministic,
      }),
      `virtio-net on ${n.description}`,
    )
  );
  // Deterministic mode: each network's received frames go to the cpu, which
  // hands them back at counts it chooses (actors/cpu/deterministic.ts).
  const netRings = p.deterministic
    ? p.nets.map(() => ({ fromHost: createByteRing(1 << 18), toGuest: createByteRing(1 << 18) }))
    : null;

  let loaded;
  let firmwareEntry = 0, fwDynamicInfo = 0;
  // On a restore (--restore) the snapshot's RAM replaces what is loaded here:
  // load into a scratch buffer (checking the kernel as ever) and leave guest
  // RAM untouched, so the pages the snapshot leaves out stay zero pages the
  // host never backs (launcher/snapshot.ts applySnapshot).
  const image = p.restore ? new Uint8Array(p.memBytes) : new Uint8Array(ram, 0, p.memBytes);
  try {
    loaded = loadGuest({
      ram: image,
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
          harts: o.smp,
          mmu: o.mmu,
          uart,
          clint: firmware,
          syscon: firmware,
          ...(p.deterministic ? { rngSeed: p.deterministic.rngSeed } : {}),
          // Free space inside the blob, as QEMU leaves: U-Boot keeps a copy of
          // exactly totalsize bytes and grows it in place for booti (/chosen's
          // initrd, 12 KiB), over its global data if the blob had none.
          padBytes: FDT_FREE_BYTES,
        });
        if (!firmware) return fdt;
        // OpenSBI edits the tree in place (fdt_open_into past its end): leave it room.
        const room = new Uint8Array(fdt.length + FIRMWARE_FDT_ROOM);
        room.set(fdt);
        return room;
      },
    });
    if (p.bios) {
      const fw = loadFirmware(
        image,
        p.bios,
        `--bios: ${o.bios}`,
        loaded.kernelStart,
      );
      // fw_dynamic's handoff sits just below the kernel (fw_jump ignores it).
      fwDynamicInfo = Math.floor((loaded.kernelStart - 64) / 8) * 8;
      if (fwDynamicInfo < fw.end) {
        throw new InputError(`--bios: ${o.bios}: no room between the firmware and the kernel`);
      }
      writeFwDynamicInfo(image, fwDynamicInfo, loaded.entry, 0);
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

  return {
    ram,
    ramBytes: p.memBytes,
    memory,
    dmaDirty: new SharedArrayBuffer(4 * dmaBitmapWords(p.memBytes)),
    control,
    plic,
    inputRing,
    consoleInputRing,
    netRings,
    firmware,
    uart,
    slots,
    slotBuffers,
    consoleSlot,
    diskSlots,
    shareSlots,
    netSlots,
    entry: firmware ? firmwareEntry : loaded.entry,
    fdtAddr: loaded.fdtAddr,
    fwDynamicInfo,
    htif: findHtif(p.bios, o.bios, p.memBytes) ?? findHtif(p.kernel, o.kernel, p.memBytes),
  };
}

/**
 * Spike's HTIF words (devices/htif.ts, docs/firmware.md): an ELF with both
 * `tohost` and `fromhost` symbols. They must be 8-aligned words in RAM.
 */
function findHtif(
  bytes: Uint8Array | null,
  name: string | null,
  memBytes: number,
): { tohost: number; fromhost: number } | null {
  if (bytes === null || !isElf(bytes)) return null;
  const syms = findSymbols(bytes, ["tohost", "fromhost"]);
  const tohost = syms.get("tohost"), fromhost = syms.get("fromhost");
  if (tohost === undefined || fromhost === undefined) return null;
  for (const [what, at] of [["tohost", tohost], ["fromhost", fromhost]] as const) {
    if (at % 8n !== 0n || at < BigInt(RAM_BASE) || at + 8n > BigInt(RAM_BASE + memBytes)) {
      throw new InputError(
        `${name}: its HTIF symbol ${what} (0x${at.toString(16)}) is not an aligned word in RAM`,
      );
    }
  }
  return { tohost: Number(tohost), fromhost: Number(fromhost) };
}
