// The share's fid table kept outside its worker, so a restarted share actor
// (a crash, a fault plan's kill) goes on serving the fids the guest holds: a
// SharedArrayBuffer the launcher makes per share, holding the table as JSON
// (each fid's fds, inode, path from the root, its user, and how its file was
// opened).
// Layout: word 0 a magic, word 1 the JSON's length in bytes, word 2 the msize
// agreed with Tversion, then the bytes.
// The server saves it after every request that changed a fid, before the
// request is completed. The fds are the process's, not the worker's (a dead
// worker's FFI fds stay open), so a new worker adopts each one that still
// names the saved inode, and reopens the others by name.
// Read next: devices/p9/server.ts (exportFids/importFids).

const MAGIC = 0x39504644; // "9PFD"
/** Room for the table: ~150 bytes a fid of ordinary depth, so the 8192 a guest may hold fit. */
export const FID_STORE_BYTES = 2 << 20;

/** A new, empty store. */
export function createFidStore(bytes = FID_STORE_BYTES): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes);
  new Int32Array(sab, 0, 3)[0] = MAGIC;
  return sab;
}

/**
 * One saved fid: its fds (process-wide, so a new worker can adopt them), its
 * inode, path, user, and the open flags of its I/O fd (-1: not open). The
 * entry with fid -1 is the server's root fd.
 */
export interface SavedFid {
  fid: number;
  /** Its O_PATH fd and I/O fd (-1: none) in this process. */
  fd: number;
  io: number;
  /** The filesystem of its inode ("major:minor"). */
  dev: string;
  path: string[];
  /** The inode's number, as text: a path that now names another inode is not reopened. */
  ino: string;
  uid: number;
  open: number;
  writable: boolean;
}

export class FidStore {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  /** Set once the table outgrew the store: restarts then lose the fids (said once). */
  overflowed = false;

  constructor(sab: SharedArrayBuffer) {
    this.#words = new Int32Array(sab, 0, 3);
    if (this.#words[0] !== MAGIC) throw new Error("fid store: bad magic");
    this.#bytes = new Uint8Array(sab, 12);
  }

  /** Save the table; false if it does not fit (the old one is cleared then). */
  save(fids: SavedFid[], msize: number): boolean {
    Atomics.store(this.#words, 2, msize);
    const text = JSON.stringify(fids);
    const { written, read } = new TextEncoder().encodeInto(text, this.#bytes);
    const fits = read === text.length;
    // A table cut short would reopen the wrong fids: none is better.
    Atomics.store(this.#words, 1, fits ? written : 0);
    if (!fits) this.overflowed = true;
    return fits;
  }

  /** The msize of the saved session (0: none yet). */
  get msize(): number {
    return Atomics.load(this.#words, 2);
  }

  load(): SavedFid[] {
    const n = Atomics.load(this.#words, 1);
    if (n <= 0) return [];
    try {
      const v = JSON.parse(new TextDecoder().decode(this.#bytes.slice(0, n)));
      return Array.isArray(v) ? v as SavedFid[] : [];
    } catch {
      return [];
    }
  }
}
