// Network benchmark: TCP throughput host→guest and guest→host and ping
// round-trip time over a tap, for actorvm and for qemu-system-riscv64 with a
// tap in the same kind of namespace, in the same run, reported as ratios
// (actorvm / qemu): the steady state (median of the transfers after the
// first) and the first transfer after boot on its own; then the same for the
// user network (`user`): actorvm --net=user against qemu's `-netdev stream`
// to a passt started the same way, throughput to and from a peer on the
// namespace's loopback (the gateway address) and one-byte TCP round trips
// through a forwarded port to an echo server in the guest. Everything happens
// inside network namespaces made here (testing/netns.ts), addresses
// 10.213.40.0/24 only. Run: deno task bench net

import { fileURLToPath } from "node:url";
import { median } from "./guest_qemu.ts";
import { netnsUnavailable, withNetns } from "../../testing/netns.ts";
import { startPeer, Vm } from "../../testing/net_vm.ts";
import { openTunnet, parseTunnet } from "../../devices/net/netcfg.ts";
import { TapBackend } from "../../devices/net/tap.ts";
import {
  makeSocketDir,
  parseForward,
  passtArgs,
  USER_NET,
  USER_NET_CMDLINE,
} from "../../devices/net/passt.ts";
import {
  passtUnavailable,
  preparePasstNetns,
  roundTripsInNetns,
  startBlobServer,
} from "../../testing/net_user.ts";
import {
  arpRequest,
  icmpEcho,
  parseArp,
  parseIcmp,
  parseMacText,
} from "../../testing/net_frames.ts";

const HOST = "10.213.40.1";
const GUEST = "10.213.40.2";
/** Bytes per TCP transfer. */
const BYTES = 4 << 20;
const PINGS = 20;

/**
 * Transfers per direction on the tap: the first, right after boot, runs the
 * guest's network path mostly interpreted; the rest give the steady state.
 * One 4 MiB transfer is ~50 ms for qemu, where one scheduling hiccup on a
 * 2-core host moves the result by half: the median of several is the number.
 */
const TRANSFERS = 6;

interface NetNumbers {
  bootMs: number;
  /**
   * MB/s (10^6 bytes) measured on the host side, from accept to the end:
   * the median of the transfers after the first; the first on its own; all.
   */
  hostToGuestMBps: number;
  hostToGuestFirstMBps: number;
  hostToGuestAll: number[];
  guestToHostMBps: number;
  guestToHostFirstMBps: number;
  guestToHostAll: number[];
  /** Mean ping RTT host→guest, ms. */
  pingRttMs: number;
  pingLoss: number;
}

const mbps = (r: { bytes: number; ms: number }) => +(r.bytes / 1000 / r.ms).toFixed(3);

async function measure(vm: "actorvm" | "qemu"): Promise<NetNumbers> {
  return await withNetns(1, async (ns) => {
    const t0 = performance.now();
    const g = await Vm.boot({ vm, ns, tunnet: `${HOST}/24`, guestIp: `${GUEST}/24` }, 300_000);
    const bootMs = performance.now() - t0;
    try {
      // Warm up ARP and the guest's network path.
      await ns.sh(`ping -c 2 -W 10 -q ${GUEST}`);
      const ping = await ns.sh(`ping -c ${PINGS} -i 0.05 -W 10 -q ${GUEST}`);
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping);
      const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(ping);
      if (!rtt || !loss) throw new Error(`cannot parse ping output: ${ping}`);

      const h2g: number[] = [];
      for (let i = 0; i < TRANSFERS; i++) {
        const send = await startPeer(ns, "send", HOST, 5001 + i, BYTES, 3 + i);
        // Into tmpfs, checked after: a checksum in the pipe would time the guest's CPU.
        await g.run(`nc ${HOST} ${5001 + i} </dev/null >/tmp/h2g`, 600_000);
        const r = await send.result;
        const got = await g.run(`sha256sum /tmp/h2g; rm /tmp/h2g`, 600_000);
        if (!got.startsWith(r.sha256)) throw new Error(`host→guest data corrupted: ${got}`);
        h2g.push(mbps(r));
      }

      const blocks = BYTES / 65536;
      const g2h: number[] = [];
      for (let i = 0; i < TRANSFERS; i++) {
        const want = await g.run(
          `dd if=/dev/urandom of=/tmp/blob bs=65536 count=${blocks} 2>/dev/null; sha256sum /tmp/blob`,
          600_000,
        );
        const sink = await startPeer(ns, "sink", HOST, 5101 + i, BYTES);
        await g.run(`nc ${HOST} ${5101 + i} </tmp/blob`, 600_000);
        const r = await sink.result;
        if (!want.startsWith(r.sha256)) throw new Error(`guest→host data corrupted`);
        g2h.push(mbps(r));
      }
      return {
        bootMs: Math.round(bootMs),
        hostToGuestMBps: median(h2g.slice(1)),
        hostToGuestFirstMBps: h2g[0],
        hostToGuestAll: h2g,
        guestToHostMBps: median(g2h.slice(1)),
        guestToHostFirstMBps: g2h[0],
        guestToHostAll: g2h,
        pingRttMs: Number(rtt[1]),
        pingLoss: Number(loss[1]),
      };
    } finally {
      await g.close();
    }
  });
}

