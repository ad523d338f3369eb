// A block device with bad sectors: the built-in block actor's handlers
// (actors/block/block_actor.ts) with the file wrapped in a backend that fails
// every read or write touching a sector listed in $ACTORVM_BAD_SECTORS (e.g.
// "2048,4000-4007"), so the guest sees an I/O error there and good data
// elsewhere. The fault plan's block layer, if any, sits on top as usual.
// Worker: examples/bad_sector_block.worker.ts. docs/faults.md.
// Read next: devices/block/backend.ts (BlockBackend).

import type { ActorHandlers } from "../actors/runtime/protocol.ts";
import { blockHandlers } from "../actors/block/block_actor.ts";
import type { BlockProtocol } from "../actors/block/protocol.ts";
import { type BlockBackend, SECTOR } from "../devices/block/backend.ts";

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

export class BadSectors implements BlockBackend {
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

/** The block role's handlers on the file, failing at the sectors $ACTORVM_BAD_SECTORS lists. */
export function badSectorBlockHandlers(): ActorHandlers<BlockProtocol> {
  return blockHandlers({
    backend(file, log) {
      const bad = parseSectors(Deno.env.get("ACTORVM_BAD_SECTORS") ?? "");
      log(
        `bad-sector disk: failing sectors ${
          bad.map(([a, b]) => a === b ? a : `${a}-${b}`).join(",") || "(none)"
        }`,
      );
      return new BadSectors(file, bad);
    },
  });
}
