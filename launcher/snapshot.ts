// Machine snapshots: take one from a running boot, read one back, and put it
// on a fresh board. Taking one quiesces the machine in two steps — the hart
// halts at an instruction boundary (launcher/boot_control.ts), then every
// actor gets its protocol's `snapshot` request, which a device actor answers
// between two passes and after which it touches guest RAM no more (so every
// request is either completed in the used ring or untouched in the avail
// ring: a restored device serves it again, exactly once) — then copies guest
// RAM, the shared state (control block, PLIC, each virtio slot, typed input
// not yet taken), each ,snapshot disk's overlay, and lets the machine run on
// before it compresses and writes the file. Restoring builds the board as a
// cold boot would and pastes the saved state over it; the cpu actor loads
// the hart and continues the guest's clock from the snapshot's moment.
// File layout: machine/snapshot_format.ts; in words: docs/snapshot.md.
// Read next: launcher/control.ts (who calls this), machine/snapshot_format.ts.

import { VERSION } from "./cli.ts";
import type { BlockOption, LaunchOptions, MmuMode } from "./cli.ts";
import type { BootControl } from "./boot_control.ts";
import type { Board, Prepared } from "./prepare.ts";
import { InputError } from "./prepare.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  gzip,
  loadRamPages,
  PAGE_BYTES,
  ramPages,
  type SectionInput,
  SnapshotFormatError,
} from "../machine/snapshot_format.ts";
import { CONTROL_BYTES, CTL, CTL64 } from "../machine/control.ts";
import { PLIC_NDEV } from "../machine/memmap.ts";
import { HART_STATE_VERSION, type HartState } from "../cpu/hart_state.ts";
import { ByteRingReader, ByteRingWriter } from "../lib/ring.ts";
import { SECTOR } from "../devices/block/backend.ts";
import { overlayHas, overlayMapBytes } from "../devices/block/overlay.ts";
import type { ConsoleSnapshot } from "../actors/console/protocol.ts";
import type { DeterministicState } from "../actors/cpu/deterministic.ts";

/** What a snapshot says about the machine: enough to build the same board again. */
export interface SavedMachine {
  memMb: number;
  kernel: string;
  initrd: string | null;
  /** The kernel command line the guest booted with. */
  cmdline: string;
  bundled: boolean;
  bios: string | null;
  systemMap: string | null;
  jit: boolean;
  /** --mmu (absent in snapshots older than Sv57: sv48). */
  mmu?: MmuMode;
  /** Each disk, and its file's identity: a restore against another file is refused. */
  disks: (BlockOption & {
    size: number;
    sha256: string;
    /** A plain disk saved whole ("disks": "copy"): its file's contents are not checked. */
    copied?: boolean;
  })[];
  userNet: boolean;
  forwards: string[];
  tunnet: string | null;
  sharenet: string | null;
  mac: string | null;
  /** The virtio slots, in order: a restored board must lay them out the same way. */
  slots: number;
}

/** The snapshot file's JSON header. */
export interface SnapshotHeader {
  actorvm: string;
  created: string;
  machine: SavedMachine;
  hart: HartState;
  /** The guest's time (ticks, decimal) when the hart halted. */
  time: string;
  /** Instructions retired when the hart halted. */
  instret: number;
  /** What each actor said to its `snapshot` request, by role (device actors: a list). */
  actors: Record<string, unknown>;
  /** The console actor's state (also under actors.console). */
  console: ConsoleSnapshot;
  /**
   * Present when the machine ran in deterministic mode (docs/replay.md,
   * "Snapshots"): the seed it ran with and the cpu's state beside the hart —
   * instructions skipped in wfi, the SBI deadline, the clock's skew. A
   * deterministic run restores only such a snapshot.
   */
  deterministic?: SavedDeterministic;
}

/** A deterministic run's state in its snapshot (SnapshotHeader.deterministic). */
export interface SavedDeterministic extends DeterministicState {
  /** The run's seed (its rng-seed and fault plan's; a restore's --seed is its own). */
  seed: number;
  /** Guest time as an instruction count: instret + idle. */
  icount: number;
}

/** A snapshot read back and checked, ready to restore. */
export interface LoadedSnapshot {
  path: string;
  /** SHA-256 of the whole file (hex): a recording's header names the snapshot it started from. */
  sha256: string;
  header: SnapshotHeader;
  sections: Map<string, Uint8Array>;
}

