// A 9P2000.L client for tests: builds messages, hands each to a P9Server as
// a virtio chain over a real GuestRam (the request in readable buffers, the
// reply room in writable ones, split into pieces when asked, as Linux's
// zero-copy path does), and parses the reply. It also watches that the
// server writes nothing outside the reply room (canary bytes around it).
// Read next: tests/unit/p9/server_test.ts, tests/unit/p9/fuzz_test.ts.

import { GuestRam } from "../devices/virtio/ram.ts";
import type { Segment } from "../devices/virtio/queue.ts";
import { ChainExchange } from "../devices/p9/device.ts";
import type { P9Server } from "../devices/p9/server.ts";
import { NOFID, Reader, T, Writer } from "../devices/p9/wire.ts";

const RAM_BYTES = 4 << 20;
const REQ_AT = 0;
const REPLY_AT = 2 << 20;
const CANARY = 0xa5;

/** A reply: its type and a reader over its body (after the header). */
export interface Reply {
  type: number;
  tag: number;
  body: Reader;
  bytes: Uint8Array;
  /** Rlerror's errno, or 0. */
  errno: number;
}

export class P9TestClient {
  readonly ram = new GuestRam(new SharedArrayBuffer(RAM_BYTES), 0);
  #tag = 1;
  constructor(readonly server: P9Server) {
    this.ram.bytes.fill(CANARY);
  }

  /**
   * Send raw request bytes with `room` bytes of reply space (split into
   * `pieces` writable segments, the request into `reqPieces`); returns the reply bytes.
   */
  send(req: Uint8Array, room = 1 << 20, pieces = 1, reqPieces = 1): Uint8Array {
    const ram = this.ram.bytes;
    ram.fill(CANARY, REPLY_AT, REPLY_AT + room + 64);
    ram.set(req, REQ_AT);
    const split = (at: number, len: number, n: number): Segment[] => {
      const out: Segment[] = [];
      const step = Math.max(1, Math.ceil(len / n));
      for (let o = 0; o < len; o += step) out.push({ off: at + o, len: Math.min(step, len - o) });
      return out;
    };
    const readable = split(REQ_AT, req.length, reqPieces);
    const writable = split(REPLY_AT, room, pieces);
    const n = this.server.handle(
      new ChainExchange(this.ram, {
        head: 0,
        readable,
        writable,
        readLen: req.length,
        writeLen: room,
      }),
    );
    if (n > room) throw new Error(`server says it wrote ${n} bytes into ${room}`);
    for (let i = REPLY_AT + room; i < REPLY_AT + room + 64; i++) {
      if (ram[i] !== CANARY) {
        throw new Error(`server wrote past the reply room (byte ${i - REPLY_AT})`);
      }
    }
    return ram.slice(REPLY_AT, REPLY_AT + n);
  }

  /** One request of `type`, its body written by `body`; the parsed reply. */
  rpc(type: number, body: (w: Writer) => void, room = 1 << 20, pieces = 1): Reply {
    const buf = new Uint8Array(1 << 20);
    const w = new Writer(buf).begin(type, this.#tag);
    body(w);
    const len = w.end();
    return this.parse(this.send(buf.slice(0, len), room, pieces), this.#tag++ & 0xffff);
  }

  parse(bytes: Uint8Array, tag?: number): Reply {
    if (bytes.length < 7) throw new Error(`reply of ${bytes.length} bytes`);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (v.getUint32(0, true) !== bytes.length) {
      throw new Error(`reply size field ${v.getUint32(0, true)} but ${bytes.length} bytes`);
    }
    const type = bytes[4];
    const rtag = v.getUint16(5, true);
    if (tag !== undefined && rtag !== tag) throw new Error(`reply tag ${rtag}, want ${tag}`);
    const errno = type === T.LERROR + 1 ? v.getUint32(7, true) : 0;
    return { type, tag: rtag, body: new Reader(bytes), bytes, errno };
  }

  /** A reply that must be `type`'s R-message (throws with the errno otherwise). */
  ok(type: number, body: (w: Writer) => void, room?: number, pieces?: number): Reader {
    const r = this.rpc(type, body, room, pieces);
    if (r.type !== type + 1) throw new Error(`type ${type}: Rlerror ${r.errno}`);
    return r.body;
  }

  /** The errno a request fails with (throws if it succeeds). */
  err(type: number, body: (w: Writer) => void): number {
    const r = this.rpc(type, body);
    if (r.type !== T.LERROR + 1) throw new Error(`type ${type} succeeded, want an error`);
    return r.errno;
  }

  version(msize = 512000): number {
    return this.ok(T.VERSION, (w) => w.u32(msize).str("9P2000.L")).u32();
  }

  attach(fid: number, uid = 0): void {
    this.ok(T.ATTACH, (w) => w.u32(fid).u32(NOFID).str("root").str("").u32(uid));
  }

  /** Walk; returns the qids' types and paths (fewer than names on a partial walk). */
  walk(fid: number, newfid: number, names: string[]): { type: number; path: bigint }[] {
    const r = this.ok(T.WALK, (w) => {
      w.u32(fid).u32(newfid).u16(names.length);
      for (const n of names) w.str(n);
    });
    const n = r.u16();
    const out = [];
    for (let i = 0; i < n; i++) {
      const type = r.u8();
      r.u32();
      out.push({ type, path: r.i64() });
    }
    return out;
  }

  lopen(fid: number, flags: number): void {
    this.ok(T.LOPEN, (w) => w.u32(fid).u32(flags));
  }

  lcreate(fid: number, name: string, flags: number, mode = 0o644): void {
    this.ok(T.LCREATE, (w) => w.u32(fid).str(name).u32(flags).u32(mode).u32(0));
  }

  read(fid: number, offset: number, count: number, pieces = 1): Uint8Array {
    const r = this.ok(T.READ, (w) => w.u32(fid).u64(offset).u32(count), count + 11, pieces);
    const n = r.u32();
    return r.bytes.slice(11, 11 + n);
  }

  write(fid: number, offset: number, data: Uint8Array): number {
    return this.ok(T.WRITE, (w) => {
      w.u32(fid).u64(offset).u32(data.length);
      for (const b of data) w.u8(b);
    }).u32();
  }

  clunk(fid: number): void {
    this.ok(T.CLUNK, (w) => w.u32(fid));
  }

  /** Names in a directory fid (opened here), "." and ".." left out. */
  readdir(fid: number): string[] {
    this.lopen(fid, 0);
    const names: string[] = [];
    let offset = 0n;
    for (;;) {
      const r = this.ok(T.READDIR, (w) => w.u32(fid).u64(offset).u32(4096));
      const count = r.u32();
      if (count === 0) break;
      const end = r.offset + count;
      while (r.offset < end) {
        r.u8();
        r.u32();
        r.i64();
        offset = r.u64big();
        r.u8();
        const name = r.str();
        if (name !== "." && name !== "..") names.push(name);
      }
    }
    return names.sort();
  }
}
