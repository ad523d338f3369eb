// The hart on the timeline (--trace, docs/trace.md): run and wfi spans on the
// "hart <id>" track, recorded between batches; trap spans (entry to mret/sret)
// and SBI calls on "hart <id> traps" (one pair per hart with --smp), through the hart's onTrap hooks and a
// wrapper around the ecall handler; and the cpu actor's share of the arrows:
// a queue notify, an interrupt claimed and completed, a timer armed. Built
// only when the worker has a tracer, so an untraced run pays nothing here.
// Read next: lib/trace.ts (the records), devices/virtio/device.ts (the other end of a notify).

import { type EventDef, TBOARD, traceNow, type Tracer } from "../../lib/trace.ts";
import type { Hart } from "../../cpu/hart.ts";
import { sbiExtensions } from "./sbi.ts";

const HART = "hart 0";
const TRAPS = "hart 0 traps";
const RUN: EventDef = {
  name: "run",
  cat: "hart",
  ph: "X",
  track: HART,
  args: ["instret", "instructions"],
};
const WFI: EventDef = { name: "wfi", cat: "hart", ph: "X", track: HART, args: ["instret"] };
const FIRST: EventDef = {
  name: "first instruction",
  cat: "milestone",
  ph: "i",
  track: HART,
  args: ["pc"],
};
const NOTIFY: EventDef = { name: "notify", cat: "virtio", ph: "i", args: ["slot", "queue"] };
const CLAIM: EventDef = { name: "claim", cat: "irq", ph: "i", args: ["source"] };
const COMPLETE: EventDef = { name: "complete", cat: "irq", ph: "i", args: ["source"] };
const IRQ_END: EventDef = { name: "irq", cat: "irq", ph: "e", args: ["source"] };
const ARM: EventDef = { name: "timer arm", cat: "timer", ph: "i", args: ["deadline"] };

/** Exception and interrupt names by cause (the privileged spec's table). */
const EXCEPTIONS = [
  "misaligned fetch",
  "fetch access",
  "illegal instruction",
  "breakpoint",
  "misaligned load",
  "load access",
  "misaligned store",
  "store access",
  "ecall from U",
  "ecall from S",
  "",
  "ecall from M",
  "fetch page fault",
  "load page fault",
  "",
  "store page fault",
];
const INTERRUPTS = ["", "SSI", "", "MSI", "", "STI", "", "MTI", "", "SEI", "", "MEI"];

/** Open traps remembered (Linux nests two or three; the rest never returned). */
const MAX_DEPTH = 16;

/** The cpu actor's tracing, hung on one hart. */
export class HartTrace {
  readonly #t: Tracer;
  readonly #hart: Hart;
  readonly #trapStart = new Float64Array(MAX_DEPTH);
  readonly #trapDef: (EventDef | null)[] = new Array(MAX_DEPTH).fill(null);
  readonly #trapCause = new Float64Array(MAX_DEPTH);
  readonly #trapEpc = new Float64Array(MAX_DEPTH);
  readonly #trapDefs = new Map<number, EventDef>();
  readonly #sbiNames = new Map<number, string>();
  #depth = 0;
  #runStart = 0;
  #runInstret = 0;
  #first = true;
  /** This hart's tracks: hart 0's are the constants above; another hart's, copies named for it. */
  readonly #run: EventDef;
  readonly #wfi: EventDef;
  readonly #firstDef: EventDef;
  readonly #traps: string;

  constructor(t: Tracer, hart: Hart) {
    this.#t = t;
    this.#hart = hart;
    const id = hart.hartId;
    const track = id === 0 ? HART : `hart ${id}`;
    this.#run = id === 0 ? RUN : { ...RUN, track };
    this.#wfi = id === 0 ? WFI : { ...WFI, track };
    this.#firstDef = id === 0 ? FIRST : { ...FIRST, track };
    this.#traps = id === 0 ? TRAPS : `hart ${id} traps`;
    for (const [eid, e] of sbiExtensions()) this.#sbiNames.set(eid, e.name);
    hart.onTrap = (cause, intr, epc) => this.#trap(cause, intr, epc);
    hart.onTrapReturn = () => this.#trapReturn();
  }