/** What a snapshot cost. */
export interface SnapshotResult {
  /** The file written. */
  path: string;
  /** Its size. */
  bytes: number;
  /** How long the hart was halted and the devices frozen for it. */
  pausedMs: number;
  /** From the request to the file in place. */
  totalMs: number;
  /** Guest RAM pages saved (zero pages are left out). */
  pages: number;
}

/** A snapshot that cannot be taken now (a plain writable disk, a share): the reason in words. */
export class SnapshotRefused extends Error {
  /** "SnapshotRefused". */
  override name = "SnapshotRefused";
}

/** The base files' hashes, by path and identity: computed once per run. */
const baseHashes = new Map<string, string>();

async function fileSha256(path: string): Promise<{ size: number; sha256: string }> {
  const st = await Deno.stat(path);
  const key = `${path}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtime?.getTime()}`;
  let h = baseHashes.get(key);
  if (h === undefined) {
    const bytes = await Deno.readFile(path);
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    h = Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
    baseHashes.set(key, h);
  }
  return { size: st.size, sha256: h };
}

/**
 * How a snapshot treats plain writable disks (neither ,snapshot nor ,ro):
 * "refuse" (the default: their files go on changing after the snapshot), or
 * "copy" — every sector is saved in the snapshot (read during the pause), and
 * a restore attaches the disk as a ,snapshot disk whose overlay holds all of
 * it, so the file's later changes do not matter (only its size must match).
 */
export type PlainDisks = "refuse" | "copy";

/** Options of a snapshot. */
export interface SnapshotOptions {
  /** Plain writable disks: refused (default) or copied whole into the snapshot. */
  disks?: PlainDisks;
}

/** Can this machine be snapshotted? Throws SnapshotRefused saying why not. */
export function checkSnapshotable(
  o: LaunchOptions,
  p: Prepared,
  plain: PlainDisks = "refuse",
): void {
  if (o.smp > 1) {
    throw new SnapshotRefused(
      `the machine has ${o.smp} harts: a snapshot holds one hart's state so far (docs/snapshot.md)`,
    );
  }
  if (o.shares.length > 0) {
    throw new SnapshotRefused(
      "the machine has --share directories: a host directory cannot be saved with the machine",
    );
  }
  for (const d of p.disks) {
    if (!d.readOnly && !d.overlay && plain !== "copy") {
      throw new SnapshotRefused(
        `disk ${d.path} is a plain writable disk: its file would go on changing after the ` +
          `snapshot; attach it as --block=${d.path},snapshot (or ,ro), or ask for ` +
          `"disks": "copy" to save its every sector in the snapshot`,
      );
    }
  }
}

/**
 * Take a snapshot of the boot `bc` into `path` (written as `path`.tmp, then
 * renamed: a crash never leaves half a file under the name). The machine runs
 * on afterwards (or stays paused if it was).
 */
