// The translator's tier-1 driver: the memory that holds guest RAM, the hart's
// registers and TLBs (one shared WebAssembly.Memory, so switching tiers copies
// nothing), the code cache keyed by physical page, hotness counting, and
// `Jit.run(n)`, a drop-in for `Hart.run(n)`: it enters a page's translation
// when the fetch TLB maps pc to a translated page at the same virtual address,
// and lets the interpreter (tier 0, the reference) run everything else.
// Writes to a translated page drop its code (Hart.codePages / onCodeWrite, a
// code page never keeps a store TLB entry). Design: docs/cpu.md "Translator",
// docs/adr/0006-translator-wasm-page-regions.md. Read next: cpu/jit/frontend.ts.

import { Hart, HART_STATE_BYTES, type HartOptions, RUN_BUDGET, RUN_STOP } from "../hart.ts";
import { ACC_STORE, TLB_MASK, TLB_SIZE, translateFill } from "../mmu.ts";
import { checkInterrupts } from "../trap.ts";
import { findRuns } from "./frontend.ts";
import { CodeStore, codeStoreBytes } from "./code_store.ts";
import { counterAllowed, markFsDirty } from "../csr.ts";
import { MSTATUS } from "../trap.ts";
import { SCRATCH_DIRTY, SCRATCH_FFLAGS, SCRATCH_FRM, SCRATCH_FSOFF } from "./emit_fp.ts";
import { SCRATCH_RES_OFF, SCRATCH_RES_VALID, SCRATCH_RES_VALUE } from "./emit_amo.ts";
import {
  CNTOK_SMODE,
  CNTOK_SPENDING,
  emitPage,
  emitStub,
  EXIT_BUDGET,
  EXIT_INTERP,
  EXIT_JUMP,
  EXIT_NOENTRY,
  type Layout,
  SCRATCH_BYTES,
  SCRATCH_CHAINS,
  SCRATCH_CNTOK,
  SCRATCH_CYOFF,
  SCRATCH_DBASE,
  SCRATCH_FBASE,
  SCRATCH_FF0,
  SCRATCH_INSTRET0,
  SCRATCH_IROFF,
  SCRATCH_MSTATUS,
  SCRATCH_N,
  SCRATCH_PC,
  SCRATCH_STOP,
  SCRATCH_STRETCH,
  SCRATCH_SUMDELTA,
} from "./emit.ts";

/** A page function: (hw, limit, instructions so far, the virtual page number) -> exit code. */
type PageFn = (hw: number, limit: number, n: number, vpn: number) => number;

export interface JitOptions {
  /** Visits of a page by the interpreter before it is translated (default 16; tests use 1). */
  threshold?: number;
  /**
   * Instructions the interpreter runs per visit to untranslated code (default
   * 16). Hotness is counted per visit, at the page where it starts: a larger
   * chunk makes the count a cheap sample of where time goes (the system
   * emulator's setting), a small one a closer count (the user-mode runner).
   */
  chunk?: number;
  /**
   * Jumps into a translated page at an offset it has no entry for before it
   * is translated again with those entries (default: the threshold, at most 64).
   * Kept apart from the threshold: a page is hot already, and every miss is a
   * round trip through JS and the interpreter.
   */
  missThreshold?: number;
  /** Bytes of wasm kept before the whole cache is dropped (default 64 MiB). */
  cacheBytes?: number;
  /**
   * Pages written by someone other than this hart (device DMA from other
   * workers): one bit per RAM page, set with Atomics.or by the writer after
   * the bytes are in place (devices/virtio/ram.ts GuestRam.noteWritten). A
   * translated page whose bit is set is dropped before it is entered again.
   */
  dmaDirty?: Int32Array;
}

export interface JitStats {
  /** Pages translated now. */
  pages: number;
  /** Translations made (recompiles with more entries included) and their total time. */
  compiles: number;
  compileMs: number;
  /** Wasm bytes of the live translations. */
  cacheBytes: number;
  /** Entries into translated code; exits to the interpreter for one instruction; entries missed. */
  entries: number;
  interpExits: number;
  noEntry: number;
  /** Jumps from one translated page straight into another (a tail call, no JS). */
  chains: number;
  /** FP instructions translated code handed to Fpu.execute (no exact fast path). */
  fpCallouts: number;
  /** Translations dropped by writes to their page, and by eviction (least recently entered first). */
  invalidations: number;
  /** Of those, translations dropped because a device wrote their page (JitOptions.dmaDirty). */
  dmaInvalidations: number;
  evictions: number;
  /** Translations taken from another hart through the code store (--smp), not translated here. */
  adopted: number;
  /** Guest instructions run in translated code (the rest of instret ran on the interpreter). */
  translatedInsns: number;
}

