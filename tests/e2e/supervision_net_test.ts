// The net actor past its restart policy: a fault plan kills it on the guest's
// first transmitted frame and allows no restart. The launcher then clears
// VIRTIO_NET_S_LINK_UP in the device's config space and raises a config
// interrupt (with DEVICE_NEEDS_RESET), so the guest's eth0 goes from carrier
// 1 to NO-CARRIER instead of claiming a link nobody serves. One boot, on a
// sharenet segment (no root, no tap). Read next: launcher/boot.ts (needsReset).

import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";

Deno.test({
  name: "supervision e2e: the net actor past its policy takes the guest's link down",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-netdown-" });
    let s: GuestSession | null = null;
    try {
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [{ layer: "net", effect: "kill", when: { dir: "tx", count: 1 } }],
          restart: { net: { maxRestarts: 0 } },
        }),
      );
      s = new GuestSession({ args: [`--faults=${dir}/plan.json`, `--sharenet=${dir}/seg`] });
      await s.waitFor(READY_LINE, 60_000);
      await s.run("dmesg -n 1");
      // Up, with a carrier, before anything is sent.
      await s.run("ip link set eth0 up");
      assert.deepEqual(await s.run("cat /sys/class/net/eth0/carrier"), "1\n");
      // The first frame out kills the actor; no restart is allowed.
      await s.run(
        "ip addr add 10.77.0.1/24 dev eth0; arp -s 10.77.0.2 02:00:00:00:00:02; " +
          "echo hi | nc -u -w1 10.77.0.2 9999; true",
        30_000,
      );
      const deadline = Date.now() + 10_000;
      while (!/link down, set DEVICE_NEEDS_RESET/.test(s.stderr) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(s.stderr, /net actor: gave up: /);
      assert.match(s.stderr, /virtio-net 0: link down, set DEVICE_NEEDS_RESET/);
      // The driver reads the status in a work item after the config interrupt.
      let carrier = "";
      for (let i = 0; i < 50 && carrier !== "0\n"; i++) {
        carrier = await s.run("cat /sys/class/net/eth0/carrier");
        if (carrier !== "0\n") await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(carrier, "0\n", "eth0 carrier after the net actor gave up");
      assert.match(await s.run("ip link show eth0"), /NO-CARRIER/);
      // The machine runs on without the device.
      await s.send("poweroff\n");
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
    } finally {
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
