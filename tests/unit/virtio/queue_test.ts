// The split virtqueue against a fake guest RAM: chains, indirect tables,
// event-idx and the no-interrupt/no-notify flags, 16-bit index wrap-around,
// resuming from the used index, and every malformed case by its name.
// Read next: devices/virtio/queue.ts.

import assert from "../../../testing/assert.ts";
import {
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_USED_F_NO_NOTIFY,
} from "../../../devices/virtio/constants.ts";
import {
  type Chain,
  gatherBytes,
  type PopResult,
  type QueueFeatures,
  scatterBytes,
  sliceSegments,
  VirtQueue,
} from "../../../devices/virtio/queue.ts";
import { DriverQueue, FakeRam } from "../../../testing/virtio_driver.ts";

const PLAIN: QueueFeatures = { eventIdx: false, indirect: false };
const ALL: QueueFeatures = { eventIdx: true, indirect: true };

function setup(size = 8, f: QueueFeatures = ALL) {
  const mem = new FakeRam(1 << 16);
  const dq = new DriverQueue(mem, size);
  const vq = VirtQueue.create(mem.ram, dq.layout(), f);
  if (!(vq instanceof VirtQueue)) throw new Error(vq.detail);
  return { mem, dq, vq };
}

function chainOf(r: PopResult): Chain {
  if (r.kind !== "chain") throw new Error(`expected a chain, got ${JSON.stringify(r)}`);
  return r.chain;
}

function errorOf(r: PopResult): string {
  if (r.kind !== "error") throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.error;
}

Deno.test("queue: a chain of readable then writable buffers", () => {
  const { mem, dq, vq } = setup();
  assert.deepEqual(vq.pop().kind, "empty");
  const { head, addrs } = dq.add([
    { len: 16, data: new Uint8Array(16).fill(7) },
    { len: 100, data: new Uint8Array(100).fill(8) },
    { len: 200, write: true },
    { len: 1, write: true },
  ]);
  assert.ok(vq.hasPending());
  const c = chainOf(vq.pop());
  assert.deepEqual(c.head, head);
  assert.deepEqual(c.readable.map((s) => s.off + mem.base), [addrs[0], addrs[1]]);
  assert.deepEqual(c.writable.map((s) => s.len), [200, 1]);
  assert.deepEqual([c.readLen, c.writeLen], [116, 201]);
  assert.deepEqual(Array.from(gatherBytes(mem.ram, c.readable, 14, 4)), [7, 7, 8, 8]);
  assert.deepEqual(
    scatterBytes(mem.ram, c.writable, 199, new Uint8Array([1, 2, 3])),
    2,
    "stops at the end",
  );
  assert.deepEqual(Array.from(mem.read(addrs[2] + 199, 1)), [1]);
  assert.deepEqual(Array.from(mem.read(addrs[3], 1)), [2]);
  assert.deepEqual(vq.pop().kind, "empty");
  // push publishes the element, then the index.
  assert.ok(vq.push(head, 201));
  assert.deepEqual(dq.usedIdx(), 1);
  assert.deepEqual(dq.usedElem(0), { id: head, len: 201 });
});

