// The SBI served by the host: the guest kernel's hypercalls, as lguest's
// hcall() table was. `createSbi(host)` returns the hart's ecall hook; each
// extension is one entry in a table keyed by extension ID (semu's
// handle_sbi_ecall_* style). The hook takes S-mode ecalls only; U and M ecalls
// trap as usual. Read next: actors/cpu/cpu_actor.ts (the SbiHost it plugs in),
// docs/machine.md (the SBI table), the RISC-V SBI spec v2.0.

/** SBI error codes (a0), spec chapter 3. */
export const SBI_ERR = {
  SUCCESS: 0,
  FAILED: -1,
  NOT_SUPPORTED: -2,
  INVALID_PARAM: -3,
  DENIED: -4,
  INVALID_ADDRESS: -5,
  ALREADY_AVAILABLE: -6,
  ALREADY_STARTED: -7,
  ALREADY_STOPPED: -8,
} as const;

/** Extension IDs (a7). */
export const SBI_EXT = {
  LEGACY_SET_TIMER: 0x00,
  LEGACY_CONSOLE_PUTCHAR: 0x01,
  LEGACY_CONSOLE_GETCHAR: 0x02,
  LEGACY_CLEAR_IPI: 0x03,
  LEGACY_SEND_IPI: 0x04,
  LEGACY_REMOTE_FENCE_I: 0x05,
  LEGACY_REMOTE_SFENCE_VMA: 0x06,
  LEGACY_REMOTE_SFENCE_VMA_ASID: 0x07,
  LEGACY_SHUTDOWN: 0x08,
  BASE: 0x10,
  TIME: 0x54494d45, // "TIME"
  IPI: 0x735049, // "sPI"
  RFENCE: 0x52464e43, // "RFNC"
  HSM: 0x48534d, // "HSM"
  SRST: 0x53525354, // "SRST"
  DBCN: 0x4442434e, // "DBCN"
} as const;

/** BASE answers: spec 2.0; an implementation ID outside the registered ones ("AV"). */
export const SBI_SPEC_VERSION = (2 << 24) | 0;
export const SBI_IMPL_ID = 0x4156;
export const SBI_IMPL_VERSION = 1;
/** HSM hart states. */
export const HSM_STARTED = 0;
/** The most a single DBCN write/read moves; the guest loops for the rest (spec allows it). */
export const DBCN_CHUNK = 4096;

/** The hart fields the SBI uses (cpu/hart.ts's Hart has them all). */
export interface SbiHart {
  /** x0..x31; arguments a0..a7 are x10..x17, results go to a0 (error) and a1 (value). */
  readonly x: BigInt64Array;
  stopRequested: boolean;
  flushTlb(): void;
  csrRead(csr: number): bigint;
  csrWrite(csr: number, value: bigint): void;
}

/** What the host machine provides. */
export interface SbiHost {
  /** Bytes to the console (earlycon, DBCN, legacy putchar). */
  consoleWrite(bytes: Uint8Array): void;
  /** Up to `max` pending input bytes, or none; never blocks. */
  consoleRead(max: number): Uint8Array;
  /**
   * A new clock event, in timebase ticks: 0 .. 2^63-1, or -1n for "none"
   * (the guest's 2^64-1 and anything past 2^63 mean never). The host clears
   * STIP and arms the waker.
   */
  setTimer(deadline: bigint): void;
  /** SRST / legacy shutdown: the host records the fate and sets hart.stopRequested. */
  reset(type: "shutdown" | "cold-reboot" | "warm-reboot", reason: number): void;
  /** Copy guest physical memory (RAM only), or null if [addr, addr+len) is not all RAM. */
  readPhys(addr: number, len: number): Uint8Array | null;
  /** Write guest physical memory (RAM only); false if outside RAM. */
  writePhys(addr: number, data: Uint8Array): boolean;
  /**
   * Raise a supervisor software interrupt on the harts in `mask`, already
   * resolved against hart_mask_base: bit i = hart i (base is always 0n).
   */
  sendIpi(mask: bigint, base: bigint): void;
  /** HSM retentive suspend: sleep like wfi until an interrupt is pending. May return at once. */
  suspend?(): void;
  // With several harts (--smp, actors/cpu/smp.ts); absent on a one-hart machine.
  /** HSM hart_start of another hart: an SBI_ERR value (ALREADY_AVAILABLE if it is not stopped). */
  startHart?(hart: number, addr: bigint, opaque: bigint): number;
  /** HSM hart_stop of this hart: SUCCESS (it stops when the ecall returns) or FAILED (the last one). */
  stopHart?(): number;
  /** HSM hart_get_status of a hart that exists. */
  hartStatus?(hart: number): number;
  /**
   * RFENCE on the harts in `mask` (bit i = hart i), this one included if set:
   * fence.i (`fenceI`) or sfence.vma (any range or ASID drops the whole TLB,
   * which the spec allows). Returns when every started target has done it.
   */
  remoteFence?(mask: bigint, fenceI: boolean): void;
}

