// A disk that keeps its file untouched: `--block=<file>,snapshot`, QEMU's
// `-snapshot`. The base file is opened read-only; every sector the guest
// writes goes to a private overlay — a sparse temporary file of the disk's
// size, made by the launcher and deleted at the end of the run — and one bit
// per 512-byte sector, in a SharedArrayBuffer the launcher owns, says which
// sectors the overlay holds. Both outlive the block worker, so a restarted
// block actor carries on with the same disk, and a machine snapshot can save
// exactly the written sectors (launcher/snapshot.ts).
// Why sectors, not clusters: virtio-blk requests are whole sectors, so a
// write never needs a copy of the base first (no copy-on-write step that a
// crash could leave half done); the bitmap costs 32 KiB per GiB of disk.
// Order: the data reaches the overlay file before its bits are set, so a
// worker killed in between leaves the old sectors visible and the request,
// never completed, is re-issued by the restarted actor from the used ring.
// Read next: devices/block/backend.ts (the interface), launcher/prepare.ts.

import { type BlockBackend, FileBackend, SECTOR } from "./backend.ts";

/** Bytes of the written-sectors bitmap for a disk of `size` bytes (whole 32-bit words). */
export function overlayMapBytes(size: number): number {
  return 4 * Math.ceil(Math.ceil(size / SECTOR) / 32);
}

/** The launcher's half of an overlay: the sparse file and the bitmap, made once per run. */
export interface OverlayFiles {
  /** The overlay file (in the temp directory), as long as the disk. */
  path: string;
  /** One bit per sector: set when the overlay holds that sector. */
  map: SharedArrayBuffer;
  /** Remove the overlay file (idempotent); the guest's writes are gone with it. */
  remove(): void;
}

/** Make an empty overlay for a disk of `size` bytes: a sparse file and a zero bitmap. */
export function createOverlay(size: number, base: string): OverlayFiles {
  const name = base.split("/").pop()!.replace(/[^A-Za-z0-9_.-]/g, "_");
  const path = Deno.makeTempFileSync({ prefix: `actorvm-overlay-${name}-` });
  // Owner-only: the overlay holds what the guest wrote.
  Deno.chmodSync(path, 0o600);
  Deno.truncateSync(path, size); // sparse: no blocks until written
  let removed = false;
  return {
    path,
    map: new SharedArrayBuffer(overlayMapBytes(size)),
    remove() {
      if (removed) return;
      removed = true;
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}

/** Is sector `s` in the overlay? */
export function overlayHas(map: Int32Array, s: number): boolean {
  return (Atomics.load(map, s >>> 5) & (1 << (s & 31))) !== 0;
}

/** The base file read-only, the overlay file read-write, the bitmap choosing between them. */
export class OverlayBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly = false;
  readonly #base: FileBackend;
  readonly #overlay: FileBackend;
  readonly #map: Int32Array;

  /**
   * `base` opened read-only, `overlay` opened read-write (both FileBackend.open,
   * which checks identity and sizes); `map` the launcher's bitmap.
   */
  constructor(base: FileBackend, overlay: FileBackend, map: SharedArrayBuffer) {
    if (overlay.size < base.size) {
      throw new Error(
        `overlay ${overlay.path}: ${overlay.size} bytes, smaller than the disk's ${base.size}`,
      );
    }
    if (map.byteLength < overlayMapBytes(base.size)) {
      throw new Error(`overlay bitmap: ${map.byteLength} bytes, too small for ${base.size}`);
    }
    this.size = base.size;
    this.#base = base;
    this.#overlay = overlay;
    this.#map = new Int32Array(map);
  }

  #check(offset: number, len: number): void {
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + len <= this.size)) {
      throw new RangeError(`overlay: access [${offset}, +${len}) outside ${this.size} bytes`);
    }
  }

  /** Runs of sectors from one source: each read from the overlay or the base. */
  read(offset: number, buf: Uint8Array): void {
    this.#check(offset, buf.length);
    const end = offset + buf.length;
    let at = offset;
    while (at < end) {
      const inOverlay = overlayHas(this.#map, Math.floor(at / SECTOR));
      let s = Math.floor(at / SECTOR) + 1;
      while (s * SECTOR < end && overlayHas(this.#map, s) === inOverlay) s++;
      const runEnd = Math.min(end, s * SECTOR);
      (inOverlay ? this.#overlay : this.#base).read(at, buf.subarray(at - offset, runEnd - offset));
      at = runEnd;
    }
  }

  /**
   * Whole sectors straight to the overlay; a piece of a sector (a chain whose
   * segments split one) is merged into the sector as the guest sees it first.
   * Data first, then the bits: a crash in between loses nothing the guest was
   * told is done.
   */
  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    const end = offset + data.length;
    let at = offset;
    while (at < end) {
      const s = Math.floor(at / SECTOR);
      const sectorStart = s * SECTOR;
      if (at === sectorStart && end - at >= SECTOR) {
        const whole = Math.floor((end - at) / SECTOR) * SECTOR;
        this.#overlay.write(at, data.subarray(at - offset, at - offset + whole));
        for (let k = s; k < s + whole / SECTOR; k++) this.#mark(k);
        at += whole;
        continue;
      }
      const piece = Math.min(end, sectorStart + SECTOR) - at;
      const sector = this.#sector;
      this.read(sectorStart, sector);
      sector.set(data.subarray(at - offset, at - offset + piece), at - sectorStart);
      this.#overlay.write(sectorStart, sector);
      this.#mark(s);
      at += piece;
    }
  }

  /** One sector's bytes for a partial write, kept for the disk's life. */
  readonly #sector = new Uint8Array(SECTOR);

  #mark(s: number): void {
    Atomics.or(this.#map, s >>> 5, 1 << (s & 31));
  }

  /**
   * Nothing to make durable: the overlay is deleted when the run ends, and
   * a restarted worker finds the written sectors in the page cache. (QEMU's
   * -snapshot overlay is not synced either.)
   */
  flush(): void {}

  close(): void {
    this.#base.close();
    this.#overlay.close();
  }
}

/** Open a `,snapshot` disk in a block worker: the base read-only, the overlay beside it. */
export function openOverlayBackend(
  basePath: string,
  overlayPath: string,
  map: SharedArrayBuffer,
  opts: { warn?: (line: string) => void; expect?: { dev: number; ino: number } } = {},
): OverlayBackend {
  const base = FileBackend.open(basePath, { readOnly: true, warn: opts.warn, expect: opts.expect });
  let overlay: FileBackend;
  try {
    overlay = FileBackend.open(overlayPath, { warn: opts.warn });
  } catch (e) {
    base.close();
    throw e;
  }
  try {
    return new OverlayBackend(base, overlay, map);
  } catch (e) {
    base.close();
    overlay.close();
    throw e;
  }
}
