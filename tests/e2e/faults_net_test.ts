// The net fault layer end to end: the guest on a sharenet segment sends ten
// UDP datagrams to a host-side member of the same segment (a static ARP entry,
// so nothing else needs answering). The plan duplicates every frame the guest
// sends and kills the net actor on every 4th, twice: each datagram arrives
// exactly twice — a frame in flight when the actor died is sent again by its
// successor (from the used ring), never lost and never sent a third time —
// and the actor is restarted twice. One boot.
// Read next: faults/layers/net.ts.

import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { joinSharenet, SharenetBackend } from "../../devices/net/sharenet.ts";

Deno.test({
  name: "net faults e2e: every tx frame duplicated, the net actor killed twice mid-send",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-netf-" });
    let s: GuestSession | null = null;
    let host: SharenetBackend | null = null;
    try {
      await Deno.writeTextFile(
        `${dir}/plan.json`,
        JSON.stringify({
          rules: [
            { layer: "net", effect: "kill", when: { dir: "tx", every: 4, count: 2 } },
            { layer: "net", effect: "duplicate", when: { dir: "tx" } },
          ],
        }),
      );
      s = new GuestSession({ args: [`--faults=${dir}/plan.json`, `--sharenet=${dir}/seg`] });
      await s.waitFor(READY_LINE, 60_000);
      host = new SharenetBackend(joinSharenet(`${dir}/seg`));
      const seen = new Map<string, number>();
      host.start((f) => {
        for (const m of new TextDecoder().decode(f).matchAll(/pkt(\d+)\./g)) {
          seen.set(m[1], (seen.get(m[1]) ?? 0) + 1);
        }
      });
      await s.run(
        "ip addr add 10.77.0.1/24 dev eth0; arp -s 10.77.0.2 02:00:00:00:00:02; " +
          "for i in 1 2 3 4 5 6 7 8 9 10; do echo pkt$i.; usleep 30000; done | " +
          "nc -u -w1 10.77.0.2 9999",
        30_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      const want = new Map(Array.from({ length: 10 }, (_, i) => [String(i + 1), 2]));
      assert.deepEqual(new Map([...seen].sort((a, b) => Number(a[0]) - Number(b[0]))), want);
      await s.send("poweroff\n");
      assert.deepEqual((await s.exit(30_000)).code, 0, s.stderr);
      assert.match(s.stderr, /net actor restarted \(2\)/);
      assert.match(s.stderr, /rule 0 net kill ×2, rule 1 net duplicate ×\d+/);
    } finally {
      await host?.close();
      await s?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
