// The 9P2000.L wire format: message type numbers, a bounds-checked reader
// that throws one named error (MalformedMessage) on anything short or absurd,
// and a writer into a fixed reply buffer. Every integer is little-endian; a
// string is a 16-bit length and UTF-8 bytes (no NUL). Names only, no I/O.
// Read next: devices/p9/server.ts (the operations).

/** Message types (Linux include/net/9p/9p.h, enum p9_msg_t). R = T + 1. */
export const T = {
  LERROR: 6,
  STATFS: 8,
  LOPEN: 12,
  LCREATE: 14,
  SYMLINK: 16,
  MKNOD: 18,
  RENAME: 20,
  READLINK: 22,
  GETATTR: 24,
  SETATTR: 26,
  XATTRWALK: 30,
  XATTRCREATE: 32,
  READDIR: 40,
  FSYNC: 50,
  LOCK: 52,
  GETLOCK: 54,
  LINK: 70,
  MKDIR: 72,
  RENAMEAT: 74,
  UNLINKAT: 76,
  VERSION: 100,
  AUTH: 102,
  ATTACH: 104,
  FLUSH: 108,
  WALK: 110,
  READ: 116,
  WRITE: 118,
  CLUNK: 120,
  REMOVE: 122,
} as const;

/** The header every message starts with: size[4] type[1] tag[2]. */
export const HEADER = 7;
/** No fid (afid of an attach without authentication). */
export const NOFID = 0xffffffff;
/** Qid types. */
export const QT = { DIR: 0x80, SYMLINK: 0x02, FILE: 0 } as const;
/** Most names in one walk (the protocol's MAXWELEM). */
export const MAXWELEM = 16;

/** A request the server cannot parse: answered with Rlerror, never a crash. */
export class MalformedMessage extends Error {
  override name = "MalformedMessage";
}

const dec = new TextDecoder("utf-8", { fatal: true });

/** Reads one message's fields in order; any read past the end throws MalformedMessage. */
export class Reader {
  #at: number;
  readonly #v: DataView;
  constructor(readonly bytes: Uint8Array, start = HEADER) {
    this.#v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#at = start;
  }
  #need(n: number, what: string): number {
    const at = this.#at;
    if (at + n > this.bytes.length) {
      throw new MalformedMessage(
        `${what} at byte ${at} runs past the message's ${this.bytes.length}`,
      );
    }
    this.#at += n;
    return at;
  }
  u8(what = "u8"): number {
    return this.#v.getUint8(this.#need(1, what));
  }
  u16(what = "u16"): number {
    return this.#v.getUint16(this.#need(2, what), true);
  }
  u32(what = "u32"): number {
    return this.#v.getUint32(this.#need(4, what), true);
  }
  /** A 64-bit value as a number; above 2^53 is refused (no file is that large). */
  u64(what = "u64"): number {
    const n = this.#v.getBigUint64(this.#need(8, what), true);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedMessage(`${what} ${n} is absurd`);
    return Number(n);
  }
  /** A 64-bit value whole, unsigned (directory cookies). */
  u64big(what = "u64"): bigint {
    return this.#v.getBigUint64(this.#need(8, what), true);
  }
  /** A 64-bit value whole (times). */
  i64(what = "i64"): bigint {
    return this.#v.getBigInt64(this.#need(8, what), true);
  }
  /** A string's raw bytes. */
  raw(what = "string"): Uint8Array {
    const len = this.u16(`${what} length`);
    const at = this.#need(len, what);
    return this.bytes.subarray(at, at + len);
  }
  str(what = "string"): string {
    const b = this.raw(what);
    try {
      return dec.decode(b);
    } catch {
      throw new MalformedMessage(`${what} is not UTF-8`);
    }
  }
  get offset(): number {
    return this.#at;
  }
}

const enc = new TextEncoder();

/** Writes one reply into a fixed buffer; overflow throws RangeError (the server answers EIO... never reached with msize-sized buffers). */
export class Writer {
  #at = HEADER;
  readonly #v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Start reply `type` to `tag`. */
  begin(type: number, tag: number): this {
    this.#at = HEADER;
    this.#v.setUint8(4, type);
    this.#v.setUint16(5, tag, true);
    return this;
  }
  #room(n: number): number {
    const at = this.#at;
    if (at + n > this.bytes.length) throw new RangeError("reply larger than its buffer");
    this.#at += n;
    return at;
  }
  u8(n: number): this {
    this.#v.setUint8(this.#room(1), n);
    return this;
  }
  u16(n: number): this {
    this.#v.setUint16(this.#room(2), n, true);
    return this;
  }
  u32(n: number): this {
    this.#v.setUint32(this.#room(4), n >>> 0, true);
    return this;
  }
  u64(n: number | bigint): this {
    this.#v.setBigUint64(this.#room(8), BigInt.asUintN(64, BigInt(n)), true);
    return this;
  }
  raw(b: Uint8Array): this {
    this.u16(b.length);
    this.bytes.set(b, this.#room(b.length));
    return this;
  }
  str(s: string): this {
    return this.raw(enc.encode(s));
  }
  qid(type: number, version: number, path: bigint): this {
    return this.u8(type).u32(version).u64(path);
  }
  /** Skip n bytes (filled by the caller, e.g. a count written later). */
  skip(n: number): number {
    return this.#room(n);
  }
  setU32(at: number, n: number): void {
    this.#v.setUint32(at, n >>> 0, true);
  }
  get length(): number {
    return this.#at;
  }
  /** Seal the size field; returns the reply's length. */
  end(): number {
    this.#v.setUint32(0, this.#at, true);
    return this.#at;
  }
}
