// The tap backend and its host-side configuration against a real kernel, each
// case inside network namespaces made for it (testing/netns.ts). The emulator
// side runs as a child `deno run` of this same file inside the namespace (the
// `import.meta.main` block below); Deno.test calls are inert there.
// Read next: devices/net/tap.ts, devices/net/netcfg.ts.

import { fileURLToPath } from "node:url";
import assert from "../../../testing/assert.ts";
import { Tap, TapBackend } from "../../../devices/net/tap.ts";
import { openTunnet, parseTunnet } from "../../../devices/net/netcfg.ts";
import {
  arpReply,
  arpRequest,
  FrameCatcher,
  icmpEcho,
  macText,
  parseArp,
  parseIcmp,
  parseMacText,
} from "../../../testing/net_frames.ts";
import { Netns, netnsUnavailable, withNetns } from "../../../testing/netns.ts";
import { l4ChecksumOk } from "../../../devices/net/offload.ts";

const SELF = fileURLToPath(import.meta.url);
const GUEST_MAC = [0x02, 0, 0, 0x21, 0x3a, 0x02];

async function linkMac(name: string): Promise<number[]> {
  const out = await new Deno.Command("ip", { args: ["-j", "link", "show", "dev", name] }).output();
  return parseMacText(JSON.parse(new TextDecoder().decode(out.stdout))[0].address);
}

async function linkExists(name: string): Promise<boolean> {
  const out = await new Deno.Command("ip", { args: ["link", "show", "dev", name], stderr: "null" })
    .output();
  return out.success;
}

/**
 * Child side: act as a guest on `tap`, ARP for and ping `peerIp` (the host
 * end, or a veth peer behind a bridge) from `myIp`, then close the backend.
 */
async function pingOverTap(tap: Tap, myIp: string, peerIp: string): Promise<object> {
  const be = new TapBackend(tap);
  const frames = new FrameCatcher();
  be.start((f) => {
    // Answer the kernel if it asks who we are.
    const a = parseArp(f);
    if (a && a.op === 1 && a.targetIp === myIp) {
      be.send(arpReply(GUEST_MAC, myIp, parseMacText(a.senderMac), a.senderIp));
    }
    frames.sink(f);
  });
  try {
    assert.ok(be.send(arpRequest(GUEST_MAC, myIp, peerIp)));
    const reply = parseArp(
      await frames.wait(
        (f) => parseArp(f)?.op === 2 && parseArp(f)?.senderIp === peerIp,
        "ARP reply",
      ),
    )!;
    const payload = new TextEncoder().encode("actorvm tap test " + crypto.randomUUID());
    assert.ok(
      be.send(icmpEcho(GUEST_MAC, parseMacText(reply.senderMac), myIp, peerIp, 0x4156, 7, payload)),
    );
    const echo = parseIcmp(
      await frames.wait((f) => parseIcmp(f)?.type === 0, "ICMP echo reply"),
    )!;
    return {
      arp: reply,
      echo: {
        src: echo.srcIp,
        id: echo.id,
        seq: echo.seq,
        payloadOk: echo.payload.every((b, i) => b === payload[i]) &&
          echo.payload.length === payload.length,
      },
      stats: be.stats,
    };
  } finally {
    await be.close();
  }
}

/**
 * Child side: the virtio-net header beside each frame (IFF_VNET_HDR). To the
 * kernel, an ICMP echo whose checksum is zero and only NEEDS_CSUM makes it
 * valid, and the same echo with a zero header (the kernel must drop it: a
 * wrong checksum). From the kernel, a UDP datagram sent from the namespace
 * (bash's /dev/udp) to the "guest" before and after TUNSETOFFLOAD TUN_F_CSUM:
 * complete with a header of zeros, then a partial checksum with NEEDS_CSUM.
 */
