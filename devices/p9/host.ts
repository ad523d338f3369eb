// The host side of a share: the libc calls the 9P server (devices/p9/server.ts)
// makes, through Deno FFI, all of them relative to an open directory handle and
// none of them following a symlink. Deno has no openat, so this is how a path
// the guest names can never leave the shared directory: every name is one
// component (no "/", never ".."), opened with O_NOFOLLOW from the fd of the
// directory it lives in, and a file is reopened for I/O through its own
// O_PATH fd (/proc/self/fd/N), never by its path. Each call returns a value
// or a negative errno; nothing here throws for a failed call.
// Linux only (x86_64 and aarch64: the few open flags that differ are chosen per arch).
// Read next: devices/p9/server.ts (who calls these).

const SYMBOLS = {
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  fcntlLock: { name: "fcntl", parameters: ["i32", "i32", "buffer"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  renameat: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  fsync: { parameters: ["i32"], result: "i32" },
  fdatasync: { parameters: ["i32"], result: "i32" },
  fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
  fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
  fchmodat: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  geteuid: { parameters: [], result: "u32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Libc | null = null;

function c(): Libc {
  if (lib === null) {
    if (Deno.build.os !== "linux") {
      throw new Error(`--share needs Linux (this is ${Deno.build.os})`);
    }
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  }
  return lib;
}

/** errno of the last failed call on this thread (read right after it, same thread). */
function errno(): number {
  const p = c().__errno_location();
  return p === null ? EIO : new Deno.UnsafePointerView(p).getInt32(0);
}

/** Linux errno values (asm-generic), the ones the server answers with. */
export const E = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EPROTO: 71,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;
const EIO = E.EIO;

const ARM = Deno.build.arch === "aarch64";
/** Host open(2) flags. O_DIRECTORY and O_NOFOLLOW differ between x86_64 and aarch64. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  ACCMODE: 3,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DSYNC: 0o10000,
  SYNC: 0o4010000,
  DIRECTORY: ARM ? 0o40000 : 0o200000,
  NOFOLLOW: ARM ? 0o100000 : 0o400000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

export const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
const AT_EMPTY_PATH = 0x1000;
const STATX_ALL = 0x0fff;

/** File types (st_mode & S_IFMT). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

const enc = new TextEncoder();
const EMPTY = new Uint8Array(1);
/** A NUL-terminated C string. */
function cs(s: string): Uint8Array<ArrayBuffer> {
  const b = enc.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
/** A libc result: the value, or -errno. */
const r = (n: number): number => n < 0 ? -errno() : n;

/** What statx tells about one inode (the fields 9P's getattr carries). */
export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  size: bigint;
  blksize: number;
  blocks: bigint;
  rdev: bigint;
  /** The filesystem it lives on, "major:minor". */
  dev: string;
  atime: [bigint, number];
  mtime: [bigint, number];
  ctime: [bigint, number];
  btime: [bigint, number];
}

const statBuf = new Uint8Array(256);
const statView = new DataView(statBuf.buffer);
const ts = (o: number): [bigint, number] => [
  statView.getBigInt64(o, true),
  statView.getUint32(o + 8, true),
];

/** statx of `name` in `dirfd`, or of `dirfd` itself when name is ""; never follows a symlink. */
export function stat(dirfd: number, name = ""): Stat | number {
  const flags = AT_SYMLINK_NOFOLLOW | (name === "" ? AT_EMPTY_PATH : 0);
  const n = c().statx(dirfd, name === "" ? EMPTY : cs(name), flags, STATX_ALL, statBuf);
  if (n < 0) return -errno();
  const v = statView;
  return {
    mode: v.getUint16(28, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    nlink: v.getUint32(16, true),
    ino: v.getBigUint64(32, true),
    size: v.getBigUint64(40, true),
    blksize: v.getUint32(4, true),
    blocks: v.getBigUint64(48, true),
    rdev: (BigInt(v.getUint32(128, true)) << 8n) | BigInt(v.getUint32(132, true)),
    dev: `${v.getUint32(136, true)}:${v.getUint32(140, true)}`,
    atime: ts(64),
    btime: ts(80),
    ctime: ts(96),
    mtime: ts(112),
  };
}

/** openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode): an fd or -errno. */
export function openAt(dirfd: number, name: string, flags: number, mode = 0): number {
  return r(c().openat(dirfd, cs(name), flags | O.NOFOLLOW | O.CLOEXEC, mode));
}

/** An O_PATH handle on `name` in `dirfd` (the symlink itself if it is one). */
export function openPath(dirfd: number, name: string): number {
  return openAt(dirfd, name, O.PATH);
}

/**
 * Reopen the inode behind O_PATH fd `pathFd` for I/O. The magic link
 * /proc/self/fd/N names that very inode, whatever its path now points at;
 * callers only do this for regular files and directories (never a symlink).
 */
export function reopen(pathFd: number, flags: number): number {
  return r(c().openat(AT_FDCWD, cs(`/proc/self/fd/${pathFd}`), flags | O.CLOEXEC, 0));
}

/** A second fd for the same open file (F_DUPFD_CLOEXEC; works on O_PATH fds), or -errno. */
export function dup(fd: number): number {
  return r(c().fcntl(fd, 1030, 0));
}

export function close(fd: number): void {
  if (fd >= 0) c().close(fd);
}

/** pread into `buf` (a view of guest RAM or any buffer): bytes read or -errno. */
export function pread(fd: number, buf: Uint8Array, offset: number): number {
  return r(Number(c().pread(fd, buf, BigInt(buf.length), BigInt(offset))));
}

export function pwrite(fd: number, buf: Uint8Array, offset: number): number {
  return r(Number(c().pwrite(fd, buf, BigInt(buf.length), BigInt(offset))));
}

export const mkdirAt = (dirfd: number, name: string, mode: number) =>
  r(c().mkdirat(dirfd, cs(name), mode));
export const unlinkAt = (dirfd: number, name: string, flags: number) =>
  r(c().unlinkat(dirfd, cs(name), flags));
export const renameAt = (olddir: number, oldname: string, newdir: number, newname: string) =>
  r(c().renameat(olddir, cs(oldname), newdir, cs(newname)));
export const symlinkAt = (target: Uint8Array, dirfd: number, name: string) => {
  const t = new Uint8Array(target.length + 1);
  t.set(target);
  return r(c().symlinkat(t, dirfd, cs(name)));
};
/** A hard link; never AT_SYMLINK_FOLLOW (a symlink is linked as itself). */
export const linkAt = (olddir: number, oldname: string, newdir: number, newname: string) =>
  r(c().linkat(olddir, cs(oldname), newdir, cs(newname), 0));
export const fsync = (fd: number, dataOnly: boolean) =>
  r(dataOnly ? c().fdatasync(fd) : c().fsync(fd));
export const ftruncate = (fd: number, size: number) => r(c().ftruncate(fd, BigInt(size)));

/** The target of the symlink behind O_PATH fd `fd`, or -errno. */
export function readlink(fd: number): Uint8Array | number {
  const buf = new Uint8Array(4096);
  const n = r(Number(c().readlinkat(fd, EMPTY, buf, 4096n)));
  return n < 0 ? n : buf.slice(0, n);
}

/** chown of the inode behind an O_PATH fd (a symlink itself, not its target); -1 leaves one unchanged. */
export const chown = (fd: number, uid: number, gid: number) =>
  r(c().fchownat(fd, EMPTY, uid >>> 0, gid >>> 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
/** chmod of the inode behind an O_PATH fd (not a symlink: Linux has no lchmod). */
export const chmod = (fd: number, mode: number) =>
  r(c().fchmodat(AT_FDCWD, cs(`/proc/self/fd/${fd}`), mode, 0));

export const UTIME_NOW = 0x3fffffff;
export const UTIME_OMIT = 0x3ffffffe;
/** Set atime and mtime ([sec, nsec]; nsec may be UTIME_NOW or UTIME_OMIT) of the inode behind fd. */
export function utimes(fd: number, atime: [bigint, number], mtime: [bigint, number]): number {
  const t = new BigInt64Array([atime[0], BigInt(atime[1]), mtime[0], BigInt(mtime[1])]);
  return r(c().utimensat(AT_FDCWD, cs(`/proc/self/fd/${fd}`), new Uint8Array(t.buffer), 0));
}

/** fstatfs: [type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen] or -errno. */
export function statfs(fd: number): bigint[] | number {
  const b = new BigInt64Array(15);
  const n = r(c().fstatfs(fd, new Uint8Array(b.buffer)));
  return n < 0 ? n : Array.from(b.subarray(0, 9));
}

/** Seek a directory fd to a getdents cookie and read entries into buf: bytes or -errno. */
export function readDir(fd: number, cookie: bigint, buf: Uint8Array): number {
  const at = c().lseek(fd, cookie, 0);
  if (BigInt(at) < 0n) return -errno();
  return r(Number(c().getdents64(fd, buf, BigInt(buf.length))));
}

/** A byte-range lock, as struct flock: type 0 read, 1 write, 2 unlock; len 0 = to the end. */
export interface Lock {
  type: number;
  start: bigint;
  len: bigint;
  pid: number;
}
const F_OFD_GETLK = 36, F_OFD_SETLK = 37;

/**
 * An open-file-description lock (F_OFD_SETLK, never waiting) on `fd`, or
 * with `query` the lock that would block it (F_OFD_GETLK: type 2 if none).
 * OFD locks belong to the fd, not to the process, so each guest fid holds
 * its own and closing the fid releases them. Returns the lock or -errno.
 */
export function lock(fd: number, l: Lock, query: boolean): Lock | number {
  const b = new ArrayBuffer(32);
  const v = new DataView(b);
  v.setInt16(0, l.type, true);
  v.setInt16(2, 0, true); // SEEK_SET
  v.setBigInt64(8, l.start, true);
  v.setBigInt64(16, l.len, true);
  v.setInt32(24, 0, true); // l_pid must be 0 for OFD locks
  const n = r(c().fcntlLock(fd, query ? F_OFD_GETLK : F_OFD_SETLK, new Uint8Array(b)));
  if (n < 0) return n;
  return {
    type: v.getInt16(0, true),
    start: v.getBigInt64(8, true),
    len: v.getBigInt64(16, true),
    pid: v.getInt32(24, true),
  };
}

/** A whole-file flock(2) on `fd`, never waiting: type 0 shared, 1 exclusive, 2 unlock; 0 or -errno. */
export function flock(fd: number, type: number): number {
  const op = type === 0 ? 1 : type === 1 ? 2 : 8;
  return r(c().flock(fd, op | 4));
}

/** The host user's effective uid (root may set the guest's owners; docs/share.md). */
export const geteuid = () => c().geteuid();
