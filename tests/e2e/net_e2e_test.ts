// The network end to end with the bundled guest booted by actorvm, inside
// namespaces made for the test (testing/netns.ts). Two guests, each booted once
// and reused for several checks:
//   guest 1: --tunnet=10.213.30.1/24 (eth0 10.213.30.2) + --sharenet=<dir>
//   guest 2: --tunnet=bridge:br0, br0 holds a veth whose peer (10.213.31.1)
//            is in a second namespace (eth0 10.213.31.2) + --sharenet=<dir>
// Checks: ping both ways over the tap, the tap's receive offloads negotiated
// (and not the sharenet's), TCP transfers both ways checked by SHA-256 and
// carried as super-frames (packet counters on both sides), bridge mode to the veth peer, and the two guests pinging each other
// over the sharenet segment (10.213.32.1 / .2). Then a tap guest snapshotted
// through its control socket and restored: the new tap is told the offloads the
// restored driver had negotiated, and transfers both ways arrive intact as
// super-frames. Read next: docs/net.md.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { netnsUnavailable, withNetns } from "../../testing/netns.ts";
import { startPeer, Vm } from "../../testing/net_vm.ts";
import { GuestSession } from "../../testing/guest_session.ts";
import { control } from "../../testing/control_socket.ts";
import { defaultMac, macToString } from "../../devices/net/net.ts";
import { tapMacKey } from "../../devices/net/tap.ts";
import { sharenetMacKey } from "../../devices/net/sharenet.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
let skip = await netnsUnavailable();
if (skip === null) {
  // The launcher is usable once `mod.ts --help` runs and offers the network options.
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, "--help"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  const text = help ? new TextDecoder().decode(help.stdout) : "";
  if (!help?.success || !text.includes("--tunnet") || !text.includes("--sharenet")) {
    skip = "the launcher (mod.ts --help) does not run yet";
  }
}
if (skip) console.warn(`net_e2e_test: skipping: ${skip}`);

/** Feature bits (index into /sys/class/net/<if>/device/features) only a tap's device offers. */
const VNET_BITS = [[7, "GUEST_TSO4"], [8, "GUEST_TSO6"], [9, "GUEST_ECN"], [
  15,
  "MRG_RXBUF",
]] as const;

const BOOT_MS = 300_000;
const BYTES = 3 << 20;
/** A transfer that takes longer than this is stuck, not slow (they take seconds). */
const TRANSFER_MS = 120_000;

/** The guest interface with this MAC (eth0/eth1 order is the launcher's business). */
async function ifaceByMac(vm: Vm, mac: string): Promise<string> {
  const out = await vm.run(
    `for d in /sys/class/net/eth*; do [ "$(cat $d/address)" = "${mac}" ] && echo IF=\${d##*/}; done; true`,
  );
  const m = /IF=(\S+)/.exec(out);
  if (!m) throw new Error(`no guest interface with MAC ${mac}: ${out}`);
  return m[1];
}

async function addr(vm: Vm, iface: string, cidr: string): Promise<void> {
  await vm.run(
    `ip addr flush dev ${iface}; ip addr add ${cidr} dev ${iface}; ip link set ${iface} up`,
  );
}

