// virtio-blk on a real temp file, driven the way Linux drives it: through the
// MMIO registers and a split queue in fake guest RAM. Reads, writes, flush,
// GET_ID, WRITE_ZEROES, requests past the end (IOERR, the file never grows),
// read-only disks, malformed chains, several requests in flight.
// Read next: devices/block/block.ts, docs/virtio.md.

import assert from "../../../testing/assert.ts";
import { createControlBlock, CTL } from "../../../machine/control.ts";
import {
  BLK_F,
  BLK_S,
  BLK_T,
  BlockDevice,
  createBlockState,
  IO_PIECE,
  serialFromPath,
} from "../../../devices/block/block.ts";
import { type BlockBackend, FileBackend } from "../../../devices/block/backend.ts";
import {
  STATUS,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from "../../../devices/virtio/constants.ts";
import { MmioTransport, REG } from "../../../devices/virtio/mmio.ts";
import { VirtQueue } from "../../../devices/virtio/queue.ts";
import { type BufSpec, DriverQueue, driverSetup, FakeRam } from "../../../testing/virtio_driver.ts";

const IRQ = 2;
const pattern = (n: number, seed = 1) => new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff);

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

class Rig {
  readonly path: string;
  readonly mem: FakeRam;
  readonly dq: DriverQueue;
  readonly mmio: MmioTransport;
  readonly dev: BlockDevice;
  readonly ctl: Int32Array;
  readonly logs: string[] = [];
  readonly backend: FileBackend;
  readonly state: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;

  constructor(
    opts: {
      bytes?: number;
      readOnly?: boolean;
      name?: string;
      ramBytes?: number;
      queueSize?: number;
      /** Wrap the file backend (e.g. to record what the device asks of it). */
      wrap?: (b: BlockBackend) => BlockBackend;
    } = {},
  ) {
    this.mem = new FakeRam(opts.ramBytes ?? 1 << 20);
    const dir = Deno.makeTempDirSync();
    this.path = `${dir}/${opts.name ?? "disk.img"}`;
    Deno.writeFileSync(this.path, pattern(opts.bytes ?? 64 * 1024));
    this.backend = FileBackend.open(this.path, { readOnly: opts.readOnly });
    const state = this.state = createBlockState({
      irq: IRQ,
      sectors: this.backend.probe.sectors,
      readOnly: opts.readOnly ?? false,
    });
    const control = this.control = createControlBlock();
    this.ctl = new Int32Array(control);
    this.mmio = new MmioTransport(state, control);
    this.dq = new DriverQueue(this.mem, opts.queueSize ?? 16);
    assert.ok(driverSetup(this.mmio, [this.dq]) & STATUS.DRIVER_OK);
    this.dev = new BlockDevice(this.mem.sab, state, control, {
      backend: opts.wrap ? opts.wrap(this.backend) : this.backend,
      serial: serialFromPath(this.path),
      log: (l) => this.logs.push(l),
    });
  }

  /** Post a request (header, data buffers, status byte) without notifying. */
  post(type: number, sector: number, data: BufSpec[] = [], opts: { indirect?: boolean } = {}) {
    const bufs: BufSpec[] = [{ len: 16, data: header(type, sector) }, ...data, {
      len: 1,
      write: true,
    }];
    const { head, addrs } = this.dq.add(bufs, opts);
    this.mem.write(addrs[addrs.length - 1], new Uint8Array([0xee])); // not a status value
    return { head, addrs };
  }

  kick(): void {
    this.mmio.write(REG.QUEUE_NOTIFY, 4, 0);
    this.dev.service();
  }

  /** One request, served; returns its status byte, used length and data buffers' contents. */
  request(type: number, sector: number, data: BufSpec[] = [], opts: { indirect?: boolean } = {}) {
    const used = this.dq.usedIdx();
    const { head, addrs } = this.post(type, sector, data, opts);
    this.kick();
    assert.deepEqual(this.dq.usedIdx(), (used + 1) & 0xffff, "completed");
    const e = this.dq.usedElem(used);
    assert.deepEqual(e.id, head);
    return {
      status: this.mem.read(addrs[addrs.length - 1], 1)[0],
      len: e.len,
      data: data.map((d, i) => this.mem.read(addrs[i + 1], d.len)),
    };
  }

  line(): number {
    return Atomics.load(this.ctl, CTL.LINE0 + IRQ);
  }

  file(): Uint8Array {
    return Deno.readFileSync(this.path);
  }

  close(): void {
    this.backend.close();
    Deno.removeSync(this.path.slice(0, this.path.lastIndexOf("/")), { recursive: true });
  }
}

