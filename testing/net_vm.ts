// Test and benchmark helper: a booted guest inside a network namespace,
// driven through its console — actorvm (mod.ts) or, for reference,
// qemu-system-riscv64 with a tap in the same kind of namespace — plus a host
// side TCP peer (this file's `import.meta.main` block, run inside the
// namespace) that sends or sinks a deterministic byte stream and reports its
// SHA-256 and timing. Used by tests/e2e/net_e2e_test.ts and scripts/bench/net.ts.

import { fileURLToPath } from "node:url";
import type { Netns } from "./netns.ts";
import { GuestSession, READY_LINE } from "./guest_session.ts";
import { sha256Hex } from "./sha256.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SELF = fileURLToPath(import.meta.url);

export interface VmOptions {
  vm: "actorvm" | "qemu";
  ns: Netns;
  /** `--tunnet` value: host address of the tap ("10.213.0.1/24") or "bridge:<name>". */
  tunnet?: string;
  /** `--sharenet` directory (actorvm only). */
  sharenet?: string;
  /** The guest's eth0 address with prefix (actorvm.ip=). */
  guestIp?: string;
  /** Extra actorvm options (before <mem-in-mb>). */
  extraArgs?: string[];
  /** Extra kernel parameters (e.g. the user network's addresses). */
  kernelArgs?: string[];
  /** Extra qemu arguments (qemu only), e.g. a `-netdev stream` to passt. */
  qemuArgs?: string[];
}

/** The argv that boots the bundled guest with these options. */
function argv(o: VmOptions, cmdline: string): string[] {
  if (o.vm === "actorvm") {
    const args = [Deno.execPath(), "run", "-A", `${ROOT}mod.ts`];
    if (o.tunnet) args.push(`--tunnet=${o.tunnet}`);
    if (o.sharenet) args.push(`--sharenet=${o.sharenet}`);
    args.push(...(o.extraArgs ?? []));
    args.push(`--initrd=${ROOT}guest/initramfs.cpio`, "128", `${ROOT}guest/Image`);
    return [...args, ...cmdline.split(" ")];
  }
  if (o.sharenet) throw new Error("qemu reference runs have no sharenet");
  const args = [`${ROOT}scripts/qemu-boot.sh`, "-n", "-d", "none", "-c", cmdline, "--"];
  args.push(...(o.qemuArgs ?? []));
  if (o.tunnet) {
    args.push(
      "-netdev",
      "tap,id=n0,ifname=qtap0,script=no,downscript=no",
      "-device",
      "virtio-net-device,netdev=n0",
    );
  }
  return args;
}

/**
 * A booted guest in a namespace: the session helper (wait, type, run shell
 * commands) on an `ip netns exec` child, plus booting it to the ready line.
 */
export class Vm extends GuestSession {
  private constructor(readonly opts: VmOptions, cmd: string[]) {
    super({ child: opts.ns.spawn(cmd, { stdin: "piped" }) });
  }

  /** Boot and wait for the guest's ready line (and, for qemu, configure the tap). */
  static async boot(o: VmOptions, timeoutMs = 120_000): Promise<Vm> {
    const base = (await Deno.readTextFile(`${ROOT}guest/cmdline.txt`)).split("\n")[0].trim();
    const cmdline = [
      base,
      ...(o.guestIp ? [`actorvm.ip=${o.guestIp}`] : []),
      ...(o.kernelArgs ?? []),
    ]
      .join(" ");
    const vm = new Vm(o, argv(o, cmdline));
    try {
      if (o.vm === "qemu" && o.tunnet) {
        // qemu makes the tap; the host side is configured as --tunnet would.
        await vm.#waitLink("qtap0", 10_000);
        if (o.tunnet.startsWith("bridge:")) {
          await o.ns.sh(`ip link set qtap0 master ${o.tunnet.slice(7)} && ip link set qtap0 up`);
        } else {
          await o.ns.sh(`ip addr add ${o.tunnet} dev qtap0 && ip link set qtap0 up`);
        }
      }
      await vm.waitFor(READY_LINE, timeoutMs);
    } catch (e) {
      await vm.close();
      throw e;
    }
    return vm;
  }

  async #waitLink(name: string, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while ((await this.opts.ns.exec(["ip", "link", "show", "dev", name])).code !== 0) {
      if (performance.now() > deadline || this.exited) {
        throw new Error(`${name} did not appear\n${this.stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Power the guest off (best effort) and make sure the process is gone. */
  override close(): Promise<void> {
    return this.poweroff();
  }
}

// ---- the host-side TCP peer, run inside a namespace

export interface PeerResult {
  bytes: number;
  sha256: string;
  /** From accept to the end of the transfer (both directions: until the guest closed). */
  ms: number;
}

/** Deterministic pseudo-random bytes (xorshift32), fast enough for many MiB. */
export function streamBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, n);
}

/**
 * Start the peer inside `ns`: "send" serves `bytes` bytes to the first
 * client and closes; "sink" reads exactly `bytes` bytes and closes. Resolves
 * once it listens; `result` settles when the transfer is done.
 */
export async function startPeer(
  ns: Netns,
  mode: "send" | "sink",
  host: string,
  port: number,
  bytes: number,
  seed = 1,
): Promise<{ result: Promise<PeerResult>; stop: () => void }> {
  const child = ns.spawn([
    Deno.execPath(),
    "run",
    "-A",
    SELF,
    mode,
    host,
    String(port),
    String(bytes),
    String(seed),
  ]);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const next = async (): Promise<string> => {
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) {
        const err = await new Response(child.stderr).text();
        throw new Error(`tcp peer ended early: ${err}`);
      }
      buf += value;
    }
  };
  const first = await next();
  if (first !== "listening") throw new Error(`tcp peer: ${first}`);
  const result = next().then((l) => JSON.parse(l) as PeerResult).finally(async () => {
    await lines.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  });
  // A caller that failed before awaiting the result must not also get an
  // unhandled rejection when the peer is killed at cleanup.
  result.catch(() => {});
  return {
    result,
    stop: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
}

async function peerMain(args: string[]): Promise<void> {
  const [mode, host, port, bytes, seed] = args;
  const n = Number(bytes);
  const listener = Deno.listen({ hostname: host, port: Number(port) });
  console.log("listening");
  const conn = await listener.accept();
  listener.close();
  const t0 = performance.now();
  let result: PeerResult;
  if (mode === "send") {
    const data = streamBytes(n, Number(seed));
    let at = 0;
    while (at < n) at += await conn.write(data.subarray(at, Math.min(n, at + 65536)));
    await conn.closeWrite();
    // Wait for the guest to close: then it has everything.
    const scratch = new Uint8Array(4096);
    while ((await conn.read(scratch)) !== null) { /* nothing expected */ }
    result = { bytes: n, sha256: await sha256Hex(data), ms: performance.now() - t0 };
  } else {
    const got = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const r = await conn.read(got.subarray(at));
      if (r === null) break;
      at += r;
    }
    result = { bytes: at, sha256: await sha256Hex(got.slice(0, at)), ms: performance.now() - t0 };
  }
  conn.close();
  console.log(JSON.stringify(result));
}

if (import.meta.main) await peerMain(Deno.args);
