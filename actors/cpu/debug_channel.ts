// The debug channel: one SharedArrayBuffer between the launcher's gdbstub
// (launcher/gdb/) and the cpu actor, handed to the cpu as buffer `debug`.
// The cpu never returns to its event loop while the guest runs, so a debugger
// cannot message it: it asks for a halt with a word the cpu reads once per
// batch (HALT), and while the hart is halted the cpu serves one request at a
// time from a mailbox (REQ_SEQ / REPLY_SEQ, a JSON payload: the control path
// only, tens of requests per stop). The launcher side never blocks: it waits
// with Atomics.waitAsync. Layout and rules: docs/gdb.md.
// Read next: actors/cpu/debugger.ts (the cpu's side), launcher/gdb/server.ts.

/** Magic word ("AVMD") and layout version. */
export const DEBUG_MAGIC = 0x41564d44;
export const DEBUG_VERSION = 1;

/** Int32 word indexes. */
export const DBG = {
  MAGIC: 0,
  VERSION: 1,
  /** Set to 1 by the gdbstub (then it wakes the cpu): halt at the next batch boundary. */
  HALT: 2,
  /** Bumped by the cpu each time the hart halts (a breakpoint, a step, a halt request). */
  STOP_SEQ: 3,
  /** Why the hart last halted: a STOP value. */
  STOP_WHY: 4,
  /** 1 while the hart is halted and the cpu serves requests, else 0. */
  HALTED: 5,
  /** Bumped by the gdbstub after it wrote a request; the cpu waits on it while halted. */
  REQ_SEQ: 6,
  /** Set by the cpu to the REQ_SEQ it answered, after writing the reply. */
  REPLY_SEQ: 7,
  /** Byte length of the payload (request or reply) at PAYLOAD. */
  LEN: 8,
  /** 1 once the cpu serves this channel (a swapped cpu that does not leaves it 0). */
  SERVED: 9,
} as const;

/** Values of DBG.STOP_WHY. */
export const STOP = {
  /** Halted before the first instruction (--gdb-wait). */
  START: 1,
  /** The gdbstub asked (a debugger attached, Ctrl-C). */
  REQUESTED: 2,
  /** A breakpoint (software or hardware: both are a pc compare). */
  BREAKPOINT: 3,
  /** A single step finished. */
  STEP: 4,
  /** A watchpoint: the access stopped before its instruction (which one: request stopInfo). */
  WATCHPOINT: 5,
} as const;

/** Byte offset and size of the payload area. */
export const PAYLOAD = 64;
export const DEBUG_BYTES = 256 * 1024;
export const PAYLOAD_MAX = DEBUG_BYTES - PAYLOAD;

/** What the gdbstub asks the halted cpu. Numbers that may pass 2^53 travel as hex strings. */
export type DebugRequest =
  | { op: "regs" }
  | { op: "getReg"; n: number }
  | { op: "setReg"; n: number; value: string }
  | { op: "read"; addr: string; len: number }
  | { op: "write"; addr: string; data: string }
  | { op: "breakpoints"; addrs: string[] }
  /** kind: 1 write, 2 read, 3 either (cpu/debug.ts WATCH_*). */
  | { op: "watchpoints"; list: { addr: string; len: number; kind: number }[] }
  /** After a WATCHPOINT stop: which one (its index in the last list), in `values[0]`. */
  | { op: "stopInfo" }
  | { op: "step" }
  | { op: "resume" }
  /**
   * The whole hart (cpu/hart_state.ts) and the guest's time when it halted,
   * for a machine snapshot (launcher/snapshot.ts); the control channel's
   * pause asks through its own channel, never the gdbstub's.
   */
  | { op: "hartState" };

/** The cpu's answer: `ok` false carries `error`. */
export interface DebugReply {
  ok: boolean;
  error?: string;
  /** regs: x0..x31 and pc; getReg: one value; read: the bytes — all as hex. */
  values?: string[];
  data?: string;
  /** step, resume: the hart stopped for good (the guest's fate): no more requests. */
  ended?: boolean;
  /** hartState: the hart (a HartState) and the guest's time at the halt, in ticks (decimal). */
  state?: unknown;
  time?: string;
  /** hartState in deterministic mode: what the mode keeps beside the hart (DeterministicState). */
  deterministic?: unknown;
}

/** A fresh channel. */
export function createDebugChannel(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(DEBUG_BYTES);
  const w = new Int32Array(sab);
  w[DBG.MAGIC] = DEBUG_MAGIC;
  w[DBG.VERSION] = DEBUG_VERSION;
  return sab;
}

/** Open a channel handed over; throws a clear error on a mismatch. */
export function openDebugChannel(sab: SharedArrayBuffer): Int32Array {
  const w = new Int32Array(sab);
  if (w[DBG.MAGIC] !== DEBUG_MAGIC || w[DBG.VERSION] !== DEBUG_VERSION) {
    throw new Error(`debug channel mismatch: magic ${w[DBG.MAGIC].toString(16)}`);
  }
  return w;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Put a JSON payload in the channel; false if it does not fit. */
export function writePayload(sab: SharedArrayBuffer, value: unknown): boolean {
  const bytes = enc.encode(JSON.stringify(value));
  if (bytes.length > PAYLOAD_MAX) return false;
  new Uint8Array(sab, PAYLOAD, bytes.length).set(bytes);
  Atomics.store(new Int32Array(sab), DBG.LEN, bytes.length);
  return true;
}

/** The JSON payload in the channel. */
export function readPayload<T>(sab: SharedArrayBuffer): T {
  const n = Atomics.load(new Int32Array(sab), DBG.LEN);
  // Copy out of shared memory: TextDecoder refuses a shared view.
  return JSON.parse(dec.decode(new Uint8Array(sab, PAYLOAD, n).slice())) as T;
}