async function vnetOverTap(tap: Tap, myIp: string, peerIp: string): Promise<object> {
  const be = new TapBackend(tap);
  const frames = new FrameCatcher();
  const headers = new Map<Uint8Array, Uint8Array>();
  be.start((f, h) => {
    frames.sink(f);
    headers.set(frames.frames.at(-1)!, h!.slice());
  });
  const udp = (f: Uint8Array) => f.length > 42 && f[12] === 8 && f[13] === 0 && f[23] === 17;
  const sh = (cmd: string) => new Deno.Command("bash", { args: ["-c", cmd] }).output();
  try {
    assert.equal(be.offloads, true);
    // The kernel reaches the "guest" without asking ARP.
    await sh(`ip neigh replace ${myIp} lladdr ${macText(GUEST_MAC)} dev ${tap.name}`);
    const hostMac = await linkMac(tap.name);
    const echo = (seq: number) => {
      const f = icmpEcho(GUEST_MAC, hostMac, myIp, peerIp, 0x4157, seq, new Uint8Array(32));
      f[36] = f[37] = 0; // the ICMP checksum, left for NEEDS_CSUM
      return f;
    };
    const needsCsum = new Uint8Array(12);
    needsCsum[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM: sum from 34, store at 34 + 2
    new DataView(needsCsum.buffer).setUint16(6, 34, true);
    new DataView(needsCsum.buffer).setUint16(8, 2, true);
    assert.ok(be.send(echo(1), new Uint8Array(12)));
    assert.ok(be.send(echo(2), needsCsum));
    const reply = parseIcmp(await frames.wait((f) => parseIcmp(f)?.type === 0, "echo reply"))!;
    await new Promise((r) => setTimeout(r, 200)); // room for a wrong reply to seq 1
    const replies = frames.frames.filter((f) => parseIcmp(f)?.type === 0).map((f) =>
      parseIcmp(f)!.seq
    );
    // From the kernel, before and after the checksum offload is set.
    await sh(`echo before >/dev/udp/${myIp}/9`);
    const before = await frames.wait(udp, "UDP datagram");
    be.setReceiveOffloads({ csum: true, tso4: true, tso6: true, ecn: true });
    await sh(`echo after >/dev/udp/${myIp}/9`);
    const after = await frames.wait((f) => udp(f) && f !== before, "second UDP datagram");
    const hdr = (f: Uint8Array) => Array.from(headers.get(f)!);
    return {
      replySeq: reply.seq,
      replies,
      before: { hdr: hdr(before), csumOk: l4ChecksumOk(before) },
      after: { hdr: hdr(after), csumOk: l4ChecksumOk(after) },
    };
  } finally {
    await be.close();
  }
}

async function child(args: string[]): Promise<void> {
  const [mode, arg] = args;
  const print = (o: object) => console.log(JSON.stringify(o));
  try {
    switch (mode) {
      case "ping": {
        // arg: --tunnet value; the peer is the tap's own address (or the veth peer for bridges).
        const spec = parseTunnet(arg);
        const tap = await openTunnet(spec);
        const name = tap.name;
        const hostMac = await linkMac(name);
        const [myIp, peerIp] = spec.kind === "address"
          ? [spec.address.replace(/\.\d+$/, ".2"), spec.address]
          : ["10.213.1.2", "10.213.1.1"];
        const result = await pingOverTap(tap, myIp, peerIp);
        print({ ok: true, name, hostMac, ...result, goneAfterClose: !(await linkExists(name)) });
        break;
      }
      case "vnet": {
        const spec = parseTunnet(arg);
        if (spec.kind !== "address") throw new Error("vnet: an address, not a bridge");
        const tap = await openTunnet(spec);
        print({
          ok: true,
          ...(await vnetOverTap(tap, spec.address.replace(/\.\d+$/, ".2"), spec.address)),
        });
        break;
      }
      case "hold": {
        const tap = Tap.open(arg);
        new TapBackend(tap).start(() => {});
        print({ ok: true, name: tap.name });
        setInterval(() => {}, 1000);
        await new Promise(() => {});
        break;
      }
      case "open": {
        // Open `arg` twice in one process: the second must fail as "in use".
        const tap = Tap.open(arg);
        try {
          Tap.open(arg);
          print({ ok: true });
        } finally {
          tap.close();
        }
        break;
      }
      case "tunnet": {
        const tap = await openTunnet(parseTunnet(arg), "avmt0");
        tap.close();
        print({ ok: true });
        break;
      }
      default:
        throw new Error(`unknown child mode ${mode}`);
    }
  } catch (e) {
    print({ ok: false, error: (e as Error).message });
  }
}

if (import.meta.main) {
  await child(Deno.args);
  Deno.exit(0);
}

// ---- the tests (parent side) ----

const skip = await netnsUnavailable();
if (skip) console.warn(`net_tap_test: skipping namespace tests: ${skip}`);

async function runChild(ns: Netns, args: string[], wrap: string[] = []) {
  const r = await ns.exec([...wrap, Deno.execPath(), "run", "-A", SELF, ...args]);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`child ${args.join(" ")} said: ${r.stdout}\n${r.stderr}`);
  }
}

