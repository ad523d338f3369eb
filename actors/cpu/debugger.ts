// The cpu's side of the gdbstub: when the hart halts (a breakpoint, the end
// of a single step, a halt the gdbstub asked for, --gdb-wait before the first
// instruction), the cpu actor calls halt() and serves the debugger's requests
// from the debug channel (actors/cpu/debug_channel.ts) until it resumes —
// registers, memory through the hart's translation, the breakpoint list,
// single steps — all on the hart's own thread, so nothing races the guest.
// While halted the cpu counts as idle for the watchdog and the guest's clock
// stands still, so a long look at a breakpoint does not end in RCU stall
// warnings. Read next: launcher/gdb/server.ts (the other side), cpu/debug.ts.

import type { Hart } from "../../cpu/hart.ts";
import { saveHart } from "../../cpu/hart_state.ts";
import {
  GDB_REG,
  readRegister,
  readVirtual,
  setBreakpoints,
  setWatchpoints,
  writeRegister,
  writeVirtual,
} from "../../cpu/debug.ts";
import { cpuBeat, CTL, CTL64, guestTimeTicks, setClockSkew } from "../../machine/control.ts";
import {
  DBG,
  type DebugReply,
  type DebugRequest,
  openDebugChannel,
  readPayload,
  STOP,
  writePayload,
} from "./debug_channel.ts";

const hex = (v: bigint) => BigInt.asUintN(64, v).toString(16);
/** Largest memory access one request may make (the gdbstub asks for less). */
const MAX_ACCESS = 64 * 1024;

export class CpuDebugger {
  readonly #w: Int32Array;
  readonly #sab: SharedArrayBuffer;
  readonly #ctl: Int32Array;
  readonly #ctl64: BigInt64Array;
  readonly #control: SharedArrayBuffer;
  /** The watchpoint that caused the last stop, or -1. */
  #lastWatch = -1;
  /** The guest's time (ticks, with the clock skew) when the hart last halted. */
  #haltedAt = 0n;

  /** Deterministic mode: its state beside the hart, for a snapshot (DeterministicCpu.snapshotState). */
  readonly #extraState: (() => unknown) | null;

