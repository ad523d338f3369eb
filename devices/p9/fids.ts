// The fid table of one share: what each fid the guest holds stands for (an
// O_PATH fd of its inode, its path from the share's root, its open file),
// the share's root fd, the one-name-at-a-time walk from the root that every
// path-based step uses, and the table as plain data for the fid store so a
// restarted server takes the guest's fids over (adopting the dead worker's
// fds, which are the process's). Also how an operation leaves with an errno.
// Read next: devices/p9/server.ts (the operations on these fids), devices/p9/fidstore.ts.

import * as host from "./host.ts";
import { E, O, S_IFMT, S_IFREG, type Stat } from "./host.ts";
import type { SavedFid } from "./fidstore.ts";

/** Fids one guest may hold open (each holds a host fd). */
export const MAX_FIDS = 8192;

/** What one fid stands for. */
export interface Fid {
  /** O_PATH fd of the inode (the symlink itself for a symlink). */
  fd: number;
  /** Its inode number and filesystem (for the fid store). */
  ino: bigint;
  dev: string;
  /** Names from the share's root (for "..", link, rename and remove). */
  path: string[];
  /** The fd opened by lopen/lcreate, or -1. */
  io: number;
  /** Whether io was opened for writing. */
  writable: boolean;
  /** The host flags io was opened with (for a restarted server to reopen it). */
  openFlags: number;
  /** The guest user the fid was attached as (owner of what it creates, when the host is root). */
  uid: number;
}

export class Fail {
  constructor(readonly errno: number) {}
}
/** Leave the operation with an errno (caught by handle(), answered as Rlerror). */
export function fail(errno: number): never {
  throw new Fail(errno);
}
/** A host result: the value, or leave with its errno. */
export function ok(n: number): number {
  if (n < 0) fail(-n);
  return n;
}

export class FidTable {
  /** The share's root: an O_PATH fd of the directory. */
  root: number;
  readonly rootStat: Stat;
  /** Fid number to what it stands for. */
  readonly map = new Map<number, Fid>();

  /** Open the share's root; throws if `dir` cannot be opened as a directory. */
  constructor(dir: string) {
    const fd = host.openAt(host.AT_FDCWD, dir, O.PATH | O.DIRECTORY);
    if (fd < 0) throw new Error(`--share: cannot open directory "${dir}" (errno ${-fd})`);
    const st = host.stat(fd);
    if (typeof st === "number") {
      host.close(fd);
      throw new Error(`--share: cannot stat "${dir}" (errno ${-st})`);
    }
    this.root = fd;
    this.rootStat = st;
  }

  /** Close every fd. */
  close(): void {
    this.clunkAll();
    host.close(this.root);
    this.root = -1;
  }

  /** The fid numbered `n`, or leave the request with EBADF. */
  get(n: number): Fid {
    const f = this.map.get(n);
    if (!f) fail(E.EBADF);
    return f;
  }

  /** Forget fid `n`, closing its fds. */
  clunk(n: number): void {
    const f = this.get(n);
    this.closeIo(f);
    host.close(f.fd);
    this.map.delete(n);
  }

  /** Close the fid's I/O fd (it stays walked). */
  closeIo(f: Fid): void {
    host.close(f.io);
    f.io = -1;
    f.writable = false;
  }

  /** Forget every fid (Tversion, or the server stops). */
  clunkAll(): void {
    for (const n of [...this.map.keys()]) this.clunk(n);
  }

  /** An O_PATH fd for `path` from the root, one name at a time, following nothing; or -errno. */
  openPath(path: string[]): number {
    let fd = host.openAt(this.root, ".", O.PATH | O.DIRECTORY);
    for (let i = 0; i < path.length && fd >= 0; i++) {
      // Every step but the last must be a real directory (O_DIRECTORY refuses a symlink).
      const flags = O.PATH | (i < path.length - 1 ? O.DIRECTORY : 0);
      const next = host.openAt(fd, path[i], flags);
      host.close(fd);
      fd = next;
    }
    return fd;
  }

  /** The fid table as plain data (devices/p9/fidstore.ts). */
  export(): SavedFid[] {
    const out: SavedFid[] = [{
      fid: -1,
      fd: this.root,
      io: -1,
      dev: this.rootStat.dev,
      ino: String(this.rootStat.ino),
      path: [],
      uid: 0,
      open: -1,
      writable: false,
    }];
    for (const [fid, f] of this.map) {
      out.push({
        fid,
        fd: f.fd,
        io: f.io,
        dev: f.dev,
        ino: String(f.ino),
        path: f.path,
        uid: f.uid,
        open: f.io >= 0 ? f.openFlags : -1,
        writable: f.writable,
      });
    }
    return out;
  }

  /** Whether `fd` is open on the saved inode (a dead worker's fd, still the process's). */
  #sameInode(fd: number, s: SavedFid): boolean {
    if (fd < 0) return false;
    const st = host.stat(fd);
    return typeof st !== "number" && String(st.ino) === s.ino && st.dev === s.dev;
  }

  /**
   * Reopen a saved table (a restarted server): each fid by its path from the
   * root, its I/O fd with the flags it was opened with (never truncating or
   * creating again). A fid whose file is gone is dropped: the guest's next
   * use of it gets EBADF, as from a server that lost it. Returns the count reopened.
   */
  import(saved: SavedFid[]): number {
    let n = 0;
    const adopted = new Set<number>([this.root]);
    const adopt = (fd: number, s: SavedFid) => {
      if (adopted.has(fd) || !this.#sameInode(fd, s)) return false;
      adopted.add(fd);
      return true;
    };
    for (const s of saved) {
      if (s.fid === -1) {
        // The old root fd: ours to close (this server opened its own).
        if (adopt(s.fd, s)) host.close(s.fd);
        continue;
      }
      if (this.map.has(s.fid) || this.map.size >= MAX_FIDS) continue;
      // The dead worker's own fds, if they are still what they were.
      if (adopt(s.fd, s)) {
        const io = s.io >= 0 && adopt(s.io, s)
          ? s.io
          : s.open >= 0
          ? host.reopen(s.fd, s.open)
          : -1;
        adopted.add(io);
        if (s.open >= 0 && io < 0) {
          host.close(s.fd);
          continue;
        }
        this.map.set(s.fid, {
          fd: s.fd,
          ino: BigInt(s.ino),
          dev: s.dev,
          path: s.path,
          uid: s.uid,
          io,
          writable: s.writable,
          openFlags: s.open,
        });
        n++;
        continue;
      }
      const fd = this.openPath(s.path);
      if (fd < 0) continue;
      // The same inode, or nothing: the guest may have renamed another file
      // (a host hard link to an outside file, say) over the fid's old path.
      const st = host.stat(fd);
      const writes = s.open >= 0 && (s.open & O.ACCMODE) !== 0;
      if (
        typeof st === "number" || String(st.ino) !== s.ino || st.dev !== s.dev ||
        (writes && ((st.mode & S_IFMT) !== S_IFREG || st.nlink > 1))
      ) {
        host.close(fd);
        continue;
      }
      let io = -1;
      if (s.open >= 0) {
        io = host.reopen(fd, s.open);
        if (io < 0) {
          host.close(fd);
          continue;
        }
      }
      adopted.add(fd).add(io);
      this.map.set(s.fid, {
        fd,
        ino: st.ino,
        dev: st.dev,
        path: s.path,
        uid: s.uid,
        io,
        writable: s.writable,
        openFlags: s.open,
      });
      n++;
    }
    return n;
  }
}