Deno.test({
  name: "tap: ARP and ICMP with the host end, tap removed on close",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      const r = await runChild(ns, ["ping", "10.213.0.1"]);
      assert.equal(r.ok, true, r.error);
      assert.equal(r.arp.senderIp, "10.213.0.1");
      assert.equal(r.arp.targetIp, "10.213.0.2");
      assert.deepEqual(parseMacText(r.arp.senderMac), r.hostMac);
      assert.equal(r.echo.src, "10.213.0.1");
      assert.equal(r.echo.id, 0x4156);
      assert.equal(r.echo.seq, 7);
      assert.equal(r.echo.payloadOk, true);
      assert.ok(r.stats.txFrames >= 2 && r.stats.rxFrames >= 2);
      assert.equal(r.goneAfterClose, true);
      // The address went with the tap: nothing is left in the namespace.
      assert.doesNotMatch(await ns.sh("ip -br addr"), /10\.213/);
    }),
});

Deno.test({
  name: "tap: virtio-net headers both ways; TUNSETOFFLOAD decides what the kernel hands over",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      const r = await runChild(ns, ["vnet", "10.213.0.1"]);
      assert.equal(r.ok, true, r.error);
      // Only the echo whose header says NEEDS_CSUM had a valid checksum: one reply, to it.
      assert.equal(r.replySeq, 2);
      assert.deepEqual(r.replies, [2]);
      // Without the offload the kernel checksums the datagram itself: a zero header...
      assert.deepEqual(r.before.hdr, new Array(12).fill(0));
      assert.equal(r.before.csumOk, true);
      // ...with it, it leaves the checksum partial and says where (UDP: start 34, offset 6).
      assert.equal(r.after.hdr[0], 1, `header ${r.after.hdr}`);
      assert.equal(r.after.hdr[1], 0); // no GSO for one small datagram
      assert.deepEqual([r.after.hdr[6] | (r.after.hdr[7] << 8), r.after.hdr[8]], [34, 6]);
      assert.equal(r.after.csumOk, false);
    }),
});

Deno.test({
  name: "tap: bridge mode reaches a veth peer on the same bridge",
  ignore: skip !== null,
  fn: () =>
    withNetns(2, async (ns, peer) => {
      await ns.sh("ip link add br0 type bridge && ip link set br0 up");
      await ns.sh(`ip link add v0 type veth peer name v1 netns ${peer.name}`);
      await ns.sh("ip link set v0 master br0 && ip link set v0 up");
      await peer.sh("ip addr add 10.213.1.1/24 dev v1 && ip link set v1 up");
      const r = await runChild(ns, ["ping", "bridge:br0"]);
      assert.equal(r.ok, true, r.error);
      assert.equal(r.arp.senderIp, "10.213.1.1");
      assert.equal(r.echo.src, "10.213.1.1");
      assert.equal(r.echo.payloadOk, true);
      assert.equal(r.goneAfterClose, true);
    }),
});

Deno.test({
  name: "tap: SIGKILL of the emulator removes the tap",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      const child = ns.spawn([Deno.execPath(), "run", "-A", SELF, "hold", "avmk0"]);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await reader.cancel();
      await child.stderr.cancel();
      assert.deepEqual(JSON.parse(text), { ok: true, name: "avmk0" });
      assert.match(await ns.sh("ip -br link"), /avmk0/);
      child.kill("SIGKILL");
      await child.status;
      assert.doesNotMatch(await ns.sh("ip -br link"), /avmk0/);
    }),
});