  constructor(
    sab: SharedArrayBuffer,
    control: SharedArrayBuffer,
    private readonly hart: Hart,
    extraState: (() => unknown) | null = null,
  ) {
    this.#extraState = extraState;
    this.#sab = sab;
    this.#w = openDebugChannel(sab);
    this.#control = control;
    this.#ctl = new Int32Array(control);
    this.#ctl64 = new BigInt64Array(control);
    Atomics.store(this.#w, DBG.SERVED, 1);
  }

  /** Read once per batch: the gdbstub wants the hart halted. */
  get haltRequested(): boolean {
    return Atomics.load(this.#w, DBG.HALT) !== 0;
  }

  /**
   * "The debugger needs the interpreter": true while breakpoints are set,
   * because only the interpreter's loop (cpu/execute.ts) compares the pc. A
   * run loop with a translator (cpu/jit/) checks this once per batch and
   * falls back to hart.run(); single steps always run on the interpreter.
   */
  get needsInterpreter(): boolean {
    return this.hart.breakPcs !== null;
  }

  /**
   * Halt the hart and serve the debugger until it resumes or the machine
   * stops (CTL.STOP, or the guest's fate reached during a step: then
   * hart.stopRequested is set and the caller's next run() returns RUN_STOP).
   */
  halt(why: number): void {
    const w = this.#w, ctl = this.#ctl;
    this.#lastWatch = this.hart.watchHitIndex;
    this.hart.watchHitIndex = -1;
    if (why === STOP.BREAKPOINT && this.#lastWatch >= 0) why = STOP.WATCHPOINT;
    const frozeAt = guestTimeTicks(this.#control);
    this.#haltedAt = BigInt(frozeAt) + Atomics.load(this.#ctl64, CTL64.CLOCK_SKEW / 8);
    Atomics.store(w, DBG.HALT, 0);
    // HALTED before the stop is announced: the gdbstub's first request follows at once.
    Atomics.store(w, DBG.HALTED, 1);
    this.#stopped(why);
    Atomics.store(ctl, CTL.CPU_IDLE, 1); // the watchdog owes a halted hart no beat
    for (;;) {
      if (Atomics.load(ctl, CTL.STOP) !== 0) break;
      const seq = Atomics.load(w, DBG.REQ_SEQ);
      if (seq === Atomics.load(w, DBG.REPLY_SEQ)) {
        // Bounded: a stop request from the launcher arrives on CTL.STOP, not here.
        Atomics.wait(w, DBG.REQ_SEQ, seq, 100);
        continue;
      }
      let req: DebugRequest;
      try {
        req = readPayload<DebugRequest>(this.#sab);
      } catch {
        this.#reply(seq, { ok: false, error: "unreadable request" });
        continue;
      }
      const r = this.#serve(req);
      this.#reply(seq, r);
      if (r.ended || (req.op === "resume" && r.ok)) break;
    }
    Atomics.store(w, DBG.HALTED, 0);
    // The guest's clock stood still while halted: take the pause out of its time.
    const paused = BigInt(guestTimeTicks(this.#control) - frozeAt);
    const slot = CTL64.CLOCK_SKEW / 8;
    setClockSkew(ctl, Atomics.load(this.#ctl64, slot) - paused);
    Atomics.store(ctl, CTL.CPU_IDLE, 0);
    cpuBeat(ctl);
  }

  #stopped(why: number): void {
    Atomics.store(this.#w, DBG.STOP_WHY, why);
    Atomics.add(this.#w, DBG.STOP_SEQ, 1);
    Atomics.notify(this.#w, DBG.STOP_SEQ);
  }

  #reply(seq: number, r: DebugReply): void {
    if (!writePayload(this.#sab, r)) writePayload(this.#sab, { ok: false, error: "reply too big" });
    Atomics.store(this.#w, DBG.REPLY_SEQ, seq);
    Atomics.notify(this.#w, DBG.REPLY_SEQ);
  }

  #serve(req: DebugRequest): DebugReply {
    const h = this.hart;
    const bad = (error: string): DebugReply => ({ ok: false, error });
    switch (req.op) {
      case "regs": {
        const values: string[] = [];
        for (let n = 0; n <= GDB_REG.PC; n++) values.push(hex(readRegister(h, n)!));
        return { ok: true, values };
      }
      case "getReg": {
        const v = Number.isInteger(req.n) ? readRegister(h, req.n) : null;
        return v === null ? bad(`no register ${req.n}`) : { ok: true, values: [hex(v)] };
      }
      case "setReg": {
        const v = parseHex(req.value);
        if (v === null || !Number.isInteger(req.n)) return bad("bad register write");
        return writeRegister(h, req.n, v) ? { ok: true } : bad(`cannot write register ${req.n}`);
      }
      case "read": {
        const a = parseHex(req.addr);
        if (a === null || !Number.isInteger(req.len) || req.len < 0 || req.len > MAX_ACCESS) {
          return bad("bad read");
        }
        const data = readVirtual(h, a, req.len);
        return data === null ? bad("unmapped") : { ok: true, data: toHex(data) };
      }
      case "write": {
        const a = parseHex(req.addr);
        const data = typeof req.data === "string" ? fromHex(req.data) : null;
        if (a === null || data === null || data.length > MAX_ACCESS) return bad("bad write");
        return writeVirtual(h, a, data) ? { ok: true } : bad("unmapped");
      }
      case "breakpoints": {
        const addrs = Array.isArray(req.addrs) ? req.addrs.map(parseHex) : [null];
        if (addrs.some((a) => a === null)) return bad("bad breakpoint list");
        setBreakpoints(h, addrs as bigint[]);
        return { ok: true };
      }
      case "watchpoints": {
        const list = Array.isArray(req.list) ? req.list : [];
        const parsed = list.map((x) => ({
          addr: parseHex(x?.addr),
          len: x?.len,
          kind: x?.kind,
        }));
        if (
          !Array.isArray(req.list) ||
          parsed.some((x) =>
            x.addr === null || !Number.isInteger(x.len) || x.len < 1 || x.len > 4096 ||
            ![1, 2, 3].includes(x.kind)
          )
        ) return bad("bad watchpoint list");
        setWatchpoints(h, parsed as { addr: bigint; len: number; kind: number }[]);
        return { ok: true };
      }
      case "stopInfo":
        return { ok: true, values: [String(this.#lastWatch)] };
      case "step": {
        // One instruction with interrupts held off, as QEMU steps by default:
        // a step lands on the next instruction, not in the timer handler.
        h.externalMip = 0;
        const poll = h.pollInterrupts; // (which would bring the lines back)
        h.pollInterrupts = null;
        h.breakSkip = h.pcN; // a breakpoint under the pc does not stop its own step
        const saved = h.breakPcs;
        // No breakpoint compare; with watchpoints an empty list keeps the loop's debug test on.
        h.breakPcs = h.watches !== null ? new Float64Array(0) : null;
        h.run(1);
        h.pollInterrupts = poll;
        h.breakPcs = saved;
        if (h.watchHitIndex >= 0) {
          // The step's access hit a watchpoint: stopped before it, as a continue would.
          this.#lastWatch = h.watchHitIndex;
          h.watchHitIndex = -1;
          this.#stopped(STOP.WATCHPOINT);
          return { ok: true };
        }
        this.#lastWatch = -1;
        h.externalMip = Atomics.load(this.#ctl, CTL.MIP);
        if (h.stopRequested) return { ok: true, ended: true };
        this.#stopped(STOP.STEP);
        return { ok: true };
      }
      case "hartState":
        return {
          ok: true,
          state: saveHart(h),
          time: String(this.#haltedAt),
          ...(this.#extraState ? { deterministic: this.#extraState() } : {}),
        };
      case "resume":
        // Passing over a breakpoint under the pc, as the resumed guest must.
        h.breakSkip = h.pcN;
        return { ok: true };
      default: {
        const _: never = req;
        return bad(`unknown request ${JSON.stringify(_)}`);
      }
    }
  }
}

function parseHex(s: unknown): bigint | null {
  if (typeof s !== "string" || !/^[0-9a-fA-F]{1,16}$/.test(s)) return null;
  return BigInt("0x" + s);
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