interface UserNumbers {
  bootMs: number;
  hostToGuestMBps: number;
  guestToHostMBps: number;
  /** One-byte TCP round trips host → forwarded port → guest echo → host. */
  rttMedianUs: number;
  rttP99Us: number;
}

/** The forward the round trips go through: host 127.0.0.1:7007 → guest port 7. */
const ECHO_FORWARD = "tcp:7007:7";

/** Throughput and round trips on the user network (passt), for actorvm or qemu. */
async function measureUser(vm: "actorvm" | "qemu"): Promise<UserNumbers> {
  return await withNetns(1, async (ns) => {
    await preparePasstNetns(ns);
    let passt: Deno.ChildProcess | null = null;
    let qemuArgs: string[] = [];
    let sockDir: string | null = null;
    if (vm === "qemu") {
      // The same passt options actorvm uses, on a socket qemu connects to.
      const sock = makeSocketDir();
      sockDir = sock.dir;
      passt = ns.spawn([
        "passt",
        "--foreground",
        "--one-off",
        "--socket",
        `${sock.dir}/q.sock`,
        ...sock.args,
        ...passtArgs([parseForward(ECHO_FORWARD)]),
      ]);
      for (let i = 0; i < 500; i++) {
        try {
          Deno.statSync(`${sock.dir}/q.sock`);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      qemuArgs = [
        "-netdev",
        `stream,id=u0,server=off,addr.type=unix,addr.path=${sock.dir}/q.sock`,
        "-device",
        "virtio-net-device,netdev=u0",
      ];
    }
    const t0 = performance.now();
    const g = await Vm.boot({
      vm,
      ns,
      extraArgs: ["--net=user", `--forward=${ECHO_FORWARD}`],
      kernelArgs: [USER_NET_CMDLINE],
      qemuArgs,
    }, 300_000);
    const bootMs = performance.now() - t0;
    try {
      const gw = USER_NET.gateway;
      // Host→guest with wget from an HTTP server on the loopback, timed in the
      // guest (/proc/uptime, 10 ms steps): the tap section's `nc </dev/null`
      // half-closes at once, and this passt then stops sending to the guest.
      const blob = await startBlobServer(ns, "127.0.0.1", 5001, BYTES, 3);
      const h2gOut = await g.run(
        "a=$(cut -d' ' -f1 /proc/uptime); " +
          `wget -q -O /tmp/h2g http://${gw}:5001/blob; ` +
          "b=$(cut -d' ' -f1 /proc/uptime); echo T $a $b; sha256sum /tmp/h2g; rm /tmp/h2g",
        600_000,
      );
      blob.stop();
      const tm = /T ([\d.]+) ([\d.]+)/.exec(h2gOut);
      if (!tm || !h2gOut.includes(blob.sha256)) {
        throw new Error(`host→guest download failed or corrupted: ${h2gOut}`);
      }
      const h2g = { bytes: BYTES, ms: (Number(tm[2]) - Number(tm[1])) * 1000 };

      const want = await g.run(
        `dd if=/dev/urandom of=/tmp/blob bs=65536 count=${BYTES / 65536} 2>/dev/null; ` +
          "sha256sum /tmp/blob",
        600_000,
      );
      const sink = await startPeer(ns, "sink", "127.0.0.1", 5002, BYTES);
      await g.run(`nc ${gw} 5002 </tmp/blob; rm /tmp/blob`, 600_000);
      const g2h = await sink.result;
      if (!want.startsWith(g2h.sha256)) throw new Error(`guest→host data corrupted`);

      await g.run("(nc -l -p 7 -e cat &); sleep 1");
      const rr = await roundTripsInNetns(ns, "127.0.0.1", 7007);
      return {
        bootMs: Math.round(bootMs),
        hostToGuestMBps: +(h2g.bytes / 1000 / h2g.ms).toFixed(3),
        guestToHostMBps: +(g2h.bytes / 1000 / g2h.ms).toFixed(3),
        rttMedianUs: rr.medianUs,
        rttP99Us: rr.p99Us,
      };
    } finally {
      await g.close();
      try {
        passt?.kill("SIGKILL");
      } catch { /* gone */ }
      if (sockDir !== null) Deno.removeSync(sockDir, { recursive: true });
    }
  });
}

/** The user-network section: actorvm and qemu against the same passt setup, and ratios. */
export async function runUser(): Promise<Record<string, unknown>> {
  const skip = (await netnsUnavailable()) ?? (await passtUnavailable());
  if (skip) return { skipped: skip };
  const out: Record<string, unknown> = { bytesPerTransfer: BYTES, forward: ECHO_FORWARD };
  const r: Partial<Record<"actorvm" | "qemu", UserNumbers>> = {};
  for (const vm of ["actorvm", "qemu"] as const) {
    try {
      r[vm] = await measureUser(vm);
      out[vm] = r[vm];
    } catch (e) {
      out[vm] = { error: e instanceof Error ? e.message.slice(0, 2000) : String(e) };
    }
  }
  if (r.actorvm && r.qemu) {
    const a = r.actorvm, q = r.qemu;
    out.ratios = {
      "hostToGuest throughput (actorvm/qemu)": +(a.hostToGuestMBps / q.hostToGuestMBps).toFixed(4),
      "guestToHost throughput (actorvm/qemu)": +(a.guestToHostMBps / q.guestToHostMBps).toFixed(4),
      "tcp round trip median (actorvm/qemu)": +(a.rttMedianUs / q.rttMedianUs).toFixed(2),
    };
  }
  return out;
}

/**
 * The tap backend alone (no guest): ICMP echo round trips between the
 * backend on this thread's event loop and the kernel. Runs inside a namespace.
 */
async function backendRtt(n = 2000): Promise<{ medianUs: number; p99Us: number }> {
  const tap = await openTunnet(parseTunnet(`${HOST}/24`));
  const be = new TapBackend(tap);
  const me = [2, 0, 0, 0x21, 0x3a, 9];
  let hostMac: number[] | null = null;
  let resolve: (() => void) | null = null;
  be.start((f) => {
    const a = parseArp(f);
    if (a && a.op === 2) hostMac = parseMacText(a.senderMac);
    if (resolve && parseIcmp(f)?.type === 0) {
      const r = resolve;
      resolve = null;
      r();
    }
  });
  try {
    be.send(arpRequest(me, GUEST, HOST));
    for (let i = 0; i < 100 && hostMac === null; i++) await new Promise((r) => setTimeout(r, 10));
    if (hostMac === null) throw new Error("no ARP reply from the tap's host end");
    const payload = new Uint8Array(56);
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = new Promise<void>((r) => resolve = r);
      const t0 = performance.now();
      be.send(icmpEcho(me, hostMac, GUEST, HOST, 1, i & 0xffff, payload));
      await p;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return {
      medianUs: Math.round(times[n >> 1] * 1000),
      p99Us: Math.round(times[Math.floor(n * 0.99)] * 1000),
    };
  } finally {
    await be.close();
  }
}

/** The tap section only (`deno run -A scripts/bench/net.ts tap`): for A/B runs. */
export const runTap = (): Promise<Record<string, unknown>> => run(true);

export async function run(tapOnly = false): Promise<Record<string, unknown>> {
  const skip = await netnsUnavailable();
  if (skip) return { skipped: skip };
  const out: Record<string, unknown> = {
    bytesPerTransfer: BYTES,
    transfersPerDirection: TRANSFERS,
    pings: PINGS,
  };
  try {
    out.tapBackendRtt = await withNetns(1, async (ns) => {
      const self = fileURLToPath(import.meta.url);
      return JSON.parse(await ns.sh(`${Deno.execPath()} run -A ${self} backend-rtt`));
    });
  } catch (e) {
    out.tapBackendRtt = { error: e instanceof Error ? e.message : String(e) };
  }
  const r: Partial<Record<"actorvm" | "qemu", NetNumbers>> = {};
  for (const vm of ["actorvm", "qemu"] as const) {
    try {
      r[vm] = await measure(vm);
      out[vm] = r[vm];
    } catch (e) {
      out[vm] = { error: e instanceof Error ? e.message.slice(0, 2000) : String(e) };
    }
  }
  if (r.actorvm && r.qemu) {
    const a = r.actorvm, q = r.qemu;
    out.ratios = {
      "hostToGuest throughput (actorvm/qemu)": +(a.hostToGuestMBps / q.hostToGuestMBps).toFixed(4),
      "guestToHost throughput (actorvm/qemu)": +(a.guestToHostMBps / q.guestToHostMBps).toFixed(4),
      "hostToGuest first transfer (actorvm/qemu)":
        +(a.hostToGuestFirstMBps / q.hostToGuestFirstMBps).toFixed(4),
      "guestToHost first transfer (actorvm/qemu)":
        +(a.guestToHostFirstMBps / q.guestToHostFirstMBps).toFixed(4),
      "ping rtt (actorvm/qemu)": +(a.pingRttMs / q.pingRttMs).toFixed(2),
    };
  }
  if (!tapOnly) out.user = await runUser();
  return out;
}

if (import.meta.main) {
  if (Deno.args[0] === "backend-rtt") console.log(JSON.stringify(await backendRtt()));
  else if (Deno.args[0] === "tap") console.log(JSON.stringify(await runTap(), null, 2));
  else if (Deno.args[0] === "user") console.log(JSON.stringify(await runUser(), null, 2));
  else console.log(JSON.stringify(await run(), null, 2));
}