Deno.test("queue: an indirect table after direct descriptors", () => {
  const { dq, vq } = setup();
  const { head } = dq.add([{ len: 16 }, { len: 512 }, { len: 1, write: true }], { indirect: true });
  const c = chainOf(vq.pop());
  assert.deepEqual(c.head, head);
  assert.deepEqual([c.readable.length, c.writable.length, c.readLen, c.writeLen], [2, 1, 528, 1]);
  // A direct descriptor followed by one INDIRECT descriptor (§2.7.5.3.1).
  const table = dq.mem.alloc(32, 16);
  const b = dq.mem.alloc(64);
  dq.setDesc(0, { addr: b, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 1 }, table);
  dq.setDesc(1, { addr: b + 8, len: 8, flags: VIRTQ_DESC_F_WRITE, next: 0 }, table);
  dq.setDesc(5, { addr: b + 32, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 6 });
  dq.setDesc(6, { addr: table, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
  dq.publish(5);
  const c2 = chainOf(vq.pop());
  assert.deepEqual([c2.readLen, c2.writeLen], [12, 8]);
});

Deno.test("queue: event-idx decides interrupts and keeps avail_event current", () => {
  const { dq, vq } = setup();
  const a = dq.add([{ len: 4, write: true }]).head;
  const b = dq.add([{ len: 4, write: true }]).head;
  chainOf(vq.pop());
  chainOf(vq.pop());
  assert.deepEqual(vq.pop().kind, "empty");
  assert.deepEqual(dq.availEvent(), 2, "empty pop asks to hear about avail idx 2");
  dq.setUsedEvent(1); // the driver wants an interrupt when used idx passes 1
  assert.deepEqual(vq.push(a, 4), false, "0 -> 1 does not cross used_event 1");
  assert.deepEqual(vq.push(b, 4), true, "1 -> 2 crosses it");
});

Deno.test("queue: staged elements appear with one index store; unpop gives chains back", () => {
  const { dq, vq } = setup();
  const heads = [0, 1, 2, 3].map(() => dq.add([{ len: 4, write: true }]).head);
  // Two taken, then given back: the next pops take the same chains again.
  chainOf(vq.pop());
  chainOf(vq.pop());
  vq.unpop(2);
  assert.deepEqual(vq.lastAvail, 0);
  const got = [0, 1, 2].map(() => chainOf(vq.pop()).head);
  assert.deepEqual(got, heads.slice(0, 3));
  // Three staged: the driver sees none of them until publish().
  dq.setUsedEvent(1); // an interrupt wanted once the used index passes 1
  for (const h of got) vq.stage(h, 4);
  assert.deepEqual(dq.usedIdx(), 0);
  assert.deepEqual(vq.nextUsed, 3);
  assert.deepEqual(vq.publish(), true, "0 -> 3 crosses used_event 1");
  assert.deepEqual(dq.usedIdx(), 3);
  assert.deepEqual([0, 1, 2].map((i) => dq.usedElem(i).id), got);
  assert.deepEqual(vq.publish(), false, "nothing staged: nothing to publish");
  vq.stage(chainOf(vq.pop()).head, 4);
  assert.deepEqual(vq.publish(), false, "3 -> 4 does not cross used_event 1");
});

Deno.test("queue: VRING_AVAIL_F_NO_INTERRUPT without event-idx; NO_NOTIFY flag", () => {
  const { dq, vq } = setup(8, PLAIN);
  const a = dq.add([{ len: 4, write: true }]).head;
  const b = dq.add([{ len: 4, write: true }]).head;
  chainOf(vq.pop());
  chainOf(vq.pop());
  dq.setAvailFlags(VRING_AVAIL_F_NO_INTERRUPT);
  assert.deepEqual(vq.push(a, 0), false);
  dq.setAvailFlags(0);
  assert.deepEqual(vq.push(b, 0), true);
  vq.setNotify(false);
  assert.deepEqual(dq.usedFlags(), VRING_USED_F_NO_NOTIFY);
  vq.setNotify(true);
  assert.deepEqual(dq.usedFlags(), 0);
  // Without event-idx, an empty pop leaves avail_event alone.
  assert.deepEqual(vq.pop().kind, "empty");
  assert.deepEqual(dq.availEvent(), 0);
});

Deno.test("queue: 16-bit indexes wrap around", () => {
  const mem = new FakeRam(1 << 16);
  const dq = new DriverQueue(mem, 4);
  dq.setAvailIdx(0xfffe);
  dq.setUsedIdx(0xfffe);
  const vq = VirtQueue.create(mem.ram, dq.layout(), ALL) as VirtQueue;
  assert.deepEqual(vq.lastAvail, 0xfffe);
  const heads: number[] = [];
  for (let i = 0; i < 4; i++) {
    const { head } = dq.add([{ len: 8, write: true }]);
    heads.push(head);
  }
  assert.deepEqual(mem.u16(dq.avail + 2), 2);
  const got: number[] = [];
  for (let i = 0; i < 4; i++) got.push(chainOf(vq.pop()).head);
  assert.deepEqual(got, heads);
  assert.deepEqual(vq.pop().kind, "empty");
  for (const h of heads) vq.push(h, 8);
  assert.deepEqual(dq.usedIdx(), 2);
  assert.deepEqual(dq.usedElem(0xffff).id, heads[1]);
});

Deno.test("queue: a restarted device resumes from the used index", () => {
  const { mem, dq, vq } = setup();
  const heads = [0, 1, 2].map(() => dq.add([{ len: 8, write: true }]).head);
  const first = chainOf(vq.pop()).head;
  vq.push(first, 8);
  chainOf(vq.pop()); // taken but never completed: the actor "dies" here
  const again = VirtQueue.create(mem.ram, dq.layout(), ALL) as VirtQueue;
  assert.deepEqual([again.lastAvail, again.nextUsed], [1, 1]);
  assert.deepEqual(chainOf(again.pop()).head, heads[1], "the uncompleted chain is served again");
  assert.deepEqual(chainOf(again.pop()).head, heads[2]);
});

Deno.test("queue: layouts that cannot be a queue", () => {
  const mem = new FakeRam(1 << 16);
  const dq = new DriverQueue(mem, 8);
  const err = (l: Partial<ReturnType<DriverQueue["layout"]>>) => {
    const r = VirtQueue.create(mem.ram, { ...dq.layout(), ...l }, ALL);
    return r instanceof VirtQueue ? "ok" : r.error;
  };
  assert.deepEqual(err({}), "ok");
  assert.deepEqual(err({ size: 6 }), "queue-size");
  assert.deepEqual(err({ size: 0 }), "queue-size");
  assert.deepEqual(err({ size: 65536 }), "queue-size");
  assert.deepEqual(err({ desc: dq.desc + 8 }), "ring-misaligned");
  assert.deepEqual(err({ used: dq.used + 2 }), "ring-misaligned");
  assert.deepEqual(err({ desc: 0 }), "ring-outside-ram");
  assert.deepEqual(err({ used: mem.base + mem.size - 16 }), "ring-outside-ram");
  assert.deepEqual(err({ avail: 2 ** 63 }), "ring-outside-ram");
});

Deno.test("queue: every malformed chain gets its named error", () => {
  const cases: [string, (dq: DriverQueue, mem: FakeRam) => void, QueueFeatures?][] = [
    ["avail-idx-too-far", (dq) => dq.setAvailIdx(9)],
    ["desc-index-out-of-range", (dq) => dq.publish(8)],
    ["desc-index-out-of-range", (dq, mem) => {
      dq.setDesc(0, { addr: mem.alloc(8), len: 8, flags: VIRTQ_DESC_F_NEXT, next: 200 });
      dq.publish(0);
    }],
    ["addr-outside-ram", (dq) => {
      dq.setDesc(0, { addr: 0x1000, len: 8, flags: 0, next: 0 });
      dq.publish(0);
    }],
    ["addr-outside-ram", (dq, mem) => {
      dq.setDesc(0, { addr: mem.base + mem.size - 4, len: 8, flags: 0, next: 0 });
      dq.publish(0);
    }],
    ["addr-outside-ram", (dq, mem) => {
      dq.setDesc(0, { addr: mem.base + 2 ** 40, len: 8, flags: VIRTQ_DESC_F_WRITE, next: 0 });
      dq.publish(0);
    }],
    ["length-absurd", (dq, mem) => {
      dq.setDesc(0, { addr: mem.base, len: 0xffffffff, flags: 0, next: 0 });
      dq.publish(0);
    }],
    ["chain-too-long", (dq, mem) => {
      const b = mem.alloc(8);
      dq.setDesc(0, { addr: b, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 1 });
      dq.setDesc(1, { addr: b, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 0 }); // a loop
      dq.publish(0);
    }],
    ["readable-after-writable", (dq, mem) => {
      const b = mem.alloc(16);
      dq.setDesc(0, { addr: b, len: 8, flags: VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, next: 1 });
      dq.setDesc(1, { addr: b + 8, len: 8, flags: 0, next: 0 });
      dq.publish(0);
    }],
    ["indirect-not-negotiated", (dq) => {
      dq.add([{ len: 8 }, { len: 8, write: true }], { indirect: true });
    }, PLAIN],
    ["indirect-malformed", (dq, mem) => {
      dq.setDesc(0, { addr: mem.alloc(24), len: 24, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
    ["indirect-malformed", (dq, mem) => {
      dq.setDesc(0, { addr: mem.alloc(16), len: 0, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
    ["indirect-malformed", (dq, mem) => {
      dq.setDesc(0, {
        addr: mem.alloc(16 * 9),
        len: 16 * 9,
        flags: VIRTQ_DESC_F_INDIRECT,
        next: 0,
      });
      dq.publish(0);
    }],
    ["indirect-malformed", (dq, mem) => {
      const t = mem.alloc(16);
      dq.setDesc(0, {
        addr: t,
        len: 16,
        flags: VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT,
        next: 1,
      });
      dq.publish(0);
    }],
    ["addr-outside-ram", (dq) => {
      dq.setDesc(0, { addr: 0x10, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
    ["indirect-nested", (dq, mem) => {
      const t = mem.alloc(32, 16);
      dq.setDesc(0, { addr: t, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 }, t);
      dq.setDesc(0, { addr: t, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
    ["chain-too-long", (dq, mem) => {
      const t = mem.alloc(32, 16);
      dq.setDesc(0, { addr: t, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 1 }, t);
      dq.setDesc(1, { addr: t, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 0 }, t);
      dq.setDesc(0, { addr: t, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
    ["desc-index-out-of-range", (dq, mem) => {
      const t = mem.alloc(32, 16);
      dq.setDesc(0, { addr: t, len: 8, flags: VIRTQ_DESC_F_NEXT, next: 2 }, t);
      dq.setDesc(0, { addr: t, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.publish(0);
    }],
  ];
  for (const [want, build, f] of cases) {
    const mem = new FakeRam(1 << 16);
    const dq = new DriverQueue(mem, 8);
    const vq = VirtQueue.create(mem.ram, dq.layout(), f ?? ALL) as VirtQueue;
    build(dq, mem);
    const before = mem.ram.bytes.slice();
    const r = vq.pop();
    assert.deepEqual(errorOf(r), want, `case ${want}: ${r.kind === "error" ? r.detail : ""}`);
    assert.deepEqual(mem.ram.bytes, before, `${want}: pop wrote nothing`);
  }
});

Deno.test("queue: a head that cannot be returned is reported as null", () => {
  const { dq, vq } = setup();
  dq.publish(8);
  const r = vq.pop();
  assert.ok(r.kind === "error" && r.head === null);
  dq.setDesc(3, { addr: 0, len: 8, flags: 0, next: 0 });
  dq.publish(3);
  const r2 = vq.pop();
  assert.ok(r2.kind === "error" && r2.head === 3);
});

Deno.test("sliceSegments walks a byte stream across segments", () => {
  const segs = [{ off: 100, len: 10 }, { off: 300, len: 5 }, { off: 500, len: 20 }];
  assert.deepEqual(sliceSegments(segs, 8, 10), [{ off: 108, len: 2 }, { off: 300, len: 5 }, {
    off: 500,
    len: 3,
  }]);
  assert.deepEqual(sliceSegments(segs, 34, 5), [{ off: 519, len: 1 }]);
  assert.deepEqual(sliceSegments(segs, 35, 5), []);
});
