// The user-mode runner's descriptor syscalls: openat and the path helpers
// (paths resolve against the host's cwd or a directory descriptor), read/write (and their vector forms) on the standard streams, host
// files, pipes and eventfds, lseek, fstat/newfstatat, fcntl, pipe2 and epoll.
// A call that would block returns a Wait (usermode/threads.ts). Split from
// usermode/syscalls.ts, which dispatches here. Read next: usermode/signals.ts.

import type { Wait } from "./threads.ts";
import type { Process } from "./syscalls.ts";
import {
  EAGAIN,
  EBADF,
  EINVAL,
  ENOENT,
  ENOTDIR,
  EPERM,
  EPIPE,
  ESPIPE,
  hostErrno,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NONBLOCK,
  O_TRUNC,
  O_WRONLY,
  type OpenFile,
  Pipe,
} from "./files.ts";

const EFAULT = 14;
const AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000, AT_SYMLINK_NOFOLLOW = 0x100;

export class FileSyscalls {
  private readonly enc = new TextEncoder();

  constructor(private readonly p: Process, private readonly note: (msg: string) => void) {}

  /** Resolves a path argument against dirfd as the host sees it; a negative errno on failure. */
  resolve(dirfd: number, pathVa: number): string | number {
    const path = this.p.mem.readCString(pathVa);
    if (path === null) return -EFAULT;
    if (path.startsWith("/")) return path;
    if (path === "") return -ENOENT;
    if (dirfd === AT_FDCWD) return `${Deno.cwd()}/${path}`;
    const d = this.p.fds.get(dirfd);
    if (d === null) return -EBADF;
    if (d.what.kind !== "host" || !d.what.dir) return -ENOTDIR;
    return `${d.what.path}/${path}`;
  }

  pathOp(dirfd: number, pathVa: number, op: (path: string) => number): number {
    const path = this.resolve(dirfd, pathVa);
    if (typeof path === "number") return path;
    try {
      return op(path);
    } catch (e) {
      return hostErrno(e);
    }
  }

  openat(dirfd: number, pathVa: number, flags: number, mode: number): number {
    return this.pathOp(dirfd, pathVa, (path) => {
      const acc = flags & 3;
      const creat = (flags & O_CREAT) !== 0;
      const file = Deno.openSync(path, {
        read: acc !== O_WRONLY,
        write: acc !== 0 || (creat && !(flags & O_APPEND)) || (flags & O_TRUNC) !== 0,
        append: (flags & O_APPEND) !== 0,
        truncate: (flags & O_TRUNC) !== 0 && acc !== 0,
        create: creat && !(flags & O_EXCL),
        createNew: creat && (flags & O_EXCL) !== 0,
        mode: mode & 0o7777,
      });
      let dir = false;
      try {
        dir = file.statSync().isDirectory;
      } catch { /* treated as a file */ }
      if ((flags & O_DIRECTORY) && !dir) {
        file.close();
        return -ENOTDIR;
      }
      const f: OpenFile = { what: { kind: "host", file, path, dir }, flags, refs: 1 };
      const fd = this.p.fds.install(f, (flags & O_CLOEXEC) !== 0, 3);
      if (fd < 0) file.close();
      return fd;
    });
  }