Deno.test("block: config space and features as the driver reads them", () => {
  const r = new Rig({ bytes: 1 << 20 });
  try {
    assert.deepEqual(r.mmio.read(REG.DEVICE_ID, 4), 2);
    assert.deepEqual(r.mmio.read(0x100, 4) + r.mmio.read(0x104, 4) * 2 ** 32, 2048, "capacity");
    assert.deepEqual(r.mmio.read(0x10c, 4), 254, "seg_max");
    assert.deepEqual(r.mmio.read(0x114, 4), 512, "blk_size");
    r.mmio.write(REG.DEVICE_FEATURES_SEL, 4, 0);
    const f = r.mmio.read(REG.DEVICE_FEATURES, 4);
    for (
      const b of [BLK_F.SIZE_MAX, BLK_F.SEG_MAX, BLK_F.BLK_SIZE, BLK_F.FLUSH, BLK_F.WRITE_ZEROES]
    ) {
      assert.ok(f & (1 << b), `feature ${b}`);
    }
    assert.ok(!(f & (1 << BLK_F.RO)) && !(f & (1 << BLK_F.DISCARD)));
  } finally {
    r.close();
  }
});

Deno.test("block: read, write, flush reach the file", () => {
  const r = new Rig();
  try {
    const rd = r.request(BLK_T.IN, 3, [{ len: 512, write: true }, { len: 1024, write: true }]);
    assert.deepEqual([rd.status, rd.len], [BLK_S.OK, 1537]);
    const want = pattern(64 * 1024).subarray(3 * 512, 6 * 512);
    assert.deepEqual(rd.data[0], want.slice(0, 512));
    assert.deepEqual(rd.data[1], want.slice(512));
    assert.deepEqual(r.line(), 1, "the used-buffer interrupt is raised");
    r.mmio.write(REG.INTERRUPT_ACK, 4, 1);
    assert.deepEqual(r.line(), 0);

    const data = pattern(1024, 99);
    const wr = r.request(BLK_T.OUT, 10, [{ len: 1024, data }], { indirect: true });
    assert.deepEqual([wr.status, wr.len], [BLK_S.OK, 1]);
    assert.deepEqual(r.request(BLK_T.FLUSH, 0).status, BLK_S.OK);
    assert.deepEqual(r.file().subarray(10 * 512, 12 * 512), data);
    assert.deepEqual(r.dev.stats.flushes, 1);
  } finally {
    r.close();
  }
});

Deno.test("block: requests past the end get IOERR and the file never grows", () => {
  const r = new Rig({ bytes: 8 * 512 });
  try {
    const before = r.file();
    assert.deepEqual(r.request(BLK_T.IN, 7, [{ len: 1024, write: true }]).status, BLK_S.IOERR);
    assert.deepEqual(r.request(BLK_T.OUT, 7, [{ len: 1024 }]).status, BLK_S.IOERR);
    assert.deepEqual(r.request(BLK_T.OUT, 8, [{ len: 512 }]).status, BLK_S.IOERR);
    assert.deepEqual(r.request(BLK_T.OUT, 2 ** 50, [{ len: 512 }]).status, BLK_S.IOERR);
    assert.deepEqual(
      r.request(BLK_T.IN, 7, [{ len: 512, write: true }]).status,
      BLK_S.OK,
      "the last sector",
    );
    assert.deepEqual(r.file(), before);
    assert.deepEqual(r.logs, [], "past-the-end is an honest error, not a guest bug");
  } finally {
    r.close();
  }
});

Deno.test("block: a read-only disk offers RO and refuses writes", () => {
  const r = new Rig({ readOnly: true });
  try {
    r.mmio.write(REG.DEVICE_FEATURES_SEL, 4, 0);
    const f = r.mmio.read(REG.DEVICE_FEATURES, 4);
    assert.ok(f & (1 << BLK_F.RO));
    assert.ok(!(f & (1 << BLK_F.WRITE_ZEROES)));
    const before = r.file();
    assert.deepEqual(
      r.request(BLK_T.OUT, 0, [{ len: 512, data: new Uint8Array(512) }]).status,
      BLK_S.IOERR,
    );
    assert.deepEqual(r.request(BLK_T.IN, 0, [{ len: 512, write: true }]).status, BLK_S.OK);
    assert.deepEqual(r.request(BLK_T.FLUSH, 0).status, BLK_S.OK);
    assert.deepEqual(r.file(), before);
  } finally {
    r.close();
  }
});

