// One RV64IMAFDC hart with M/S/U privilege and Sv39/Sv48/Sv57 paging with ASIDs: the state
// and the public API that the cpu actor, the user-mode runner and the tests
// drive. Drive it like this: construct it over the guest RAM SharedArrayBuffer,
// set pc/priv/registers, plug `bus` and `onEcall`, then call `run(n)` in a loop,
// setting `externalMip` between batches and sleeping when it returns RUN_WFI.
// A long-running hart is built after cpu/warmup.ts's warmUpJit() has trained
// the JIT (the hart does not call it itself: warmup.ts builds harts).
// The instruction loop is in cpu/execute.ts; CSRs cpu/csr.ts; paging
// cpu/mmu.ts; traps and interrupts cpu/trap.ts; FP arithmetic cpu/fpu.ts.
// Design notes: docs/cpu.md. Read next: cpu/execute.ts.

import { type Bus, EMPTY_BUS } from "./bus.ts";
import { Fpu } from "./fpu.ts";
import { counterValue, csrReadRaw, csrWriteRaw, updateSstc } from "./csr.ts";
import { runBatch } from "./execute.ts";
import { ASID_SLOTS, TLB_MASK, TLB_SETS, TLB_SIZE } from "./mmu.ts";
import { checkInterrupts, MSTATUS } from "./trap.ts";

export const RUN_BUDGET = 0;
export const RUN_WFI = 1;
export const RUN_STOP = 2;
/** Stopped before the instruction at a breakpoint (Hart.breakPcs); pc is the breakpoint. */
export const RUN_BREAK = 3;

export interface HartOptions {
  /** Guest RAM (any size multiple of 4096, at most 4 GiB). */
  ram: SharedArrayBuffer;
  /** Physical address of RAM byte 0. */
  ramBase: number;
  /** MMIO for physical addresses outside RAM (default: everything faults). */
  bus?: Bus;
  /** mhartid, default 0. */
  hartId?: number;
  /**
   * The `time` CSR in timebase ticks (default: instret / 10). Translated code
   * passes `n`, the instructions it retired since instretN was last stored.
   */
  readTime?: (n?: number) => bigint;
  /** Allow satp mode Sv48 (default true). Without it only Sv39 is accepted. */
  sv48?: boolean;
  /**
   * Allow satp mode Sv57 (default false, as QEMU's `sv57=off`; implies Sv48).
   * Its upper-half addresses take the slow paths (cpu/mmu.ts, "Wide addresses").
   */
  sv57?: boolean;
  /** Bytes of `ram` that are guest RAM (default all); the rest may hold `state`. */
  ramBytes?: number;
  /**
   * Where the register file and the TLBs live (default: private buffers). The
   * translator (cpu/jit/) places them in its WebAssembly.Memory so that
   * translated code reads the same words; `offset` is 8-aligned, and
   * HART_STATE_BYTES bytes from it belong to the hart.
   */
  state?: { buffer: SharedArrayBuffer; offset: number };
}

/** Layout of a hart's placed state (HartOptions.state), byte offsets from `offset`. */
export const HART_STATE = {
  X: 0,
  /** f0..f31 (Fpu.bits), raw 64-bit patterns, singles NaN-boxed. */
  F: 256,
  /** Six TLB arrays of TLB_SETS * TLB_SIZE doubles: fTag fAdd rTag rAdd wTag wAdd. */
  TLB: 1024,
} as const;
export const HART_STATE_BYTES = HART_STATE.TLB + 6 * 8 * TLB_SETS * TLB_SIZE;

/** The most recent trap; all three values unsigned 64-bit. */
export interface TrapRecord {
  cause: bigint;
  tval: bigint;
  epc: bigint;
}

const TWO32 = 4294967296;

export class Hart {
  /** x0..x31; x[0] is forced to 0 before every instruction. */
  readonly x: BigInt64Array;
  /** The same registers as int32 pairs (lo, hi): xw[2r], xw[2r+1]. */
  readonly xw: Int32Array;
  readonly fpu: Fpu;
  /** The FP registers as int32 pairs, for FLW/FSW and NaN-boxing. */
  readonly fw: Int32Array;