  read(fd: number, buf: number, len: number): number | Wait {
    const f = this.p.fds.get(fd);
    if (f === null || (f.flags & 3) === O_WRONLY) return -EBADF;
    const w = f.what;
    const n = Math.min(len, 1 << 20);
    switch (w.kind) {
      case "stdin": {
        const tmp = new Uint8Array(Math.min(n, 1 << 16));
        const got = this.p.stdin ? this.p.stdin(tmp) : 0;
        return this.p.mem.write(buf, tmp.subarray(0, got)) ? got : -EFAULT;
      }
      case "host": {
        if (w.dir) return -21; // EISDIR
        const tmp = new Uint8Array(n);
        try {
          const got = w.file.readSync(tmp) ?? 0;
          return this.p.mem.write(buf, tmp.subarray(0, got)) ? got : -EFAULT;
        } catch (e) {
          return hostErrno(e);
        }
      }
      case "pipe": {
        if (w.end !== "r") return -EBADF;
        const pipe = w.pipe;
        const attempt = (): number | null => {
          if (pipe.size === 0) return pipe.writers === 0 ? 0 : null;
          const b = pipe.read(n);
          return this.p.mem.write(buf, b) ? b.length : -EFAULT;
        };
        const r = attempt();
        if (r !== null) return r;
        if (f.flags & O_NONBLOCK) return -EAGAIN;
        return { deadline: Infinity, poll: attempt, onTimeout: () => -EAGAIN, restartable: true };
      }
      case "eventfd": {
        if (len < 8) return -EINVAL;
        const attempt = (): number | null => {
          if (w.count === 0n) return null;
          const v = w.semaphore ? 1n : w.count;
          const b = new Uint8Array(8);
          new DataView(b.buffer).setBigUint64(0, v, true);
          if (!this.p.mem.write(buf, b)) return -EFAULT;
          w.count -= v;
          return 8;
        };
        const r = attempt();
        if (r !== null) return r;
        if (f.flags & O_NONBLOCK) return -EAGAIN;
        return { deadline: Infinity, poll: attempt, onTimeout: () => -EAGAIN, restartable: true };
      }
      default:
        return -EINVAL;
    }
  }

  write(fd: number, buf: number, len: number): number | Wait {
    const f = this.p.fds.get(fd);
    if (f === null || (f.flags & 3) === 0 && f.what.kind !== "stdout") return -EBADF;
    const bytes = this.p.mem.read(buf, Math.min(len, 1 << 24));
    if (bytes === null) return -EFAULT;
    const w = f.what;
    switch (w.kind) {
      case "eventfd": {
        if (bytes.length < 8) return -EINVAL;
        const v = new DataView(bytes.buffer).getBigUint64(0, true);
        if (v === 0xffff_ffff_ffff_ffffn) return -EINVAL;
        // A sum past the maximum would block until a read; a program's own
        // wake-ups never come near it, so it is refused instead.
        if (w.count + v >= 0xffff_ffff_ffff_ffffn) return -EAGAIN;
        w.count += v;
        return 8;
      }
      case "stdout":
        (w.fd === 1 ? this.p.stdout : this.p.stderr)?.(bytes);
        return bytes.length;
      case "host": {
        try {
          let done = 0;
          while (done < bytes.length) done += w.file.writeSync(bytes.subarray(done));
          return done;
        } catch (e) {
          return hostErrno(e);
        }
      }
      case "pipe": {
        if (w.end !== "w") return -EBADF;
        const pipe = w.pipe;
        const attempt = (): number | null => {
          if (pipe.readers === 0) return -EPIPE;
          const n = pipe.write(bytes);
          return n > 0 || bytes.length === 0 ? n : null;
        };
        const r = attempt();
        if (r !== null) return r;
        if (f.flags & O_NONBLOCK) return -EAGAIN;
        return { deadline: Infinity, poll: attempt, onTimeout: () => -EAGAIN, restartable: true };
      }
      default:
        return -EINVAL;
    }
  }

  rwv(isWrite: boolean, fd: number, iov: number, cnt: number): number {
    if (cnt < 0 || cnt > 1024) return -EINVAL;
    const vec = this.p.mem.read(iov, cnt * 16);
    if (vec === null) return -EFAULT;
    const dv = new DataView(vec.buffer);
    let total = 0;
    for (let i = 0; i < cnt; i++) {
      const base = Number(dv.getBigUint64(i * 16, true));
      const len = Number(dv.getBigUint64(i * 16 + 8, true));
      if (len === 0) continue;
      // A vector that would block ends the call with what was done (or EAGAIN).
      const r = isWrite ? this.write(fd, base, len) : this.read(fd, base, len);
      if (typeof r !== "number") return total > 0 ? total : -EAGAIN;
      if (r < 0) return total > 0 ? total : r;
      total += r;
      if (r < len) break;
    }
    return total;
  }