export interface SbiOptions {
  /** This hart's id (default 0). */
  hartId?: number;
  /** The machine's harts, 0..harts-1 (default 1). */
  harts?: number;
  /** Called for every S-mode ecall, for --verbose ("sbi TIME fid 0 -> 0"). */
  trace?: (line: string) => void;
}

/** One call as a handler sees it. Arguments are unsigned. */
interface Call {
  hart: SbiHart;
  host: SbiHost;
  fid: number;
  arg: bigint[]; // a0..a5
  hartId: number;
  harts: number;
}

/** [error, value] for the v0.2+ extensions. */
type Ret = [number, bigint | number];

interface Extension {
  name: string;
  /** Legacy (v0.1) calls return one value in a0, nothing in a1. */
  legacy?: boolean;
  call(c: Call): Ret;
}

const U64 = (v: bigint) => BigInt.asUintN(64, v);
const ALL_ONES = 0xffff_ffff_ffff_ffffn;
const CSR_MIP = 0x344;
const SSIP = 1n << 1n;
const ok = (value: bigint | number = 0): Ret => [SBI_ERR.SUCCESS, value];
const err = (e: number): Ret => [e, 0];

/** A deadline as the host wants it: non-negative, or -1n for never. */
function normalizeDeadline(v: bigint): bigint {
  return v >= 1n << 63n ? -1n : v;
}

/**
 * Resolve (hart_mask, hart_mask_base): null if it names a hart that does not
 * exist; otherwise whether it includes this hart.
 */
function targetsSelf(mask: bigint, base: bigint, self: number): boolean | null {
  if (base === ALL_ONES) return true;
  if (mask === 0n) return false;
  const me = BigInt(self);
  if (base > me) return null;
  const shift = me - base;
  const others = shift < 64n ? mask & ~(1n << shift) : mask;
  if (others !== 0n) return null;
  return shift < 64n && ((mask >> shift) & 1n) === 1n;
}

/**
 * Resolve (hart_mask, hart_mask_base) into a mask of hart ids (bit i = hart
 * i): null if it names a hart the machine does not have (INVALID_PARAM).
 */
function targetHarts(mask: bigint, base: bigint, harts: number): bigint | null {
  const all = (1n << BigInt(harts)) - 1n;
  if (base === ALL_ONES) return all;
  if (mask === 0n) return 0n;
  if (base >= BigInt(harts)) return null;
  const m = BigInt.asUintN(64, mask << base);
  if ((mask >> (BigInt(harts) - base)) !== 0n) return null;
  return m & all;
}