  /** pc as a JS number: a sign-extended virtual (or physical) address, exact. */
  pcN = 0;
  /** The privilege level (0 U, 1 S, 3 M); use `priv` from outside. */
  privLevel = 3;
  externalMip = 0;
  stopRequested = false;
  onEcall: ((hart: Hart, fromPriv: number) => boolean) | null = null;
  lastTrap: TrapRecord | null = null;
  /**
   * Told of every trap entry and every mret/sret, when set (--trace:
   * actors/cpu/hart_trace.ts). Null otherwise: one predictable branch per
   * trap, nothing per instruction.
   */
  onTrap: ((cause: number, interrupt: boolean, epc: number) => void) | null = null;
  /**
   * Called by every interrupt check (cpu/trap.ts checkInterrupts: at each
   * run's start, after CSR writes, xRET and MMIO) to bring externalMip and
   * the IPIs sent to this hart up to date first, so an interrupt raised
   * during a batch is taken when the guest enables interrupts, as on
   * hardware, not at the next batch. The cpu actor sets it (not in
   * deterministic mode, where interrupts arrive at counts the hart chooses).
   */
  pollInterrupts: (() => void) | null = null;
  onTrapReturn: (() => void) | null = null;

  // --- memory ---
  readonly ramBase: number;
  readonly ramSize: number;
  readonly bus: Bus;
  readonly ram8: Uint8Array;
  readonly ram8s: Int8Array;
  readonly ram16: Uint16Array;
  readonly ram16s: Int16Array;
  readonly ram32: Int32Array;
  readonly ram64: BigInt64Array;

  // --- CSR state (see cpu/csr.ts for semantics) ---
  readonly hartId: number;
  readonly readTime: ((n?: number) => bigint) | null;
  readonly sv48: boolean;
  readonly sv57: boolean;
  /** mstatus bits 0..31 (the writable ones); UXL/SXL/SD are synthesised on read. */
  mstatus = 0;
  mie = 0;
  /** Software-writable mip bits (SSIP, STIP, SEIP); effective mip = mipSw | externalMip. */
  mipSw = 0;
  mideleg = 0;
  medeleg = 0;
  mtvec = 0;
  stvec = 0;
  mepc = 0;
  sepc = 0;
  mcause = 0n;
  scause = 0n;
  mtval = 0n;
  stval = 0n;
  mscratch = 0n;
  sscratch = 0n;
  mcounteren = 0;
  scounteren = 0;
  menvcfg = 0n;
  senvcfg = 0n;
  satp = 0n;
  /** Decoded satp: 0 bare, 8 Sv39, 9 Sv48, 10 Sv57; root table physical address; ASID. */
  satpMode = 0;
  satpRoot = 0;
  satpAsid = 0;
  /** Sstc: menvcfg.STCE, and stimecmp (unsigned; all ones = never). */
  sstcEnabled = false;
  stimecmp = (1n << 64n) - 1n;
  /** Called after a write of stimecmp (the cpu actor arms the waker with it). */
  onStimecmp: ((deadline: bigint) => void) | null = null;
  readonly pmpcfg = new BigInt64Array(16);
  readonly pmpaddr = new BigInt64Array(64);
  /**
   * Instructions executed (a number: exact to 2^53, ~3 years at 100 MIPS).
   * The 64-bit minstret/mcycle are this plus an offset a CSR write sets (mod
   * 2^64), so the loop only ever adds to a number.
   */
  instretN = 0;
  minstretOffset = 0n;
  mcycleOffset = 0n;
  /** mcountinhibit (CY, IR): a stopped counter's value is then in its offset field. */
  mcountinhibit = 0;

  // --- LR/SC ---
  resValid = false;
  resAddr = 0;
  /**
   * What LR read (sign-extended): SC stores only if memory still holds it, by
   * compare-and-exchange, which is what makes LR/SC atomic across harts in
   * other workers (docs/smp.md).
   */
  resValue = 0n;
  /**
   * Other harts run on the same RAM (--smp > 1, set by the cpu actor): AMOs and
   * SC then use Atomics (docs/smp.md). Off, a hart alone keeps its plain,
   * cheaper read-modify-writes (the devices never take part in AMOs).
   */
  sharedRam = false;