  lseek(fd: number, off: bigint, whence: number): number {
    const f = this.p.fds.get(fd);
    if (f === null) return -EBADF;
    if (f.what.kind !== "host") return -ESPIPE;
    if (whence < 0 || whence > 2) return -EINVAL;
    try {
      return f.what.file.seekSync(off, whence);
    } catch (e) {
      return hostErrno(e);
    }
  }

  fstatFd(fd: number, st: number): number {
    const f = this.p.fds.get(fd);
    if (f === null) return -EBADF;
    let info: StatLike;
    if (f.what.kind === "host") {
      try {
        info = f.what.file.statSync();
      } catch (e) {
        return hostErrno(e);
      }
    } else {
      // The streams, pipes and epoll: a FIFO as far as the program can tell.
      info = { mode: 0o010600, size: f.what.kind === "pipe" ? f.what.pipe.size : 0 };
    }
    return this.p.mem.write(st, statBytes(info)) ? 0 : -EFAULT;
  }

  fstatat(dirfd: number, pathVa: number, st: number, flags: number): number {
    if (flags & AT_EMPTY_PATH && this.p.mem.readCString(pathVa) === "") {
      return this.fstatFd(dirfd, st);
    }
    return this.pathOp(dirfd, pathVa, (path) => {
      const info = flags & AT_SYMLINK_NOFOLLOW ? Deno.lstatSync(path) : Deno.statSync(path);
      return this.p.mem.write(st, statBytes(info)) ? 0 : -EFAULT;
    });
  }