Deno.test({
  name: "net e2e: tap ping and TCP both ways, bridge mode, two guests on one sharenet",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(2, async (ns, peer) => {
      const seg = Deno.makeTempDirSync({ prefix: "avm-e2e-seg-" });
      const vms: Vm[] = [];
      try {
        // ---- guest 1 on an addressed tap
        const g1 = await Vm.boot({
          vm: "actorvm",
          ns,
          tunnet: "10.213.30.1/24",
          sharenet: seg,
        }, BOOT_MS);
        vms.push(g1);
        // Default MACs are stable: derived from the tap's name and the segment slot.
        const realSeg = Deno.realPathSync(seg);
        const tapIf1 = await ifaceByMac(g1, macToString(defaultMac(tapMacKey("avm0"))));
        const segIf1 = await ifaceByMac(
          g1,
          macToString(defaultMac(sharenetMacKey({ fd: -1, dir: realSeg, slot: 0, sockPath: "" }))),
        );
        await addr(g1, tapIf1, "10.213.30.2/24");

        // Ping both ways over the tap.
        const h2g = await ns.sh("ping -c 3 -i 0.2 -W 10 -q 10.213.30.2");
        assert.match(h2g, / 0% packet loss/);
        const g2h = await g1.run("ping -c 3 -W 10 10.213.30.1");
        assert.match(g2h, / 0% packet loss/);

        // The offloads are negotiated per backend: the tap's device offers the
        // receive offloads and merged buffers, the sharenet's does not.
        const features = async (iface: string) =>
          (await g1.run(`cat /sys/class/net/${iface}/device/features`)).trim();
        const tapFeatures = await features(tapIf1), segFeatures = await features(segIf1);
        for (const [bit, name] of VNET_BITS) {
          assert.equal(
            tapFeatures[bit],
            "1",
            `tap device: ${name} not negotiated (${tapFeatures})`,
          );
          assert.equal(
            segFeatures[bit],
            "0",
            `sharenet device: ${name} negotiated (${segFeatures})`,
          );
        }
        const counters = async (where: "guest" | "host") =>
          where === "guest"
            ? Number(await g1.run(`cat /sys/class/net/${tapIf1}/statistics/rx_packets`))
            : Number(await ns.sh("cat /sys/class/net/avm0/statistics/rx_packets"));
        const guestRx0 = await counters("guest"), hostRx0 = await counters("host");

        // TCP host → guest, checked by SHA-256.
        const send = await startPeer(ns, "send", "10.213.30.1", 5001, BYTES, 11);
        const got = await g1.run(`nc 10.213.30.1 5001 </dev/null | sha256sum`, TRANSFER_MS);
        const sent = await send.result;
        assert.equal(got.trim().split(/\s+/)[0], sent.sha256);
        // TCP guest → host.
        const want = await g1.run(
          `dd if=/dev/urandom of=/tmp/blob bs=65536 count=${
            BYTES / 65536
          } 2>/dev/null; sha256sum /tmp/blob`,
          TRANSFER_MS,
        );
        const sink = await startPeer(ns, "sink", "10.213.30.1", 5002, BYTES);
        await g1.run(`nc 10.213.30.1 5002 </tmp/blob`, TRANSFER_MS);
        const recv = await sink.result;
        assert.equal(recv.bytes, BYTES);
        assert.equal(want.trim().split(/\s+/)[0], recv.sha256);
        // Both ways the data crossed as TCP super-frames: far fewer packets than
        // the ~2200 MSS-sized segments 3 MiB takes (the guest's driver counts
        // one per received frame, the host's tap one per frame the device wrote).
        const segments = BYTES / 1448;
        const guestRx = (await counters("guest")) - guestRx0;
        const hostRx = (await counters("host")) - hostRx0;
        assert.ok(guestRx < segments / 3, `host → guest took ${guestRx} frames`);
        assert.ok(hostRx < segments / 3, `guest → host took ${hostRx} frames`);

        // ---- guest 2 on a bridge, reaching a veth peer in the other namespace
        await ns.sh("ip link add br0 type bridge && ip link set br0 up");
        await ns.sh(`ip link add v0 type veth peer name v1 netns ${peer.name}`);
        await ns.sh("ip link set v0 master br0 && ip link set v0 up");
        await peer.sh("ip addr add 10.213.31.1/24 dev v1 && ip link set v1 up");
        const g2 = await Vm.boot({
          vm: "actorvm",
          ns,
          tunnet: "bridge:br0",
          sharenet: seg,
        }, BOOT_MS);
        vms.push(g2);
        assert.match(await ns.sh("ip -br link show master br0"), /avm1/);
        const brIf2 = await ifaceByMac(g2, macToString(defaultMac(tapMacKey("avm1"))));
        const mac2 = macToString(
          defaultMac(sharenetMacKey({ fd: -1, dir: realSeg, slot: 1, sockPath: "" })),
        );
        const segIf2 = await ifaceByMac(g2, mac2);
        await addr(g2, brIf2, "10.213.31.2/24");
        await peer.sh("ping -c 3 -i 0.2 -W 10 -q 10.213.31.2");
        assert.match(await g2.run("ping -c 3 -W 10 10.213.31.1"), / 0% packet loss/);

        // ---- the two guests on the sharenet segment
        await addr(g1, segIf1, "10.213.32.1/24");
        await addr(g2, segIf2, "10.213.32.2/24");
        assert.match(await g1.run("ping -c 3 -W 10 10.213.32.2"), / 0% packet loss/);
        assert.match(await g2.run("ping -c 3 -W 10 10.213.32.1"), / 0% packet loss/);
        // The segment is a real L2: guest 1 learned guest 2's MAC over it.
        assert.match(await g1.run(`ip neigh show 10.213.32.2`), new RegExp(mac2));
        // TCP between the guests over the segment (segmented by the sending device).
        await g2.run(
          "(nc -l -p 7000 >/tmp/in </dev/null; sha256sum /tmp/in >/tmp/in.sum) >/dev/null 2>&1 & true",
        );
        const sum1 = await g1.run(
          "dd if=/dev/urandom of=/tmp/b1 bs=65536 count=16 2>/dev/null; sha256sum /tmp/b1; " +
            "nc -w 3 10.213.32.2 7000 </tmp/b1",
          TRANSFER_MS,
        );
        const sum2 = await g2.run(
          "n=0; while [ ! -s /tmp/in.sum ] && [ $n -lt 600 ]; do sleep 0.2; n=$((n+1)); done; " +
            "cat /tmp/in.sum",
          TRANSFER_MS,
        );
        assert.equal(sum2.trim().split(/\s+/)[0], sum1.trim().split(/\s+/)[0]);

        // However an emulator ends, its tap goes: guest 2 powers off, guest 1 is SIGKILLed.
        await g2.close();
        assert.doesNotMatch(await ns.sh("ip -br link"), /avm1/);
        await g1.kill();
        assert.doesNotMatch(await ns.sh("ip -br link"), /avm0/);
      } finally {
        for (const vm of vms.reverse()) await vm.close();
        Deno.removeSync(seg, { recursive: true });
      }
      assert.doesNotMatch(await ns.sh("ip -br link"), /avm\d/);
    }),
});

