// The whole architectural state of a hart as plain data, for machine
// snapshots (launcher/snapshot.ts): x and f registers, pc, privilege, every
// CSR field the hart keeps, the counters' offsets, fflags/frm, the LR/SC
// reservation and stimecmp. Read and written field by field through the Hart
// object — never by copying the raw register region the translator shares
// (cpu/jit/tier.ts) — and a load leaves every TLB and ASID slot empty, so the
// first accesses after a restore walk the guest's page tables afresh.
// 64-bit values travel as hex strings (JSON has no BigInt).
// Read next: cpu/hart.ts (the fields), actors/cpu/debugger.ts (who calls this).

import type { Hart } from "./hart.ts";

/** Version of this record's shape; a snapshot with another is refused. */
export const HART_STATE_VERSION = 1;

/** A hart's state (hex strings are two's-complement 64-bit values). */
export interface HartState {
  version: number;
  x: string[];
  f: string[];
  frm: number;
  fflags: number;
  pc: string;
  priv: number;
  /** Number-valued fields by name (mstatus, mie, mtvec, instretN, ...). */
  n: Record<string, number>;
  /** BigInt-valued fields by name (mcause, satp, stimecmp, counter offsets, ...). */
  b: Record<string, string>;
  sstcEnabled: boolean;
  resValid: boolean;
  resAddr: number;
  pmpcfg: string[];
  pmpaddr: string[];
}

const NUMBER_FIELDS = [
  "mstatus",
  "mie",
  "mipSw",
  "mideleg",
  "medeleg",
  "mtvec",
  "stvec",
  "mepc",
  "sepc",
  "mcounteren",
  "scounteren",
  "instretN",
  "mcountinhibit",
] as const;

const BIGINT_FIELDS = [
  "mcause",
  "scause",
  "mtval",
  "stval",
  "mscratch",
  "sscratch",
  "menvcfg",
  "senvcfg",
  "satp",
  "stimecmp",
  "minstretOffset",
  "mcycleOffset",
] as const;

const hex = (v: bigint) => BigInt.asUintN(64, v).toString(16);

/** The hart's state, to be saved. The hart must be stopped between instructions. */
export function saveHart(h: Hart): HartState {
  const n: Record<string, number> = {};
  for (const k of NUMBER_FIELDS) n[k] = h[k];
  const b: Record<string, string> = {};
  for (const k of BIGINT_FIELDS) b[k] = hex(h[k]);
  return {
    version: HART_STATE_VERSION,
    x: Array.from(h.x, hex),
    f: Array.from(h.fpu.bits, hex),
    frm: h.fpu.frm,
    fflags: h.fpu.fflags,
    pc: hex(h.pc),
    priv: h.priv,
    n,
    b,
    sstcEnabled: h.sstcEnabled,
    resValid: h.resValid,
    resAddr: h.resAddr,
    pmpcfg: Array.from(h.pmpcfg, hex),
    pmpaddr: Array.from(h.pmpaddr, hex),
  };
}

/** A problem with a HartState handed to loadHart. */
export class HartStateError extends Error {
  override name = "HartStateError";
}

function big(s: unknown, what: string): bigint {
  if (typeof s !== "string" || !/^[0-9a-f]{1,16}$/.test(s)) {
    throw new HartStateError(`hart state: ${what} is not a 64-bit hex value`);
  }
  return BigInt.asIntN(64, BigInt("0x" + s));
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new HartStateError(`hart state: ${what} is not a number`);
  }
  return v;
}

function list(v: unknown, len: number, what: string): bigint[] {
  if (!Array.isArray(v) || v.length !== len) {
    throw new HartStateError(`hart state: ${what} is not ${len} values`);
  }
  return v.map((s, i) => big(s, `${what}[${i}]`));
}

/**
 * Put `s` into `h`: every field checked before any is written (a bad record
 * changes nothing), then the TLBs, ASID slots and the fetch cache emptied
 * and the translation context recomputed from satp and mstatus.
 */
export function loadHart(h: Hart, s: HartState): void {
  if (s?.version !== HART_STATE_VERSION) {
    throw new HartStateError(
      `hart state version ${s?.version}, this build reads version ${HART_STATE_VERSION}`,
    );
  }
  const x = list(s.x, 32, "x");
  const f = list(s.f, 32, "f");
  const pmpcfg = list(s.pmpcfg, h.pmpcfg.length, "pmpcfg");
  const pmpaddr = list(s.pmpaddr, h.pmpaddr.length, "pmpaddr");
  const pc = big(s.pc, "pc");
  if (s.priv !== 0 && s.priv !== 1 && s.priv !== 3) {
    throw new HartStateError(`hart state: privilege ${s.priv}`);
  }
  const n = NUMBER_FIELDS.map((k) => num(s.n?.[k], k));
  const b = BIGINT_FIELDS.map((k) => big(s.b?.[k], k));
  const frm = num(s.frm, "frm"), fflags = num(s.fflags, "fflags");
  const resAddr = num(s.resAddr, "resAddr");
  const satpMode = Number(BigInt.asUintN(64, b[BIGINT_FIELDS.indexOf("satp")]) >> 60n);
  if (
    satpMode !== 0 && satpMode !== 8 && !(satpMode === 9 && h.sv48) &&
    !(satpMode === 10 && h.sv57)
  ) {
    throw new HartStateError(
      `hart state: satp mode ${satpMode}, which this hart does not offer (--mmu=sv57 for mode 10)`,
    );
  }

  h.x.set(x);
  h.x[0] = 0n;
  h.fpu.bits.set(f);
  h.fpu.frm = frm & 7;
  h.fpu.fflags = fflags & 31;
  NUMBER_FIELDS.forEach((k, i) => h[k] = n[i]);
  BIGINT_FIELDS.forEach((k, i) => h[k] = b[i]);
  h.pmpcfg.set(pmpcfg);
  h.pmpaddr.set(pmpaddr);
  h.sstcEnabled = s.sstcEnabled === true;
  h.resValid = s.resValid === true;
  h.resAddr = resAddr;
  h.lastTrap = null;
  h.stopRequested = false;
  // satp's decoded fields, as the CSR write (cpu/csr.ts) derives them.
  const satp = BigInt.asUintN(64, h.satp);
  const mode = Number(satp >> 60n);
  const asid = Number((satp >> 44n) & 0xffffn);
  const ppn = satp & ((1n << 44n) - 1n);
  h.satpMode = mode;
  h.satpRoot = mode === 0 ? 0 : Number(ppn) * 4096;
  h.satpAsid = asid;
  // Nothing cached survives: every ASID slot free, every TLB entry invalid.
  h.slotAsid.fill(-1);
  h.slotRoot.fill(0);
  h.slotMode.fill(0);
  h.slotUsed.fill(0);
  h.asidSlot = 0;
  h.slotClock = 0;
  h.flushTlb();
  if (mode !== 0) h.selectAsidSlot(asid, h.satpRoot, mode);
  h.pc = pc;
  h.priv = s.priv; // recomputes the TLB sets for this mode
  h.updateMode();
}
