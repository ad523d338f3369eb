// Network benchmark: TCP throughput host→guest and guest→host and ping
// round-trip time over a tap, for actorvm and for qemu-system-riscv64 with a
// tap in the same kind of namespace, in the same run, reported as ratios
// (actorvm / qemu). Everything happens inside network namespaces made here
// (testing/netns.ts), addresses 10.213.40.0/24 only. Run: deno task bench net

import { fileURLToPath } from "node:url";
import { netnsUnavailable, withNetns } from "../../testing/netns.ts";
import { startPeer, Vm } from "../../testing/net_vm.ts";
import { openTunnet, parseTunnet } from "../../devices/net/netcfg.ts";
import { TapBackend } from "../../devices/net/tap.ts";
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

interface NetNumbers {
  bootMs: number;
  /** MB/s (10^6 bytes) measured on the host side, from accept to the end. */
  hostToGuestMBps: number;
  guestToHostMBps: number;
  /** Mean ping RTT host→guest, ms. */
  pingRttMs: number;
  pingLoss: number;
}

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

      const send = await startPeer(ns, "send", HOST, 5001, BYTES, 3);
      // Into tmpfs, checked after: a checksum in the pipe would time the guest's CPU.
      await g.run(`nc ${HOST} 5001 </dev/null >/tmp/h2g`, 600_000);
      const h2g = await send.result;
      const got = await g.run(`sha256sum /tmp/h2g; rm /tmp/h2g`, 600_000);
      if (!got.startsWith(h2g.sha256)) throw new Error(`host→guest data corrupted: ${got}`);

      const blocks = BYTES / 65536;
      const want = await g.run(
        `dd if=/dev/urandom of=/tmp/blob bs=65536 count=${blocks} 2>/dev/null; sha256sum /tmp/blob`,
        600_000,
      );
      const sink = await startPeer(ns, "sink", HOST, 5002, BYTES);
      await g.run(`nc ${HOST} 5002 </tmp/blob`, 600_000);
      const g2h = await sink.result;
      if (!want.startsWith(g2h.sha256)) throw new Error(`guest→host data corrupted`);
      return {
        bootMs: Math.round(bootMs),
        hostToGuestMBps: +(h2g.bytes / 1000 / h2g.ms).toFixed(3),
        guestToHostMBps: +(g2h.bytes / 1000 / g2h.ms).toFixed(3),
        pingRttMs: Number(rtt[1]),
        pingLoss: Number(loss[1]),
      };
    } finally {
      await g.close();
    }
  });
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

export async function run(): Promise<Record<string, unknown>> {
  const skip = await netnsUnavailable();
  if (skip) return { skipped: skip };
  const out: Record<string, unknown> = { bytesPerTransfer: BYTES, pings: PINGS };
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
      "ping rtt (actorvm/qemu)": +(a.pingRttMs / q.pingRttMs).toFixed(2),
    };
  }
  return out;
}

if (import.meta.main) {
  if (Deno.args[0] === "backend-rtt") console.log(JSON.stringify(await backendRtt()));
  else console.log(JSON.stringify(await run(), null, 2));
}