Deno.test({
  name: "net e2e: bad network options stop the launcher with the cause, exit 2, nothing left",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      const notDir = Deno.makeTempFileSync({ prefix: "avm-e2e-" });
      const cases: [string[], RegExp, string[]?][] = [
        [["--tunnet=bridge:nosuch"], /bridge "nosuch" does not exist/],
        [["--tunnet=10.0.2"], /"10\.0\.2" is not an IPv4 address/],
        [["--tunnet=10.213.0.1/33"], /prefix "33" must be a number from 1 to 30/],
        [[`--sharenet=${notDir}`], /exists and is not a directory/],
        [["--mac=01:00:5e:00:00:01"], /multicast/],
        // Root without capabilities cannot make a tap.
        [["--tunnet=10.213.0.1"], /cannot create a tap: operation not permitted/, [
          "setpriv",
          "--bounding-set=-all",
          "--inh-caps=-all",
        ]],
      ];
      try {
        for (const [args, want, wrap] of cases) {
          const r = await ns.exec([...(wrap ?? []), Deno.execPath(), "run", "-A", MOD, ...args]);
          assert.equal(r.code, 2, `${args}: exit ${r.code}\n${r.stderr}`);
          assert.match(r.stderr, want);
          assert.doesNotMatch(await ns.sh("ip -br link"), /avm/, `${args} left a link`);
        }
      } finally {
        Deno.removeSync(notDir);
      }
    }),
});

