// The 9P2000.L file server of one share: what Linux's v9fs asks (version,
// attach, walk, getattr/setattr, lopen/lcreate, read/write, readdir, mkdir,
// unlinkat, renameat, symlink, readlink, link, fsync, statfs, clunk, flush,
// remove), each answered from the host directory through devices/p9/host.ts,
// so no path the guest names leaves the share: every fid holds an O_PATH fd
// of its own inode, each walk step opens one plain name relative to the
// previous fd without following symlinks, and ".." is resolved by the server
// from the fid's path, clamped at the root. A file with more than one hard
// link may be read but not changed (one of its other names may be outside).
// A request it cannot parse gets Rlerror(EINVAL); an unknown one EOPNOTSUPP.
// Read data streams between the file and the chain's buffers (guest RAM)
// with no copy of the whole; the one reply buffer is msize bytes.
// Read next: devices/p9/device.ts (the virtio side), docs/share.md.

import * as host from "./host.ts";
import { E, O, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type Stat } from "./host.ts";
import type { SavedFid } from "./fidstore.ts";
import { Fail, fail, type Fid, FidTable, MAX_FIDS, ok } from "./fids.ts";
import { HEADER, MalformedMessage, MAXWELEM, NOFID, QT, Reader, T, Writer } from "./wire.ts";

/** The largest msize offered: what Linux's virtio transport can use (PAGE_SIZE × 125). */
export const MAX_MSIZE = 512000;
/** Bytes of a request parsed as fields (all but a write's data): a walk of 16 names, a symlink's target. */
export const PARSE_MAX = 16384;
export { MAX_FIDS };
const PROTOCOL = "9P2000.L";

/** One request's bytes and reply space, as the chain offers them (device.ts builds it over guest RAM). */
export interface Exchange {
  /** Device-readable bytes in all. */
  readonly readLen: number;
  /** Device-writable bytes in all. */
  readonly writeLen: number;
  /** Copy up to `len` request bytes from stream position 0. */
  head(len: number): Uint8Array;
  /** Views of request bytes [start, start+len), in order (no copy). */
  requestPieces(start: number, len: number): Uint8Array[];
  /** Views of reply space [start, start+len), in order (no copy). */
  replyPieces(start: number, len: number): Uint8Array[];
  /** Copy `bytes` into the reply space at position 0. */
  reply(bytes: Uint8Array): void;
}

export interface ServerStats {
  requests: number;
  errors: number;
  malformed: number;
  bytesRead: number;
  bytesWritten: number;
}

/** Guest open flags (9P2000.L "dotl" flags, Linux's generic values). */
const P9_O = {
  ACCMODE: 3,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  DSYNC: 0o10000,
  SYNC: 0o4000000,
} as const;

/** setattr's valid bits. */
const SA = {
  MODE: 1,
  UID: 2,
  GID: 4,
  SIZE: 8,
  ATIME: 16,
  MTIME: 32,
  ATIME_SET: 128,
  MTIME_SET: 256,
} as const;

const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * Mode bits a guest may give a file: no set-user-ID or set-group-ID. A
 * set-uid file made by the guest would run with its owner's rights on the
 * host — root's, when actorvm runs as root (docs/share.md).
 */
const NO_SETID = 0o1777;

/** Requests that may change the fid table (or the msize it is saved with). */
const FID_CHANGING = new Set<number>([
  T.VERSION,
  T.ATTACH,
  T.WALK,
  T.CLUNK,
  T.REMOVE,
  T.LOPEN,
  T.LCREATE,
  T.RENAME,
  T.RENAMEAT,
]);