/** RAM, hart state and scratch in one shared memory. */
export interface JitMemory {
  memory: WebAssembly.Memory;
  buffer: SharedArrayBuffer;
  ramBytes: number;
  layout: Layout;
  /**
   * Hart 0's layout, which page modules are emitted against, and this hart's
   * offset from it (the modules' imported global `hb`): a page's module is the
   * same bytes on every hart, so V8 compiles and tiers it up once for all.
   */
  codeLayout: Layout;
  hartBase: number;
  /**
   * Where the harts leave translations for each other (cpu/jit/code_store.ts):
   * only in a memory made with `shareCode` for several harts (the machine's,
   * with --smp > 1, when it fits), else null.
   */
  store: CodeStore | null;
}

/**
 * Bytes of one hart's region after RAM: its state (registers, TLBs), its
 * translator's scratch words and its "recently entered" byte per RAM page.
 * With several harts (--smp, docs/smp.md) each has its own region, so each
 * worker's Jit emits code against its own offsets.
 */
function hartRegionBytes(ramBytes: number): number {
  return Math.ceil((HART_STATE_BYTES + SCRATCH_BYTES + ramBytes / 4096) / 8) * 8;
}

/** Bytes of a memory: RAM, each hart's region, then the code store if the harts share code. */
function memoryBytes(ramBytes: number, harts: number, shareCode: boolean): number {
  return ramBytes + harts * hartRegionBytes(ramBytes) + codeStoreBytes(harts, shareCode);
}

/**
 * Where hart `hart`'s state, scratch and page bytes go after `ramBytes` of
 * RAM (hart 0 first), and the size of a memory for `harts` harts.
 */
export function jitLayout(ramBytes: number, hart = 0, harts = 1, shareCode = false): Layout {
  if (!(ramBytes > 0 && ramBytes % 4096 === 0)) {
    throw new Error(`jit: RAM size ${ramBytes} is not a positive multiple of 4096`);
  }
  if (!(Number.isInteger(harts) && harts >= 1 && hart >= 0 && hart < harts)) {
    throw new Error(`jit: hart ${hart} of ${harts}`);
  }
  const region = hartRegionBytes(ramBytes);
  const state = ramBytes + hart * region;
  const scratch = state + HART_STATE_BYTES;
  const refs = scratch + SCRATCH_BYTES; // a "recently entered" byte per RAM page (eviction)
  const pages = Math.ceil(memoryBytes(ramBytes, harts, shareCode) / 65536);
  if (pages > 65536) throw new Error("jit: RAM plus hart state exceed 4 GiB");
  return { state, scratch, refs, pages, ramPages: ramBytes / 4096 };
}

/**
 * Index, in an Int32Array over `mem`'s buffer, of hart `hart`'s stop word
 * (Jit.stopIndex of that hart's Jit): another hart's worker sets it to make
 * that hart leave translated code at its next dispatch, e.g. with an IPI.
 */
export function hartStopIndex(mem: JitMemory, hart: number): number {
  return (mem.codeLayout.scratch + hart * hartRegionBytes(mem.ramBytes) + SCRATCH_STOP) >>> 2;
}

/** Does `ramBytes` of RAM leave room for `harts` harts' state in a 4 GiB wasm memory? */
export function jitMemoryFits(ramBytes: number, harts = 1, shareCode = false): boolean {
  return ramBytes > 0 && ramBytes % 4096 === 0 &&
    Math.ceil(memoryBytes(ramBytes, harts, shareCode) / 65536) <= 65536;
}

/**
 * Allocate the memory for `ramBytes` of guest RAM (a multiple of 4096) and
 * `harts` harts; with `shareCode`, a code store for them too (JitMemory.store).
 */
export function createJitMemory(ramBytes: number, harts = 1, shareCode = false): JitMemory {
  const layout = jitLayout(ramBytes, 0, harts, shareCode);
  const memory = new WebAssembly.Memory({
    initial: layout.pages,
    maximum: layout.pages,
    shared: true,
  });
  return openJitMemory(memory, ramBytes, 0, harts, shareCode);
}

