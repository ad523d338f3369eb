// A write the guest has flushed is in the host file. End to end: the guest
// writes through ext2 and to a raw disk, syncs, and the emulator is SIGKILLed
// the moment the shell reports the sync's status — no exit path runs, yet the
// host file holds the data (the device wrote it before completing, and never
// caches in the emulator). Below it: FLUSH reaches fdatasync(2), after the
// writes it follows. Helpers: testing/guest_session.ts, testing/block_tools.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { debugfsRead, E2FS_MISSING, mke2fs, pattern } from "../../testing/block_tools.ts";
import { createControlBlock } from "../../machine/control.ts";
import { BLK_S, BLK_T, BlockDevice, createBlockState } from "../../devices/block/block.ts";
import { FileBackend } from "../../devices/block/backend.ts";
import { MmioTransport, REG } from "../../devices/virtio/mmio.ts";
import { DriverQueue, driverSetup, FakeRam } from "../../testing/virtio_driver.ts";

if (E2FS_MISSING) {
  console.warn(`block durability: the SIGKILL test is SKIPPED: ${E2FS_MISSING}`);
}

Deno.test({
  name: "block durability: synced data survives SIGKILL of the emulator",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-dur-" });
    let g: GuestSession | null = null;
    try {
      await Deno.mkdir(`${dir}/root`);
      const blob = pattern(256 * 1024, 3);
      await Deno.writeFile(`${dir}/root/blob.bin`, blob);
      const fs = `${dir}/fs.img`;
      await mke2fs(`${dir}/root`, fs, "8M");
      const raw = `${dir}/raw.img`;
      await Deno.writeFile(raw, new Uint8Array(1 << 20));
      g = new GuestSession({
        args: [
          `--block=${fs}`,
          `--block=${raw}`,
          ...bundledBoot(["actorvm.mount=1"]),
        ],
      });
      await g.waitFor(READY_LINE, 60_000);
      await g.run("dmesg -n 1");
      // The raw disk: dd's fsync is the FLUSH. The file: sync flushes data,
      // inode and directory. run() returns as soon as `$?` of the whole line
      // is on the console; the kill follows with no await in between.
      await g.run(
        "dd if=/mnt/blob.bin of=/dev/vdb bs=4k conv=fsync 2>/dev/null" +
          " && cp /mnt/blob.bin /mnt/durable.bin && sync",
      );
      g.child.kill("SIGKILL");
      const st = await g.exit(10_000);
      assert.deepEqual(st.signal, "SIGKILL", "killed, not exited");

      const got = (await Deno.readFile(raw)).subarray(0, blob.length);
      assert.ok(got.every((b, i) => b === blob[i]), "the raw disk holds the fsynced data");
      assert.deepEqual(
        await debugfsRead(fs, "/durable.bin"),
        blob,
        "the synced file is in the image",
      );
    } finally {
      await g?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("block durability: FLUSH calls fdatasync on the file, after the writes before it", () => {
  const path = Deno.makeTempFileSync();
  const proto = Deno.FsFile.prototype;
  const real = proto.syncDataSync;
  const seen: Uint8Array[] = [];
  // Watch fdatasync from the outside: each call snapshots the file's bytes.
  proto.syncDataSync = function (this: Deno.FsFile) {
    seen.push(Deno.readFileSync(path).slice(0, 1024));
    return real.call(this);
  };
  let backend: FileBackend | null = null;
  try {
    Deno.writeFileSync(path, new Uint8Array(64 * 1024));
    backend = FileBackend.open(path);
    const state = createBlockState({ irq: 1, sectors: backend.probe.sectors, readOnly: false });
    const control = createControlBlock();
    const mmio = new MmioTransport(state, control);
    const mem = new FakeRam(1 << 20);
    const dq = new DriverQueue(mem, 16);
    driverSetup(mmio, [dq]);
    const dev = new BlockDevice(mem.sab, state, control, { backend, log: () => {} });
    const header = (type: number, sector: number) => {
      const h = new Uint8Array(16);
      new DataView(h.buffer).setUint32(0, type, true);
      new DataView(h.buffer).setUint32(8, sector, true);
      return h;
    };
    const data = new Uint8Array(1024).fill(0xab);
    // Three requests in flight at once: write, flush, write.
    const w1 = dq.add([{ len: 16, data: header(BLK_T.OUT, 0) }, { len: 1024, data }, {
      len: 1,
      write: true,
    }]);
    const fl = dq.add([{ len: 16, data: header(BLK_T.FLUSH, 0) }, { len: 1, write: true }]);
    const w2 = dq.add([{ len: 16, data: header(BLK_T.OUT, 8) }, { len: 512, data }, {
      len: 1,
      write: true,
    }]);
    assert.deepEqual(seen.length, 0, "nothing before the guest asks");
    mmio.write(REG.QUEUE_NOTIFY, 4, 0);
    dev.service();
    assert.deepEqual(dq.usedIdx(), 3, "all three completed");
    for (const r of [w1, fl, w2]) {
      assert.deepEqual(mem.read(r.addrs[r.addrs.length - 1], 1)[0], BLK_S.OK);
    }
    assert.deepEqual(seen.length, 1, "one FLUSH, one fdatasync; writes alone do not sync");
    assert.ok(seen[0].every((b) => b === 0xab), "the write before the FLUSH was in the file");
    assert.deepEqual(dev.stats.flushes, 1);
  } finally {
    proto.syncDataSync = real;
    backend?.close();
    Deno.removeSync(path);
  }
});