export async function takeSnapshot(
  bc: BootControl,
  path: string,
  opts: SnapshotOptions = {},
): Promise<SnapshotResult> {
  const t0 = performance.now();
  checkSnapshotable(bc.o, bc.p, opts.disks ?? "refuse");
  // Identities first (hashing a big base takes a while; the machine runs meanwhile).
  const disks = [];
  for (const d of bc.p.disks) {
    if (!d.readOnly && !d.overlay) {
      // "copy": the whole disk is in the snapshot; a restore needs only a file of its size.
      disks.push({
        path: d.path,
        readOnly: false,
        snapshot: true,
        copied: true,
        size: d.probe.fileSize,
        sha256: "",
      });
      continue;
    }
    const id = await fileSha256(d.path);
    disks.push({
      path: d.path,
      readOnly: d.readOnly,
      ...(d.overlay ? { snapshot: true } : {}),
      ...id,
    });
  }
  await bc.hold();
  const tPause = performance.now();
  const frozen: typeof bc.actors = [];
  let captured: ReturnType<typeof capture>;
  let hart: { state: HartState; time: string; deterministic?: DeterministicState };
  const actors: Record<string, unknown> = {};
  try {
    const r = await bc.request({ op: "hartState" });
    if (!r.ok || r.state === undefined || r.time === undefined) {
      throw new Error(`the cpu did not give its state: ${r.error}`);
    }
    hart = { state: r.state as HartState, time: r.time };
    if (bc.p.deterministic) {
      if (r.deterministic === undefined) {
        throw new Error("the cpu did not give its deterministic state (a swapped cpu?)");
      }
      hart.deterministic = r.deterministic as DeterministicState;
    }
    // Every actor but the cpu (halted above), in any order: each freezes between its
    // own passes, and the hart, the devices' only client, is already halted.
    // All asked at once (each answers on its own thread); any refusal fails the snapshot.
    const others = bc.actors.filter((a) => a.role !== "cpu");
    const answers = await Promise.allSettled(
      others.map((a) => a.sup.request({ kind: "snapshot" }, { timeoutMs: 5000 })),
    );
    answers.forEach((r, i) => {
      if (r.status === "fulfilled") frozen.push(others[i]);
    });
    for (const [i, r] of answers.entries()) {
      const a = others[i];
      if (r.status === "rejected") {
        throw new SnapshotRefused(
          `the ${a.role} actor cannot take part in a snapshot: ${(r.reason as Error).message}`,
        );
      }
      if (a.role === "console" || a.role === "irq" || a.role === "waker") {
        actors[a.role] = r.value;
      } else ((actors[a.role] ??= []) as unknown[])[a.index] = r.value;
    }
    captured = capture(bc, actors.console as ConsoleSnapshot);
  } finally {
    // Thaw in any case: a failed snapshot must leave a running machine.
    await Promise.all(
      frozen.map((a) => a.sup.request({ kind: "thaw" }, { timeoutMs: 5000 }).catch(() => {})),
    );
    await bc.release();
  }
  const pausedMs = performance.now() - tPause;
  const header: SnapshotHeader = {
    actorvm: VERSION,
    created: new Date().toISOString(),
    machine: {
      memMb: bc.o.memMb,
      kernel: bc.o.kernel,
      initrd: bc.o.initrd,
      cmdline: bc.p.cmdline,
      bundled: bc.o.bundled,
      bios: bc.o.bios,
      systemMap: bc.o.systemMap,
      jit: bc.o.jit,
      mmu: bc.o.mmu,
      disks,
      userNet: bc.o.userNet,
      forwards: bc.o.forwards,
      tunnet: bc.o.tunnet,
      sharenet: bc.o.sharenet,
      mac: bc.o.mac,
      slots: bc.b.slots.length,
    },
    hart: hart.state,
    time: hart.time,
    instret: Number(hart.state.n.instretN),
    actors,
    console: actors.console as ConsoleSnapshot,
    ...(hart.deterministic
      ? {
        deterministic: {
          seed: bc.p.deterministic!.seed,
          icount: Number(hart.state.n.instretN) + hart.deterministic.idle,
          ...hart.deterministic,
        },
      }
      : {}),
  };
  const sections: SectionInput[] = [
    { name: "ram", bytes: await gzip([captured.ram]), encoding: "gzip" },
    { name: "control", bytes: captured.control, encoding: "raw" },
    { name: "plic", bytes: captured.plic, encoding: "raw" },
    ...captured.slots.map((s, n) => ({ name: `slot${n}`, bytes: s, encoding: "raw" as const })),
    { name: "input", bytes: captured.input, encoding: "raw" },
  ];
  for (const [i, ov] of captured.overlays.entries()) {
    if (!ov) continue;
    sections.push({ name: `overlay${i}.map`, bytes: await gzip([ov.map]), encoding: "gzip" });
    sections.push({ name: `overlay${i}.data`, bytes: await gzip(ov.data), encoding: "gzip" });
  }
  const parts = await encodeSnapshot(header, sections);
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  let bytes = 0;
  try {
    for (const part of parts) {
      for (let at = 0; at < part.length;) at += await f.write(part.subarray(at));
      bytes += part.length;
    }
    await f.syncData();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
  return {
    path,
    bytes,
    pausedMs,
    totalMs: performance.now() - t0,
    pages: captured.ram.length / (4 + PAGE_BYTES),
  };
}

/** Copy everything shared while the machine is quiesced (synchronous: nothing moves meanwhile). */
function capture(bc: BootControl, console: ConsoleSnapshot) {
  const b = bc.b;
  const ram = ramPages(new Uint8Array(b.ram, 0, b.ramBytes));
  const copy = (sab: SharedArrayBuffer) => new Uint8Array(sab).slice();
  // Typed input not yet in the guest: what the console holds, then what waits in
  // its rings (deterministic mode: the one the cpu fills, then the terminal's).
  const pending: number[] = [...(console?.heldInput ?? [])];
  const buf = new Uint8Array(4096);
  for (const ring of [b.consoleInputRing, b.inputRing]) {
    if (ring === null) continue;
    const ringCopy = new SharedArrayBuffer(ring.byteLength);
    new Uint8Array(ringCopy).set(new Uint8Array(ring));
    const reader = new ByteRingReader(ringCopy);
    for (let n; (n = reader.read(buf)) > 0;) pending.push(...buf.subarray(0, n));
  }
  const overlays = bc.p.disks.map((d) => {
    if (!d.overlay && !d.readOnly) {
      // A plain disk copied whole ("disks": "copy"): every sector, as a full overlay.
      const map = new Uint8Array(overlayMapBytes(d.probe.size));
      const bits = new Int32Array(map.buffer);
      for (let s = 0; s < d.probe.size / SECTOR; s++) bits[s >>> 5] |= 1 << (s & 31);
      const data = new Uint8Array(d.probe.size);
      const f = Deno.openSync(d.path, { read: true });
      try {
        for (let at = 0; at < data.length;) {
          const n = f.readSync(data.subarray(at));
          if (!n) throw new Error(`${d.path}: short read`);
          at += n;
        }
      } finally {
        f.close();
      }
      return { map, data: [data] };
    }
    if (!d.overlay) return null;
    const map = new Int32Array(d.overlay.map);
    const sectors = d.probe.size / SECTOR;
    const data: Uint8Array[] = [];
    const f = Deno.openSync(d.overlay.path, { read: true });
    try {
      for (let s = 0; s < sectors; s++) {
        if (!overlayHas(map, s)) continue;
        // Runs of written sectors, read in one go each.
        let e = s + 1;
        while (e < sectors && overlayHas(map, e) && e - s < 2048) e++;
        const run = new Uint8Array((e - s) * SECTOR);
        f.seekSync(s * SECTOR, Deno.SeekMode.Start);
        for (let at = 0; at < run.length;) {
          const n = f.readSync(run.subarray(at));
          if (!n) throw new Error(`overlay of ${d.path}: short read`);
          at += n;
        }
        data.push(run);
        s = e - 1;
      }
    } finally {
      f.close();
    }
    return { map: new Uint8Array(d.overlay.map).slice(), data };
  });
  return {
    ram,
    control: copy(b.control),
    plic: copy(b.plic),
    slots: b.slots.map((n) => copy(b.slotBuffers[`slot${n}`])),
    input: new Uint8Array(pending),
    overlays,
  };
}

/** RAM sections may decompress to at most this: 4 GiB of guest RAM in page records. */
function sectionLimit(name: string): number {
  if (name === "ram") return (2 ** 32 / PAGE_BYTES) * (4 + PAGE_BYTES);
  return 2 ** 40 / 512; // an overlay's bitmap or data: bounded by the disk's size below
}

/**
 * Read and check a snapshot file: format, checksums, the hart record's
 * version, and each disk's base file (same size and SHA-256 as when the
 * snapshot was taken). Throws InputError (exit 2) saying what is wrong.
 */
export async function loadSnapshot(path: string): Promise<LoadedSnapshot> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`--restore: ${path}: no such file`);
    throw new InputError(`--restore: ${path}: ${(e as Error).message}`);
  }
  let file;
  try {
    file = await decodeSnapshot<SnapshotHeader>(bytes, sectionLimit);
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new InputError(`--restore: ${path}: ${e.message}`);
    throw e;
  }
  const h = file.header;
  const m = h?.machine;
  if (
    !m || typeof m.memMb !== "number" || typeof m.kernel !== "string" ||
    !Array.isArray(m.disks) || h.hart?.version !== HART_STATE_VERSION ||
    typeof h.time !== "string" || !/^-?\d+$/.test(h.time)
  ) {
    throw new InputError(`--restore: ${path}: the header does not describe a machine`);
  }
  const d = h.deterministic;
  const decimal = (v: unknown) => typeof v === "string" && /^-?\d+$/.test(v);
  if (
    d !== undefined &&
    (d === null || typeof d !== "object" || !Number.isSafeInteger(d.idle) || d.idle < 0 ||
      !Number.isSafeInteger(d.seed) || !decimal(d.sbiDeadline) || !decimal(d.skew))
  ) {
    throw new InputError(`--restore: ${path}: the header's deterministic state is malformed`);
  }
  for (const name of ["ram", "control", "plic", "input"]) {
    if (!file.sections.has(name)) throw new InputError(`--restore: ${path}: no ${name} section`);
  }
  for (const d of m.disks) {
    let now;
    try {
      now = d.copied
        ? { size: (await Deno.stat(d.path)).size, sha256: "" }
        : await fileSha256(d.path);
    } catch (e) {
      throw new InputError(
        `--restore: ${path}: disk ${d.path} is gone (${(e as Error).message})`,
      );
    }
    if (d.copied ? now.size !== d.size : now.size !== d.size || now.sha256 !== d.sha256) {
      throw new InputError(
        `--restore: ${path}: disk ${d.path} is not the file the snapshot was taken on ` +
          `(size ${now.size} vs ${d.size}, sha256 ${now.sha256.slice(0, 12)}… vs ` +
          `${d.sha256.slice(0, 12)}…); restoring over it would corrupt the guest's filesystem`,
      );
    }
  }
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { path, sha256, header: h, sections: file.sections };
}

