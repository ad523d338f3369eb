// A snapshot with the network busy both ways: the guest streams numbered UDP
// datagrams to a host-side member of its sharenet segment while the host
// floods the guest with frames and the console prints; the snapshot is taken
// in the middle of it. The original stops; a clone restored from the file on
// the same segment goes on streaming (its datagrams reach the host) and goes
// on receiving (its rx counter grows under the flood), and answers at its
// prompt. Frames that reached the frozen device were held, not written into
// guest RAM mid-copy. The rest of snapshots: tests/e2e/snapshot_test.ts.

import assert from "../../testing/assert.ts";
import { bootMachine, type Machine, READY_LINE } from "../../mod.ts";
import { joinSharenet, SharenetBackend } from "../../devices/net/sharenet.ts";

async function run(vm: Machine, cmd: string): Promise<string> {
  await vm.send(`${cmd}; echo "NET""-DONE"\n`);
  const text = await vm.waitFor("NET-DONE\r\n", 60_000);
  const from = text.lastIndexOf('"NET""-DONE"');
  return text.slice(text.indexOf("\n", from) + 1, text.lastIndexOf("NET-DONE")).replace(/\r/g, "");
}

Deno.test({
  name: "snapshot net: the net and console actors busy at the snapshot, the clone carries on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-snapnet-" });
    const vms: Machine[] = [];
    let host: SharenetBackend | null = null;
    let flood: ReturnType<typeof setInterval> | undefined;
    try {
      const vm = await bootMachine({ args: [`--sharenet=${dir}/seg`], log: () => {} });
      vms.push(vm);
      await vm.waitFor(READY_LINE, 90_000);
      host = new SharenetBackend(joinSharenet(`${dir}/seg`));
      const got: number[] = [];
      host.start((f) => {
        for (const m of new TextDecoder().decode(f).matchAll(/pkt(\d+)\./g)) got.push(+m[1]);
      });
      await run(
        vm,
        "dmesg -n 1; ip addr add 10.77.0.1/24 dev eth0; arp -s 10.77.0.2 02:00:00:00:00:02",
      );
      // To the guest: broadcast frames of an experimental ethertype, every 2 ms.
      const frame = new Uint8Array(200);
      frame.fill(0xff, 0, 6);
      frame.set([0x02, 0, 0, 0, 0, 0x02], 6);
      frame.set([0x88, 0xb5], 12);
      flood = setInterval(() => host!.send(frame), 2);
      await vm.send(
        "(i=0; while true; do echo pkt$i.; i=$((i+1)); usleep 20000; done | nc -u 10.77.0.2 9999) &" +
          " (seq 1 100000 | while read n; do echo console-$n; done) &\n",
      );
      await vm.waitFor("console-300", 60_000);
      const rxBefore = got.length;
      assert.ok(rxBefore > 0, "the guest streams before the snapshot");
      const snap = `${dir}/busy.snap`;
      const r = await vm.snapshot(snap);
      assert.ok(r.bytes > 0);
      await vm.stop();

      // The clone, on the same segment.
      const seen = got.length;
      const clone = await bootMachine({ restore: snap, log: () => {} });
      vms.push(clone);
      await clone.send("kill %2 2>/dev/null; kill $(pidof seq) 2>/dev/null\n"); // end the flood
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(got.length > seen + 10, `the clone streams on: ${got.length - seen} datagrams`);
      const rx1 = Number(await run(clone, "cat /sys/class/net/eth0/statistics/rx_packets"));
      await new Promise((r) => setTimeout(r, 1000));
      const rx2 = Number(await run(clone, "cat /sys/class/net/eth0/statistics/rx_packets"));
      assert.ok(rx2 > rx1, `the clone receives: rx_packets ${rx1} -> ${rx2}`);
      assert.match(await run(clone, "echo still-$((40+2))"), /still-42/);
      clearInterval(flood);
      flood = undefined;
      await clone.send("poweroff\n");
      await clone.output.pipeTo(new WritableStream());
      assert.deepEqual((await clone.result).exitCode, 0);
    } finally {
      if (flood) clearInterval(flood);
      for (const m of vms) await m.stop().catch(() => {});
      await host?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
