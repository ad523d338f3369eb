// The user-mode runner's file descriptors: the standard streams (wired to the
// runner's callbacks), host files opened through openat (the program sees the
// host's file system, as under qemu-riscv64), pipes and eventfds between the
// program's own threads, and epoll instances over those (Go's runtime polls a
// pipe, or an eventfd in newer releases, to wake its poller). A read that would block returns null and the caller
// (usermode/syscalls.ts) makes the thread wait. Read next: usermode/syscalls.ts.

export const EPERM = 1, ENOENT = 2, EIO = 5, EBADF = 9, EAGAIN = 11, EACCES = 13, EEXIST = 17;
export const ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMFILE = 24, ESPIPE = 29, EPIPE = 32;
export const ELOOP = 40, ENOTEMPTY = 39;

export const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200;
export const O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;

export const EPOLLIN = 1, EPOLLOUT = 4, EPOLLERR = 8, EPOLLHUP = 0x10;

/** A pipe's buffer, shared by its two ends. */
export class Pipe {
  private chunks: Uint8Array[] = [];
  size = 0;
  readers = 1;
  writers = 1;
  static readonly CAPACITY = 65536;

  write(b: Uint8Array): number {
    const n = Math.min(b.length, Pipe.CAPACITY - this.size);
    if (n > 0) {
      this.chunks.push(b.slice(0, n));
      this.size += n;
    }
    return n;
  }

  read(max: number): Uint8Array {
    const out = new Uint8Array(Math.min(max, this.size));
    let done = 0;
    while (done < out.length) {
      const c = this.chunks[0];
      const n = Math.min(c.length, out.length - done);
      out.set(c.subarray(0, n), done);
      done += n;
      if (n === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(n);
    }
    this.size -= done;
    return out;
  }
}

export interface EpollEntry {
  events: number;
  data: bigint;
}

export type FileKind =
  | { kind: "stdin" }
  | { kind: "stdout"; fd: 1 | 2 }
  | { kind: "host"; file: Deno.FsFile; path: string; dir: boolean }
  | { kind: "pipe"; pipe: Pipe; end: "r" | "w" }
  | { kind: "eventfd"; count: bigint; semaphore: boolean }
  | { kind: "epoll"; entries: Map<number, EpollEntry> };

/** An open file description (shared by dup'ed descriptors). */
export interface OpenFile {
  what: FileKind;
  /** open flags (O_ACCMODE, O_APPEND, O_NONBLOCK). */
  flags: number;
  refs: number;
}

interface Slot {
  file: OpenFile;
  cloexec: boolean;
}

/** The negated errno for a host file-system error from Deno. */
export function hostErrno(e: unknown): number {
  if (e instanceof Deno.errors.NotFound) return -ENOENT;
  if (e instanceof Deno.errors.AlreadyExists) return -EEXIST;
  if (e instanceof Deno.errors.PermissionDenied) return -EACCES;
  if (e instanceof Deno.errors.IsADirectory) return -EISDIR;
  if (e instanceof Deno.errors.NotADirectory) return -ENOTDIR;
  if (e instanceof Deno.errors.FilesystemLoop) return -ELOOP;
  const code = (e as { code?: string }).code;
  if (code === "ENOTEMPTY") return -ENOTEMPTY;
  if (code === "EINVAL") return -EINVAL;
  return -EIO;
}

export class FdTable {
  private readonly slots = new Map<number, Slot>();
  static readonly MAX = 1024;

  constructor() {
    this.slots.set(0, { file: { what: { kind: "stdin" }, flags: 0, refs: 1 }, cloexec: false });
    this.slots.set(1, {
      file: { what: { kind: "stdout", fd: 1 }, flags: O_WRONLY, refs: 1 },
      cloexec: false,
    });
    this.slots.set(2, {
      file: { what: { kind: "stdout", fd: 2 }, flags: O_WRONLY, refs: 1 },
      cloexec: false,
    });
  }

  get(fd: number): OpenFile | null {
    return this.slots.get(fd)?.file ?? null;
  }

  /** Installs file at the lowest free descriptor (from `min`); -EMFILE if none. */
  install(file: OpenFile, cloexec: boolean, min = 0): number {
    for (let fd = min; fd < FdTable.MAX; fd++) {
      if (!this.slots.has(fd)) {
        this.slots.set(fd, { file, cloexec });
        return fd;
      }
    }
    return -EMFILE;
  }

  getCloexec(fd: number): boolean {
    return this.slots.get(fd)?.cloexec ?? false;
  }

  setCloexec(fd: number, on: boolean): void {
    const s = this.slots.get(fd);
    if (s) s.cloexec = on;
  }

  close(fd: number): number {
    const s = this.slots.get(fd);
    if (s === undefined) return -EBADF;
    this.slots.delete(fd);
    const f = s.file;
    for (const other of this.slots.values()) {
      if (other.file.what.kind === "epoll") other.file.what.entries.delete(fd);
    }
    if (--f.refs > 0) return 0;
    const w = f.what;
    if (w.kind === "host") {
      try {
        w.file.close();
      } catch { /* already closed: nothing to lose */ }
    } else if (w.kind === "pipe") {
      if (w.end === "r") w.pipe.readers--;
      else w.pipe.writers--;
    }
    return 0;
  }

  /** Readiness of fd for epoll (EPOLLIN/OUT/HUP), or -1 if it cannot be polled. */
  pollable(fd: number): number {
    const f = this.get(fd);
    if (f !== null && f.what.kind === "eventfd") {
      return (f.what.count > 0n ? EPOLLIN : 0) | EPOLLOUT;
    }
    if (f === null || f.what.kind !== "pipe") return -1;
    const p = f.what.pipe;
    if (f.what.end === "r") return (p.size > 0 ? EPOLLIN : 0) | (p.writers === 0 ? EPOLLHUP : 0);
    return (p.size < Pipe.CAPACITY ? EPOLLOUT : 0) | (p.readers === 0 ? EPOLLERR : 0);
  }
}