/**
 * The options a restore runs with: the machine from the snapshot, the
 * run's own choices (fault plan, seed, terminal, trace, verbose, control
 * socket, jit, reboot policy) from `o`.
 */
export function restoreOptions(o: LaunchOptions, s: LoadedSnapshot): LaunchOptions {
  const m = s.header.machine;
  return {
    ...o,
    memMb: m.memMb,
    kernel: m.kernel,
    initrd: m.initrd,
    cmdline: m.cmdline,
    bundled: false,
    bios: m.bios,
    mmu: m.mmu ?? "sv48",
    systemMap: o.systemMap ?? m.systemMap,
    blocks: m.disks.map((d) => ({
      path: d.path,
      readOnly: d.readOnly,
      ...(d.snapshot ? { snapshot: true } : {}),
    })),
    shares: [],
    userNet: m.userNet,
    forwards: o.forwards.length ? o.forwards : m.forwards,
    tunnet: m.tunnet,
    sharenet: m.sharenet,
    mac: m.mac,
  };
}

/** What the cpu and console actors are told on a restored board (Board.restored). */
export interface RestoredState {
  hart: HartState;
  time: string;
  consoleInUse: boolean;
  /** A deterministic snapshot's cpu state (SnapshotHeader.deterministic). */
  deterministic?: DeterministicState;
}

