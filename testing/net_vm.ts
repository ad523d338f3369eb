// Test and benchmark helper: a booted guest inside a network namespace,
// driven through its console — actorvm (mod.ts) or, for reference,
// qemu-system-riscv64 with a tap in the same kind of namespace — plus a host
// side TCP peer (this file's `import.meta.main` block, run inside the
// namespace) that sends or sinks a deterministic byte stream and reports its
// SHA-256 and timing. Used by tests/e2e/net_e2e_test.ts and scripts/bench/net.ts.

import type { Netns } from "./netns.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
export const READY_LINE = "actorvm-guest: ready";

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

/** A running guest: wait for console text, run shell commands, stop. */
export class Vm {
  readonly child: Deno.ChildProcess;
  #out = "";
  #err = "";
  #waiters: (() => void)[] = [];
  #exited = false;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>[];

  private constructor(readonly opts: VmOptions, cmd: string[]) {
    this.child = opts.ns.spawn(cmd, { stdin: "piped" });
    this.#writer = this.child.stdin.getWriter();
    this.#pumps = [
      this.#pump(this.child.stdout, (s) => this.#out += s),
      this.#pump(this.child.stderr, (s) => this.#err += s),
    ];
    this.#status = this.child.status;
    this.#status.then(() => {
      this.#exited = true;
      this.#wake();
    });
  }

  /** Boot and wait for the guest's ready line (and, for qemu, configure the tap). */
  static async boot(o: VmOptions, timeoutMs = 120_000): Promise<Vm> {
    const base = (await Deno.readTextFile(`${ROOT}guest/cmdline.txt`)).split("\n")[0].trim();
    const cmdline = `${base}${o.guestIp ? ` actorvm.ip=${o.guestIp}` : ""}`;
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
      if (performance.now() > deadline || this.#exited) {
        throw new Error(`${name} did not appear\n${this.#err.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get output(): string {
    return this.#out;
  }

  get stderr(): string {
    return this.#err;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #pump(stream: ReadableStream<Uint8Array>, add: (s: string) => void): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        add(dec.decode(chunk, { stream: true }));
        this.#wake();
      }
    } catch { /* the process was killed */ }
    this.#wake();
  }

  /** Wait for `what` in the console output after `from`; returns the index past it. */
  async waitFor(what: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hay = this.#out.slice(from);
      if (typeof what === "string") {
        const i = hay.indexOf(what);
        if (i >= 0) return from + i + what.length;
      } else {
        const m = what.exec(hay);
        if (m) return from + m.index + m[0].length;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.#exited) {
        throw new Error(
          `${this.#exited ? `${this.opts.vm} exited` : "timed out"} waiting for ${String(what)}\n` +
            `--- console tail ---\n${this.#out.slice(-1500)}\n--- stderr tail ---\n${
              this.#err.slice(-1500)
            }`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Run a shell command in the guest; its output, or an Error with it on a non-zero status. */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const tag = `M${Math.random().toString(36).slice(2, 10)}`;
    const from = this.#out.length;
    // The marker is split in the typed line so the echo of the line does not match.
    await this.#writer.write(
      new TextEncoder().encode(`echo ${tag}''B; ${command}; echo ${tag}''E$?\n`),
    );
    const b = await this.waitFor(`${tag}B`, timeoutMs, from);
    const e = await this.waitFor(new RegExp(`${tag}E(\\d+)`), timeoutMs, b);
    const m = /([\s\S]*)M[a-z0-9]+E(\d+)$/.exec(this.#out.slice(b, e))!;
    const text = m[1].replace(/\r/g, "").replace(/^\n/, "");
    if (Number(m[2]) !== 0) {
      throw new Error(`guest command failed (${m[2]}): ${command}\n${text}`);
    }
    return text;
  }

  /** SIGKILL the emulator and wait for it to be gone. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#status;
    await Promise.all(this.#pumps);
    try {
      await this.#writer.close();
    } catch { /* closed */ }
  }

  /** Power the guest off (best effort) and make sure the process is gone. */
  async close(): Promise<void> {
    if (!this.#exited) {
      try {
        await this.#writer.write(new TextEncoder().encode("\npoweroff -f\n"));
      } catch { /* stdin gone */ }
      const t = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await this.#status;
      clearTimeout(t);
    }
    // Everything the emulator printed (e.g. its exit summary) is in output/stderr now.
    await Promise.all(this.#pumps);
    try {
      await this.#writer.close();
    } catch { /* closed */ }
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

export async function sha256(b: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
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
    result = { bytes: n, sha256: await sha256(data), ms: performance.now() - t0 };
  } else {
    const got = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const r = await conn.read(got.subarray(at));
      if (r === null) break;
      at += r;
    }
    result = { bytes: at, sha256: await sha256(got.slice(0, at)), ms: performance.now() - t0 };
  }
  conn.close();
  console.log(JSON.stringify(result));
}

if (import.meta.main) await peerMain(Deno.args);