  fcntl(fd: number, cmd: number, arg: number): number {
    const fds = this.p.fds;
    const f = fds.get(fd);
    if (f === null) return -EBADF;
    switch (cmd) {
      case 0: // F_DUPFD
      case 1030: // F_DUPFD_CLOEXEC
        f.refs++;
        return fds.install(f, cmd === 1030, arg);
      case 1: // F_GETFD
        return fds.getCloexec(fd) ? 1 : 0;
      case 2: // F_SETFD
        fds.setCloexec(fd, (arg & 1) !== 0);
        return 0;
      case 3: // F_GETFL
        return f.flags & (3 | O_APPEND | O_NONBLOCK);
      case 4: // F_SETFL: only O_NONBLOCK and O_APPEND change
        f.flags = (f.flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK));
        return 0;
      default:
        this.note(`actorvm: fcntl command ${cmd}: -EINVAL`);
        return -EINVAL;
    }
  }

  pipe2(fdsVa: number, flags: number): number {
    const pipe = new Pipe();
    const nb = flags & O_NONBLOCK, cloexec = (flags & O_CLOEXEC) !== 0;
    const r = this.p.fds.install(
      { what: { kind: "pipe", pipe, end: "r" }, flags: nb, refs: 1 },
      cloexec,
    );
    if (r < 0) return r;
    const w = this.p.fds.install(
      { what: { kind: "pipe", pipe, end: "w" }, flags: O_WRONLY | nb, refs: 1 },
      cloexec,
    );
    if (w < 0) {
      this.p.fds.close(r);
      return w;
    }
    const b = new Uint8Array(8);
    new DataView(b.buffer).setInt32(0, r, true);
    new DataView(b.buffer).setInt32(4, w, true);
    if (!this.p.mem.write(fdsVa, b)) {
      this.p.fds.close(r);
      this.p.fds.close(w);
      return -EFAULT;
    }
    return 0;
  }

  epollCtl(epfd: number, op: number, fd: number, ev: number): number {
    const e = this.p.fds.get(epfd);
    if (e === null || this.p.fds.get(fd) === null) return -EBADF;
    // Linux's order: a target that cannot be polled first — regular files (and
    // here the host's streams) are EPERM —, then whether epfd is an epoll.
    if (this.p.fds.pollable(fd) < 0) return -EPERM;
    if (e.what.kind !== "epoll" || epfd === fd) return -EINVAL;
    const entries = e.what.entries;
    if (op === 2) return entries.delete(fd) ? 0 : -ENOENT; // EPOLL_CTL_DEL
    const b = this.p.mem.read(ev, 16);
    if (b === null) return -EFAULT;
    const dv = new DataView(b.buffer);
    const entry = { events: dv.getUint32(0, true), data: dv.getBigUint64(8, true) };
    if (op === 1) { // EPOLL_CTL_ADD
      if (entries.has(fd)) return -17; // EEXIST
      entries.set(fd, entry);
      return 0;
    }
    if (op === 3) { // EPOLL_CTL_MOD
      if (!entries.has(fd)) return -ENOENT;
      entries.set(fd, entry);
      return 0;
    }
    return -EINVAL;
  }

  /** Level-triggered readiness (EPOLLET is treated as level: a waiter may see an event twice). */
  epollWait(epfd: number, out: number, max: number, timeout: number): number | Wait {
    const e = this.p.fds.get(epfd);
    if (e === null) return -EBADF;
    if (e.what.kind !== "epoll" || max <= 0) return -EINVAL;
    const entries = e.what.entries;
    const collect = (): number | null => {
      const evs: [number, bigint][] = [];
      for (const [fd, en] of entries) {
        const ready = this.p.fds.pollable(fd) & (en.events | 0x18); // ERR and HUP always
        if (ready !== 0 && evs.length < max) evs.push([ready, en.data]);
      }
      if (evs.length === 0) return null;
      const b = new Uint8Array(evs.length * 16);
      const dv = new DataView(b.buffer);
      evs.forEach(([ev, data], i) => {
        dv.setUint32(i * 16, ev, true);
        dv.setBigUint64(i * 16 + 8, data, true);
      });
      return this.p.mem.write(out, b) ? evs.length : -EFAULT;
    };
    const r = collect();
    if (r !== null || timeout === 0) return r ?? 0;
    return {
      deadline: timeout < 0 ? Infinity : this.p.sched.clock.now() + timeout,
      poll: collect,
      onTimeout: () => 0,
    };
  }
}

interface StatLike {
  dev?: number | null;
  ino?: number | null;
  mode: number | null;
  nlink?: number | null;
  uid?: number | null;
  gid?: number | null;
  rdev?: number | null;
  size: number;
  blksize?: number | null;
  blocks?: number | null;
  atime?: Date | null;
  mtime?: Date | null;
  ctime?: Date | null;
}

/** struct stat as asm-generic lays it out (128 bytes). */
function statBytes(s: StatLike): Uint8Array {
  const b = new Uint8Array(128);
  const dv = new DataView(b.buffer);
  const u64 = (o: number, v: number | null | undefined) => dv.setBigUint64(o, BigInt(v ?? 0), true);
  u64(0, s.dev);
  u64(8, s.ino);
  dv.setUint32(16, s.mode ?? 0, true);
  dv.setUint32(20, s.nlink ?? 1, true);
  dv.setUint32(24, s.uid ?? 0, true);
  dv.setUint32(28, s.gid ?? 0, true);
  u64(32, s.rdev);
  u64(48, s.size);
  dv.setInt32(56, s.blksize ?? 4096, true);
  u64(64, s.blocks);
  const time = (o: number, d: Date | null | undefined) => {
    const ms = d?.getTime() ?? 0;
    dv.setBigInt64(o, BigInt(Math.floor(ms / 1000)), true);
    dv.setBigUint64(o + 8, BigInt((ms % 1000) * 1e6), true);
  };
  time(72, s.atime);
  time(88, s.mtime);
  time(104, s.ctime ?? s.mtime);
  return b;
}