/**
 * Paste a snapshot over a freshly built board (and the run's fresh overlays).
 * Throws InputError if the board is not laid out as the snapshot's was.
 */
export function applySnapshot(s: LoadedSnapshot, p: Prepared, b: Board): RestoredState {
  const m = s.header.machine;
  const sec = s.sections;
  if (b.slots.length !== m.slots || b.ramBytes !== m.memMb * 2 ** 20) {
    throw new InputError(
      `--restore: ${s.path}: the machine built has ${b.slots.length} virtio slots and ` +
        `${b.ramBytes / 2 ** 20} MB; the snapshot's had ${m.slots} and ${m.memMb} MB`,
    );
  }
  const fail = (what: string) => new InputError(`--restore: ${s.path}: ${what}`);
  try {
    // Fresh RAM: buildBoard loaded nothing into it for a restore (launcher/prepare.ts).
    loadRamPages(sec.get("ram")!, new Uint8Array(b.ram, 0, b.ramBytes), true);
  } catch (e) {
    throw fail((e as Error).message);
  }
  const same = (name: string, sab: SharedArrayBuffer) => {
    const bytes = sec.get(name);
    if (!bytes || bytes.length !== sab.byteLength) throw fail(`section ${name} does not fit`);
    return bytes;
  };
  new Uint8Array(b.plic).set(same("plic", b.plic));
  for (const [k, n] of b.slots.entries()) {
    new Uint8Array(b.slotBuffers[`slot${n}`]).set(same(`slot${k}`, b.slotBuffers[`slot${n}`]));
  }
  // The control block: the interrupt state, the timer and the input's owner; not the
  // epoch, doorbells, stop or fate words of the run that saved it.
  const saved = same("control", b.control);
  if (saved.length !== CONTROL_BYTES) throw fail("control section does not fit");
  const old = new Int32Array(saved.slice().buffer);
  const ctl = new Int32Array(b.control);
  const words: number[] = [CTL.MIP, CTL.INPUT_OWNER, CTL.INPUT_WANTED];
  for (let i = 0; i <= PLIC_NDEV; i++) words.push(CTL.LINE0 + i);
  for (const w of words) Atomics.store(ctl, w, old[w]);
  const old64 = new BigInt64Array(saved.slice().buffer);
  new BigInt64Array(b.control)[CTL64.TIMER_DEADLINE / 8] = old64[CTL64.TIMER_DEADLINE / 8];
  // Typed input the guest had not taken yet goes first into the fresh ring.
  const input = sec.get("input")!;
  if (input.length > 0 && new ByteRingWriter(b.inputRing).write(input) !== input.length) {
    throw fail(`${input.length} bytes of pending input do not fit the input ring`);
  }
  for (const [i, d] of p.disks.entries()) {
    const map = sec.get(`overlay${i}.map`), data = sec.get(`overlay${i}.data`);
    if (!d.overlay) {
      if (map) throw fail(`disk ${i} has an overlay in the snapshot but not here`);
      continue;
    }
    if (!map || !data) throw fail(`disk ${i} (${d.path}) has no overlay in the snapshot`);
    if (map.length !== d.overlay.map.byteLength) throw fail(`disk ${i}: overlay bitmap size`);
    const bits = new Int32Array(map.slice().buffer);
    const sectors = d.probe.size / SECTOR;
    const f = Deno.openSync(d.overlay.path, { write: true });
    try {
      let at = 0;
      for (let sct = 0; sct < sectors; sct++) {
        if (!overlayHas(bits, sct)) continue;
        let e = sct + 1; // a run of written sectors, written in one go
        while (e < sectors && overlayHas(bits, e)) e++;
        const len = (e - sct) * SECTOR;
        if (at + len > data.length) throw fail(`disk ${i}: overlay data is short`);
        f.seekSync(sct * SECTOR, Deno.SeekMode.Start);
        const piece = data.subarray(at, at + len);
        for (let w = 0; w < piece.length;) w += f.writeSync(piece.subarray(w));
        at += len;
        sct = e - 1;
      }
      if (at !== data.length) throw fail(`disk ${i}: overlay data is long`);
    } finally {
      f.close();
    }
    new Uint8Array(d.overlay.map).set(map);
  }
  return {
    hart: s.header.hart,
    time: s.header.time,
    consoleInUse: s.header.console?.inUse === true,
    ...(s.header.deterministic
      ? {
        deterministic: {
          idle: s.header.deterministic.idle,
          sbiDeadline: s.header.deterministic.sbiDeadline,
          skew: s.header.deterministic.skew,
        },
      }
      : {}),
  };
}