/**
 * The JitMemory view of a memory made by createJitMemory elsewhere (the
 * launcher makes it; each cpu worker receives the WebAssembly.Memory object),
 * for hart `hart` of `harts`. Whether it holds a code store is read from its
 * size unless `shareCode` says.
 */
export function openJitMemory(
  memory: WebAssembly.Memory,
  ramBytes: number,
  hart = 0,
  harts = 1,
  shareCode?: boolean,
): JitMemory {
  const buffer = memory.buffer as unknown as SharedArrayBuffer;
  shareCode ??= harts > 1 &&
    buffer.byteLength === jitLayout(ramBytes, 0, harts, true).pages * 65536;
  const layout = jitLayout(ramBytes, hart, harts, shareCode);
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== layout.pages * 65536) {
    throw new Error(
      `jit: the memory is not a shared ${layout.pages}-page memory for ${ramBytes} bytes of RAM`,
    );
  }
  return {
    memory,
    buffer,
    ramBytes,
    layout,
    codeLayout: jitLayout(ramBytes, 0, harts, shareCode),
    hartBase: layout.state - ramBytes,
    store: codeStoreBytes(harts, shareCode) > 0
      ? new CodeStore(
        buffer,
        memoryBytes(ramBytes, harts, false),
        codeStoreBytes(harts, shareCode),
        ramBytes / 4096,
      )
      : null,
  };
}

/** A hart whose RAM, registers and TLBs live in `mem` (what Jit needs). */
export function createJitHart(
  mem: JitMemory,
  opts: Omit<HartOptions, "ram" | "ramBytes" | "state">,
): Hart {
  return new Hart({
    ...opts,
    ram: mem.buffer,
    ramBytes: mem.ramBytes,
    state: { buffer: mem.buffer, offset: mem.layout.state },
  });
}

interface Entry {
  vbase: number;
  fn: PageFn;
  /** When JS last entered it (Jit.clock), for eviction. */
  used: number;
  /** Leader offsets translated; offsets entered since but missing, and how often. */
  entries: Set<number>;
  /** One byte per halfword: 1 where a run starts (what the dispatcher accepts). */
  leaders: Uint8Array;
  missing: Set<number>;
  missed: number;
  bytes: number;
  recompiles: number;
}

/**
 * Instructions the interpreter runs per visit to cold code: small, because
 * hotness is counted per visit, at the page where the visit starts.
 */
const CHUNK = 16;
const MAX_RECOMPILES = 24;

export class Jit {
  readonly stats: JitStats = {
    pages: 0,
    compiles: 0,
    compileMs: 0,
    cacheBytes: 0,
    entries: 0,
    interpExits: 0,
    noEntry: 0,
    fpCallouts: 0,
    chains: 0,
    invalidations: 0,
    dmaInvalidations: 0,
    evictions: 0,
    adopted: 0,
    translatedInsns: 0,
  };
  private readonly pages: (Entry | undefined)[];
  private readonly hot: Uint16Array;
  private readonly threshold: number;
  private readonly missThreshold: number;
  private readonly chunk: number;
  private readonly cacheLimit: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly i64: BigInt64Array;
  /** The counter offsets last stored in the scratch words (-1n: none yet; offsets are unsigned). */
  private irOff = -1n;
  private cyOff = -1n;
  private readonly scr: number;
  /** Index of the scratch mstatus word in i32 (SCRATCH_MSTATUS). */
  private readonly msIdx: number;
  private probing = false;
  private probeHit = false;
  private readonly imports: WebAssembly.Imports;
  /**
   * Every RAM page's translation (or the stub, which leaves to JS), so that
   * translated code chains to another page with a tail call, not through JS.
   */
  private readonly table: WebAssembly.Table;
  private readonly stub: PageFn;
  private readonly dmaDirty: Int32Array | null;
  /** The harts' shared translations (null: one hart); per page, the record last looked at. */
  private readonly store: CodeStore | null;
  private readonly storeSeen: Int32Array;
  private readonly ram32: Int32Array;