Deno.test({
  name: "tap: clear errors for a name in use, a non-tap name, no permission, no /dev/net/tun",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      let r = await runChild(ns, ["open", "avmb0"]);
      assert.equal(r.ok, false);
      assert.match(r.error, /"avmb0": that name is in use/);

      await ns.sh("ip link add avmv0 type veth peer name avmv1");
      r = await runChild(ns, ["open", "avmv0"]);
      assert.equal(r.ok, false);
      assert.match(r.error, /exists and is not a tap/);

      // Root without capabilities: /dev/net/tun opens, TUNSETIFF is refused.
      r = await runChild(ns, ["open", "avmp0"], [
        "setpriv",
        "--bounding-set=-all",
        "--inh-caps=-all",
      ]);
      assert.equal(r.ok, false);
      assert.match(r.error, /operation not permitted \(needs CAP_NET_ADMIN/);

      // A private mount namespace with an empty /dev/net: no tun device node.
      r = await runChild(ns, ["open", "avmn0"], [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount -t tmpfs none /dev/net && exec "$@"',
        "sh",
      ]);
      assert.equal(r.ok, false);
      assert.match(r.error, /\/dev\/net\/tun: it does not exist/);
    }),
});

Deno.test({
  name: "netcfg: missing bridge, a non-bridge, a taken address: clear errors, nothing left behind",
  ignore: skip !== null,
  fn: () =>
    withNetns(1, async (ns) => {
      let r = await runChild(ns, ["tunnet", "bridge:nosuchbr"]);
      assert.equal(r.ok, false);
      assert.match(r.error, /bridge "nosuchbr" does not exist/);

      await ns.sh("ip link add avmv0 type veth peer name avmv1");
      r = await runChild(ns, ["tunnet", "bridge:avmv0"]);
      assert.equal(r.ok, false);
      assert.match(r.error, /"avmv0" is not a bridge \(it is a veth link\)/);

      r = await runChild(ns, ["tunnet", "10.213.2.1/24"]);
      assert.equal(r.ok, true, r.error);
      // Nothing left behind by any of them: no tap, no address.
      const links = await ns.sh("ip -br link");
      assert.doesNotMatch(links, /avmt0/);
      assert.doesNotMatch(await ns.sh("ip -br addr"), /10\.213\.2/);
    }),
});

Deno.test("netcfg: parseTunnet accepts addresses, prefixes and bridges", () => {
  assert.deepEqual(parseTunnet("10.0.2.1"), { kind: "address", address: "10.0.2.1", prefix: 24 });
  assert.deepEqual(parseTunnet("192.168.7.1/16"), {
    kind: "address",
    address: "192.168.7.1",
    prefix: 16,
  });
  assert.deepEqual(parseTunnet("bridge:br0"), { kind: "bridge", bridge: "br0" });
});

Deno.test("netcfg: parseTunnet rejects malformed values with the reason", () => {
  const bad: [string, RegExp][] = [
    ["10.0.2", /"10.0.2" is not an IPv4 address/],
    ["10.0.2.256", /is not an IPv4 address/],
    ["10.0.02.1", /is not an IPv4 address/],
    ["fe80::1", /is not an IPv4 address/],
    ["10.0.2.1/33", /prefix "33" must be a number from 1 to 30/],
    ["10.0.2.1/", /prefix "" must be/],
    ["10.0.2.1/x", /prefix "x" must be/],
    ["10.0.2.0", /network or broadcast address of its \/24/],
    ["10.0.2.255/24", /network or broadcast/],
    ["127.0.0.1", /cannot be a host address/],
    ["bridge:", /no bridge name/],
    ["bridge:a/b", /bad interface name/],
    ["bridge:waytoolongbridgename", /must be 1 to 15 bytes/],
    ["", /is not an IPv4 address/],
  ];
  for (const [value, re] of bad) assert.throws(() => parseTunnet(value), re, value);
});