/** Guest physical address from DBCN's (lo, hi) pair; null if it cannot be ours. */
function dbcnAddr(lo: bigint, hi: bigint): number | null {
  if (hi !== 0n || lo > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(lo);
}

function raiseSelfIpi(c: Call): void {
  c.host.sendIpi(1n << BigInt(c.hartId), 0n);
}

// --- The table ------------------------------------------------------------

const TABLE = new Map<number, Extension>();

TABLE.set(SBI_EXT.BASE, {
  name: "BASE",
  call(c) {
    switch (c.fid) {
      case 0:
        return ok(SBI_SPEC_VERSION);
      case 1:
        return ok(SBI_IMPL_ID);
      case 2:
        return ok(SBI_IMPL_VERSION);
      case 3: // probe_extension
        return ok(c.arg[0] <= 0xffff_ffffn && TABLE.has(Number(c.arg[0])) ? 1 : 0);
      case 4: // mvendorid
      case 5: // marchid
      case 6: // mimpid
        return ok(0);
    }
    return err(SBI_ERR.NOT_SUPPORTED);
  },
});

TABLE.set(SBI_EXT.TIME, {
  name: "TIME",
  call(c) {
    if (c.fid !== 0) return err(SBI_ERR.NOT_SUPPORTED);
    c.host.setTimer(normalizeDeadline(c.arg[0]));
    return ok();
  },
});

TABLE.set(SBI_EXT.IPI, {
  name: "IPI",
  call(c) {
    if (c.fid !== 0) return err(SBI_ERR.NOT_SUPPORTED);
    if (c.harts > 1) {
      const mask = targetHarts(c.arg[0], c.arg[1], c.harts);
      if (mask === null) return err(SBI_ERR.INVALID_PARAM);
      if (mask !== 0n) c.host.sendIpi(mask, 0n);
      return ok();
    }
    const self = targetsSelf(c.arg[0], c.arg[1], c.hartId);
    if (self === null) return err(SBI_ERR.INVALID_PARAM);
    if (self) raiseSelfIpi(c);
    return ok();
  },
});

TABLE.set(SBI_EXT.RFENCE, {
  name: "RFENCE",
  call(c) {
    // 0 fence.i, 1 sfence.vma, 2 sfence.vma.asid; 3..6 are hypervisor fences (no H).
    if (c.fid > 2) return err(SBI_ERR.NOT_SUPPORTED);
    if (c.harts > 1 && c.host.remoteFence) {
      const mask = targetHarts(c.arg[0], c.arg[1], c.harts);
      if (mask === null) return err(SBI_ERR.INVALID_PARAM);
      if (mask !== 0n) c.host.remoteFence(mask, c.fid === 0);
      return ok();
    }
    const self = targetsSelf(c.arg[0], c.arg[1], c.hartId);
    if (self === null) return err(SBI_ERR.INVALID_PARAM);
    // The hart caches no decoded code, so fence.i has nothing to do; a
    // remote sfence.vma on our only hart flushes its whole TLB.
    if (self && c.fid !== 0) c.hart.flushTlb();
    return ok();
  },
});

TABLE.set(SBI_EXT.HSM, {
  name: "HSM",
  call(c) {
    if (c.harts > 1 && c.host.startHart && c.host.stopHart && c.host.hartStatus) {
      const h = c.arg[0];
      switch (c.fid) {
        case 0: // hart_start(hartid, start_addr, opaque)
          if (h >= BigInt(c.harts)) return err(SBI_ERR.INVALID_PARAM);
          if (
            c.arg[1] > BigInt(Number.MAX_SAFE_INTEGER) ||
            c.host.readPhys(Number(c.arg[1]), 2) === null
          ) {
            return err(SBI_ERR.INVALID_ADDRESS);
          }
          return err(c.host.startHart(Number(h), c.arg[1], c.arg[2]));
        case 1: // hart_stop: no return on success (the hart parks after this ecall)
          return err(c.host.stopHart());
        case 2: // hart_get_status(hartid)
          return h < BigInt(c.harts)
            ? ok(c.host.hartStatus(Number(h)))
            : err(SBI_ERR.INVALID_PARAM);
      }
    }
    const validHart = (h: bigint) => h === BigInt(c.hartId);
    switch (c.fid) {
      case 0: // hart_start: our only hart is running
        return err(validHart(c.arg[0]) ? SBI_ERR.ALREADY_AVAILABLE : SBI_ERR.INVALID_PARAM);
      case 1: // hart_stop: we will not stop the last hart
        return err(SBI_ERR.FAILED);
      case 2: // hart_get_status
        return validHart(c.arg[0]) ? ok(HSM_STARTED) : err(SBI_ERR.INVALID_PARAM);
      case 3: { // hart_suspend
        const type = c.arg[0];
        if (type === 0n) {
          c.host.suspend?.(); // retentive: like wfi, then return here
          return ok();
        }
        if (type > 0xffff_ffffn) return err(SBI_ERR.INVALID_PARAM);
        if (type === 0x8000_0000n) return err(SBI_ERR.NOT_SUPPORTED); // non-retentive
        const platform = (type >= 0x1000_0000n && type <= 0x7fff_ffffn) || type >= 0x9000_0000n;
        return err(platform ? SBI_ERR.NOT_SUPPORTED : SBI_ERR.INVALID_PARAM);
      }
    }
    return err(SBI_ERR.NOT_SUPPORTED);
  },
});

const RESET_TYPES = ["shutdown", "cold-reboot", "warm-reboot"] as const;

TABLE.set(SBI_EXT.SRST, {
  name: "SRST",
  call(c) {
    if (c.fid !== 0) return err(SBI_ERR.NOT_SUPPORTED);
    const [type, reason] = c.arg;
    if (type > 0xffff_ffffn || reason > 0xffff_ffffn) return err(SBI_ERR.INVALID_PARAM);
    if (type >= 0xf000_0000n) return err(SBI_ERR.NOT_SUPPORTED); // vendor types
    if (type >= 3n) return err(SBI_ERR.INVALID_PARAM);
    // Reasons: 0 none, 1 system failure; 2..0xdfffffff reserved; above, implementation/vendor.
    if (reason >= 2n && reason < 0xe000_0000n) return err(SBI_ERR.INVALID_PARAM);
    c.host.reset(RESET_TYPES[Number(type)], Number(reason));
    c.hart.stopRequested = true;
    return ok();
  },
});

TABLE.set(SBI_EXT.DBCN, {
  name: "DBCN",
  call(c) {
    switch (c.fid) {
      case 0: { // console_write(num_bytes, base_lo, base_hi)
        const addr = dbcnAddr(c.arg[1], c.arg[2]);
        if (addr === null) return err(SBI_ERR.INVALID_PARAM);
        const n = c.arg[0] < BigInt(DBCN_CHUNK) ? Number(c.arg[0]) : DBCN_CHUNK;
        const bytes = c.host.readPhys(addr, n);
        if (bytes === null) return err(SBI_ERR.INVALID_PARAM);
        c.host.consoleWrite(bytes);
        return ok(n);
      }
      case 1: { // console_read(num_bytes, base_lo, base_hi)
        const addr = dbcnAddr(c.arg[1], c.arg[2]);
        if (addr === null) return err(SBI_ERR.INVALID_PARAM);
        const n = c.arg[0] < BigInt(DBCN_CHUNK) ? Number(c.arg[0]) : DBCN_CHUNK;
        // Check the buffer before taking input, so no byte is consumed and lost.
        if (c.host.readPhys(addr, n) === null) return err(SBI_ERR.INVALID_PARAM);
        const got = c.host.consoleRead(n).subarray(0, n);
        if (!c.host.writePhys(addr, got)) return err(SBI_ERR.FAILED);
        return ok(got.length);
      }
      case 2: // console_write_byte(byte)
        c.host.consoleWrite(Uint8Array.of(Number(c.arg[0] & 0xffn)));
        return ok();
    }
    return err(SBI_ERR.NOT_SUPPORTED);
  },
});

// Legacy v0.1 calls (a7 = 0..8): one result in a0. Masks passed by pointer
// (send_ipi, remote fences) are virtual addresses we do not walk: with a
// single hart every valid target is this hart.
const legacy = (eid: number, name: string, call: (c: Call) => number) =>
  TABLE.set(eid, { name, legacy: true, call: (c) => [call(c), 0] });

legacy(SBI_EXT.LEGACY_SET_TIMER, "legacy set_timer", (c) => {
  c.host.setTimer(normalizeDeadline(c.arg[0]));
  return 0;
});
legacy(SBI_EXT.LEGACY_CONSOLE_PUTCHAR, "legacy console_putchar", (c) => {
  c.host.consoleWrite(Uint8Array.of(Number(c.arg[0] & 0xffn)));
  return 0;
});
legacy(SBI_EXT.LEGACY_CONSOLE_GETCHAR, "legacy console_getchar", (c) => {
  const b = c.host.consoleRead(1);
  return b.length ? b[0] : -1;
});
legacy(SBI_EXT.LEGACY_CLEAR_IPI, "legacy clear_ipi", (c) => {
  c.hart.csrWrite(CSR_MIP, c.hart.csrRead(CSR_MIP) & ~SSIP);
  return 0;
});
legacy(SBI_EXT.LEGACY_SEND_IPI, "legacy send_ipi", (c) => {
  raiseSelfIpi(c);
  return 0;
});
legacy(SBI_EXT.LEGACY_REMOTE_FENCE_I, "legacy remote_fence_i", () => 0);
legacy(SBI_EXT.LEGACY_REMOTE_SFENCE_VMA, "legacy remote_sfence_vma", (c) => {
  c.hart.flushTlb();
  return 0;
});
legacy(SBI_EXT.LEGACY_REMOTE_SFENCE_VMA_ASID, "legacy remote_sfence_vma_asid", (c) => {
  c.hart.flushTlb();
  return 0;
});
legacy(SBI_EXT.LEGACY_SHUTDOWN, "legacy shutdown", (c) => {
  c.host.reset("shutdown", 0);
  c.hart.stopRequested = true;
  return 0;
});

/** The extensions served, by EID (for docs, probes and tests). */
export function sbiExtensions(): ReadonlyMap<number, { name: string; legacy: boolean }> {
  return new Map([...TABLE].map(([eid, e]) => [eid, { name: e.name, legacy: !!e.legacy }]));
}

/** Build the hart's ecall hook. It handles S-mode ecalls and returns false for the rest. */
export function createSbi(
  host: SbiHost,
  opts: SbiOptions = {},
): (hart: SbiHart, fromPriv: number) => boolean {
  const hartId = opts.hartId ?? 0;
  const harts = opts.harts ?? 1;
  const trace = opts.trace;
  return (hart, fromPriv) => {
    if (fromPriv !== 1) return false;
    const x = hart.x;
    const eid = Number(U64(x[17]) & 0xffff_ffffn);
    const fid = Number(U64(x[16]) & 0xffff_ffffn);
    const ext = U64(x[17]) <= 0xffff_ffffn ? TABLE.get(eid) : undefined;
    if (!ext) {
      x[10] = BigInt(SBI_ERR.NOT_SUPPORTED);
      trace?.(`sbi eid ${hexU(x[17])} fid ${fid}: not supported`);
      return true;
    }
    const arg = [U64(x[10]), U64(x[11]), U64(x[12]), U64(x[13]), U64(x[14]), U64(x[15])];
    const [error, value] = ext.call({ hart, host, fid, arg, hartId, harts });
    x[10] = BigInt(error);
    if (!ext.legacy) x[11] = BigInt.asIntN(64, BigInt(value));
    trace?.(
      `sbi ${ext.name}${ext.legacy ? "" : ` fid ${fid}`} -> ${error}` +
        (ext.legacy ? "" : ` ${value}`),
    );
    return true;
  };
}

const hexU = (v: bigint) => "0x" + U64(v).toString(16);
