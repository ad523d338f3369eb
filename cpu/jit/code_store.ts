// Translations shared by the harts (--smp, docs/smp.md): a region of the
// translator's shared memory, after the harts' own regions, where a hart that
// translates a page leaves the module's bytes with the page's contents and its
// entries. Another hart that meets the page takes those bytes instead of
// translating it again: the same bytes (the emitter makes one module for every
// hart, cpu/jit/emit.ts `hb`) compile to the same V8 native module, so the
// page is compiled, and tiered up by V8's background compilers, once for all
// harts — on a 2-core host that background work was what a second hart lost.
// A record is written whole, then published with one atomic store of its
// offset in the page's index slot; it is never changed after. A hart takes a
// record only if the page's bytes in RAM are still the bytes it was made from.
// The region is a bump heap: when it is full, harts go on translating alone.
// Read next: cpu/jit/tier.ts (Jit.adopt, Jit.compile).

/** Bytes of the store for `harts` harts that share code (none for one: nobody to share with). */
export function codeStoreBytes(harts: number, shareCode: boolean): number {
  return shareCode && harts > 1 ? 32 << 20 : 0;
}

const HEADER = 64; // the bump pointer, then padding
const REC_N_ENTRIES = 0, REC_N_LEADERS = 4, REC_N_BYTES = 8, REC_VBASE = 16, REC_PAGE = 24;
const REC_LISTS = REC_PAGE + 4096;

/** One record, read back (the lists and bytes are copies). */
export interface StoredPage {
  entries: number[];
  leaders: number[];
  bytes: Uint8Array<ArrayBuffer>;
}

export class CodeStore {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly f64: Float64Array;
  /** Where the records begin (relative to the store). */
  private readonly heap: number;

  /**
   * The store at byte `offset` of `buffer`, `bytes` long, for `ramPages` RAM
   * pages. Every hart opens the same region; none needs to clear it (a fresh
   * memory is zero: an empty index and a bump pointer at 0, read as the heap's start).
   */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly offset: number,
    private readonly bytes: number,
    private readonly ramPages: number,
  ) {
    if (offset % 8 !== 0) throw new Error("jit: the code store must be 8-aligned");
    this.i32 = new Int32Array(buffer, offset, bytes >>> 2);
    this.u8 = new Uint8Array(buffer, offset, bytes);
    this.u16 = new Uint16Array(buffer, offset, bytes >>> 1);
    this.f64 = new Float64Array(buffer, offset, bytes >>> 3);
    this.heap = Math.ceil((HEADER + 4 * ramPages) / 8) * 8;
    if (this.heap + REC_LISTS > bytes) throw new Error("jit: the code store is too small");
  }

  /** The newest record of RAM page `page` (0: none). */
  lookup(page: number): number {
    return Atomics.load(this.i32, (HEADER >>> 2) + page);
  }

  /** The virtual page base record `rec` was translated for. */
  vbase(rec: number): number {
    return this.f64[(rec + REC_VBASE) >>> 3];
  }

  /** Does RAM page `page` (of `ram`, Int32 words over guest RAM) still hold the record's bytes? */
  samePage(rec: number, ram: Int32Array, page: number): boolean {
    const a = (rec + REC_PAGE) >>> 2, b = page << 10;
    const i32 = this.i32;
    for (let i = 0; i < 1024; i++) if (i32[a + i] !== ram[b + i]) return false;
    return true;
  }

  /** The record's entries, leaders and module bytes. */
  read(rec: number): StoredPage {
    const i32 = this.i32, u16 = this.u16;
    const ne = i32[(rec + REC_N_ENTRIES) >>> 2], nl = i32[(rec + REC_N_LEADERS) >>> 2];
    const nb = i32[(rec + REC_N_BYTES) >>> 2];
    const lists = (rec + REC_LISTS) >>> 1;
    const entries = Array.from(u16.subarray(lists, lists + ne));
    const leaders = Array.from(u16.subarray(lists + ne, lists + ne + nl));
    const at = rec + REC_LISTS + Math.ceil((ne + nl) * 2 / 8) * 8;
    return { entries, leaders, bytes: this.u8.slice(at, at + nb) };
  }

  /**
   * Leave a translation of RAM page `page` for the other harts; `before` is a
   * copy of the page's 1024 words taken before the translator read them (a
   * write after that makes the page differ from the copy, so nobody takes the
   * record). false when the store is full (nothing is published).
   */
  publish(
    page: number,
    vbase: number,
    before: Int32Array,
    entries: Iterable<number>,
    leaders: number[],
    bytes: Uint8Array,
  ): boolean {
    if (!(page >= 0 && page < this.ramPages)) return false;
    const ents = [...entries];
    const size = REC_LISTS + Math.ceil((ents.length + leaders.length) * 2 / 8) * 8 +
      Math.ceil(bytes.length / 8) * 8;
    // Claim the space (the first claim starts the heap: a zero bump means "at the heap").
    let rec: number;
    for (;;) {
      const cur = Atomics.load(this.i32, 0);
      const at = cur === 0 ? this.heap : cur;
      if (at + size > this.bytes) return false;
      if (Atomics.compareExchange(this.i32, 0, cur, at + size) === cur) {
        rec = at;
        break;
      }
    }
    const i32 = this.i32;
    i32[(rec + REC_N_ENTRIES) >>> 2] = ents.length;
    i32[(rec + REC_N_LEADERS) >>> 2] = leaders.length;
    i32[(rec + REC_N_BYTES) >>> 2] = bytes.length;
    this.f64[(rec + REC_VBASE) >>> 3] = vbase;
    i32.set(before, (rec + REC_PAGE) >>> 2);
    const lists = (rec + REC_LISTS) >>> 1;
    this.u16.set(ents, lists);
    this.u16.set(leaders, lists + ents.length);
    this.u8.set(bytes, rec + REC_LISTS + Math.ceil((ents.length + leaders.length) * 2 / 8) * 8);
    // Published last, with a barrier: a reader that sees the offset sees the record.
    Atomics.store(this.i32, (HEADER >>> 2) + page, rec);
    return true;
  }
}
