// The translator in the whole machine (cpu/jit/, docs/cpu.md "Translator"):
// guest RAM shares one WebAssembly.Memory with the hart's registers and TLBs,
// so a device bounds every access by the RAM size and no virtqueue reaches
// the hart's state; a device's write into a page that holds translated code
// (DMA, which bypasses the hart) drops that translation before it runs
// again; and Jit.run takes a pending interrupt before running, as Hart.run.
// Read next: devices/virtio/ram.ts, cpu/jit/tier.ts.

import assert from "../../../testing/assert.ts";
import { RUN_BUDGET, RUN_WFI } from "../../../cpu/hart.ts";
import { encB, encI, OP } from "../../../cpu/decode.ts";
import { createJitHart, createJitMemory, Jit } from "../../../cpu/jit/tier.ts";
import { dmaBitmapWords, GuestRam } from "../../../devices/virtio/ram.ts";
import { VirtQueue } from "../../../devices/virtio/queue.ts";
import { DriverQueue, FakeRam } from "../../../testing/virtio_driver.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";

const RAM = 1 << 20;

Deno.test("jit system: a virtqueue cannot reach the hart state that follows guest RAM", () => {
  const mem = createJitMemory(RAM);
  assert.ok(mem.buffer.byteLength > RAM, "the state lies after RAM in the same buffer");
  // The driver side may write anywhere in the buffer; the device sees only RAM.
  const driver = new FakeRam(mem.buffer);
  const dev = new GuestRam(mem.buffer, RAM_BASE, RAM);
  assert.equal(dev.size, RAM);
  assert.equal(dev.bytes.length, RAM);
  const state = RAM_BASE + mem.layout.state; // x0's guest-physical "address"
  assert.equal(dev.offset(state, 8), -1);
  assert.equal(dev.offset(RAM_BASE + RAM - 8, 16), -1, "a buffer crossing RAM's end");
  assert.equal(dev.offset(RAM_BASE + RAM - 8, 8), RAM - 8);

  const hartState = new Uint8Array(mem.buffer, mem.layout.state, 64);
  hartState.fill(0x5a);
  // A writable buffer aimed at the registers, and a readable one that would leak them.
  for (const write of [true, false]) {
    const dq = new DriverQueue(driver, 4);
    const vq = VirtQueue.create(dev, dq.layout(), { eventIdx: false, indirect: false });
    if (!(vq instanceof VirtQueue)) throw new Error(vq.detail);
    const { head } = dq.add([{ len: 32, write, data: write ? undefined : new Uint8Array(32) }]);
    new DataView(mem.buffer).setBigUint64(dq.desc + 16 * head - RAM_BASE, BigInt(state), true);
    const p = vq.pop();
    assert.ok(p.kind === "error" && p.error === "addr-outside-ram", JSON.stringify(p));
  }
  assert.ok(hartState.every((b) => b === 0x5a), "the hart state is untouched");
  // Rings placed in the state are refused too.
  const bad = VirtQueue.create(
    dev,
    { size: 4, desc: state, avail: state + 64, used: state + 128 },
    {
      eventIdx: false,
      indirect: false,
    },
  );
  assert.ok(!(bad instanceof VirtQueue) && bad.error === "ring-outside-ram");
});

/** A counted loop at RAM page 1: a2 += step, three times, then wfi. */
function loopWords(step: number): number[] {
  return [
    encI(OP.OP_IMM, 9, 0, 0, 3), //       li x9, 3
    encI(OP.OP_IMM, 12, 0, 12, step), //  loop: addi a2, a2, step
    encI(OP.OP_IMM, 9, 0, 9, -1), //      addi x9, x9, -1
    encB(1, 9, 0, -8), //                 bne x9, x0, loop
    0x10500073, //                        wfi
  ];
}

function machine(dma: boolean) {
  const mem = createJitMemory(RAM);
  const hart = createJitHart(mem, { ramBase: RAM_BASE });
  const bitmap = new SharedArrayBuffer(4 * dmaBitmapWords(RAM));
  const jit = new Jit(hart, mem, {
    threshold: 1,
    dmaDirty: dma ? new Int32Array(bitmap) : undefined,
  });
  // The device's view: RAM only, marking what it writes in the bitmap.
  const dev = new GuestRam(mem.buffer, RAM_BASE, RAM, new Int32Array(bitmap));
  const code = RAM_BASE + 0x1000;
  const put = (words: number[]) => new DataView(mem.buffer).setInt32(0x1000 + 4, words[1], true);
  new Uint8Array(mem.buffer).set(new Uint8Array(new Int32Array(loopWords(1)).buffer), 0x1000);
  const runOnce = () => {
    hart.pc = BigInt(code);
    hart.x[12] = 0n;
    for (let i = 0; i < 100; i++) if (jit.run(1000) === RUN_WFI) break;
    return hart.x[12];
  };
  return { jit, dev, put, runOnce };
}