  constructor(readonly hart: Hart, readonly mem: JitMemory, opts: JitOptions = {}) {
    if (hart.ram8.buffer !== mem.buffer || hart.x.buffer !== mem.buffer) {
      throw new Error("jit: the hart's RAM and registers must live in the jit memory");
    }
    const n = mem.ramBytes / 4096;
    this.pages = new Array(n);
    this.hot = new Uint16Array(n);
    this.threshold = Math.max(1, Math.min(65535, opts.threshold ?? 16));
    this.missThreshold = Math.max(1, opts.missThreshold ?? Math.min(this.threshold, 64));
    this.chunk = Math.max(1, opts.chunk ?? CHUNK);
    this.cacheLimit = opts.cacheBytes ?? 64 << 20;
    this.i32 = new Int32Array(mem.buffer);
    this.f64 = new Float64Array(mem.buffer);
    this.i64 = new BigInt64Array(mem.buffer);
    this.scr = mem.layout.scratch;
    this.msIdx = (this.scr + SCRATCH_MSTATUS) >>> 2;
    this.dmaDirty = opts.dmaDirty ?? null;
    this.store = mem.store;
    this.storeSeen = new Int32Array(this.store !== null ? n : 0);
    this.ram32 = new Int32Array(mem.buffer, 0, mem.ramBytes >>> 2);
    if (this.dmaDirty !== null && this.dmaDirty.length * 32 < n) {
      throw new Error(`jit: the DMA bitmap covers fewer than the ${n} RAM pages`);
    }
    hart.codePages = new Uint8Array(n);
    hart.stopAtCode = true;
    hart.onCodeWrite = (p) => {
      if (this.probing) this.probeHit = true; // translated code asking: leave it to the interpreter
      else this.invalidate(p);
    };
    const stubInst = new WebAssembly.Instance(
      new WebAssembly.Module(emitStub(mem.layout)),
      { h: { mem: mem.memory } },
    );
    this.stub = stubInst.exports.run as PageFn;
    // (The second argument, every slot's initial value, is in the spec but not in TS's lib.)
    const Table = WebAssembly.Table as unknown as new (
      d: WebAssembly.TableDescriptor,
      init: PageFn,
    ) => WebAssembly.Table;
    this.table = new Table({ element: "anyfunc", initial: n, maximum: n }, this.stub);
    this.imports = {
      h: {
        tab: this.table,
        mem: mem.memory,
        hb: mem.hartBase,
        fill: (va: number, acc: number) => this.fill(va, acc),
        fpx: (insn: number) => this.fpx(insn),
        // rdtime in translated code, `n` instructions into the call (as csrReadRaw).
        time: (n: number) =>
          hart.readTime !== null ? hart.readTime(n) : BigInt(Math.floor((hart.instretN + n) / 10)),
      },
    };
  }

  /** Index in an Int32Array over the memory of the stop word (see requestExit). */
  get stopIndex(): number {
    return (this.scr + SCRATCH_STOP) >>> 2;
  }

  /**
   * Make the current (or next) run() return RUN_BUDGET soon: translated code
   * checks the word at every dispatch, the driver loop between steps. Another
   * thread does the same with Atomics.store(new Int32Array(buffer), stopIndex, 1)
   * — how the full system will deliver interrupts. run() clears it.
   */
  requestExit(): void {
    Atomics.store(this.i32, this.stopIndex, 1);
  }

  /**
   * Take mstatus back from the scratch word, where translated sstatus
   * accesses left it (SIE, SPIE, SPP, SUM, FS: never MXR, so the load TLB
   * stays right): the data TLB set follows SUM.
   */
  private syncMstatus(): void {
    this.hart.mstatus = this.i32[this.msIdx];
    this.hart.updateMode();
  }

  /** Translated code missed the TLB: walk and fill; 1 = the entry is there now. */
  private fill(va: number, acc: number): number {
    const h = this.hart;
    // The walk checks SUM in hart.mstatus and fills the set hart.dBase names.
    if (this.i32[this.msIdx] !== h.mstatus) this.syncMstatus();
    this.probing = acc === ACC_STORE;
    this.probeHit = false;
    translateFill(h, va, acc);
    this.probing = false;
    const vpn = Math.floor(va / 4096);
    const i = h.dBase + (vpn & TLB_MASK);
    const tags = acc === ACC_STORE ? h.wTag : h.rTag;
    if (this.probeHit) {
      tags[i] = NaN; // a store to a code page: the interpreter does it and drops the code
      return 0;
    }
    return tags[i] === vpn ? 1 : 0;
  }

