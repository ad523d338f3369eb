// Guests with more than 2 GiB of RAM: Linux puts its virtqueues near the top,
// at RAM offsets past 2^31, where a signed shift (`off >> 1`) turns negative —
// the console died with "Invalid atomic access index" on a 4096 MB boot.
// The queue must work at any offset RAM has; the launcher refuses sizes the
// hart cannot address with a clear error instead of a crashed cpu actor.
// Read next: devices/virtio/queue.ts, launcher/loader.ts (checkMemorySize).
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { VirtQueue } from "../../devices/virtio/queue.ts";
import { DriverQueue, FakeRam } from "../../testing/virtio_driver.ts";
import { checkMemorySize } from "../../launcher/loader.ts";
import { bundledBoot } from "../../testing/guest_session.ts";

Deno.test("robustness: a virtqueue above 2 GiB of guest RAM", () => {
  // The buffer is lazily zeroed by the OS: only the pages touched cost memory.
  const mem = new FakeRam(0x8010_0000);
  mem.alloc(0x8000_0000, 4096); // skip the first 2 GiB
  const dq = new DriverQueue(mem, 8);
  assert.ok(dq.used - mem.base > 0x8000_0000);
  const vq = VirtQueue.create(mem.ram, dq.layout(), { eventIdx: true, indirect: true });
  if (!(vq instanceof VirtQueue)) throw new Error(vq.detail);
  for (let round = 0; round < 3; round++) {
    const { head } = dq.add([{ len: 16, data: new Uint8Array(16).fill(5) }, {
      len: 64,
      write: true,
    }]);
    assert.ok(vq.hasPending());
    const r = vq.pop();
    assert.deepEqual(r.kind, "chain");
    vq.push(head, 64);
    assert.deepEqual(dq.usedIdx(), round + 1);
    assert.deepEqual(dq.usedElem(round), { id: head, len: 64 });
  }
  assert.deepEqual(vq.pop().kind, "empty");
});

Deno.test("robustness: more RAM than the hart addresses is bad usage (2), not a crashed cpu (1)", async () => {
  assert.deepEqual(checkMemorySize(4096), 4096 * 1024 * 1024);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL("../../mod.ts", import.meta.url)),
      ...bundledBoot([], 4097),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.deepEqual(out.code, 2, err);
  assert.ok(err.includes("4097 MB is more than the hart can address (at most 4096 MB)"), err);
  assert.deepEqual(out.stdout.length, 0, "nothing started");
});
