// Fuzz: random, mostly hostile descriptor chains (bad addresses, absurd
// lengths, loops, broken and nested indirect tables, random headers and
// sectors, avail indexes run ahead) against the block and console devices in
// a small guest RAM with guard regions. After every chain: no exception
// escaped (the device logs "internal error" if one did), and no byte changed
// outside the used ring and the buffers some descriptor marks device-writable.
// Seeded: a failure prints the seed and iteration to replay.
// Read next: devices/virtio/queue.ts (the parser under attack).

import { assert, assertEquals } from "./assert.ts";
import { createControlBlock } from "../actors/layout.ts";
import { RAM_BASE } from "../devices/memmap.ts";
import { BlockDevice, createBlockState } from "../devices/block.ts";
import type { BlockBackend } from "../devices/block_backend.ts";
import { ConsoleDevice, createConsoleState } from "../devices/console.ts";
import {
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from "../devices/virtio/constants.ts";
import type { VirtioDevice } from "../devices/virtio/device.ts";
import { MmioTransport, REG } from "../devices/virtio/mmio.ts";
import { driverSetup } from "../devices/virtio/testing.ts";

/** RAM layout (offsets): guards at both ends, rings, indirect tables, a data arena. */
const RAM_BYTES = 0x8000;
const QSIZE = 16;
const DESC = 0x400, AVAIL = 0x500, USED = 0x580;
const USED_END = USED + 6 + 8 * QSIZE;
const TABLES = 0x800, TABLES_END = 0x1000;
const ARENA = 0x1000, ARENA_END = 0x7000;

/** A disk in memory whose size must never change. */
class MemBackend implements BlockBackend {
  readonly data = new Uint8Array(32 * 512);
  readonly size = this.data.length;
  readonly readOnly: boolean;
  flushes = 0;
  constructor(readOnly: boolean) {
    this.readOnly = readOnly;
  }
  #check(off: number, len: number) {
    if (!(off >= 0 && off + len <= this.size)) throw new Error(`backend access outside the disk`);
  }
  read(off: number, buf: Uint8Array) {
    this.#check(off, buf.length);
    buf.set(this.data.subarray(off, off + buf.length));
  }
  write(off: number, d: Uint8Array) {
    if (this.readOnly) throw new Error("read-only");
    this.#check(off, d.length);
    this.data.set(d, off);
  }
  flush() {
    this.flushes++;
  }
  close() {}
}

/** mulberry32: small, seedable. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    f: next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}

type Rng = ReturnType<typeof prng>;

interface Fuzz {
  ram: SharedArrayBuffer;
  bytes: Uint8Array;
  view: DataView;
  mmio: MmioTransport;
  dev: VirtioDevice;
  logs: string[];
  queues: number;
}

function makeRig(kind: "block" | "console", readOnly: boolean): Fuzz {
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const control = createControlBlock();
  const logs: string[] = [];
  const log = (l: string) => {
    if (logs.length < 1000) logs.push(l);
  };
  let state: SharedArrayBuffer;
  let dev: VirtioDevice;
  if (kind === "block") {
    const backend = new MemBackend(readOnly);
    state = createBlockState({ irq: 2, sectors: backend.size / 512, readOnly });
    dev = new BlockDevice(ram, state, control, { backend, log });
  } else {
    state = createConsoleState(1);
    dev = new ConsoleDevice(ram, state, control, { output: () => {}, log, holdBytes: 256 });
  }
  const mmio = new MmioTransport(state, control);
  const f = {
    ram,
    bytes: new Uint8Array(ram),
    view: new DataView(ram),
    mmio,
    dev,
    logs,
    queues: kind === "block" ? 1 : 2,
  };
  return f;
}

/** (Re)initialise the rings as a driver would after a reset: all zero, then set up. */
function bringUp(z: Fuzz): void {
  z.bytes.fill(0, DESC, TABLES);
  // Every queue points at the same rings (a hostile driver may do that too).
  const layout = {
    size: QSIZE,
    desc: RAM_BASE + DESC,
    avail: RAM_BASE + AVAIL,
    used: RAM_BASE + USED,
  };
  driverSetup(z.mmio, Array.from({ length: z.queues }, () => layout));
}

const LENS = [0, 1, 15, 16, 17, 511, 512, 513, 1024, 4096, 0x7fffffff, 0xffffffff];