Deno.test("jit system: a device's write into translated code drops the translation", () => {
  const { jit, dev, put, runOnce } = machine(true);
  assert.equal(runOnce(), 3n);
  assert.equal(runOnce(), 3n);
  assert.ok(jit.stats.pages >= 1 && jit.stats.entries > 0, "the loop ran translated");
  // DMA: bytes land in RAM without the hart (as a virtio-blk read does), then
  // the device marks the pages when it completes the request.
  put(loopWords(100));
  dev.noteWritten(0x1000, 4096);
  assert.equal(runOnce(), 300n, "the new code ran");
  assert.equal(jit.stats.dmaInvalidations, 1);
  // Marking pages that hold no translation costs nothing and drops nothing.
  dev.noteWritten(0x20000, 8192);
  assert.equal(runOnce(), 300n);
  assert.equal(jit.stats.dmaInvalidations, 1);
});

Deno.test("jit system: without the DMA bitmap the stale translation would run (the check matters)", () => {
  const { dev, put, runOnce } = machine(false);
  assert.equal(runOnce(), 3n);
  assert.equal(runOnce(), 3n);
  put(loopWords(100));
  dev.noteWritten(0x1000, 4096); // marked, but this translator does not look
  assert.equal(runOnce(), 3n, "stale code: what the bitmap exists to prevent");
});

Deno.test("jit system: a virtqueue completion marks the chain's writable pages", () => {
  const mem = createJitMemory(RAM);
  const bitmap = new Int32Array(dmaBitmapWords(RAM));
  const dev = new GuestRam(
    mem.buffer,
    RAM_BASE,
    RAM,
    new Int32Array(new SharedArrayBuffer(bitmap.length * 4)),
  );
  const driver = new FakeRam(mem.buffer);
  const dq = new DriverQueue(driver, 4);
  const vq = VirtQueue.create(dev, dq.layout(), { eventIdx: false, indirect: false });
  if (!(vq instanceof VirtQueue)) throw new Error(vq.detail);
  const { head } = dq.add([{ len: 8, data: new Uint8Array(8) }, { len: 5000, write: true }]);
  const p = vq.pop();
  assert.equal(p.kind, "chain");
  if (p.kind !== "chain") return;
  const w = p.chain.writable[0];
  const pages = (off: number) => (dev.dmaDirty![off >>> 17] >>> ((off >>> 12) & 31)) & 1;
  assert.equal(pages(w.off), 0, "nothing is marked before the device completes");
  vq.push(head, 5000);
  for (let off = w.off; off < w.off + w.len; off += 4096) assert.equal(pages(off), 1);
  assert.equal(pages(w.off + w.len - 1), 1);
});

Deno.test("jit system: Jit.run takes a pending enabled interrupt before running, as Hart.run", () => {
  const mem = createJitMemory(RAM);
  const hart = createJitHart(mem, { ramBase: RAM_BASE });
  const jit = new Jit(hart, mem, { threshold: 1 });
  new Uint8Array(mem.buffer).set(new Uint8Array(new Int32Array(loopWords(1)).buffer), 0x1000);
  hart.csrWrite(0x305, BigInt(RAM_BASE + 0x2000)); // mtvec
  hart.pc = BigInt(RAM_BASE + 0x1000);
  hart.csrWrite(0x304, 1n << 11n); // mie.MEIE
  hart.csrWrite(0x300, 1n << 3n); // mstatus.MIE
  hart.externalMip = 1 << 11; // MEIP
  jit.run(0); // no instruction: only what happens at entry
  assert.equal(hart.pc, BigInt(RAM_BASE + 0x2000), "at the trap vector");
  assert.equal(hart.csrRead(0x342), (1n << 63n) | 11n, "mcause: machine external interrupt");
  assert.equal(hart.csrRead(0x341), BigInt(RAM_BASE + 0x1000), "mepc: where it was going to run");
});

