// A logging interrupt controller: the built-in PLIC gateway, plus a log of
// every interrupt it raises and every claim it sees. Claims happen in the cpu
// (the PLIC registers, ADR 0001), so the logger learns of them from the shared
// state: a source it raised that is no longer pending was claimed (only a
// claim clears a pending bit). It looks at every doorbell — the guest's
// acknowledgement lowers the device's line and rings it — and at least every
// 10 ms. Lines go to $ACTORVM_IRQ_LOG if set; the totals are reported at stop.
// Protocol: actors/irq/protocol.ts; worker: examples/irq_logger.worker.ts.
// Read next: devices/plic.ts (PlicGateway, updateLines).

import type { ActorHandlers } from "../actors/runtime/protocol.ts";
import { CTL, openControlBlock } from "../machine/control.ts";
import { PLIC_NDEV } from "../machine/memmap.ts";
import { PLIC, PlicGateway } from "../devices/plic.ts";
import type { IrqProtocol } from "../actors/irq/protocol.ts";

export class LoggingGateway extends PlicGateway {
  readonly raised = new Array<number>(PLIC_NDEV + 1).fill(0);
  readonly claimed = new Array<number>(PLIC_NDEV + 1).fill(0);
  /** Sources we raised and have not yet seen claimed. */
  readonly #out = new Set<number>();
  constructor(
    plic: SharedArrayBuffer,
    control: SharedArrayBuffer,
    readonly line: (s: string) => void,
  ) {
    super(plic, control);
  }

  /** Raised sources no longer pending: claimed since the last look. */
  lookForClaims(): void {
    if (this.#out.size === 0) return;
    const gone: number[] = [];
    this.lock();
    try {
      for (const src of this.#out) if (!this.bit(PLIC.PENDING, src)) gone.push(src);
    } finally {
      this.unlock();
    }
    for (const src of gone) {
      this.#out.delete(src);
      this.claimed[src]++;
      this.line(`claim ${src}`);
    }
  }

  override updateLines(): number[] {
    this.lookForClaims();
    const raised = super.updateLines();
    for (const src of raised) {
      this.raised[src]++;
      this.#out.add(src);
      this.line(`raise ${src}`);
    }
    return raised;
  }
}

/** The irq role's handlers: the logging gateway, its poll, and the totals at stop. */
export function irqLoggerHandlers(): ActorHandlers<IrqProtocol> {
  let gateway: LoggingGateway | null = null;
  let poll: ReturnType<typeof setInterval> | undefined;
  let file: Deno.FsFile | null = null;
  const enc = new TextEncoder();
  const t0 = performance.now();
  return {
    start(ctx) {
      const path = Deno.env.get("ACTORVM_IRQ_LOG");
      if (path) file = Deno.openSync(path, { write: true, create: true, append: true });
      const line = (s: string) =>
        file?.writeSync(enc.encode(`${(performance.now() - t0).toFixed(3)} ${s}\n`));
      openControlBlock(ctx.buffers.control); // checks the magic before we touch it
      const g = new LoggingGateway(ctx.buffers.plic, ctx.buffers.control, line);
      gateway = g;
      void g.start();
      // A claim with no line change after it would wait for the next doorbell: look now and then.
      poll = setInterval(() => g.lookForClaims(), 10);
      ctx.emit({
        kind: "log",
        text: `irq logger: started (log: ${path ?? "none"}, doorbell ${CTL.IRQ_DOORBELL})`,
      });
    },
    request: {
      stats: () => ({ raised: [...(gateway?.raised ?? [])] }),
      // Machine snapshots: like the built-in irq actor, all its state is shared memory.
      snapshot: () => ({}),
      thaw: () => {},
    },
    cast: {},
    async stop(ctx) {
      clearInterval(poll);
      await gateway?.stop();
      gateway?.lookForClaims();
      const g = gateway!;
      const per = g.raised.map((n, src) => n ? `${src}:${n}/${g.claimed[src]}` : "")
        .filter((s) => s !== "");
      const total = (a: number[]) => a.reduce((x, y) => x + y, 0);
      ctx.emit({
        kind: "log",
        text: `irq logger: ${total(g.raised)} raised, ${
          total(g.claimed)
        } claimed (source:raised/claimed ${per.join(" ")})`,
      });
      file?.close();
    },
  };
}