export class P9Server {
  readonly readOnly: boolean;
  readonly stats: ServerStats = {
    requests: 0,
    errors: 0,
    malformed: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  #msize = MAX_MSIZE;
  readonly #t: FidTable;
  /** The reply buffer (every reply but a read's data is built here). */
  readonly #out = new Uint8Array(MAX_MSIZE);
  readonly #w = new Writer(this.#out);
  #dents = new Uint8Array(64 * 1024);
  readonly #isRoot: boolean;
  readonly #log: (line: string) => void;

  /** Serve `dir` (checked to be a directory); throws if it cannot be opened. */
  constructor(dir: string, opts: { readOnly: boolean; log?: (line: string) => void }) {
    this.readOnly = opts.readOnly;
    this.#log = opts.log ?? (() => {});
    this.#t = new FidTable(dir);
    this.#isRoot = host.geteuid() === 0;
  }

  /** Close every fd (the worker stops). */
  close(): void {
    this.#t.close();
  }

  /** Whether the last request changed the fid table (the caller saves it: exportFids). */
  fidsChanged = false;

  /** The fid table as plain data (devices/p9/fidstore.ts). */
  exportFids(): SavedFid[] {
    return this.#t.export();
  }

  /**
   * Take over a saved table (a restarted server): each fid's fds if they are
   * still what they were, else reopened by name if it still leads to the same
   * inode; a fid that cannot be taken over is dropped (the guest's next use
   * of it gets EBADF). Returns the count taken over.
   */
  importFids(saved: SavedFid[], msize: number): number {
    this.#msize = Math.min(Math.max(msize, 4096), MAX_MSIZE);
    return this.#t.import(saved);
  }

  /** The msize agreed with Tversion. */
  get msize(): number {
    return this.#msize;
  }

  /** Fids held now (for tests and stats). */
  get fidCount(): number {
    return this.#t.map.size;
  }

  /**
   * Serve one request; returns the bytes written into the reply space (0 if
   * there was no room even for an error, or no header to answer).
   */
  handle(x: Exchange): number {
    this.stats.requests++;
    if (x.readLen < HEADER || x.writeLen < HEADER + 4) {
      this.stats.malformed++;
      return 0;
    }
    // The fields only: a write's data stays in guest RAM until it goes to the file.
    const type = x.head(HEADER)[4];
    const head = x.head(Math.min(x.readLen, type === T.WRITE ? 64 : PARSE_MAX));
    const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const size = hv.getUint32(0, true), tag = hv.getUint16(5, true);
    const w = this.#w;
    this.fidsChanged = FID_CHANGING.has(type);
    try {
      if (size < HEADER || size > x.readLen) {
        throw new MalformedMessage(`size ${size}, chain has ${x.readLen} bytes`);
      }
      if (size > this.#msize + 64 || (type !== T.WRITE && size > PARSE_MAX)) {
        throw new MalformedMessage(`size ${size} over the limit`);
      }
      const rd = new Reader(head.subarray(0, Math.min(size, head.length)));
      const room = Math.min(x.writeLen, this.#msize);
      if (type === T.READ) return this.#read(rd, tag, x, size);
      if (type === T.WRITE) this.#write(rd, tag, x, size);
      else this.#dispatch(type, rd, w.begin(type + 1, tag), room);
      const n = w.end();
      if (n > room) fail(E.ERANGE);
      x.reply(this.#out.subarray(0, n));
      return n;
    } catch (e) {
      let errno: number;
      if (e instanceof Fail) errno = e.errno;
      else if (e instanceof MalformedMessage) {
        this.stats.malformed++;
        errno = E.EINVAL;
      } else if (e instanceof RangeError) errno = E.ERANGE;
      else {
        // A bug of ours, not the guest's: say it, answer EIO, keep serving.
        this.#log(`9p: internal error on type ${type}: ${e instanceof Error ? e.stack : e}`);
        errno = E.EIO;
      }
      this.stats.errors++;
      const n = w.begin(T.LERROR + 1, tag).u32(errno).end();
      x.reply(this.#out.subarray(0, n));
      return n;
    }
  }

  #dispatch(type: number, r: Reader, w: Writer, room: number): void {
    switch (type) {
      case T.VERSION:
        return this.#version(r, w);
      case T.ATTACH:
        return this.#attach(r, w);
      case T.WALK:
        return this.#walk(r, w);
      case T.CLUNK:
        return this.#t.clunk(r.u32("fid"));
      case T.FLUSH:
        // Requests are served in order, one at a time: the old one is answered already.
        r.u16("oldtag");
        return;
      case T.GETATTR:
        return this.#getattr(r, w);
      case T.SETATTR:
        return this.#setattr(r);
      case T.LOPEN:
        return this.#lopen(r, w);
      case T.LCREATE:
        return this.#lcreate(r, w);
      case T.READDIR:
        return this.#readdir(r, w, room);
      case T.MKDIR:
        return this.#mkdir(r, w);
      case T.SYMLINK:
        return this.#symlink(r, w);
      case T.READLINK: {
        const f = this.#t.get(r.u32("fid"));
        const t = host.readlink(f.fd);
        if (typeof t === "number") fail(-t);
        w.raw(t);
        return;
      }
      case T.UNLINKAT:
        return this.#unlinkat(r);
      case T.RENAMEAT:
        return this.#renameat(r);
      case T.RENAME:
        return this.#rename(r);
      case T.LINK:
        return this.#link(r);
      case T.REMOVE:
        return this.#remove(r);
      case T.FSYNC: {
        const f = this.#t.get(r.u32("fid"));
        const dataOnly = r.u32("datasync") !== 0;
        if (f.io >= 0) ok(host.fsync(f.io, dataOnly));
        return;
      }
      case T.STATFS:
        return this.#statfs(r, w);
      case T.MKNOD: {
        this.#t.get(r.u32("dfid"));
        this.#name(r);
        // Device nodes, fifos and sockets are not made on the host (docs/share.md).
        fail(this.readOnly ? E.EROFS : E.EPERM);
        return;
      }
      case T.LOCK:
        return this.#lock(r, w);
      case T.GETLOCK:
        return this.#getlock(r, w);
      default:
        // xattrwalk/xattrcreate (no extended attributes), auth (none needed),
        // and anything else.
        fail(E.EOPNOTSUPP);
    }
  }

  // --- session

  #version(r: Reader, w: Writer): void {
    const msize = r.u32("msize");
    const version = r.str("version");
    // A new session: every fid of the old one goes (9P: Tversion aborts all).
    this.#t.clunkAll();
    if (msize < 4096) fail(E.EINVAL);
    this.#msize = Math.min(msize, MAX_MSIZE);
    w.u32(this.#msize).str(version.startsWith(PROTOCOL) ? PROTOCOL : "unknown");
  }

  #attach(r: Reader, w: Writer): void {
    const fid = r.u32("fid");
    const afid = r.u32("afid");
    r.str("uname");
    r.str("aname");
    const uid = r.u32("n_uname");
    if (afid !== NOFID) fail(E.EINVAL);
    if (this.#t.map.has(fid)) fail(E.EBADF);
    if (this.#t.map.size >= MAX_FIDS) fail(E.ENFILE);
    const fd = ok(host.openAt(this.#t.root, ".", O.PATH | O.DIRECTORY));
    const st = this.#stat(fd);
    this.#t.map.set(fid, {
      fd,
      ino: st.ino,
      dev: st.dev,
      path: [],
      io: -1,
      writable: false,
      openFlags: 0,
      uid,
    });
    this.#qid(w, st);
  }

  // --- walking

  #walk(r: Reader, w: Writer): void {
    const fid = r.u32("fid"), newfid = r.u32("newfid");
    const n = r.u16("nwname");
    if (n > MAXWELEM) throw new MalformedMessage(`walk of ${n} names`);
    const names: string[] = [];
    for (let i = 0; i < n; i++) names.push(this.#walkName(r));
    const f = this.#t.get(fid);
    if (newfid !== fid && this.#t.map.has(newfid)) fail(E.EBADF);
    if (newfid !== fid && this.#t.map.size >= MAX_FIDS) fail(E.ENFILE);
    let fd = -1;
    let path = f.path;
    const qids: Stat[] = [];
    let err = 0;
    for (const name of names) {
      let next: number;
      let nextPath: string[];
      if (name === "..") {
        // Up is the server's business: the parent by name from the root, never past it.
        nextPath = path.slice(0, -1);
        next = this.#t.openPath(nextPath);
      } else {
        // One name below the current fd, not followed if it is a symlink; if
        // the current fd is a symlink or a file, openat fails with ENOTDIR.
        next = host.openPath(fd >= 0 ? fd : f.fd, name);
        nextPath = [...path, name];
      }
      if (next < 0) {
        err = -next;
        break;
      }
      const st = host.stat(next);
      if (typeof st === "number") {
        host.close(next);
        err = -st;
        break;
      }
      host.close(fd);
      fd = next;
      path = nextPath;
      qids.push(st);
    }
    if (err && qids.length === 0) fail(err);
    w.u16(qids.length);
    for (const st of qids) this.#qid(w, st);
    if (qids.length < names.length) {
      // A partial walk: newfid is not made (9P).
      host.close(fd);
      return;
    }
    if (names.length === 0) {
      if (newfid === fid) return; // nothing to do
      // A clone: the same inode, even if it was renamed or unlinked meanwhile.
      fd = ok(host.dup(f.fd));
    }
    const ino = names.length ? qids[qids.length - 1].ino : f.ino;
    const dev = names.length ? qids[qids.length - 1].dev : f.dev;
    if (newfid === fid) {
      host.close(f.fd);
      this.#t.closeIo(f);
      f.fd = fd;
      f.ino = ino;
      f.dev = dev;
      f.path = path;
    } else {
      this.#t.map.set(newfid, {
        fd,
        ino,
        dev,
        path,
        io: -1,
        writable: false,
        openFlags: 0,
        uid: f.uid,
      });
    }
  }

  // --- attributes

  #getattr(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    r.u64("request_mask");
    const st = this.#stat(f.fd);
    // P9_GETATTR_BASIC | BTIME: every field below is real.
    w.u64(0x7ff | 0x800);
    this.#qid(w, st);
    w.u32(st.mode).u32(st.uid).u32(st.gid).u64(st.nlink).u64(st.rdev).u64(st.size);
    w.u64(st.blksize).u64(st.blocks);
    for (const t of [st.atime, st.mtime, st.ctime, st.btime]) w.u64(t[0]).u64(t[1]);
    w.u64(0).u64(0); // gen, data_version
  }

  #setattr(r: Reader): void {
    const f = this.#t.get(r.u32("fid"));
    const valid = r.u32("valid");
    const mode = r.u32("mode"), uid = r.u32("uid"), gid = r.u32("gid");
    const size = r.u64("size");
    const atime: [bigint, number] = [
      r.i64("atime_sec"),
      Number(BigInt.asUintN(30, r.i64("atime_nsec"))),
    ];
    const mtime: [bigint, number] = [
      r.i64("mtime_sec"),
      Number(BigInt.asUintN(30, r.i64("mtime_nsec"))),
    ];
    if (this.readOnly) fail(E.EROFS);
    const st = this.#stat(f.fd);
    this.#mayChange(st);
    const kind = st.mode & S_IFMT;
    if (valid & SA.SIZE) {
      if (kind === S_IFDIR) fail(E.EISDIR);
      if (kind !== S_IFREG) fail(E.EINVAL);
      if (f.io >= 0 && f.writable) ok(host.ftruncate(f.io, size));
      else {
        const fd = ok(host.reopen(f.fd, O.WRONLY));
        const e = host.ftruncate(fd, size);
        host.close(fd);
        ok(e);
      }
    }
    if (valid & SA.MODE) {
      if (kind === S_IFLNK) fail(E.EOPNOTSUPP);
      ok(host.chmod(f.fd, mode & (kind === S_IFDIR ? 0o7777 : NO_SETID)));
    }
    if (valid & (SA.UID | SA.GID)) {
      ok(host.chown(f.fd, valid & SA.UID ? uid : -1, valid & SA.GID ? gid : -1));
    }
    if ((valid & (SA.ATIME | SA.MTIME)) && kind !== S_IFLNK) {
      const pick = (given: number, set: number, t: [bigint, number]): [bigint, number] =>
        !(valid & given) ? [0n, host.UTIME_OMIT] : valid & set ? t : [0n, host.UTIME_NOW];
      ok(host.utimes(
        f.fd,
        pick(SA.ATIME, SA.ATIME_SET, atime),
        pick(SA.MTIME, SA.MTIME_SET, mtime),
      ));
    }
  }

  #statfs(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    const s = host.statfs(f.fd);
    if (typeof s === "number") fail(-s);
    const [type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen] = s;
    w.u32(Number(type & 0xffffffffn)).u32(Number(bsize)).u64(blocks).u64(bfree).u64(bavail);
    w.u64(files).u64(ffree).u64(fsid).u32(Number(namelen));
  }

  // --- opening and creating

  #lopen(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    const flags = r.u32("flags");
    if (f.io >= 0) fail(E.EBADF);
    const st = this.#stat(f.fd);
    const kind = st.mode & S_IFMT;
    const acc = flags & P9_O.ACCMODE;
    const writes = acc !== 0 || (flags & P9_O.TRUNC) !== 0;
    if (writes && this.readOnly) fail(E.EROFS);
    let io: number;
    let openFlags = 0;
    if (kind === S_IFDIR) {
      if (acc !== 0) fail(E.EISDIR);
      openFlags = O.RDONLY | O.DIRECTORY;
      io = ok(host.reopen(f.fd, openFlags));
    } else if (kind === S_IFREG) {
      if (writes) this.#mayChange(st);
      openFlags = this.#hostFlags(flags);
      io = ok(host.reopen(f.fd, openFlags));
      this.#checkOpened(io, writes, flags);
    } else if (kind === S_IFLNK) {
      fail(E.ELOOP);
    } else {
      // A fifo would block this worker; a device would be the host's device.
      fail(E.EOPNOTSUPP);
    }
    f.io = io!;
    f.openFlags = openFlags;
    f.writable = acc !== 0;
    this.#qid(w, st);
    w.u32(0); // iounit: 0, the client uses msize
  }

