// Dropping is the policy when the guest does not take its network frames (no
// driver, a full receive queue): the drops are counted and said at the end of
// the boot, not lost in silence. One boot on a sharenet segment (no root, no
// tap); the guest unbinds its virtio-net driver, then a member in this process
// sends broadcasts, which the device can only drop.
// Read next: launcher/boot.ts (reportDrops), devices/net/net.ts (the counters).

import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { SharenetBackend } from "../../devices/net/sharenet.ts";

function broadcast(i: number): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, 0x77], 6);
  f.set([0x88, 0xb5], 12); // IEEE local experimental ethertype: the guest ignores it
  new DataView(f.buffer).setUint32(14, i);
  return f;
}

Deno.test({
  name: "net e2e: frames the guest does not take are dropped, counted and said at exit",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-netdrops-" });
    let s: GuestSession | null = null;
    let peer: SharenetBackend | null = null;
    try {
      s = new GuestSession({ args: [`--sharenet=${dir}/seg`] });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      await s.run(
        "cd /sys/bus/virtio/drivers/virtio_net && for d in virtio*; do echo $d > unbind; done; cd /",
      );
      peer = SharenetBackend.open(`${dir}/seg`);
      peer.start(() => {});
      const n = 300;
      for (let i = 0; i < n; i++) {
        peer.send(broadcast(i));
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 300));
      await s.send("poweroff\n");
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
      const m = s.stderr.match(/virtio-net 0: (\d+) frames received, \d+ sent; dropped: (.*)/);
      if (!m) throw new Error(`no drop summary in stderr:\n${s.stderr}`);
      // Every frame that reached the device is said to be dropped, none silently.
      const received = Number(m[1]);
      assert.deepEqual(received > 0, true, m[0]);
      assert.deepEqual(m[2], `${received} driver not ready`, m[0]);
    } finally {
      await peer?.close();
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
