/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// A swap-in block actor (`--actor block=examples/bad_sector_block.worker.ts`):
// the built-in virtio-blk device on a file, except that every read or write
// touching a sector listed in $ACTORVM_BAD_SECTORS (e.g. "2048,4000-4007")
// fails, so the guest sees an I/O error there — a disk with bad sectors. It
// speaks the block role's protocol (actors/block/protocol.ts), so the
// launcher starts and supervises it like the built-in one. docs/faults.md.

import { serveActor } from "../actors/runtime/protocol.ts";
import { BlockDevice, serialFromPath } from "../devices/block/block.ts";
import { type BlockBackend, FileBackend, SECTOR } from "../devices/block/backend.ts";
import { BLOCK } from "../actors/block/protocol.ts";

/** "2048,4000-4007" → ranges of sectors (inclusive). A bad list is an error at start. */
export function parseSectors(text: string): [number, number][] {
  return text.split(",").filter((s) => s.trim() !== "").map((part) => {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`ACTORVM_BAD_SECTORS: "${part}" is not a sector or a range a-b`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`ACTORVM_BAD_SECTORS: range "${part}" runs backwards`);
    return [a, b];
  });
}

class BadSectors implements BlockBackend {
  constructor(readonly inner: BlockBackend, readonly bad: [number, number][]) {}
  get size() {
    return this.inner.size;
  }
  get readOnly() {
    return this.inner.readOnly;
  }
  #check(op: string, offset: number, len: number): void {
    const first = Math.floor(offset / SECTOR), last = Math.floor((offset + len - 1) / SECTOR);
    for (const [a, b] of this.bad) {
      if (last >= a && first <= b) {
        throw new Error(`bad sector in ${op} of sectors ${first}..${last}`);
      }
    }
  }
  read(offset: number, buf: Uint8Array): void {
    this.#check("read", offset, buf.length);
    this.inner.read(offset, buf);
  }
  write(offset: number, data: Uint8Array): void {
    this.#check("write", offset, data.length);
    this.inner.write(offset, data);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}

let device: BlockDevice | null = null;
let file: FileBackend | null = null;
const abort = new AbortController();

serveActor(BLOCK, {
  start(ctx) {
    const bad = parseSectors(Deno.env.get("ACTORVM_BAD_SECTORS") ?? "");
    const log = (text: string) => ctx.emit({ kind: "log", text });
    log(
      `bad-sector disk: failing sectors ${
        bad.map(([a, b]) => a === b ? a : `${a}-${b}`).join(",") || "(none)"
      }`,
    );
    file = FileBackend.open(ctx.config.path, { readOnly: ctx.config.readOnly });
    device = new BlockDevice(ctx.buffers.ram, ctx.buffers.state, ctx.buffers.control, {
      backend: new BadSectors(file, bad),
      serial: serialFromPath(ctx.config.path),
      ramBase: ctx.config.ramBase,
      log,
    });
    void device.run(abort.signal);
  },
  request: {
    stats: () => ({ ...device!.stats, errors: device!.errors }),
  },
  cast: {},
  stop() {
    abort.abort();
    file?.close();
  },
});