  #lcreate(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    const name = this.#name(r);
    const flags = r.u32("flags"), mode = r.u32("mode"), gid = r.u32("gid");
    if (this.readOnly) fail(E.EROFS);
    if (f.io >= 0) fail(E.EBADF);
    // O_NONBLOCK: a fifo already at `name` must not block this worker (it is
    // then refused as not a regular file); on a regular file it changes nothing.
    const hf = this.#hostFlags(flags) | O.CREAT | O.NONBLOCK | (flags & P9_O.EXCL ? O.EXCL : 0);
    // O_NOFOLLOW (added by openAt): a symlink planted at `name` is refused (ELOOP).
    const io = ok(host.openAt(f.fd, name, hf, mode & NO_SETID));
    this.#checkOpened(io, true, flags);
    const pathFd = host.reopen(io, O.PATH);
    if (pathFd < 0) {
      host.close(io);
      fail(-pathFd);
    }
    this.#own(pathFd, f.uid, gid);
    const st = this.#stat(pathFd);
    host.close(f.fd);
    f.fd = pathFd;
    f.ino = st.ino;
    f.dev = st.dev;
    f.path = [...f.path, name];
    f.io = io;
    f.openFlags = this.#hostFlags(flags);
    f.writable = (flags & P9_O.ACCMODE) !== 0;
    this.#qid(w, st);
    w.u32(0);
  }

  /** After opening a file: refuse one that is not regular or has other names; then truncate. */
  #checkOpened(io: number, writes: boolean, flags: number): void {
    const st = host.stat(io);
    const bad = typeof st === "number"
      ? -st
      : (st.mode & S_IFMT) !== S_IFREG
      ? E.EOPNOTSUPP
      : writes && st.nlink > 1
      ? E.EACCES
      : 0;
    if (bad) {
      host.close(io);
      fail(bad);
    }
    // Truncated only now, after the checks (O_TRUNC at open would cut a refused file).
    if (flags & P9_O.TRUNC) {
      const e = host.ftruncate(io, 0);
      if (e < 0) {
        host.close(io);
        fail(-e);
      }
    }
  }

  #hostFlags(p9: number): number {
    let h = p9 & P9_O.ACCMODE;
    if (p9 & P9_O.APPEND) h |= O.APPEND;
    if (p9 & P9_O.DSYNC) h |= O.DSYNC;
    if (p9 & P9_O.SYNC) h |= O.SYNC;
    return h;
  }

  #mkdir(r: Reader, w: Writer): void {
    const d = this.#t.get(r.u32("dfid"));
    const name = this.#name(r);
    const mode = r.u32("mode"), gid = r.u32("gid");
    if (this.readOnly) fail(E.EROFS);
    ok(host.mkdirAt(d.fd, name, mode & 0o7777));
    this.#qidOfNew(w, d, name, gid);
  }

  #symlink(r: Reader, w: Writer): void {
    const d = this.#t.get(r.u32("fid"));
    const name = this.#name(r);
    const target = r.raw("symtgt");
    const gid = r.u32("gid");
    if (this.readOnly) fail(E.EROFS);
    if (target.length === 0 || target.includes(0)) fail(E.EINVAL);
    // Any target is stored as text: the server never follows a symlink.
    ok(host.symlinkAt(target, d.fd, name));
    this.#qidOfNew(w, d, name, gid);
  }

  /** The qid of `name`, just made in `d`; owned by the guest's user when the host is root. */
  #qidOfNew(w: Writer, d: Fid, name: string, gid: number): void {
    const fd = ok(host.openPath(d.fd, name));
    try {
      this.#own(fd, d.uid, gid);
      this.#qid(w, this.#stat(fd));
    } finally {
      host.close(fd);
    }
  }

  /** Give a new inode the guest's owner, as QEMU's passthrough model does; only root can. */
  #own(fd: number, uid: number, gid: number): void {
    if (!this.#isRoot || uid === NOFID) return;
    host.chown(fd, uid, gid === NOFID ? -1 : gid);
  }

  // --- names in directories

  #unlinkat(r: Reader): void {
    const d = this.#t.get(r.u32("dirfd"));
    const name = this.#name(r);
    const flags = r.u32("flags");
    if (this.readOnly) fail(E.EROFS);
    ok(host.unlinkAt(d.fd, name, flags & host.AT_REMOVEDIR));
  }

  #renameat(r: Reader): void {
    const od = this.#t.get(r.u32("olddirfid"));
    const oldname = this.#name(r);
    const nd = this.#t.get(r.u32("newdirfid"));
    const newname = this.#name(r);
    if (this.readOnly) fail(E.EROFS);
    ok(host.renameAt(od.fd, oldname, nd.fd, newname));
    this.#renamed([...od.path, oldname], [...nd.path, newname]);
  }

  #rename(r: Reader): void {
    const f = this.#t.get(r.u32("fid"));
    const nd = this.#t.get(r.u32("dfid"));
    const name = this.#name(r);
    if (this.readOnly) fail(E.EROFS);
    if (f.path.length === 0) fail(E.EBUSY);
    const parent = ok(this.#t.openPath(f.path.slice(0, -1)));
    const e = host.renameAt(parent, f.path[f.path.length - 1], nd.fd, name);
    host.close(parent);
    ok(e);
    this.#renamed(f.path, [...nd.path, name]);
  }

  /** Fids under a renamed path follow it (their fds already do). */
  #renamed(from: string[], to: string[]): void {
    for (const f of this.#t.map.values()) {
      if (f.path.length >= from.length && from.every((n, i) => f.path[i] === n)) {
        f.path = [...to, ...f.path.slice(from.length)];
      }
    }
  }

  #link(r: Reader): void {
    const d = this.#t.get(r.u32("dfid"));
    const f = this.#t.get(r.u32("fid"));
    const name = this.#name(r);
    if (this.readOnly) fail(E.EROFS);
    if (f.path.length === 0) fail(E.EPERM);
    // By its parent and name, without AT_SYMLINK_FOLLOW: a symlink is linked as itself.
    const parent = ok(this.#t.openPath(f.path.slice(0, -1)));
    const e = host.linkAt(parent, f.path[f.path.length - 1], d.fd, name);
    host.close(parent);
    ok(e);
  }

  #remove(r: Reader): void {
    const fid = r.u32("fid");
    const f = this.#t.get(fid);
    try {
      if (this.readOnly) fail(E.EROFS);
      if (f.path.length === 0) fail(E.EBUSY);
      const st = this.#stat(f.fd);
      const parent = ok(this.#t.openPath(f.path.slice(0, -1)));
      const flags = (st.mode & S_IFMT) === S_IFDIR ? host.AT_REMOVEDIR : 0;
      const e = host.unlinkAt(parent, f.path[f.path.length - 1], flags);
      host.close(parent);
      ok(e);
    } finally {
      // Tremove clunks the fid whether or not the remove worked.
      this.#t.clunk(fid);
    }
  }

  // --- data

  #readdir(r: Reader, w: Writer, room: number): void {
    const f = this.#t.get(r.u32("fid"));
    // A getdents cookie: any 64-bit value (ext4's are hashes).
    let cookie = BigInt.asIntN(64, r.u64big("offset"));
    const count = Math.min(r.u32("count"), room - HEADER - 4);
    if (f.io < 0) fail(E.EBADF);
    const countAt = w.skip(4);
    const start = w.length;
    let used = 0;
    fill: for (;;) {
      const n = ok(host.readDir(f.io, cookie, this.#dents));
      if (n === 0) break;
      const v = new DataView(this.#dents.buffer, 0, n);
      for (let at = 0; at < n;) {
        const ino = v.getBigUint64(at, true);
        const off = v.getBigInt64(at + 8, true);
        const reclen = v.getUint16(at + 16, true);
        const dtype = v.getUint8(at + 18);
        const nameEnd = this.#dents.indexOf(0, at + 19);
        const name = this.#dents.subarray(
          at + 19,
          nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd,
        );
        const need = 13 + 8 + 1 + 2 + name.length;
        if (used + need > count) break fill;
        w.qid(dtype === 4 ? QT.DIR : dtype === 10 ? QT.SYMLINK : QT.FILE, 0, ino);
        w.u64(off).u8(dtype).raw(name);
        used += need;
        cookie = off;
        at += reclen;
      }
    }
    w.setU32(countAt, w.length - start);
  }

  /** Tread: the data goes from the file straight into the chain's buffers after the 11-byte header. */
  #read(r: Reader, tag: number, x: Exchange, _size: number): number {
    const w = this.#w;
    const f = this.#t.get(r.u32("fid"));
    const offset = r.u64("offset");
    let count = r.u32("count");
    if (f.io < 0) fail(E.EBADF);
    count = Math.min(count, this.#msize - 11, x.writeLen - 11);
    let done = 0;
    for (const piece of x.replyPieces(11, count)) {
      const n = host.pread(f.io, piece, offset + done);
      if (n < 0) {
        if (done === 0) fail(-n);
        break;
      }
      done += n;
      if (n < piece.length) break;
    }
    this.stats.bytesRead += done;
    const n = w.begin(T.READ + 1, tag).u32(done).end();
    new DataView(this.#out.buffer).setUint32(0, n + done, true);
    x.reply(this.#out.subarray(0, n));
    return n + done;
  }

  /** Twrite: the data goes from the chain's buffers straight into the file. */
  #write(r: Reader, tag: number, x: Exchange, size: number): void {
    const f = this.#t.get(r.u32("fid"));
    const offset = r.u64("offset");
    const count = r.u32("count");
    const dataAt = r.offset;
    if (count > size - dataAt) {
      throw new MalformedMessage(`write of ${count} bytes in a ${size}-byte message`);
    }
    if (this.readOnly) fail(E.EROFS);
    if (f.io < 0 || !f.writable) fail(E.EBADF);
    let done = 0;
    for (const piece of x.requestPieces(dataAt, count)) {
      const n = host.pwrite(f.io, piece, offset + done);
      if (n < 0) {
        if (done === 0) fail(-n);
        break;
      }
      done += n;
      if (n < piece.length) break;
    }
    this.stats.bytesWritten += done;
    this.#w.begin(T.WRITE + 1, tag).u32(done);
  }

  // --- locks: the host's locks on the fid's I/O fd (flock for the whole file, else OFD)

  /** A lock's range from the guest: start and length as the host's signed 64-bit offsets. */
  #range(r: Reader): { start: bigint; len: bigint } {
    const start = r.u64big("start"), len = r.u64big("length");
    if (start > 0x7fffffffffffffffn) fail(E.EINVAL);
    // Linux sends a length of 0 for "to the end"; one past off_t is the same.
    return { start, len: len > 0x7fffffffffffffffn - start ? 0n : len };
  }

  #lock(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    const type = r.u8("type");
    r.u32("flags"); // BLOCK: the client retries on BLOCKED, so the server never waits
    const { start, len } = this.#range(r);
    r.u32("proc_id");
    r.str("client_id");
    if (type > 2) fail(E.EINVAL);
    if (f.io < 0) fail(E.EBADF);
    // The whole file (what Linux sends for flock(2)) is a host flock, which,
    // as in the guest, an exclusive lock may take on a file open read-only;
    // a byte range is an OFD lock (fcntl's rules: a write lock needs a writable fd).
    const got = start === 0n && len === 0n
      ? host.flock(f.io, type)
      : host.lock(f.io, { type, start, len, pid: 0 }, false);
    // Rlock status: 0 success, 1 blocked (someone holds a conflicting lock).
    if (got === -E.EAGAIN || got === -E.EACCES) w.u8(1);
    else if (typeof got === "number" && got < 0) fail(-got);
    else w.u8(0);
  }

  #getlock(r: Reader, w: Writer): void {
    const f = this.#t.get(r.u32("fid"));
    const type = r.u8("type");
    const { start, len } = this.#range(r);
    r.u32("proc_id");
    const client = r.raw("client_id");
    if (type > 2) fail(E.EINVAL);
    if (f.io < 0) fail(E.EBADF);
    const got = host.lock(f.io, { type, start, len, pid: 0 }, true);
    if (typeof got === "number") fail(-got);
    // OFD locks name no process (-1): report none rather than a host pid.
    w.u8(got.type).u64(got.start).u64(got.len).u32(0).raw(client);
  }

  // --- helpers

  /** A name for a walk step: one component, or ".." (handled by the walk). */
  #walkName(r: Reader): string {
    const b = r.raw("wname");
    if (b.length === 2 && b[0] === 0x2e && b[1] === 0x2e) return "..";
    return this.#checkName(b);
  }

  /** A name to create, remove or rename: one component, never "." or "..". */
  #name(r: Reader): string {
    const b = r.raw("name");
    const s = this.#checkName(b);
    if (s === "." || s === "..") fail(E.EINVAL);
    return s;
  }

  #checkName(b: Uint8Array): string {
    if (b.length === 0 || b.includes(0x2f) || b.includes(0)) fail(E.EINVAL);
    if (b.length > 255) fail(E.ENAMETOOLONG);
    try {
      return dec.decode(b);
    } catch {
      // Linux names are bytes; we only serve UTF-8 ones (round-trips through a JS string).
      fail(E.EINVAL);
    }
  }

  #stat(fd: number): Stat {
    const st = host.stat(fd);
    if (typeof st === "number") fail(-st);
    return st;
  }

  /** Refuse to change an inode other names may point at: one of them may be outside the share. */
  #mayChange(st: Stat): void {
    if ((st.mode & S_IFMT) !== S_IFDIR && st.nlink > 1) fail(E.EACCES);
  }

  #qid(w: Writer, st: Stat): void {
    const kind = st.mode & S_IFMT;
    w.qid(kind === S_IFDIR ? QT.DIR : kind === S_IFLNK ? QT.SYMLINK : QT.FILE, 0, st.ino);
  }
}