  // --- translation caches (cpu/mmu.ts) ---
  /** Direct-mapped TLBs, TLB_SETS sets of TLB_SIZE entries: tag = vpn, add = ram offset - va. */
  readonly fTag: Float64Array;
  readonly fAdd: Float64Array;
  readonly rTag: Float64Array;
  readonly rAdd: Float64Array;
  readonly wTag: Float64Array;
  readonly wAdd: Float64Array;
  /** First TLB index of the set in use for fetches and for data accesses. */
  fBase = 0;
  dBase = 0;
  /**
   * ASID slots: each holds the sets 1..3 (U, S, S+SUM) of one address space,
   * keyed by (ASID, root, mode), so switching satp between a few address
   * spaces keeps their entries. slotAsid -1 = free. The slot in use: asidSlot.
   */
  readonly slotAsid = new Int32Array(ASID_SLOTS).fill(-1);
  readonly slotRoot = new Float64Array(ASID_SLOTS);
  readonly slotMode = new Int32Array(ASID_SLOTS);
  readonly slotUsed = new Float64Array(ASID_SLOTS);
  asidSlot = 0;
  slotClock = 0;
  /** The current code page: its virtual base and the ram offset of that page. NaN = none. */
  fetchVa = NaN;
  fetchOff = 0;
  /** Set by an MMIO access: the bus may have changed externalMip (see execute.ts). */
  mmioSeen = false;
  /** The level of the leaf found by the last successful walk (0 = 4 KiB page). */
  walkLevel = 0;
  /** 1 GiB regions (vpn / 2^18) holding TLB entries made from superpages; count -1 = overflowed. */
  readonly superGiga = new Float64Array(16);
  superCount = 0;
  /**
   * The exact page number of the wide access under way (cpu/mmu.ts wideVa), or
   * NaN: while set, addresses WIDE_BASE + 0..8191 stand for that page and the next.
   */
  wideVpn = NaN;
  /** Filled by translate() on failure: the exception cause and tval. */
  faultCause = 0;
  faultTval = 0;

  /**
   * Translator hook (cpu/jit/): one byte per RAM page, non-zero when the page
   * holds translated code. A store translated to such a page calls
   * `onCodeWrite(page)` first (only TLB misses and slow paths translate, and a
   * code page never keeps a store TLB entry). null = no translator.
   */
  codePages: Uint8Array | null = null;
  onCodeWrite: ((page: number) => void) | null = null;
  /**
   * The translator's driver asks run() to stop (RUN_BUDGET) when the pc
   * enters another page that holds translated code, after at least one
   * instruction; `stoppedAtCode` then says it did. Checked only where the
   * interpreter changes code page, never per instruction.
   */
  stopAtCode = false;
  stoppedAtCode = false;

  /**
   * A debugger's breakpoints, as pcN values (sign-extended virtual addresses):
   * run() stops before executing any of them and returns RUN_BREAK. null =
   * none, and then the loop pays nothing for them (cpu/debug.ts sets these).
   */
  breakPcs: Float64Array | null = null;
  /** A pc whose breakpoint the next run() passes over once (resuming from it). */
  breakSkip = NaN;
  /**
   * A debugger's watchpoints (cpu/debug.ts): [start, end, kind] triples of
   * virtual addresses, kind 1 write, 2 read, 3 either. Their pages are kept
   * out of the data TLBs, so only the slow paths see those accesses and check
   * them. When set, breakPcs is non-null too (maybe empty): the loop's one
   * debug test then also sees a watchpoint hit.
   */
  watches: Float64Array | null = null;
  /** Virtual page numbers the watchpoints touch (never cached in the data TLBs). */
  watchVpns: Set<number> | null = null;
  /** Which watchpoint stopped the hart (an index into the triples), or -1. */
  watchHitIndex = -1;
  /** The pc whose accesses pass the watchpoints (the instruction a resume starts with). */
  watchSkip = NaN;

  /** Debug: a ring of recent pcs (see enablePcRing). */
  pcRing: Float64Array | null = null;
  pcRingPos = 0;