Deno.test({
  name:
    "net e2e: the net actor killed 5 times mid-transfer; the restarts keep the tap, data intact",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      const plan = Deno.makeTempFileSync({ prefix: "avm-e2e-plan-", suffix: ".json" });
      Deno.writeTextFileSync(
        plan,
        JSON.stringify({
          // Every 20 frames: the transfer crosses the tap as super-frames, a
          // few hundred frames for 4 MiB.
          rules: [{ layer: "net", effect: "kill", when: { every: 20, count: 5 } }],
        }),
      );
      let vm: Vm | null = null;
      try {
        vm = await Vm.boot({
          vm: "actorvm",
          ns,
          tunnet: "10.213.33.1/24",
          guestIp: "10.213.33.2/24",
          extraArgs: [`--faults=${plan}`],
        }, BOOT_MS);
        const send = await startPeer(ns, "send", "10.213.33.1", 5001, 4 << 20, 23);
        const got = await vm.run(`nc 10.213.33.1 5001 </dev/null | sha256sum`, TRANSFER_MS);
        assert.equal(got.trim().split(/\s+/)[0], (await send.result).sha256);
        await ns.sh("ping -c 2 -W 10 -q 10.213.33.2");
        await vm.close();
        assert.match(vm.stderr, /5 injected: rule 0 net kill ×5/);
        assert.match(vm.stderr, /net actor restarted/);
      } finally {
        await vm?.close();
        Deno.removeSync(plan);
      }
    }),
});

Deno.test({
  name: "net e2e: a tap guest snapshotted and restored: offloads set on the new tap, TCP intact",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      const dir = Deno.makeTempDirSync({ prefix: "avm-e2e-snap-" });
      const sock = `${dir}/vm.sock`, snap = `${dir}/tap.snap`;
      let vm: Vm | null = null;
      let clone: GuestSession | null = null;
      try {
        vm = await Vm.boot({
          vm: "actorvm",
          ns,
          tunnet: "10.213.34.1/24",
          guestIp: "10.213.34.2/24",
          extraArgs: [`--control=${sock}`],
        }, BOOT_MS);
        await ns.sh("ping -c 2 -W 10 -q 10.213.34.2"); // the driver is up, offloads negotiated
        const reply = await control(sock, "snapshot", { path: snap });
        assert.ok("return" in reply, JSON.stringify(reply));
        await vm.kill(); // its tap goes with it
        assert.doesNotMatch(await ns.sh("ip -br link"), /avm0/);
        // The clone opens a tap of its own (the snapshot's --tunnet) in the same namespace.
        clone = new GuestSession({ netns: ns.name, args: [`--restore=${snap}`] });
        const feats = (await clone.run("cat /sys/class/net/eth0/device/features", 60_000)).trim();
        for (const [bit, name] of VNET_BITS) assert.equal(feats[bit], "1", `${name}: ${feats}`);
        const rx0 = Number(await clone.run("cat /sys/class/net/eth0/statistics/rx_packets"));
        const send = await startPeer(ns, "send", "10.213.34.1", 5001, BYTES, 29);
        const got = await clone.run(`nc 10.213.34.1 5001 </dev/null | sha256sum`, TRANSFER_MS);
        assert.equal(got.trim().split(/\s+/)[0], (await send.result).sha256);
        const rx = Number(await clone.run("cat /sys/class/net/eth0/statistics/rx_packets")) - rx0;
        assert.ok(rx < BYTES / 1448 / 3, `host → guest took ${rx} frames after the restore`);
        const want = await clone.run(
          `dd if=/dev/urandom of=/tmp/blob bs=65536 count=${
            BYTES / 65536
          } 2>/dev/null; sha256sum /tmp/blob`,
          TRANSFER_MS,
        );
        const sink = await startPeer(ns, "sink", "10.213.34.1", 5002, BYTES);
        await clone.run(`nc 10.213.34.1 5002 </tmp/blob`, TRANSFER_MS);
        assert.equal(want.trim().split(/\s+/)[0], (await sink.result).sha256);
      } finally {
        await vm?.close();
        await clone?.close();
        Deno.removeSync(dir, { recursive: true });
      }
    }),
});