  /**
   * Translated code's FP call-out: the instruction through Fpu.execute, as
   * the interpreter's fpExecute does it (FS was checked in wasm); fflags
   * travel in the scratch word while translated code runs. 1 = illegal
   * (nothing changed: the interpreter raises it).
   */
  private fpx(insn: number): number {
    const h = this.hart, fpu = h.fpu, i32 = this.i32, ffIdx = (this.scr + SCRATCH_FFLAGS) >>> 2;
    fpu.fflags = i32[ffIdx];
    fpu.frm = i32[ffIdx + 1]; // SCRATCH_FRM: translated code may have written it (fsrm)
    this.stats.fpCallouts++;
    const r = fpu.execute(insn, h.x);
    h.x[0] = 0n;
    if (r < 0) return 1;
    if (r === 0) i32[(this.scr + SCRATCH_DIRTY) >>> 2] = 1;
    i32[ffIdx] = fpu.fflags;
    return 0;
  }

  /** Drop the translation of RAM page `p` (its bytes changed). */
  invalidate(p: number): void {
    const e = this.pages[p];
    this.hart.codePages![p] = 0;
    this.hot[p] = 0;
    if (e === undefined) return;
    this.pages[p] = undefined;
    this.table.set(p, this.stub);
    this.stats.pages--;
    this.stats.cacheBytes -= e.bytes;
    this.stats.invalidations++;
  }

  /** The host wrote RAM bytes [off, off + len) directly. */
  invalidateRange(off: number, len: number): void {
    if (len <= 0) return;
    for (let p = off >>> 12; p <= (off + len - 1) >>> 12; p++) {
      if (this.hart.codePages![p] !== 0) this.invalidate(p);
    }
  }

  private clock = 0;

  /**
   * Make room for `need` bytes: drop translations until the cache is at most
   * half full, those not entered since the last eviction first.
   */
  private evict(need: number): void {
    // Second chance: pages entered (from JS or by a chained jump) since the
    // last eviction go last; the oldest JS entry first within each group.
    const refs = new Uint8Array(this.mem.buffer, this.mem.layout.refs, this.pages.length);
    const live: [number, number][] = [];
    this.pages.forEach((e, p) => {
      if (e !== undefined) live.push([e.used + (refs[p] !== 0 ? 2 ** 40 : 0), p]);
    });
    refs.fill(0);
    live.sort((a, b) => a[0] - b[0]);
    for (const [, p] of live) {
      if (this.stats.cacheBytes + need <= this.cacheLimit / 2) break;
      const inv = this.stats.invalidations;
      this.invalidate(p);
      this.stats.invalidations = inv; // (an eviction, not a write)
      this.stats.evictions++;
    }
  }

  /** Drop every translation. */
  flush(): void {
    for (let p = 0; p < this.pages.length; p++) if (this.pages[p] !== undefined) this.invalidate(p);
  }

  /**
   * Clear page's DMA bit before reading its bytes: a device write after this
   * sets it again and drops the translation at the next entry.
   */
  private clearDmaBit(page: number): void {
    if (this.dmaDirty !== null) Atomics.and(this.dmaDirty, page >>> 5, ~(1 << (page & 31)));
  }

  private compile(page: number, vbase: number, entries: Set<number>, recompiles: number): Entry {
    const t0 = performance.now();
    const h = this.hart;
    this.clearDmaBit(page);
    // With other harts: the page's words before the front end reads them (see
    // CodeStore.publish), and the ways in that another hart's translation knew.
    let before: Int32Array | null = null;
    if (this.store !== null) {
      before = this.ram32.slice(page << 10, (page + 1) << 10);
      const rec = this.store.lookup(page);
      if (
        rec !== 0 && this.store.vbase(rec) === vbase && this.store.samePage(rec, this.ram32, page)
      ) {
        for (const off of this.store.read(rec).entries) entries.add(off);
      }
    }
    // A 4-byte instruction across the page end is translated too when the
    // next virtual page is in the fetch TLB now (checked again at run time).
    const nextVpn = vbase / 4096 + 1;
    const nti = h.fBase + (nextVpn & TLB_MASK);
    const nextRam = h.fTag[nti] === nextVpn ? h.fAdd[nti] + vbase + 4096 : -1;
    const straddleHi = nextRam >= 0 && nextRam < this.mem.ramBytes ? h.ram16[nextRam >>> 1] : -1;
    const runs = findRuns(h.ram16, page * 4096, entries, straddleHi);
    const bytes = emitPage(runs, vbase, this.mem.codeLayout, this.hart.sv57);
    const leaders = runs.map((r) => r.off);
    if (before !== null && this.store!.publish(page, vbase, before, entries, leaders, bytes)) {
      this.storeSeen[page] = this.store!.lookup(page); // (our own: nothing to take)
    }
    const e = this.install(page, vbase, bytes, entries, leaders, recompiles);
    this.stats.compiles++;
    this.stats.compileMs += performance.now() - t0;
    return e;
  }

