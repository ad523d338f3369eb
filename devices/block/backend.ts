// Where a virtio-blk disk's bytes live: the narrow BlockBackend interface the
// device uses (read, write, flush, size) and its file implementation. Opening
// a file checks everything a user can get wrong and throws a BlockOpenError
// with a message the launcher prints as is. A fault layer wraps a backend.
// Each flush also checks that the path still names the file that was opened:
// a disk deleted or replaced under a running guest fails its flushes (IOERR).
// Read next: devices/block/block.ts (what the guest's requests mean).

export const SECTOR = 512;

/** The device's whole view of its storage. Offsets and sizes are bytes. */
export interface BlockBackend {
  /** Usable size in bytes, a multiple of 512; nothing at or past it is touched. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fill `buf` from `offset`; throws on an I/O error or a short read. */
  read(offset: number, buf: Uint8Array): void;
  /** Write all of `data` at `offset`; throws on an I/O error. */
  write(offset: number, data: Uint8Array): void;
  /** Make every completed write durable (fdatasync). */
  flush(): void;
  close(): void;
}

export type BlockOpenErrorReason =
  | "not-found"
  | "permission"
  | "directory"
  | "not-a-file"
  | "read-only"
  | "too-small"
  | "in-use"
  | "changed"
  | "io";

/** A disk file the launcher cannot use, with a message fit for the user. */
export class BlockOpenError extends Error {
  readonly reason: BlockOpenErrorReason;
  readonly path: string;
  constructor(reason: BlockOpenErrorReason, path: string, message: string) {
    super(message);
    this.name = "BlockOpenError";
    this.reason = reason;
    this.path = path;
  }
}

export interface BlockProbe {
  path: string;
  /** The file's length in bytes. */
  fileSize: number;
  /** Usable bytes: fileSize rounded down to whole sectors. */
  size: number;
  /** Capacity in 512-byte sectors. */
  sectors: number;
  /** Problems that do not stop the disk (e.g. the size rounding), one line each. */
  warnings: string[];
  /** Which file this is (fstat st_dev, st_ino): a reopen must find the same one. */
  identity: FileIdentity;
}

/** A file's identity on the host: its device and inode numbers. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * Check that `path` can serve as a disk (read-only if `readOnly`), without
 * keeping it open. Throws BlockOpenError; the launcher calls this before
 * starting anything.
 */
export function probeBlockFile(path: string, readOnly: boolean): BlockProbe {
  const f = openChecked(path, readOnly);
  try {
    return probeOpen(path, f);
  } finally {
    f.close();
  }
}

function probeOpen(path: string, f: Deno.FsFile): BlockProbe {
  const st = f.statSync();
  if (st.isDirectory) {
    throw new BlockOpenError("directory", path, `${path}: is a directory, not a disk image`);
  }
  if (!st.isFile) {
    throw new BlockOpenError(
      "not-a-file",
      path,
      `${path}: not a regular file (devices and pipes are not supported)`,
    );
  }
  const fileSize = st.size;
  const sectors = Math.floor(fileSize / SECTOR);
  if (sectors === 0) {
    throw new BlockOpenError(
      "too-small",
      path,
      `${path}: ${fileSize} bytes is smaller than one 512-byte sector`,
    );
  }
  const warnings: string[] = [];
  if (fileSize % SECTOR !== 0) {
    warnings.push(
      `${path}: size ${fileSize} is not a multiple of 512; using the first ${
        sectors * SECTOR
      } bytes (${sectors} sectors)`,
    );
  }
  const identity = { dev: st.dev ?? 0, ino: st.ino ?? 0 };
  return { path, fileSize, size: sectors * SECTOR, sectors, warnings, identity };
}

function openChecked(path: string, readOnly: boolean): Deno.FsFile {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch (e) {
    throw translate(path, e, "stat");
  }
  if (st.isDirectory) {
    throw new BlockOpenError("directory", path, `${path}: is a directory, not a disk image`);
  }
  if (!readOnly && st.mode !== null && (st.mode & 0o222) === 0) {
    // Root could write it anyway; the user marked it read-only, so ask for ",ro".
    throw new BlockOpenError(
      "read-only",
      path,
      `${path}: the file is read-only (mode ${
        (st.mode & 0o777).toString(8)
      }); use --block=${path},ro`,
    );
  }
  try {
    return Deno.openSync(path, { read: true, write: !readOnly });
  } catch (e) {
    if (!readOnly && e instanceof Deno.errors.PermissionDenied) {
      throw new BlockOpenError(
        "read-only",
        path,
        `${path}: cannot open for writing; use --block=${path},ro`,
      );
    }
    throw translate(path, e, "open");
  }
}

function translate(path: string, e: unknown, what: string): BlockOpenError {
  if (e instanceof Deno.errors.NotFound) {
    return new BlockOpenError("not-found", path, `${path}: no such file`);
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new BlockOpenError("permission", path, `${path}: permission denied (cannot read it)`);
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new BlockOpenError("directory", path, `${path}: is a directory, not a disk image`);
  }
  return new BlockOpenError(
    "io",
    path,
    `${path}: cannot ${what}: ${e instanceof Error ? e.message : e}`,
  );
}

/** A held disk lock; release() is idempotent. */
export interface BlockLock {
  release(): void;
}