  constructor(opts: HartOptions) {
    const ram = opts.ram;
    if (!(ram instanceof SharedArrayBuffer)) {
      throw new Error("Hart: ram must be a SharedArrayBuffer");
    }
    if (ram.byteLength === 0 || ram.byteLength % 4096 !== 0) {
      throw new Error(`Hart: ram size ${ram.byteLength} is not a positive multiple of 4096`);
    }
    if (ram.byteLength > TWO32) throw new Error("Hart: ram larger than 4 GiB is not supported");
    const ramBytes = opts.ramBytes ?? ram.byteLength;
    if (ramBytes <= 0 || ramBytes % 4096 !== 0 || ramBytes > ram.byteLength) {
      throw new Error(`Hart: ramBytes ${ramBytes} is not a positive multiple of 4096 within ram`);
    }
    if (!Number.isSafeInteger(opts.ramBase) || opts.ramBase < 0 || opts.ramBase % 4096 !== 0) {
      throw new Error(`Hart: ramBase ${opts.ramBase} must be a page-aligned non-negative integer`);
    }
    const st = opts.state;
    const n = TLB_SETS * TLB_SIZE;
    if (st === undefined) {
      const regs = new ArrayBuffer(32 * 8);
      this.x = new BigInt64Array(regs);
      this.xw = new Int32Array(regs);
      this.fTag = new Float64Array(n);
      this.fAdd = new Float64Array(n);
      this.rTag = new Float64Array(n);
      this.rAdd = new Float64Array(n);
      this.wTag = new Float64Array(n);
      this.wAdd = new Float64Array(n);
    } else {
      if (st.offset % 8 !== 0 || st.offset + HART_STATE_BYTES > st.buffer.byteLength) {
        throw new Error(`Hart: state offset ${st.offset} is not 8-aligned inside its buffer`);
      }
      const b = st.buffer, o = st.offset;
      this.x = new BigInt64Array(b, o + HART_STATE.X, 32);
      this.xw = new Int32Array(b, o + HART_STATE.X, 64);
      const t = (i: number) => new Float64Array(b, o + HART_STATE.TLB + i * 8 * n, n);
      this.fTag = t(0);
      this.fAdd = t(1);
      this.rTag = t(2);
      this.rAdd = t(3);
      this.wTag = t(4);
      this.wAdd = t(5);
      this.x.fill(0n);
    }
    this.fTag.fill(NaN);
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
    this.fpu = st === undefined
      ? new Fpu()
      : new Fpu(new BigInt64Array(st.buffer, st.offset + HART_STATE.F, 32).fill(0n));
    this.fw = new Int32Array(
      this.fpu.bits.buffer,
      this.fpu.bits.byteOffset,
      this.fpu.bits.length * 2,
    );
    this.ramBase = opts.ramBase;
    this.ramSize = ramBytes;
    this.bus = opts.bus ?? EMPTY_BUS;
    this.ram8 = new Uint8Array(ram);
    this.ram8s = new Int8Array(ram);
    this.ram16 = new Uint16Array(ram);
    this.ram16s = new Int16Array(ram);
    this.ram32 = new Int32Array(ram);
    this.ram64 = new BigInt64Array(ram);
    this.hartId = opts.hartId ?? 0;
    this.readTime = opts.readTime ?? null;
    this.sv57 = opts.sv57 ?? false;
    this.sv48 = this.sv57 || (opts.sv48 ?? true);
    this.updateMode();
  }

  /** pc as an unsigned 64-bit value (the setter accepts signed or unsigned). */
  get pc(): bigint {
    return BigInt.asUintN(64, BigInt(this.pcN));
  }
  set pc(v: bigint) {
    // Keep pc exact as a number: sign-extend from bit 55 (every Sv39/Sv48
    // virtual address and every physical address survives this).
    this.pcN = Number(BigInt.asIntN(56, v));
    this.fetchVa = NaN;
  }

  /** Privilege level: 0 = U, 1 = S, 3 = M. Setting it re-selects the TLB sets. */
  get priv(): number {
    return this.privLevel;
  }
  set priv(p: number) {
    if (p !== 0 && p !== 1 && p !== 3) throw new Error(`Hart: bad privilege level ${p}`);
    this.privLevel = p;
    this.updateMode();
  }

  /** minstret's value (64-bit, unsigned). instretN counts executed instructions. */
  get instret(): bigint {
    return counterValue(this, 4); // minstret (mcountinhibit.IR)
  }

  /**
   * Run up to `maxInstructions` instructions. Interrupts are taken at entry
   * and after every instruction that can change the enables or pending bits.
   */
  run(maxInstructions: number): number {
    if (this.stopRequested) return RUN_STOP;
    if (this.sstcEnabled) updateSstc(this);
    checkInterrupts(this);
    return runBatch(this, maxInstructions);
  }