Deno.test("block: GET_ID answers a serial from the file name", () => {
  const r = new Rig({ name: "my disk-image.raw" });
  try {
    const id = r.request(BLK_T.GET_ID, 0, [{ len: 20, write: true }]);
    assert.deepEqual(id.status, BLK_S.OK);
    assert.deepEqual(id.len, 21);
    assert.deepEqual(new TextDecoder().decode(id.data[0]).replace(/\0+$/, ""), "my_disk-image.raw");
    assert.deepEqual(
      new TextDecoder().decode(serialFromPath("/a/b/" + "x".repeat(30))),
      "x".repeat(20),
    );
  } finally {
    r.close();
  }
});

Deno.test("block: WRITE_ZEROES writes zeros; bad flags are UNSUPP; unknown types UNSUPP", () => {
  const r = new Rig();
  try {
    const seg = (sector: number, num: number, flags: number) => {
      const s = new Uint8Array(16);
      const v = new DataView(s.buffer);
      v.setBigUint64(0, BigInt(sector), true);
      v.setUint32(8, num, true);
      v.setUint32(12, flags, true);
      return s;
    };
    assert.deepEqual(
      r.request(BLK_T.WRITE_ZEROES, 0, [{ len: 16, data: seg(4, 3, 0) }]).status,
      BLK_S.OK,
    );
    const f = r.file();
    assert.deepEqual(f.subarray(4 * 512, 7 * 512), new Uint8Array(1536));
    assert.deepEqual(f.subarray(3 * 512, 4 * 512), pattern(64 * 1024).subarray(3 * 512, 4 * 512));
    assert.deepEqual(
      r.request(BLK_T.WRITE_ZEROES, 0, [{ len: 16, data: seg(4, 3, 2) }]).status,
      BLK_S.UNSUPP,
    );
    assert.deepEqual(
      r.request(BLK_T.WRITE_ZEROES, 0, [{ len: 16, data: seg(127, 2, 0) }]).status,
      BLK_S.IOERR,
    );
    assert.deepEqual(
      r.request(BLK_T.DISCARD, 0, [{ len: 16, data: seg(0, 1, 0) }]).status,
      BLK_S.UNSUPP,
    );
    assert.deepEqual(r.request(77, 0).status, BLK_S.UNSUPP);
  } finally {
    r.close();
  }
});

Deno.test("block: a header split across descriptors is fine; malformed layouts get IOERR", () => {
  const r = new Rig();
  try {
    // Header in two pieces, data in three.
    const h = header(BLK_T.IN, 1);
    const { head, addrs } = r.dq.add([
      { len: 5, data: h.subarray(0, 5) },
      { len: 11, data: h.subarray(5) },
      { len: 100, write: true },
      { len: 412, write: true },
      { len: 1, write: true },
    ]);
    r.kick();
    assert.deepEqual(r.dq.usedElem(0), { id: head, len: 513 });
    assert.deepEqual(r.mem.read(addrs[4], 1)[0], BLK_S.OK);
    assert.deepEqual(r.mem.read(addrs[3], 412), pattern(64 * 1024).slice(512 + 100, 1024));

    // Header in a device-writable buffer.
    const hw = r.dq.add([{ len: 16, write: true }, { len: 1, write: true }]);
    r.kick();
    assert.deepEqual(r.mem.read(hw.addrs[1], 1)[0], BLK_S.IOERR);
    // A read into a device-readable (read-only to the device) buffer.
    assert.deepEqual(r.request(BLK_T.IN, 0, [{ len: 512 }]).status, BLK_S.IOERR);
    // A write from a device-writable buffer, and a partial sector.
    assert.deepEqual(r.request(BLK_T.OUT, 0, [{ len: 512, write: true }]).status, BLK_S.IOERR);
    assert.deepEqual(r.request(BLK_T.IN, 0, [{ len: 100, write: true }]).status, BLK_S.IOERR);
    assert.deepEqual(r.logs.length, 4, r.logs.join("\n"));
    assert.ok(!r.dev.broken);
  } finally {
    r.close();
  }
});

