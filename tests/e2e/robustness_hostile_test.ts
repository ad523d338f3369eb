// A hostile bare-metal guest: a hand-assembled RISC-V `Image` that drives the
// virtio-mmio registers itself (no Linux driver to keep it honest) and posts
// chains whose descriptors each point at most of its RAM — block reads and
// writes larger than RAM, network frames of gigabytes, console output twice
// the size of RAM. The emulator must serve or refuse each without its memory
// growing with the lengths (docs/virtio.md, "Host memory budget"), keep
// running, and exit 0 when the guest powers off. Peak memory is the emulator
// process's VmHWM, against a baseline run of the same machine whose guest
// posts nothing. Read next: devices/block/block.ts, devices/net/net.ts, devices/console.ts.
//
// The guest is a small interpreter over an op table built here: 32-bit
// stores (registers, ring indexes), "wait until this u16 equals n" (a used
// index, with a deadline on the `time` CSR), print a byte via the SBI legacy
// putchar (markers, block status bytes), spin for a while, power off. Rings,
// descriptors and indirect tables are laid out in the image itself.

import { writeImageHeader } from "../../testing/kernel_image.ts";
import { fileURLToPath } from "node:url";
import { A, li } from "../../testing/cpu_harness.ts";
import assert from "../../testing/assert.ts";
import { KERNEL_BASE, RAM_BASE, TIMEBASE_HZ, virtioSlotBase } from "../../machine/memmap.ts";
import { REG } from "../../devices/virtio/mmio.ts";
import {
  F,
  STATUS,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from "../../devices/virtio/constants.ts";
import { BLK_T } from "../../devices/block/block.ts";
import { MAX_GSO_FRAME, NET_F, NET_HDR_LEN } from "../../devices/net/net.ts";
import { GSO_TCPV4, VIRTIO_NET_HDR_F_NEEDS_CSUM } from "../../devices/net/offload.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const MEM_MB = 128;
/** Every big descriptor points here: all of RAM above 4 MiB but the top 4 MiB (the FDT). */
const BUF = RAM_BASE + (4 << 20);
const BIG = (MEM_MB - 8) << 20;
/**
 * The sparse disk: 4 × BIG reads are in range. (Reading a hole still fills
 * the page cache, so the test reads ~0.5 GiB, not the 3.75 GiB it could.)
 */
const DISK_BYTES = 512 << 20;
/**
 * What the emulator may add on top of the baseline run: all of guest RAM
 * (the baseline guest touches none of it; these touch it all) plus the
 * devices' fixed budgets (docs/virtio.md) plus room for V8's heap to breathe.
 * A device that copied in proportion to the lengths here would need GiBs.
 */
const SLACK_MB = 64;

// ---- the image

const IMAGE_BYTES = 0x40000;
const OPS = KERNEL_BASE + 0x1000;
const MAX_OPS = (0x8000 - 0x1000) / 24;
/** Per-device ring areas: desc +0, avail +0x1000, used +0x2000, indirect tables +0x3000 (0x800 each), scratch +0x7000. */
const area = (slot: number) => KERNEL_BASE + 0x8000 + slot * 0x8000;
const QSIZE = 64; // the console's QueueNumMax; indirect tables may hold this many entries
const OP = { END: 0, STORE: 1, WAIT: 2, PUTC: 3, SPIN: 4 } as const;

// Registers.
const [ZERO, T0, T1, T2, S0, A0, A1, A6, A7, T3, T4, T5] = [
  0,
  5,
  6,
  7,
  8,
  10,
  11,
  16,
  17,
  28,
  29,
  30,
];
const CSR_TIME = 0xc01;
/** How long the guest waits for a completion before printing 'T' and going on. */
const WAIT_TICKS = 60 * TIMEBASE_HZ;

type Item =
  | number
  | number[]
  | { label: string }
  | ((pc: number, at: (l: string) => number) => number);

/** Two passes: labels first, then words (branch offsets relative to each word's pc). */
function assemble(items: Item[], base: number): number[] {
  const labels = new Map<string, number>();
  let pc = base;
  for (const it of items) {
    if (typeof it === "object" && !Array.isArray(it)) labels.set(it.label, pc);
    else pc += 4 * (Array.isArray(it) ? it.length : 1);
  }
  const out: number[] = [];
  pc = base;
  const at = (l: string) => labels.get(l)!;
  for (const it of items) {
    if (typeof it === "object" && !Array.isArray(it)) continue;
    const words = Array.isArray(it) ? it : [typeof it === "function" ? it(pc, at) : it];
    out.push(...words);
    pc += 4 * words.length;
  }
  return out;
}

const b = (f: (o: number) => number, label: string) => (pc: number, at: (l: string) => number) =>
  f(at(label) - pc);

/** The interpreter: ops of three u64 (op, addr, value) from OPS until END, then SBI shutdown. */
const CODE: Item[] = [
  li(S0, BigInt(OPS)),
  { label: "loop" },
  A.ld(T0, 0, S0),
  A.ld(T1, 8, S0),
  A.ld(T2, 16, S0),
  A.addi(S0, S0, 24),
  b((o) => A.beq(T0, ZERO, o), "off"),
  A.addi(T3, ZERO, OP.STORE),
  b((o) => A.beq(T0, T3, o), "store"),
  A.addi(T3, ZERO, OP.WAIT),
  b((o) => A.beq(T0, T3, o), "wait"),
  A.addi(T3, ZERO, OP.PUTC),
  b((o) => A.beq(T0, T3, o), "putc"),
  A.addi(T3, ZERO, OP.SPIN),
  b((o) => A.beq(T0, T3, o), "spin"),
  b((o) => A.jal(ZERO, o), "loop"),
  { label: "store" },
  A.fence(),
  A.sw(T2, 0, T1),
  A.fence(),
  b((o) => A.jal(ZERO, o), "loop"),
  { label: "wait" },
  A.csrrs(T4, CSR_TIME, ZERO),
  li(T5, BigInt(WAIT_TICKS)),
  A.add(T4, T4, T5),
  { label: "w1" },
  A.fence(),
  A.lhu(T3, 0, T1),
  b((o) => A.beq(T3, T2, o), "loop"),
  A.csrrs(T5, CSR_TIME, ZERO),
  b((o) => A.bltu(T5, T4, o), "w1"),
  A.addi(A0, ZERO, "T".charCodeAt(0)),
  A.addi(A7, ZERO, 1),
  A.ecall(),
  b((o) => A.jal(ZERO, o), "loop"),
  { label: "putc" },
  A.add(A0, T2, ZERO),
  b((o) => A.beq(T1, ZERO, o), "p1"),
  A.lbu(T3, 0, T1),
  A.add(A0, A0, T3),
  { label: "p1" },
  A.addi(A7, ZERO, 1), // legacy console_putchar
  A.ecall(),
  b((o) => A.jal(ZERO, o), "loop"),
  { label: "spin" },
  A.csrrs(T4, CSR_TIME, ZERO),
  A.add(T4, T4, T2),
  { label: "s1" },
  A.csrrs(T5, CSR_TIME, ZERO),
  b((o) => A.bltu(T5, T4, o), "s1"),
  b((o) => A.jal(ZERO, o), "loop"),
  { label: "off" },
  A.lui(A7, 0x53525), // SRST
  A.addi(A7, A7, 0x354),
  A.addi(A6, ZERO, 0), // system_reset
  A.addi(A1, ZERO, 0),
  A.addi(A0, ZERO, 0), // shutdown
  A.ecall(),
  { label: "hang" },
  b((o) => A.jal(ZERO, o), "hang"),
];

interface Desc {
  addr: number;
  len: number;
  write?: boolean;
}

class HostileGuest {
  readonly bytes = new Uint8Array(IMAGE_BYTES);
  readonly #v = new DataView(this.bytes.buffer);
  readonly #ops: [number, number, number][] = [];
  /** Chains posted per slot so far (also the next descriptor / indirect table index). */
  readonly #posted = new Map<number, number>();

  #off(addr: number): number {
    const o = addr - KERNEL_BASE;
    if (o < 0 || o >= IMAGE_BYTES) throw new RangeError(`0x${addr.toString(16)} not in the image`);
    return o;
  }
  poke(addr: number, data: Uint8Array): void {
    this.bytes.set(data, this.#off(addr));
  }
  store(addr: number, value: number): void {
    this.#ops.push([OP.STORE, addr, value >>> 0]);
  }
  print(text: string): void {
    for (const c of text) this.#ops.push([OP.PUTC, 0, c.charCodeAt(0)]);
  }
  /** Print the byte at `addr` plus '0' (a block status byte as a digit). */
  printDigit(addr: number): void {
    this.#ops.push([OP.PUTC, addr, 0x30]);
  }
  spin(ms: number): void {
    this.#ops.push([OP.SPIN, 0, ms * (TIMEBASE_HZ / 1000)]);
  }

  /** Bring the device in `slot` up with queue `q` only, as a driver that negotiates `features`. */
  up(slot: number, q: number, features: bigint): void {
    const r = virtioSlotBase(slot), a = area(slot);
    const w = (reg: number, v: number) => this.store(r + reg, v);
    w(REG.STATUS, 0);
    w(REG.STATUS, STATUS.ACKNOWLEDGE);
    w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    w(REG.DRIVER_FEATURES_SEL, 0);
    w(REG.DRIVER_FEATURES, Number(features & 0xffffffffn));
    w(REG.DRIVER_FEATURES_SEL, 1);
    w(REG.DRIVER_FEATURES, Number(features >> 32n));
    w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    w(REG.QUEUE_SEL, q);
    w(REG.QUEUE_NUM, QSIZE);
    w(REG.QUEUE_DESC_LOW, a);
    w(REG.QUEUE_DESC_HIGH, 0);
    w(REG.QUEUE_DRIVER_LOW, a + 0x1000);
    w(REG.QUEUE_DRIVER_HIGH, 0);
    w(REG.QUEUE_DEVICE_LOW, a + 0x2000);
    w(REG.QUEUE_DEVICE_HIGH, 0);
    w(REG.QUEUE_READY, 1);
    w(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  }

  /**
   * Post one chain on queue `q` of `slot` as an indirect table of `descs`,
   * notify, and wait for the device to complete it.
   */
  post(slot: number, q: number, descs: Desc[]): void {
    const k = this.#posted.get(slot) ?? 0;
    if (k >= QSIZE || descs.length > 128) throw new RangeError("too many chains or descriptors");
    this.#posted.set(slot, k + 1);
    const a = area(slot), table = a + 0x3000 + 0x800 * k;
    const v = this.#v;
    descs.forEach((d, i) => {
      const o = this.#off(table) + 16 * i;
      v.setBigUint64(o, BigInt(d.addr), true);
      v.setUint32(o + 8, d.len, true);
      // Every entry but the last chains to the next one.
      const next = i + 1 < descs.length ? VIRTQ_DESC_F_NEXT : 0;
      v.setUint16(o + 12, (d.write ? VIRTQ_DESC_F_WRITE : 0) | next, true);
      v.setUint16(o + 14, i + 1, true);
    });
    const d = this.#off(a) + 16 * k;
    v.setBigUint64(d, BigInt(table), true);
    v.setUint32(d + 8, 16 * descs.length, true);
    v.setUint16(d + 12, VIRTQ_DESC_F_INDIRECT, true);
    v.setUint16(this.#off(a + 0x1000) + 4 + 2 * k, k, true); // avail.ring[k] = head k
    // avail.flags = NO_INTERRUPT (the guest polls), avail.idx = k + 1.
    this.store(a + 0x1000, ((k + 1) << 16) | 1);
    this.store(virtioSlotBase(slot) + REG.QUEUE_NOTIFY, q);
    this.#ops.push([OP.WAIT, a + 0x2000 + 2, k + 1]);
  }

  /** A scratch address in `slot`'s area (headers, status bytes). */
  scratch(slot: number, n: number): number {
    return area(slot) + 0x7000 + 0x40 * n;
  }

  image(): Uint8Array {
    if (this.#ops.length + 1 > MAX_OPS) throw new RangeError("too many ops");
    const v = this.#v;
    writeImageHeader(this.bytes, IMAGE_BYTES);
    assemble(CODE, KERNEL_BASE + 0x40).forEach((w, i) => v.setInt32(0x40 + 4 * i, w, true));
    [...this.#ops, [OP.END, 0, 0]].forEach(([op, addr, val], i) => {
      const o = this.#off(OPS) + 24 * i;
      v.setBigUint64(o, BigInt(op), true);
      v.setBigUint64(o + 8, BigInt(addr), true);
      v.setBigUint64(o + 16, BigInt(val), true);
    });
    return this.bytes;
  }
}

// ---- the machine: console (slot 0), one disk (slot 1), sharenet (slot 2)

const SLOT = { console: 0, block: 1, net: 2 } as const;
const V1 = 1n << BigInt(F.VERSION_1);
const INDIRECT = 1n << BigInt(F.RING_INDIRECT_DESC);

interface Run {
  code: number;
  err: string;
  /** Zero bytes on stdout (console output of untouched RAM) and everything else (the markers). */
  zeros: number;
  marks: string;
  peakMb: number;
}

async function run(guest: HostileGuest, limitMs = 120_000): Promise<Run> {
  const dir = Deno.makeTempDirSync({ prefix: "actorvm-hostile-" });
  try {
    Deno.writeFileSync(`${dir}/Image`, guest.image());
    const disk = Deno.openSync(`${dir}/disk.img`, { write: true, create: true });
    disk.truncateSync(DISK_BYTES); // sparse
    disk.close();
    Deno.mkdirSync(`${dir}/seg`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MOD,
        `--block=${dir}/disk.img`,
        `--sharenet=${dir}/seg`,
        String(MEM_MB),
        `${dir}/Image`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = Deno.readTextFileSync(`/proc/${child.pid}/status`).match(/VmHWM:\s+(\d+) kB/);
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch { /* exited */ }
    }, 20);
    let zeros = 0;
    const marks: number[] = [];
    const out = (async () => {
      for await (const chunk of child.stdout) {
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i] === 0) zeros++;
          else if (marks.length < 4096) marks.push(chunk[i]);
        }
      }
    })();
    const [status, err] = await Promise.all([child.status, new Response(child.stderr).text(), out]);
    clearTimeout(timer);
    clearInterval(poll);
    return {
      code: status.code,
      err,
      zeros,
      marks: new TextDecoder().decode(new Uint8Array(marks)),
      peakMb: peakKb / 1024,
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A guest that posts nothing, on the same machine: the emulator's own footprint. */
function quietGuest(): HostileGuest {
  const g = new HostileGuest();
  g.print("<quiet>");
  g.spin(1500); // long enough for the poll to see the settled peak
  return g;
}

let baseline: Run | null = null;
async function baselineMb(): Promise<number> {
  baseline ??= await run(quietGuest());
  assert.deepEqual(baseline.code, 0, baseline.err);
  assert.deepEqual(baseline.marks, "<quiet>");
  return baseline.peakMb;
}

/** Run `g` (which ends by spinning, so the poll sees the peak) and check it within budget. */
async function withinBudget(g: HostileGuest, what: string): Promise<Run> {
  g.spin(1500);
  const base = await baselineMb();
  const r = await run(g);
  const limit = base + MEM_MB + SLACK_MB;
  console.log(
    `${what}: peak ${r.peakMb.toFixed(0)} MB (baseline ${base.toFixed(0)} MB, limit ${
      limit.toFixed(0)
    } MB)`,
  );
  assert.deepEqual(r.code, 0, `exit status; stderr:\n${r.err}`);
  assert.ok(r.peakMb > 0, "the peak was measured");
  assert.ok(r.peakMb < limit, `${what}: peak ${r.peakMb} MB over ${limit} MB`);
  assert.ok(!/crashed|gave up|internal error/.test(r.err), r.err);
  return r;
}

Deno.test("hostile guest: block requests larger than RAM go straight between file and RAM", async () => {
  const g = new HostileGuest();
  const s = SLOT.block;
  g.up(s, 0, V1 | INDIRECT);
  const hdr = (n: number, type: number, sector: bigint) => {
    const h = new Uint8Array(16);
    new DataView(h.buffer).setUint32(0, type, true);
    new DataView(h.buffer).setBigUint64(8, sector, true);
    const at = g.scratch(s, n);
    g.poke(at, h);
    return at;
  };
  const status = (n: number) => {
    const at = g.scratch(s, n) + 0x20;
    g.poke(at, new Uint8Array([0xee - 0x30])); // prints '~' if never written
    return at;
  };
  const big = (n: number, write: boolean): Desc[] =>
    Array.from({ length: n }, () => ({ addr: BUF, len: BIG, write }));
  g.print("<block:");
  // A write of 2 × 120 MiB, a read of 4 × 120 MiB, a read of 32 × 120 MiB past the end.
  const requests: [number, number, bigint, Desc[]][] = [
    [0, BLK_T.OUT, 0n, big(2, false)],
    [1, BLK_T.IN, 0n, big(4, true)],
    [2, BLK_T.IN, BigInt(DISK_BYTES / 512 - 8), big(32, true)],
  ];
  for (const [n, type, sector, data] of requests) {
    g.post(s, 0, [{ addr: hdr(n, type, sector), len: 16 }, ...data, {
      addr: status(n),
      len: 1,
      write: true,
    }]);
    g.printDigit(status(n));
  }
  g.print(">");
  const r = await withinBudget(g, "block");
  assert.deepEqual(r.marks, "<block:001>", r.err); // OK, OK, IOERR; no 'T'imeout
});

Deno.test("hostile guest: net frames of GiBs are refused before a byte is copied", async () => {
  const g = new HostileGuest();
  const s = SLOT.net;
  const hdrPlain = g.scratch(s, 0), hdrTso = g.scratch(s, 1);
  g.poke(hdrPlain, new Uint8Array(NET_HDR_LEN));
  const tso = new Uint8Array(NET_HDR_LEN);
  tso[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  tso[1] = GSO_TCPV4;
  new DataView(tso.buffer).setUint16(4, 1448, true); // gso_size
  new DataView(tso.buffer).setUint16(6, 34, true); // csum_start
  new DataView(tso.buffer).setUint16(8, 16, true); // csum_offset
  g.poke(hdrTso, tso);
  g.up(
    s,
    1,
    V1 | INDIRECT | (1n << BigInt(NET_F.CSUM)) | (1n << BigInt(NET_F.HOST_TSO4)),
  );
  g.print("<net:");
  const big = Array.from({ length: 32 }, () => ({ addr: BUF, len: BIG }));
  g.post(s, 1, [{ addr: hdrPlain, len: NET_HDR_LEN }, ...big]);
  g.print("p");
  g.post(s, 1, [{ addr: hdrTso, len: NET_HDR_LEN }, ...big]);
  g.print("t>");
  const r = await withinBudget(g, "net");
  assert.deepEqual(r.marks, "<net:pt>", r.err);
  const lines = r.err.split("\n").filter((l) =>
    /net: chain \d+: transmit of \d+ bytes is longer/.test(l)
  );
  assert.deepEqual(lines.length, 2, r.err);
  assert.match(lines[0], new RegExp(`transmit of ${32 * BIG} bytes is longer than 1514`));
  assert.match(
    lines[1],
    new RegExp(`transmit of ${32 * BIG} bytes is longer than ${MAX_GSO_FRAME}`),
  );
});

Deno.test("hostile guest: console output larger than RAM is written in bounded passes, every byte", async () => {
  const g = new HostileGuest();
  const s = SLOT.console;
  g.up(s, 1, V1 | INDIRECT);
  g.print("<console:");
  const n = 32, len = 8 << 20; // 256 MiB: a copying device would need twice that
  g.post(s, 1, Array.from({ length: n }, () => ({ addr: BUF, len })));
  g.print(">");
  const r = await withinBudget(g, "console");
  assert.deepEqual(r.marks, "<console:>", r.err);
  assert.deepEqual(r.zeros, n * len, "every byte the guest posted reached stdout");
});