function randomAddr(r: Rng, len: number): number {
  const x = r.f();
  if (x < 0.8) {
    // Inside the arena (possibly running past its end into the guard: still RAM,
    // and the allowed-range bookkeeping uses the descriptor as written).
    const span = Math.max(1, ARENA_END - ARENA - Math.min(len, ARENA_END - ARENA));
    return RAM_BASE + ARENA + r.int(span);
  }
  if (x < 0.85) return RAM_BASE + DESC + r.int(USED_END - DESC); // into the rings
  return r.pick([
    0,
    0x1000,
    RAM_BASE - 8,
    RAM_BASE + RAM_BYTES - 4,
    RAM_BASE + RAM_BYTES,
    RAM_BASE + 2 ** 40,
    2 ** 63,
    0xffff_ffff_ffff_f000,
  ]);
}

function randomLen(r: Rng): number {
  return r.chance(0.6) ? r.int(1100) : r.pick(LENS);
}

function writeDesc(z: Fuzz, at: number, addr: number, len: number, flags: number, next: number) {
  const v = z.view;
  const a = BigInt.asUintN(64, BigInt(Math.floor(addr)));
  v.setBigUint64(at, a, true);
  v.setUint32(at + 8, len >>> 0, true);
  v.setUint16(at + 12, flags, true);
  v.setUint16(at + 14, next, true);
}

function header(r: Rng): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, r.pick([0, 0, 1, 1, 4, 8, 11, 13, r.int(20), r.int(2 ** 32)]), true);
  const sector = r.chance(0.8) ? r.int(40) : r.pick([2 ** 32, 2 ** 44, 2 ** 53, 2 ** 63]);
  v.setBigUint64(8, BigInt.asUintN(64, BigInt(sector)), true);
  if (r.chance(0.3)) {
    // A write-zeroes / discard segment after the header.
    return Uint8Array.from([
      ...h,
      ...new Uint8Array(16).map(() => r.int(4) === 0 ? r.int(256) : 0),
    ]);
  }
  return h;
}

/**
 * A request that is well formed or nearly so: header, data in sector
 * multiples split at random points, status byte — then maybe one mutation.
 * Without these, random chains almost never reach the device's I/O paths.
 */
function shapedChain(z: Fuzz, r: Rng, availIdx: number): void {
  const type = r.pick([0, 0, 0, 1, 1, 1, 4, 8, 13]);
  const sectors = r.int(5);
  const h = new Uint8Array(32);
  const hv = new DataView(h.buffer);
  hv.setUint32(0, type, true);
  hv.setBigUint64(8, BigInt(r.chance(0.9) ? r.int(34) : r.int(2 ** 31)), true);
  hv.setBigUint64(16, BigInt(r.int(34)), true); // a write-zeroes segment
  hv.setUint32(24, r.int(4), true);
  const hdrLen = type === 13 ? 32 : 16;
  const dataLen = type === 8 ? 20 : type === 4 || type === 13 ? 0 : 512 * sectors;
  const write = type !== 1;
  const bufs: { len: number; write: boolean; data?: Uint8Array }[] = [];
  const cut = 1 + r.int(hdrLen - 1);
  if (r.chance(0.3)) {
    bufs.push({ len: cut, write: false, data: h.subarray(0, cut) });
    bufs.push({ len: hdrLen - cut, write: false, data: h.subarray(cut, hdrLen) });
  } else bufs.push({ len: hdrLen, write: false, data: h.subarray(0, hdrLen) });
  let left = dataLen;
  while (left > 0) {
    const n = Math.min(left, r.chance(0.5) ? 512 : 1 + r.int(left));
    bufs.push({ len: n, write });
    left -= n;
  }
  bufs.push({ len: 1, write: true });
  const descs = bufs.map((b) => {
    const off = ARENA + r.int(ARENA_END - ARENA - b.len);
    if (b.data) z.bytes.set(b.data, off);
    return { addr: RAM_BASE + off, len: b.len, flags: b.write ? VIRTQ_DESC_F_WRITE : 0, next: 0 };
  });
  if (r.chance(0.3)) {
    // One mutation: a flag, a length, an address, or a link.
    const d = descs[r.int(descs.length)];
    const m = r.int(4);
    if (m === 0) d.flags ^= VIRTQ_DESC_F_WRITE;
    else if (m === 1) d.len = randomLen(r);
    else if (m === 2) d.addr = randomAddr(r, d.len);
    else descs.splice(r.int(descs.length), 1);
  }
  const indirect = r.chance(0.3) && descs.length > 0;
  const ids = shuffle(r, Array.from({ length: QSIZE }, (_, i) => i)).slice(0, descs.length);
  const base = indirect ? TABLES : DESC;
  const idx = indirect ? descs.map((_, i) => i) : ids;
  descs.forEach((d, i) => {
    const last = i === descs.length - 1;
    writeDesc(
      z,
      base + 16 * idx[i],
      d.addr,
      d.len,
      d.flags | (last ? 0 : VIRTQ_DESC_F_NEXT),
      last ? 0 : idx[i + 1],
    );
  });
  let head = ids[0] ?? 0;
  if (indirect) {
    head = ids[0];
    writeDesc(z, DESC + 16 * head, RAM_BASE + TABLES, 16 * descs.length, VIRTQ_DESC_F_INDIRECT, 0);
  }
  z.view.setUint16(AVAIL + 4 + 2 * (availIdx % QSIZE), head, true);
}