/**
 * Lock `path` for this run, as QEMU locks its images: exclusive for a
 * read-write disk, shared for ",ro". The lock (flock(2), on its own open file
 * description) refuses a second emulator on the same file and the same file
 * named twice in one command line — two guests mounting one filesystem would
 * corrupt it. The launcher holds it for the whole run; workers never lock, so
 * a replacement worker is never stopped by its dead predecessor's lock.
 */
export function lockBlockFile(path: string, readOnly: boolean): BlockLock {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch (e) {
    throw translate(path, e, "open");
  }
  let locked: boolean;
  try {
    locked = f.tryLockSync(!readOnly);
  } catch (e) {
    f.close();
    throw translate(path, e, "lock");
  }
  if (!locked) {
    f.close();
    throw new BlockOpenError(
      "in-use",
      path,
      `${path}: in use (locked by another actorvm, or named twice by --block); ` +
        `only ,ro disks can be shared`,
    );
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      f.close(); // closing the last descriptor drops the lock
    },
  };
}

/**
 * Why the open file `f` is no longer what `path` names — "deleted", "replaced
 * by another file" — or null while it still is (the path's device and inode
 * are the open file's, so it still has a link). Checked at each flush: after either change the
 * guest's writes are durable only in a file the user cannot reach.
 */
export function fileIdentityLost(path: string, f: Deno.FsFile): string | null {
  const mine = f.statSync();
  let now: Deno.FileInfo;
  try {
    now = Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "deleted";
    return `made unreachable (${e instanceof Error ? e.message : e})`;
  }
  // Renamed over (an editor's save, `mv new.img disk.img`): the path names a new inode.
  if (now.dev !== mine.dev || now.ino !== mine.ino) return "replaced by another file";
  return null;
}

/** A disk image file. Sync I/O: the block actor's worker is the I/O thread. */
export class FileBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly: boolean;
  readonly path: string;
  readonly probe: BlockProbe;
  readonly #f: Deno.FsFile;
  readonly #warn: (line: string) => void;
  /** Set once the path stops naming our file; every flush from then on fails. */
  #lost: string | null = null;

  private constructor(
    path: string,
    f: Deno.FsFile,
    probe: BlockProbe,
    readOnly: boolean,
    warn: (line: string) => void,
  ) {
    this.path = path;
    this.#f = f;
    this.probe = probe;
    this.size = probe.size;
    this.readOnly = readOnly;
    this.#warn = warn;
  }

  /**
   * Open `path` (read-only if `readOnly`). Throws BlockOpenError. `warn`
   * (default console.error) gets the one warning when the file is deleted or
   * replaced under the guest. With `expect` (the launcher's probe), the file
   * must be that one: a restarted worker must not carry on in a file that
   * replaced the disk.
   */
  static open(
    path: string,
    opts: { readOnly?: boolean; warn?: (line: string) => void; expect?: FileIdentity } = {},
  ): FileBackend {
    const readOnly = opts.readOnly ?? false;
    const f = openChecked(path, readOnly);
    try {
      const warn = opts.warn ?? ((l: string) => console.error(l));
      const probe = probeOpen(path, f);
      const want = opts.expect;
      if (want && (probe.identity.dev !== want.dev || probe.identity.ino !== want.ino)) {
        throw new BlockOpenError(
          "changed",
          path,
          `${path}: no longer the file this run started with (replaced while the guest ran)`,
        );
      }
      return new FileBackend(path, f, probe, readOnly, warn);
    } catch (e) {
      f.close();
      throw e;
    }
  }

  /** Why flushes fail ("deleted", "replaced by another file"), or null while the file is ours. */
  get lost(): string | null {
    return this.#lost;
  }

  #check(offset: number, len: number): void {
    // The device checks ranges too; this keeps the file from ever growing.
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + len <= this.size)) {
      throw new RangeError(`${this.path}: access [${offset}, +${len}) outside ${this.size} bytes`);
    }
  }

  read(offset: number, buf: Uint8Array): void {
    this.#check(offset, buf.length);
    this.#f.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < buf.length) {
      const n = this.#f.readSync(buf.subarray(done));
      if (n === null || n === 0) {
        throw new Error(`${this.path}: short read at ${offset + done} (file shrank?)`);
      }
      done += n;
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (this.readOnly) throw new Error(`${this.path}: write to a read-only disk`);
    this.#check(offset, data.length);
    this.#f.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < data.length) done += this.#f.writeSync(data.subarray(done));
  }

  /**
   * fdatasync — unless the path no longer names the file we write. Then the
   * flush fails (the guest sees IOERR), now and on every later flush: data
   * made "durable" in a deleted or orphaned file is lost to the user at exit.
   */
  flush(): void {
    if (this.readOnly) return;
    if (this.#lost === null) {
      const why = fileIdentityLost(this.path, this.#f);
      if (why !== null) {
        this.#lost = why;
        this.#warn(
          `WARNING: disk ${this.path} was ${why} while the guest was running; ` +
            `its writes now reach no file you can see: every flush (sync, fsync) ` +
            `from now on fails with an I/O error in the guest`,
        );
      }
    }
    if (this.#lost !== null) {
      throw new Error(`${this.path} was ${this.#lost}: flush refused`);
    }
    this.#f.syncDataSync();
  }

  close(): void {
    this.#f.close();
  }
}