Deno.test("block: a chain with no status byte sets NEEDS_RESET; a reset brings the device back", () => {
  const r = new Rig();
  try {
    const { head } = r.dq.add([{ len: 16, data: header(BLK_T.IN, 0) }, { len: 512 }]);
    r.kick();
    assert.ok(r.dev.broken);
    assert.deepEqual(
      r.mmio.read(REG.STATUS, 4) & STATUS.DEVICE_NEEDS_RESET,
      STATUS.DEVICE_NEEDS_RESET,
    );
    assert.deepEqual(r.mmio.read(REG.INTERRUPT_STATUS, 4) & 2, 2, "config-change interrupt");
    assert.deepEqual(r.dq.usedElem(0), { id: head, len: 0 }, "the chain is given back");
    assert.deepEqual(r.logs.length, 1);
    assert.ok(r.logs[0].includes("no device-writable status byte"), r.logs[0]);
    // Further requests wait until the driver resets.
    const p = r.post(BLK_T.FLUSH, 0);
    r.kick();
    assert.deepEqual(r.dq.usedIdx(), 1);
    // The driver resets and sets up again; the device resumes from the used index.
    driverSetup(r.mmio, [r.dq]);
    r.dev.service();
    assert.ok(!r.dev.broken);
    assert.deepEqual(r.dq.usedElem(1).id, p.head);
    assert.deepEqual(r.mem.read(p.addrs[1], 1)[0], BLK_S.OK);
  } finally {
    r.close();
  }
});

Deno.test("block: a descriptor loop or a buffer outside RAM breaks the queue, not the emulator", () => {
  for (const kind of ["loop", "outside"]) {
    const r = new Rig();
    try {
      const hdr = r.mem.alloc(16);
      r.mem.write(hdr, header(BLK_T.IN, 0));
      r.dq.setDesc(0, { addr: hdr, len: 16, flags: VIRTQ_DESC_F_NEXT, next: 1 });
      // 1 -> 2 -> 1 -> ... (writable), or a buffer at 0x1000, below RAM.
      r.dq.setDesc(1, {
        addr: kind === "loop" ? r.mem.alloc(1) : 0x1000,
        len: 1,
        flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
        next: 2,
      });
      const b = r.mem.alloc(1);
      r.dq.setDesc(2, { addr: b, len: 1, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 });
      r.dq.publish(0);
      r.kick();
      assert.ok(r.dev.broken, kind);
      assert.ok(
        r.logs[0].includes(kind === "loop" ? "chain-too-long" : "addr-outside-ram"),
        r.logs[0],
      );
    } finally {
      r.close();
    }
  }
});

Deno.test("block: many requests in flight complete in order with one interrupt", () => {
  const r = new Rig();
  try {
    const posted = [];
    for (let i = 0; i < 5; i++) posted.push(r.post(BLK_T.IN, i, [{ len: 512, write: true }]));
    r.kick();
    assert.deepEqual(r.dq.usedIdx(), 5);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(r.dq.usedElem(i), { id: posted[i].head, len: 513 });
      assert.deepEqual(
        r.mem.read(posted[i].addrs[1], 512),
        pattern(64 * 1024).slice(i * 512, (i + 1) * 512),
      );
    }
    assert.deepEqual(r.line(), 1);
    // With used_event ahead, a completion does not interrupt (event-idx negotiated).
    r.mmio.write(REG.INTERRUPT_ACK, 4, 1);
    r.dq.setUsedEvent(100);
    r.request(BLK_T.FLUSH, 0);
    assert.deepEqual(r.line(), 0);
  } finally {
    r.close();
  }
});

Deno.test("block: a replacement device actor resumes where the used ring says", () => {
  const r = new Rig();
  try {
    const first = r.request(BLK_T.IN, 0, [{ len: 512, write: true }]);
    assert.deepEqual(first.status, BLK_S.OK);
    r.mmio.write(REG.INTERRUPT_ACK, 4, 1);
    // Two more requests; the device "dies" having taken them off the ring but not completed them.
    const a = r.post(BLK_T.IN, 1, [{ len: 512, write: true }]);
    const b = r.post(BLK_T.OUT, 2, [{ len: 512, data: pattern(512, 5) }]);
    const dying = VirtQueue.create(r.dev.ram, r.dq.layout(), { eventIdx: true, indirect: true });
    assert.ok(dying instanceof VirtQueue);
    dying.pop();
    dying.pop();
    // The supervisor starts a new actor on the same buffers.
    const again = new BlockDevice(r.mem.sab, r.state, r.control, { backend: r.backend });
    again.service();
    assert.deepEqual(r.dq.usedIdx(), 3);
    assert.deepEqual(r.dq.usedElem(1).id, a.head);
    assert.deepEqual(r.dq.usedElem(2).id, b.head);
    assert.deepEqual(r.mem.read(a.addrs[1], 512), pattern(64 * 1024).slice(512, 1024));
    assert.deepEqual(r.file().subarray(1024, 1536), pattern(512, 5));
    assert.deepEqual(r.line(), 1, "the replacement raises the interrupt");
  } finally {
    r.close();
  }
});