/**
 * Write disk `index` of snapshot `path` as one image at `out`: its base file
 * with the snapshot's overlay applied — what the guest saw at the snapshot
 * (for e2fsck, debugfs, or a new base). The snapshot is checked as for a
 * restore (the base must be the file it was taken on).
 */
export async function exportSnapshotDisk(path: string, index: number, out: string): Promise<void> {
  const s = await loadSnapshot(path);
  const d = s.header.machine.disks[index];
  if (!d) throw new InputError(`${path}: no disk ${index}`);
  await Deno.copyFile(d.path, out);
  await Deno.chmod(out, 0o600);
  const map = s.sections.get(`overlay${index}.map`);
  const data = s.sections.get(`overlay${index}.data`);
  if (!map || !data) return; // a ,ro disk: the base is the disk
  const bits = new Int32Array(map.slice().buffer);
  const sectors = Math.floor(d.size / SECTOR);
  const f = await Deno.open(out, { write: true });
  try {
    let at = 0;
    for (let sct = 0; sct < sectors; sct++) {
      if (!overlayHas(bits, sct)) continue;
      let e = sct + 1;
      while (e < sectors && overlayHas(bits, e)) e++;
      const piece = data.subarray(at, at + (e - sct) * SECTOR);
      await f.seek(sct * SECTOR, Deno.SeekMode.Start);
      for (let w = 0; w < piece.length;) w += await f.write(piece.subarray(w));
      at += piece.length;
      sct = e - 1;
    }
  } finally {
    f.close();
  }
}