  /** Read a CSR as an unsigned 64-bit value, with no privilege check. */
  csrRead(csr: number): bigint {
    const v = csrReadRaw(this, csr);
    if (v === null) throw new Error(`csrRead: no CSR 0x${csr.toString(16)}`);
    return BigInt.asUintN(64, v);
  }

  csrWrite(csr: number, value: bigint): void {
    if (!csrWriteRaw(this, csr, BigInt.asIntN(64, value))) {
      throw new Error(`csrWrite: no CSR 0x${csr.toString(16)}`);
    }
  }

  /**
   * Set or clear software-writable pending bits of mip (SSIP, STIP, SEIP), as
   * M-mode software would — e.g. an SBI IPI raising SSIP. Unlike
   * `csrWrite(mip, csrRead(mip) | bit)`, this never folds the lines driven in
   * `externalMip` into the software bits (where they would stick).
   */
  setMipSoftware(mask: number, on: boolean): void {
    const m = mask & ((1 << 1) | (1 << 5) | (1 << 9));
    this.mipSw = on ? this.mipSw | m : this.mipSw & ~m;
  }

  /** Drop every cached translation, of every ASID (sfence.vma x0, x0; SBI remote fences). */
  flushTlb(): void {
    this.fTag.fill(NaN);
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
    this.fetchVa = NaN;
    this.superCount = 0;
  }

  /**
   * Drop one ASID's translations (sfence.vma x0, asid). Its global entries go
   * too: the spec allows a fence to drop more than it must.
   */
  flushTlbAsid(asid: number): void {
    for (let s = 0; s < ASID_SLOTS; s++) if (this.slotAsid[s] === asid) this.flushSlot(s);
  }

  /** Empty one ASID slot's three sets. */
  private flushSlot(slot: number): void {
    const from = (1 + 3 * slot) * TLB_SIZE, to = from + 3 * TLB_SIZE;
    this.fTag.fill(NaN, from, to);
    this.rTag.fill(NaN, from, to);
    this.wTag.fill(NaN, from, to);
    this.fetchVa = NaN;
  }

  /**
   * satp now names (asid, root, mode): use the slot cached for it, or take
   * the least recently used slot and empty it. The same ASID with another
   * root empties its slot — software should fence, but a stale entry of
   * another address space must never be used.
   */
  selectAsidSlot(asid: number, root: number, mode: number): void {
    let slot = -1;
    for (let s = 0; s < ASID_SLOTS; s++) if (this.slotAsid[s] === asid) slot = s;
    if (slot < 0) {
      slot = 0;
      for (let s = 1; s < ASID_SLOTS; s++) if (this.slotUsed[s] < this.slotUsed[slot]) slot = s;
      this.flushSlot(slot);
    } else if (this.slotRoot[slot] !== root || this.slotMode[slot] !== mode) {
      this.flushSlot(slot);
    }
    this.slotAsid[slot] = asid;
    this.slotRoot[slot] = root;
    this.slotMode[slot] = mode;
    this.slotUsed[slot] = ++this.slotClock;
    this.asidSlot = slot;
  }

  /**
   * sfence.vma with an address: drop that page's entries. An entry made from
   * a superpage stands for a whole region that a fence of any address in it
   * must drop, so a fence inside a 1 GiB region holding such entries flushes
   * everything (the kernel's linear map is in superpages; user pages are not).
   */
  flushTlbPage(va: number, asid = -1): void {
    this.flushTlbVpn(Math.floor(va / 4096), asid);
  }

  /** flushTlbPage by page number (exact for Sv57's wide pages too, whose tag is vpn + 0.5). */
  flushTlbVpn(vpn: number, asid = -1): void {
    const wide = vpn + 0.5;
    const giga = Math.floor(vpn / 262144);
    let whole = this.superCount < 0;
    for (let i = 0; i < this.superCount; i++) if (this.superGiga[i] === giga) whole = true;
    if (whole) return asid < 0 ? this.flushTlb() : this.flushTlbAsid(asid);
    const idx = vpn & TLB_MASK;
    for (let set = 0; set < TLB_SETS; set++) {
      // With an ASID: only that address space's sets (set 0 is the identity map).
      if (asid >= 0 && (set === 0 || this.slotAsid[((set - 1) / 3) | 0] !== asid)) continue;
      const i = set * TLB_SIZE + idx;
      if (this.fTag[i] === vpn) this.fTag[i] = NaN;
      if (this.rTag[i] === vpn || this.rTag[i] === wide) this.rTag[i] = NaN;
      if (this.wTag[i] === vpn || this.wTag[i] === wide) this.wTag[i] = NaN;
    }
    if (this.fetchVa === vpn * 4096) this.fetchVa = NaN;
  }