/** A backend wrapper that pushes each read's and write's length on `ops`. */
function recording(ops: number[]): (b: BlockBackend) => BlockBackend {
  return (b) => ({
    get size() {
      return b.size;
    },
    readOnly: b.readOnly,
    read: (off, buf) => (ops.push(buf.length), b.read(off, buf)),
    write: (off, data) => (ops.push(data.length), b.write(off, data)),
    flush: () => b.flush(),
    close: () => b.close(),
  });
}

Deno.test("block: a segment larger than size_max is served in IO_PIECE pieces, straight from RAM", () => {
  // A hostile guest's segment may span most of RAM: the device must neither
  // copy it nor hand the backend more than IO_PIECE at once.
  const ops: number[] = [];
  const record = recording(ops);
  const big = 2 * IO_PIECE + 3 * 512;
  const r = new Rig({ bytes: 4 << 20, ramBytes: 8 << 20, wrap: record });
  try {
    const data = pattern(big, 5);
    const w = r.request(BLK_T.OUT, 8, [{ len: big, data }]);
    assert.deepEqual(w.status, BLK_S.OK);
    assert.deepEqual(ops, [IO_PIECE, IO_PIECE, 3 * 512]);
    assert.deepEqual(r.file().subarray(8 * 512, 8 * 512 + big), data);
    ops.length = 0;
    const rd = r.request(BLK_T.IN, 8, [{ len: big, write: true }], { indirect: true });
    assert.deepEqual(rd.status, BLK_S.OK);
    assert.deepEqual(rd.len, big + 1);
    assert.deepEqual(ops, [IO_PIECE, IO_PIECE, 3 * 512]);
    assert.deepEqual(rd.data[0], data);
  } finally {
    r.close();
  }
});

Deno.test("block: runs of small segments are one backend access per IO_PIECE, each byte in place", () => {
  // 200 segments of 8 KiB (1.6 MiB; a 1 MiB O_DIRECT read is 256 scattered
  // 4 KiB user pages): one read or write for the first 128, one for the
  // other 72, never more than IO_PIECE at once; and a large segment between
  // small ones is still served straight.
  const ops: number[] = [];
  const record = recording(ops);
  const r = new Rig({ bytes: 8 << 20, ramBytes: 16 << 20, wrap: record, queueSize: 256 });
  try {
    const segs = Array.from({ length: 200 }, (_, i) => pattern(8192, i));
    const w = r.request(BLK_T.OUT, 16, segs.map((data) => ({ len: 8192, data })), {
      indirect: true,
    });
    assert.deepEqual(w.status, BLK_S.OK);
    assert.deepEqual(ops, [IO_PIECE, 72 * 8192]);
    const file = r.file();
    segs.forEach((d, i) =>
      assert.deepEqual(file.subarray(16 * 512 + 8192 * i, 16 * 512 + 8192 * (i + 1)), d)
    );
    ops.length = 0;
    const rd = r.request(BLK_T.IN, 16, segs.map(() => ({ len: 8192, write: true })), {
      indirect: true,
    });
    assert.deepEqual([rd.status, rd.len], [BLK_S.OK, 200 * 8192 + 1]);
    assert.deepEqual(ops, [IO_PIECE, 72 * 8192]);
    segs.forEach((d, i) => assert.deepEqual(rd.data[i], d, `segment ${i}`));
    // small, large, small: the large one alone, in pieces
    ops.length = 0;
    const mixed = r.request(BLK_T.IN, 16, [
      { len: 4096, write: true },
      { len: IO_PIECE + 512, write: true },
      { len: 512, write: true },
    ]);
    assert.deepEqual(mixed.status, BLK_S.OK);
    assert.deepEqual(ops, [4096, IO_PIECE, 512, 512]);
    assert.deepEqual(mixed.data[0], segs[0].subarray(0, 4096));
  } finally {
    r.close();
  }
});

Deno.test("block: a queue larger than QueueNumMax is refused with NEEDS_RESET", () => {
  const r = new Rig({ ramBytes: 1 << 20, queueSize: 512 });
  try {
    r.post(BLK_T.IN, 0, [{ len: 512, write: true }]);
    r.kick();
    assert.deepEqual(
      r.mmio.read(REG.STATUS, 4) & STATUS.DEVICE_NEEDS_RESET,
      STATUS.DEVICE_NEEDS_RESET,
    );
    assert.deepEqual(r.dq.usedIdx(), 0, "nothing served");
    assert.ok(
      r.logs.some((l) => /queue-size: queue size 512 over QueueNumMax 256/.test(l)),
      r.logs.join("\n"),
    );
  } finally {
    r.close();
  }
});