Deno.test("jit system: a batch that ends where the next run does not fit leaves no miss behind", () => {
  // A loop of 6-instruction runs, in batches of 997 instructions: a batch
  // rarely ends at a run's start. Run exactly (as the lockstep tests and the
  // user-mode runner do), the rest of each batch is interpreted one
  // instruction at a time and the next batch starts mid-run: a miss. Run as
  // the cpu actor does (not exact), the batch ends at the run's start instead.
  const misses = (exact: boolean) => {
    const mem = createJitMemory(RAM);
    const hart = createJitHart(mem, { ramBase: RAM_BASE });
    const jit = new Jit(hart, mem, { threshold: 1 });
    const words = [
      encI(OP.OP_IMM, 9, 0, 0, 2000), //   li x9, 2000
      encI(OP.OP_IMM, 12, 0, 12, 1), //     loop: addi a2, a2, 1
      encI(OP.OP_IMM, 13, 0, 13, 2), //     addi a3, a3, 2
      encI(OP.OP_IMM, 14, 0, 14, 3), //     addi a4, a4, 3
      encI(OP.OP_IMM, 15, 0, 15, 4), //     addi a5, a5, 4
      encI(OP.OP_IMM, 9, 0, 9, -1), //      addi x9, x9, -1
      encB(1, 9, 0, -20), //                bne x9, x0, loop
      0x10500073, //                        wfi
    ];
    new Uint8Array(mem.buffer).set(new Uint8Array(new Int32Array(words).buffer), 0x1000);
    hart.pc = BigInt(RAM_BASE + 0x1000);
    let batches = 0;
    while (jit.run(997, exact) !== RUN_WFI) if (++batches > 100) throw new Error("no wfi");
    assert.equal(hart.x[12], 2000n);
    assert.equal(hart.x[15], 8000n);
    assert.equal(hart.instretN, 1 + 2000 * 6 + 1);
    return jit.stats.noEntry;
  };
  assert.ok(misses(true) >= 5, "exact batches miss (the case this guards against)");
  assert.equal(misses(false), 0);
});

/**
 * S-mode, paging off: t0 = SIE; rdtime t1; csrs sstatus, t0; addi a0, a0, 1
 * ×3; j . (the handler: j . too: a wfi would return at once, the SSIP still
 * pending). SSI is delegated and enabled, and stvec is the trap page. The
 * "IPI" arrives during the run (inside rdtime's call-out, or before the run
 * for the interpreter) as another hart's would: a word the hart's interrupt
 * poll takes into sip, and the translator's stop word.
 */
function ipiProgram(jitOn: boolean) {
  const mem = createJitMemory(RAM);
  const sent = { ipi: 0, armed: !jitOn };
  const hart = createJitHart(mem, {
    ramBase: RAM_BASE,
    // rdtime: the moment the other hart's IPI comes in
    readTime: () => {
      if (sent.armed) {
        sent.ipi = 1;
        Atomics.store(new Int32Array(mem.buffer), jit.stopIndex, 1);
      }
      return 0n;
    },
  });
  const jit = new Jit(hart, mem, { threshold: 1 });
  const code = RAM_BASE + 0x1000, trap = RAM_BASE + 0x2000;
  const words = [
    encI(OP.OP_IMM, 5, 0, 0, 2), // li t0, SIE
    encI(OP.SYSTEM, 6, 2, 0, 0xc01), // rdtime t1
    encI(OP.SYSTEM, 0, 2, 5, 0x100), // csrs sstatus, t0
    encI(OP.OP_IMM, 10, 0, 10, 1),
    encI(OP.OP_IMM, 10, 0, 10, 1),
    encI(OP.OP_IMM, 10, 0, 10, 1),
    0x0000006f, // j .
  ];
  new Uint8Array(mem.buffer).set(new Uint8Array(new Int32Array(words).buffer), 0x1000);
  new DataView(mem.buffer).setUint32(0x2000, 0x0000006f, true); // the handler: j .
  hart.csrWrite(0x306, 7n); // mcounteren: time readable in S
  hart.csrWrite(0x303, 2n); // mideleg: SSI
  hart.csrWrite(0x304, 2n); // mie: SSIE
  hart.csrWrite(0x105, BigInt(trap)); // stvec
  hart.priv = 1;
  hart.pollInterrupts = () => {
    if (sent.ipi !== 0) {
      sent.ipi = 0;
      hart.setMipSoftware(2, true);
    }
  };
  hart.pc = BigInt(code);
  if (jitOn) {
    // Translate the page first (no IPI: it loops at the end), then start over.
    jit.run(100);
    assert.ok(jit.stats.compiles >= 1, "the page was translated");
    hart.setMipSoftware(2, false);
    hart.csrWrite(0x100, 0n);
    hart.x[10] = 0n;
    hart.pc = BigInt(code);
    sent.armed = true;
    const st = jit.run(100);
    return { hart, st, entries: jit.stats.entries, code, trap };
  }
  sent.ipi = 1; // sent before the batch: only the poll can bring it in
  return { hart, st: hart.run(100), entries: 0, code, trap };
}

for (const jitOn of [false, true]) {
  Deno.test(
    `jit system: an IPI that arrives during a batch is taken when sstatus.SIE is set (${
      jitOn ? "translated" : "interpreter"
    })`,
    () => {
      const { hart, st, code, trap } = ipiProgram(jitOn);
      assert.equal(st, RUN_BUDGET);
      assert.equal(hart.pc, BigInt(trap), "in the handler");
      assert.equal(hart.csrRead(0x142), (1n << 63n) | 1n, "scause: supervisor software interrupt");
      assert.equal(hart.csrRead(0x141), BigInt(code + 12), "sepc: right after the csrs");
      assert.equal(hart.x[10], 0n, "no instruction ran after the csrs");
    },
  );
}