  /** Remember that a TLB entry for `vpn` came from a superpage (see flushTlbPage). */
  noteSuperpage(vpn: number): void {
    const giga = Math.floor(vpn / 262144);
    if (this.superCount < 0) return;
    for (let i = 0; i < this.superCount; i++) if (this.superGiga[i] === giga) return;
    if (this.superCount === this.superGiga.length) this.superCount = -1; // too many: fence = flush all
    else this.superGiga[this.superCount++] = giga;
  }

  /**
   * Recompute which TLB sets apply after a change of privilege, mstatus
   * (MPRV, MPP, SUM, MXR) or satp. Set 0 = no translation (identity); then
   * per ASID slot k: 1+3k = U, 2+3k = S with SUM clear, 3+3k = S with SUM set.
   */
  updateMode(): void {
    const ms = this.mstatus;
    let dpriv = this.privLevel;
    if (dpriv === 3 && (ms & MSTATUS.MPRV)) dpriv = (ms >>> 11) & 3;
    const fBase = this.tlbSet(this.privLevel, 0) * TLB_SIZE;
    this.dBase = this.tlbSet(dpriv, ms & MSTATUS.SUM) * TLB_SIZE;
    // The cached code page stays valid unless the fetch context changed
    // (sstatus.SIE toggles are frequent and must not cost a refetch).
    if (fBase !== this.fBase) {
      this.fBase = fBase;
      this.fetchVa = NaN;
    }
  }

  private tlbSet(priv: number, sum: number): number {
    if (priv === 3 || this.satpMode === 0) return 0;
    const base = 1 + 3 * this.asidSlot;
    if (priv === 0) return base;
    return sum ? base + 2 : base + 1;
  }

  /** Copy guest physical memory (RAM only) into buf; false if out of RAM. */
  readPhys(addr: number, buf: Uint8Array): boolean {
    const off = addr - this.ramBase;
    if (!(off >= 0 && off + buf.length <= this.ramSize)) return false;
    buf.set(this.ram8.subarray(off, off + buf.length));
    return true;
  }

  /** Copy data into guest physical memory (RAM only); false if out of RAM. */
  writePhys(addr: number, data: Uint8Array): boolean {
    const off = addr - this.ramBase;
    if (!(off >= 0 && off + data.length <= this.ramSize)) return false;
    if (this.codePages !== null && data.length > 0) {
      for (let p = off >>> 12; p <= (off + data.length - 1) >>> 12; p++) {
        if (this.codePages[p] !== 0) this.onCodeWrite!(p);
      }
    }
    this.ram8.set(data, off);
    return true;
  }

  /** Keep the last `n` pcs (n a power of two; 0 turns it off). */
  enablePcRing(n: number): void {
    if (n === 0) {
      this.pcRing = null;
      return;
    }
    if (n & (n - 1)) throw new Error("enablePcRing: n must be a power of two");
    this.pcRing = new Float64Array(n).fill(NaN);
    this.pcRingPos = 0;
  }

  /** The recorded pcs, oldest first. */
  recentPcs(): bigint[] {
    const r = this.pcRing;
    if (r === null) return [];
    const out: bigint[] = [];
    for (let i = 0; i < r.length; i++) {
      const v = r[(this.pcRingPos + i) & (r.length - 1)];
      if (!Number.isNaN(v)) out.push(BigInt.asUintN(64, BigInt(v)));
    }
    return out;
  }

  /** Set register r (1..31) from a number that is an exact integer. */
  setXNum(r: number, v: number): void {
    const hi = Math.floor(v / TWO32);
    this.xw[2 * r] = v - hi * TWO32;
    this.xw[2 * r + 1] = hi;
    this.x[0] = 0n;
  }
}