function shuffle<T>(r: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Write one random chain (with maybe an indirect table) and publish it. */
function randomChain(z: Fuzz, r: Rng, availIdx: number): number {
  const n = 1 + r.int(6);
  const ids = Array.from({ length: n }, () => r.int(QSIZE));
  let sawWrite = false;
  let tableAt = TABLES;
  for (let i = 0; i < n; i++) {
    const len = randomLen(r);
    let addr = randomAddr(r, len);
    let flags = 0;
    if (r.chance(0.5) || (sawWrite && r.chance(0.9))) flags |= VIRTQ_DESC_F_WRITE;
    sawWrite ||= (flags & VIRTQ_DESC_F_WRITE) !== 0;
    const last = i === n - 1;
    if (!last || r.chance(0.05)) flags |= VIRTQ_DESC_F_NEXT;
    let next = last ? r.int(QSIZE + 4) : ids[i + 1];
    if (r.chance(0.03)) next = r.int(0x10000);
    let dlen = len;
    if (r.chance(0.08)) {
      // An indirect table of random descriptors.
      flags = VIRTQ_DESC_F_INDIRECT | (r.chance(0.1) ? VIRTQ_DESC_F_NEXT : 0);
      const entries = 1 + r.int(QSIZE + 2);
      if (tableAt + 16 * entries <= TABLES_END) {
        addr = RAM_BASE + tableAt;
        dlen = r.chance(0.9) ? 16 * entries : r.int(300);
        let wrote = false;
        for (let k = 0; k < entries; k++) {
          const l = randomLen(r);
          let fl: number = r.chance(0.5) || wrote ? VIRTQ_DESC_F_WRITE : 0;
          wrote ||= fl !== 0;
          if (k < entries - 1 && r.chance(0.9)) fl |= VIRTQ_DESC_F_NEXT;
          if (r.chance(0.03)) fl |= VIRTQ_DESC_F_INDIRECT;
          const nx = r.chance(0.9) ? k + 1 : r.int(entries + 3);
          const a = randomAddr(r, l);
          writeDesc(z, tableAt + 16 * k, a, l, fl, nx);
          if (k === 0) plantHeader(z, r, a, l);
        }
        tableAt += 16 * entries;
      } else {
        addr = randomAddr(r, dlen);
      }
    }
    writeDesc(z, DESC + 16 * ids[i], addr, dlen, flags, next);
    if (i === 0) plantHeader(z, r, addr, dlen);
  }
  const head = r.chance(0.97) ? ids[0] : r.int(QSIZE + 8);
  z.view.setUint16(AVAIL + 4 + 2 * (availIdx % QSIZE), head, true);
  return head;
}

function plantHeader(z: Fuzz, r: Rng, addr: number, len: number) {
  const off = addr - RAM_BASE;
  if (off >= ARENA && off + 32 <= ARENA_END && len >= 16 && r.chance(0.8)) {
    z.bytes.set(header(r), off);
  }
}

/**
 * Byte ranges a correct device may write: the used ring and every
 * device-writable descriptor in `ram` (the main table and the tables its
 * INDIRECT descriptors point at).
 */
function allowedRanges(ram: DataView, out: [number, number][]): [number, number][] {
  const add = (at: number) => {
    const addr = Number(ram.getBigUint64(at, true));
    const len = ram.getUint32(at + 8, true);
    const flags = ram.getUint16(at + 12, true);
    const off = addr - RAM_BASE;
    if (flags & VIRTQ_DESC_F_INDIRECT) return [off, len] as const;
    if ((flags & VIRTQ_DESC_F_WRITE) && off >= 0 && off + len <= RAM_BYTES) {
      out.push([off, off + len]);
    }
    return null;
  };
  for (let i = 0; i < QSIZE; i++) {
    const t = add(DESC + 16 * i);
    if (t && t[0] >= 0 && t[0] + t[1] <= RAM_BYTES) {
      for (let k = 0; k + 16 <= t[1]; k += 16) add(t[0] + k);
    }
  }
  return out;
}

function checkWrites(z: Fuzz, before: Uint8Array, where: string): void {
  const a = new Uint32Array(z.ram), b = new Uint32Array(before.buffer);
  let ranges: [number, number][] | null = null;
  for (let w = 0; w < a.length; w++) {
    if (a[w] === b[w]) continue;
    // Descriptors as they were when the device took them, and as they are
    // now (a writable buffer may alias the table and change a later chain).
    ranges ??= allowedRanges(
      new DataView(before.buffer),
      allowedRanges(z.view, [[USED, USED_END + 2]]),
    );
    for (let i = 4 * w; i < 4 * w + 4; i++) {
      if (z.bytes[i] === before[i]) continue;
      if (!ranges.some(([s, e]) => i >= s && i < e)) {
        throw new Error(
          `${where}: byte at RAM offset 0x${i.toString(16)} changed outside writable buffers`,
        );
      }
    }
  }
}

function fuzz(kind: "block" | "console", iterations: number, seed: number, readOnly = false) {
  const r = prng(seed);
  const z = makeRig(kind, readOnly);
  // Random bytes everywhere but the rings, so stray reads see garbage.
  for (let i = 0; i < RAM_BYTES; i++) z.bytes[i] = r.int(256);
  bringUp(z);
  let availIdx = 0;
  let resets = 0;
  const before = new Uint8Array(RAM_BYTES);
  for (let it = 0; it < iterations; it++) {
    const q = kind === "console" ? r.int(2) : 0;
    if (r.chance(0.5)) shapedChain(z, r, availIdx);
    else randomChain(z, r, availIdx);
    availIdx = (availIdx + 1) & 0xffff;
    if (r.chance(0.005)) availIdx = (availIdx + r.int(0x10000)) & 0xffff; // run ahead
    z.view.setUint16(AVAIL + 2, availIdx, true);
    if (kind === "console" && r.chance(0.5)) {
      (z.dev as ConsoleDevice).pushInput(new Uint8Array(1 + r.int(40)).fill(0x41));
    }
    before.set(z.bytes);
    z.mmio.write(REG.QUEUE_NOTIFY, 4, q);
    z.dev.service();
    checkWrites(z, before, `${kind} seed ${seed} iteration ${it}`);
    if (z.dev.broken) {
      resets++;
      bringUp(z);
      z.dev.service();
      availIdx = 0;
    }
  }
  const internal = z.logs.filter((l) => l.includes("internal error"));
  assertEquals(internal, [], `seed ${seed}: an exception reached the device loop`);
  return { z, resets };
}

Deno.test("fuzz: 100,000 hostile chains against virtio-blk write nothing outside their buffers", () => {
  const seed = 0x5eed;
  const { z, resets } = fuzz("block", 100_000, seed);
  const s = (z.dev as BlockDevice).stats;
  // The fuzz must reach every outcome, or it proves little.
  assert(s.ok > 1000 && s.ioerr > 1000 && s.unsupp > 100, JSON.stringify(s));
  assert(s.reads > 100 && s.writes > 100 && s.flushes > 10, JSON.stringify(s));
  assert(resets > 1000, `resets ${resets}`);
  for (
    const kind of [
      "addr-outside-ram",
      "length-absurd",
      "chain-too-long",
      "desc-index-out-of-range",
      "avail-idx-too-far",
      "indirect-malformed",
      "indirect-nested",
      "readable-after-writable",
      "no-status-byte",
    ]
  ) {
    assert((z.dev.errorCounts[kind] ?? 0) > 10, `${kind}: ${JSON.stringify(z.dev.errorCounts)}`);
  }
  assert(z.dev.errors > 1000, `errors ${z.dev.errors}`);
});

Deno.test("fuzz: 20,000 hostile chains against a read-only virtio-blk", () => {
  const { z } = fuzz("block", 20_000, 0xb10c, true);
  assertEquals((z.dev as BlockDevice).stats.writes, 0);
});

Deno.test("fuzz: 30,000 hostile chains against virtio-console", () => {
  const { z, resets } = fuzz("console", 30_000, 0xc0de);
  assert(resets > 100 && z.dev.errors > 100, `resets ${resets} errors ${z.dev.errors}`);
});