  /**
   * Take another hart's translation of `page` from the code store, if there is
   * one for this virtual page, made from the bytes the page holds now, and
   * (when `need` is given) knowing every entry in it. Its bytes are the bytes
   * this hart would emit, so V8 hands back the module it already compiled.
   */
  private adopt(page: number, vbase: number, need: Set<number> | null): boolean {
    const store = this.store!;
    const rec = store.lookup(page);
    if (rec === 0 || rec === this.storeSeen[page]) return false;
    this.storeSeen[page] = rec;
    if (store.vbase(rec) !== vbase) return false;
    this.clearDmaBit(page); // as compile: the DMA bit first, then the bytes
    if (!store.samePage(rec, this.ram32, page)) return false;
    const got = store.read(rec);
    const entries = new Set(got.entries);
    if (need !== null) { for (const off of need) if (!entries.has(off)) return false; }
    this.install(page, vbase, got.bytes, entries, got.leaders, this.pages[page]?.recompiles ?? 0);
    this.stats.adopted++;
    return true;
  }

  /** Instantiate a page's module and make it the page's translation; `leaders`: its runs' offsets. */
  private install(
    page: number,
    vbase: number,
    bytes: Uint8Array<ArrayBuffer>,
    entries: Set<number>,
    leaderOffsets: number[],
    recompiles: number,
  ): Entry {
    const h = this.hart;
    const leaders = new Uint8Array(2048);
    for (const off of leaderOffsets) leaders[off >>> 1] = 1;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), this.imports);
    const old = this.pages[page];
    if (old !== undefined) {
      this.pages[page] = undefined; // (so that eviction cannot count it twice)
      this.stats.cacheBytes -= old.bytes;
      this.stats.pages--;
    }
    if (this.stats.cacheBytes + bytes.length > this.cacheLimit) this.evict(bytes.length);
    const e: Entry = {
      vbase,
      fn: inst.exports.run as PageFn,
      entries,
      leaders,
      missing: new Set(),
      missed: 0,
      bytes: bytes.length,
      recompiles,
      used: ++this.clock,
    };
    this.pages[page] = e;
    this.table.set(page, e.fn);
    h.codePages![page] = 1;
    // A code page keeps no store TLB entry, so every store to it reaches onCodeWrite.
    const wTag = h.wTag, wAdd = h.wAdd;
    for (let i = 0; i < wTag.length; i++) {
      const t = wTag[i];
      if (t !== t) continue;
      // (an Sv57 wide entry, tag vpn + 0.5, holds its page's RAM offset: cpu/mmu.ts)
      const ramPage = t % 1 === 0 ? Math.floor((wAdd[i] + t * 4096) / 4096) : wAdd[i] / 4096;
      if (ramPage === page) wTag[i] = NaN;
    }
    this.stats.pages++;
    this.stats.cacheBytes += bytes.length;
    return e;
  }

  private readonly stepped = { n: 0, status: RUN_BUDGET };

  /** Interpret one instruction at a time until pc is a leader of the page at vbase, or leaves it. */
  private stepToLeader(leaders: Uint8Array, vbase: number, max: number) {
    const h = this.hart, out = this.stepped;
    out.n = 0;
    out.status = RUN_BUDGET;
    while (out.n < max) {
      const before = h.instretN;
      out.status = h.run(1);
      out.n += Math.max(1, h.instretN - before);
      const off = h.pcN - vbase;
      if (out.status !== RUN_BUDGET || !(off >= 0 && off < 4096) || leaders[off >>> 1]) break;
    }
    return out;
  }

  /**
   * Like Hart.run: up to `max` instructions, translated where hot. With
   * `exact` false, the batch may end a few instructions short, where the next
   * translated run would not fit (the cpu actor's loop just goes on; the
   * lockstep tests and the user-mode runner's thread switches want every one).
   */
  run(max: number, exact = true): number {
    const h = this.hart;
    if (h.stopRequested) return RUN_STOP;
    // As Hart.run: a pending, enabled interrupt is taken before anything runs
    // (the caller refreshed externalMip between batches).
    checkInterrupts(h);
    const i32 = this.i32, f64 = this.f64;
    const nIdx = (this.scr + SCRATCH_N) >>> 2, dbIdx = (this.scr + SCRATCH_DBASE) >>> 2;
    const pcIdx = (this.scr + SCRATCH_PC) >>> 3;
    const kIdx = (this.scr + SCRATCH_STRETCH) >>> 2;
    const cntIdx = (this.scr + SCRATCH_CNTOK) >>> 2, inst0Idx = (this.scr + SCRATCH_INSTRET0) >>> 3;
    const irIdx = (this.scr + SCRATCH_IROFF) >>> 3, cyIdx = (this.scr + SCRATCH_CYOFF) >>> 3;
    const i64 = this.i64;
    const fbIdx = (this.scr + SCRATCH_FBASE) >>> 2, chIdx = (this.scr + SCRATCH_CHAINS) >>> 2;
    const ffIdx = (this.scr + SCRATCH_FFLAGS) >>> 2, rvIdx = (this.scr + SCRATCH_RES_VALID) >>> 2;
    const rvValIdx = (this.scr + SCRATCH_RES_VALUE) >>> 3;
    const msIdx = this.msIdx, ff0Idx = (this.scr + SCRATCH_FF0) >>> 2;
    if (SCRATCH_SUMDELTA !== SCRATCH_MSTATUS + 4) {
      throw new Error("jit: scratch words out of order");
    }
    if (
      SCRATCH_FRM !== SCRATCH_FFLAGS + 4 || SCRATCH_FSOFF !== SCRATCH_FFLAGS + 8 ||
      SCRATCH_DIRTY !== SCRATCH_FFLAGS + 12 || SCRATCH_RES_OFF !== SCRATCH_RES_VALID + 4
    ) throw new Error("jit: scratch words out of order");
    let done = 0;
    let viaJump = false; // pc came from translated code leaving its page
    const stopIdx = this.stopIndex;
    while (done < max) {
      if (Atomics.load(i32, stopIdx) !== 0) {
        Atomics.store(i32, stopIdx, 0);
        return RUN_BUDGET;
      }
      const pc = h.pcN;
      const vpn = Math.floor(pc / 4096);
      const ti = h.fBase + (vpn & TLB_MASK);
      let steps = 1;
      if (h.fTag[ti] === vpn) {
        const page = Math.floor((pc + h.fAdd[ti]) / 4096);
        const vbase = vpn * 4096;
        let e = this.pages[page];
        if (e !== undefined && this.dmaDirty !== null) {
          // A device wrote this page since we looked: its code may be new.
          const dd = this.dmaDirty, w = page >>> 5, bit = 1 << (page & 31);
          if ((dd[w] & bit) !== 0) {
            Atomics.and(dd, w, ~bit);
            this.invalidate(page);
            this.stats.dmaInvalidations++;
            e = undefined;
          }
        }
        if (e !== undefined && e.vbase !== vbase) e = undefined;
        if (e === undefined) {
          steps = this.chunk;
          // Another hart translated this page: take its module (no hotness needed).
          if (this.store !== null && this.adopt(page, vbase, null)) continue;
          if (++this.hot[page] >= this.threshold) {
            this.compile(page, vbase, new Set([pc - vbase]), 0);
            continue;
          }
        } else {
          i32[dbIdx] = h.dBase * 8;
          // FP and reservation state in, for the length of the call.
          const fpu = h.fpu, ff0 = fpu.fflags;
          i32[ffIdx] = ff0;
          i32[ff0Idx] = ff0;
          i32[ffIdx + 1] = fpu.frm; // SCRATCH_FRM
          i32[ffIdx + 2] = (h.mstatus & MSTATUS.FS) === 0 ? 1 : 0; // SCRATCH_FSOFF
          // Counters: readable at this privilege, and their values now.
          // (A counter stopped by mcountinhibit is left to the interpreter.)
          // mstatus for translated sstatus accesses (S-mode only), and whether
          // setting SIE must leave to take an interrupt.
          i32[cntIdx] = (counterAllowed(h, 0xc00) && !(h.mcountinhibit & 1) ? 1 : 0) |
            (counterAllowed(h, 0xc01) ? 2 : 0) |
            (counterAllowed(h, 0xc02) && !(h.mcountinhibit & 4) ? 4 : 0) |
            (h.privLevel === 1 ? CNTOK_SMODE : 0) |
            (((h.mipSw | h.externalMip) & h.mie & h.mideleg) !== 0 ? CNTOK_SPENDING : 0);
          i32[msIdx] = h.mstatus;
          i32[msIdx + 1] = h.satpMode !== 0 ? TLB_SIZE * 8 : 0; // SCRATCH_SUMDELTA
          f64[inst0Idx] = h.instretN;
          // The offsets change only on a counter write: stored then (no bigint per call).
          if (h.minstretOffset !== this.irOff) i64[irIdx] = this.irOff = h.minstretOffset;
          if (h.mcycleOffset !== this.cyOff) i64[cyIdx] = this.cyOff = h.mcycleOffset;
          const resOff = h.resAddr - h.ramBase;
          i32[rvIdx] = h.resValid ? 1 : 0;
          i32[rvIdx + 1] = resOff >= 0 && resOff < h.ramSize ? resOff : -1;
          if (h.resValid) i64[rvValIdx] = h.resValue; // what LR read
          // (2^30: the run-length check n + L > limit must not overflow int32.)
          i32[fbIdx] = h.fBase * 8;
          const code = e.fn((pc - vbase) / 2, Math.min(max - done, 0x3fffffff), 0, vpn);
          const n = i32[nIdx];
          if (i32[msIdx] !== h.mstatus) this.syncMstatus(); // (fill may have done it)
          if (i32[chIdx] !== 0) {
            this.stats.chains += i32[chIdx];
            i32[chIdx] = 0;
          }
          const ff = i32[ffIdx];
          fpu.fflags = ff;
          fpu.frm = i32[ffIdx + 1]; // (fsrm in translated code)
          if (ff !== i32[ff0Idx] || i32[ffIdx + 3] !== 0) { // SCRATCH_DIRTY
            markFsDirty(h);
            i32[ffIdx + 3] = 0;
          }
          if (i32[rvIdx] !== 0) {
            h.resValid = true;
            if (i32[rvIdx + 1] >= 0) h.resAddr = i32[rvIdx + 1] + h.ramBase;
            h.resValue = i64[rvValIdx];
          } else h.resValid = false;
          done += n;
          h.instretN += n;
          h.pcN = f64[pcIdx];
          this.stats.entries++;
          this.stats.translatedInsns += n;
          e.used = ++this.clock;
          const jumped = viaJump;
          viaJump = code === EXIT_JUMP;
          if (code === EXIT_JUMP) continue;
          if (code === EXIT_BUDGET) {
            if (n > 0) continue;
            // The next run does not fit in what is left of the batch: end the
            // batch here, at a leader, unless the caller needs every
            // instruction of it run (deterministic mode) or nothing ran yet.
            // Running the rest one interpreted instruction at a time left the
            // next batch starting mid-run: a miss and an interpreted stretch
            // each batch (~100 k misses in a gzip -9, ~1/4 of its entries).
            if (!exact && done > 0) return RUN_BUDGET;
          } else if (code === EXIT_INTERP) {
            this.stats.interpExits++;
            steps = i32[kIdx]; // the untranslated stretch from here
          } else if (code === EXIT_NOENTRY) {
            this.stats.noEntry++;
            if (!(h.pcN - vbase >= 0 && h.pcN - vbase < 4096)) {
              // A page reached by a chained call missed: enter it again from here.
              viaJump = true;
              continue;
            }
            // A new way into the page (a call from another page, a return):
            // once the page has been missed `missThreshold` times, translate it
            // again with every entry seen so far. Meanwhile the interpreter
            // steps to the next leader (a branch away, usually) or out of the page.
            // (Only a jump counts: the end of a batch or of an interpreted
            // stretch leaves pc anywhere.)
            if (jumped) e.missing.add(h.pcN - vbase);
            if (jumped && ++e.missed >= this.missThreshold && e.recompiles < MAX_RECOMPILES) {
              const want = new Set([...e.entries, ...e.missing]);
              if (this.store !== null && this.adopt(page, vbase, want)) continue;
              this.compile(page, vbase, want, e.recompiles + 1);
              continue;
            }
            const st = this.stepToLeader(e.leaders, vbase, Math.min(max - done, 256));
            done += st.n;
            if (st.status !== RUN_BUDGET) return st.status;
            continue;
          }
        }
      }
      const before = h.instretN;
      const st = h.run(Math.min(steps, max - done));
      // Stopped on entering a translated page: arriving there counts as a jump
      // (a missing entry is learned, as one from translated code is).
      viaJump = h.stoppedAtCode;
      done += Math.max(1, h.instretN - before);
      if (st !== RUN_BUDGET) return st;
    }
    return RUN_BUDGET;
  }
}