  /** Wrap the ecall handler: each SBI call a slice named by its extension. */
  wrapEcall(
    fn: ((hart: Hart, fromPriv: number) => boolean) | null,
  ): ((hart: Hart, fromPriv: number) => boolean) | null {
    if (fn === null) return null;
    return (hart, fromPriv) => {
      const t0 = traceNow();
      const eid = Number(BigInt.asUintN(32, hart.x[17]));
      const fid = Number(BigInt.asUintN(32, hart.x[16]));
      const handled = fn(hart, fromPriv);
      if (!handled) return false; // not an SBI call (a user ecall): the trap span shows it
      const name = `sbi ${this.#sbiNames.get(eid) ?? `0x${eid.toString(16)}`}`;
      const def = this.#t.named(name, {
        cat: "sbi",
        ph: "X",
        track: this.#traps,
        args: ["eid", "fid", "error"],
      });
      this.#t.record(def, t0, traceNow(), 0, 0, 0, eid, fid, Number(hart.x[10]));
      return handled;
    };
  }

  /** A batch is about to run. */
  beforeBatch(): void {
    if (this.#runStart === 0) {
      this.#runStart = traceNow();
      this.#runInstret = this.#hart.instretN;
    }
    if (this.#first) {
      this.#first = false;
      this.#t.instant(this.#firstDef, this.#hart.pcN);
    }
  }

  /** The hart goes to sleep in wfi (or stops): the run span ends here. */
  endRun(): void {
    if (this.#runStart === 0) return;
    const n = this.#hart.instretN;
    this.#t.slice(this.#run, this.#runStart, this.#runInstret, n - this.#runInstret);
    this.#runStart = 0;
  }

  /** The hart slept in wfi from `start` until now. */
  wfi(start: number): void {
    this.#t.slice(this.#wfi, start, this.#hart.instretN);
  }

  /** The guest stored QueueNotify on slot `slot` (PLIC source `irq`). */
  notify(irq: number, slot: number, q: number): void {
    const flow = this.#t.notified(irq, q);
    const now = traceNow();
    this.#t.record(NOTIFY, now, now, 0, flow, 0, slot, q);
  }

  /** The guest claimed `src` (0: nothing pending). */
  claim(src: number): void {
    if (src <= 0 || src >= 64) return;
    const id = Atomics.load(this.#t.board, TBOARD.IRQ_SPAN + src);
    if (id === 0) return;
    const now = traceNow();
    this.#t.record(CLAIM, now, now, id, id, 0, src);
  }

  /** The guest completed `src`: the interrupt's span and arrow end. */
  complete(src: number): void {
    if (src <= 0 || src >= 64) return;
    const id = Atomics.exchange(this.#t.board, TBOARD.IRQ_SPAN + src, 0);
    if (id === 0) return;
    const now = traceNow();
    this.#t.record(COMPLETE, now, now, id, 0, 0, src);
    this.#t.record(IRQ_END, now, now, 0, 0, id, src);
  }

  /** SBI set_timer: an arrow to the waker's fire; a deadline not yet fired is retired here. */
  armTimer(deadline: number): void {
    const id = this.#t.flowId();
    const old = Atomics.exchange(this.#t.board, TBOARD.TIMER_FLOW, id);
    const now = traceNow();
    this.#t.record(ARM, now, now, old, id, 0, deadline);
  }

  #trap(cause: number, intr: boolean, epc: number): void {
    if (this.#depth === MAX_DEPTH) {
      // Full of traps that never returned (see #trapReturn): forget the oldest.
      this.#trapStart.copyWithin(0, 1);
      this.#trapCause.copyWithin(0, 1);
      this.#trapEpc.copyWithin(0, 1);
      this.#trapDef.copyWithin(0, 1);
      this.#depth--;
    }
    const d = this.#depth++;
    const key = intr ? cause + 64 : cause;
    let def = this.#trapDefs.get(key);
    if (!def) {
      const what = (intr ? INTERRUPTS[cause] : EXCEPTIONS[cause]) || `cause ${cause}`;
      def = {
        name: `${intr ? "interrupt" : "trap"} ${what}`,
        cat: "trap",
        ph: "X",
        track: this.#traps,
        args: ["cause", "epc", "instret"],
      };
      this.#trapDefs.set(key, def);
    }
    this.#trapDef[d] = def;
    this.#trapStart[d] = traceNow();
    this.#trapCause[d] = key;
    this.#trapEpc[d] = epc;
  }

  /**
   * An mret/sret: it ends the newest open trap it returns to (pc = its epc,
   * or epc + 4 after an ecall). Traps above that one never returned here (the
   * kernel switched tasks, or turned on the MMU through a trap) and are
   * dropped undrawn; a return to no open trap (a new task's first entry to
   * user mode) ends nothing. So the spans drawn always nest.
   */
  #trapReturn(): void {
    const pc = this.#hart.pcN;
    for (let d = this.#depth - 1; d >= 0; d--) {
      const epc = this.#trapEpc[d];
      if (pc !== epc && pc !== epc + 4) continue;
      this.#depth = d;
      this.#t.record(
        this.#trapDef[d]!,
        this.#trapStart[d],
        traceNow(),
        0,
        0,
        0,
        this.#trapCause[d],
        epc,
        this.#hart.instretN,
      );
      return;
    }
  }

  /** The run is over: close the run span (traps still open are not drawn). */
  finish(): void {
    this.endRun();
    this.#depth = 0;
  }
}
