// The user-mode network backend (`--net=user`): the guest's Ethernet goes to a
// `passt` process (Debian package `passt`), the user-mode network stack QEMU,
// libvirt and podman use for unprivileged guests. passt maps the gateway
// address to the host's loopback, NATs everything else through ordinary host
// sockets, and forwards host ports into the guest (`-t`, `-u`): no root, no
// tap, no namespace. We speak QEMU's stream protocol to it — each frame
// preceded by its length as a 32-bit big-endian word — on a Unix stream socket.
//
// The backend runs passt as a child and supervises it: its output goes to the
// trace (--verbose), and when it dies (its socket reaches EOF) it is started
// again, at most PASST_RESTARTS.maxRestarts times in a window; past that the
// backend fails and the device reports its link down. passt runs with
// --one-off, so it exits as soon as our end of the socket closes — however
// the emulator ends, SIGKILL included, since the kernel closes our fds.
// Read next: devices/net/net.ts (the device), actors/net/setup.ts (the options).

import {
  AF_UNIX,
  EAGAIN,
  EINTR,
  errno,
  libc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  Poller,
  SO_SNDBUF,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  sockaddrUn,
  SOL_SOCKET,
  strerror,
} from "./libc.ts";
import { type BackendStats, type FrameSink, type NetBackend, newStats } from "./backend.ts";

/** The addresses the guest and passt agree on (QEMU's `-netdev user` plan). */
export const USER_NET = {
  /** The guest's address and prefix (actorvm.ip= for the bundled guest). */
  address: "10.0.2.15",
  prefix: 24,
  /** The gateway; TCP and UDP to it reach the host's loopback. */
  gateway: "10.0.2.2",
  /** DNS queries to it go to the host's first resolver. */
  dns: "10.0.2.3",
} as const;

/** The bundled guest's kernel parameters for USER_NET (guest/rootfs/etc/init.d/rcS). */
export const USER_NET_CMDLINE =
  `actorvm.ip=${USER_NET.address}/${USER_NET.prefix} actorvm.gw=${USER_NET.gateway} ` +
  `actorvm.dns=${USER_NET.dns}`;

/** What a user network's default MAC is derived from: one passt per guest, the same MAC every run. */
export const USER_MAC_KEY = "user:passt";

/** How often passt may die before the backend gives up (the net actor's own policy's shape). */
export const PASST_RESTARTS = { maxRestarts: 5, windowMs: 60_000, backoffMs: 100 };

/** How long a starting passt has to open its socket. */
const CONNECT_TIMEOUT_MS = 5000;
/** Bytes read per read(): many frames at once, and always room for the largest one. */
const READ_BUF = 256 * 1024;
/** The largest frame the stream protocol carries (passt's own limit is 65535 + header). */
const MAX_STREAM_FRAME = 65535 + 14;
/** Bytes of frames waiting for passt's socket to drain; beyond this frames are dropped. */
const OUT_MAX = 1 << 20;
/** How soon waiting frames are retried when no new frame comes to push them along. */
const RETRY_MS = 1;
/** How often a stalled receive (the device had no room) looks again. */
const STALL_MS = 1;
/** passt's lines kept to explain a failure. */
const TAIL_LINES = 12;

/** One `--forward`: a host port on `hostAddr` forwarded to a guest port. */
export interface Forward {
  proto: "tcp" | "udp";
  hostAddr: string;
  hostPort: number;
  guestPort: number;
}

/**
 * Parse `tcp:<host-port>:<guest-port>` or `tcp:<host-addr>:<host-port>:<guest-port>`
 * (and `udp:`). The host side binds 127.0.0.1 unless an address is given.
 */
export function parseForward(text: string): Forward {
  const want = "want tcp:<host-port>:<guest-port> or udp:[<host-addr>:]<host-port>:<guest-port>";
  const parts = text.split(":");
  const proto = parts[0];
  if ((proto !== "tcp" && proto !== "udp") || (parts.length !== 3 && parts.length !== 4)) {
    throw new Error(`--forward=${text}: ${want}`);
  }
  const hostAddr = parts.length === 4 ? parts[1] : "127.0.0.1";
  if (
    !/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(hostAddr) ||
    hostAddr.split(".").some((b) => Number(b) > 255)
  ) {
    throw new Error(`--forward=${text}: "${hostAddr}" is not an IPv4 address; ${want}`);
  }
  const port = (s: string, what: string): number => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 65535) {
      throw new Error(`--forward=${text}: ${what} "${s}" is not a port (1..65535)`);
    }
    return n;
  };
  return {
    proto,
    hostAddr,
    hostPort: port(parts[parts.length - 2], "host port"),
    guestPort: port(parts[parts.length - 1], "guest port"),
  };
}

/**
 * Refuse before boot a TCP forward whose host port is taken (passt would exit
 * at start, as QEMU refuses a hostfwd it cannot bind): try to listen there
 * and let go at once. UDP ports are left to passt, which says so the same way.
 */
export function checkForwardPorts(forwards: Forward[]): void {
  for (const f of forwards) {
    if (f.proto !== "tcp") continue;
    let l: Deno.Listener;
    try {
      l = Deno.listen({ hostname: f.hostAddr, port: f.hostPort });
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? "is in use"
        : `cannot be bound: ${(e as Error).message}`;
      throw new Error(
        `--forward=tcp:${f.hostAddr}:${f.hostPort}:${f.guestPort}: ` +
          `host port ${f.hostAddr}:${f.hostPort} ${why}`,
      );
    }
    l.close();
  }
}

/** passt's options for USER_NET and these forwards (everything but the socket). */
export function passtArgs(forwards: Forward[]): string[] {
  const args = [
    "--address",
    USER_NET.address,
    "--netmask",
    String(USER_NET.prefix),
    "--gateway",
    USER_NET.gateway,
    "--dns-forward",
    USER_NET.dns,
  ];
  for (const proto of ["tcp", "udp"] as const) {
    const mine = forwards.filter((f) => f.proto === proto);
    // passt forwards the UDP twin of every TCP port unless told otherwise: say "none".
    const spec = mine.length === 0
      ? ["none"]
      : mine.map((f) => `${f.hostAddr}/${f.hostPort}:${f.guestPort}`);
    for (const s of spec) args.push(proto === "tcp" ? "--tcp-ports" : "--udp-ports", s);
  }
  return args;
}

/**
 * Where passt is, or an Error naming the Debian package: looked up on PATH
 * (or taken as given when it contains a '/').
 */
export function findPasst(name = "passt", path = Deno.env.get("PATH") ?? ""): string {
  const candidates = name.includes("/") ? [name] : path.split(":").filter((d) => d !== "")
    .map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return c;
    } catch { /* not here */ }
  }
  throw new Error(
    `passt is not installed (no "${name}" on PATH): --net=user needs it; ` +
      `install the Debian package "passt" (apt-get install passt)`,
  );
}

/**
 * A private directory for passt's sockets, which passt (as whoever it runs
 * as) can bind in and nobody else can enter. Run as root, passt drops to the
 * user `nobody`: the directory is then given to that user, and passt is told
 * the same ids with --runas. Returns the directory and passt's extra options.
 */
export function makeSocketDir(): { dir: string; args: string[] } {
  const dir = Deno.makeTempDirSync({ prefix: "actorvm-passt-" }); // mode 0700
  if (Deno.uid() !== 0) return { dir, args: [] };
  let uid = 65534, gid = 65534;
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n")
      .find((l) => l.startsWith("nobody:"));
    if (line !== undefined) [uid, gid] = line.split(":").slice(2, 4).map(Number);
  } catch { /* no /etc/passwd: the usual ids */ }
  Deno.chownSync(dir, uid, gid);
  return { dir, args: ["--runas", `${uid}:${gid}`] };
}

/**
 * A user network as plain data: made by the launcher (actors/net/setup.ts),
 * handed to each net worker, so a restarted worker starts its own passt.
 */
export interface PasstSpec {
  /** The passt executable (findPasst). */
  binary: string;
  /** A private directory (mode 0700) for passt's sockets; the launcher removes it. */
  socketDir: string;
  /** passt's options besides the socket (passtArgs). */
  args: string[];
  /**
   * Int32Array(3): the fd of the live connection and passt's pid (or -1),
   * and how many passts were started (each gets a new socket name). A worker
   * that was terminated cannot clean up; the next one (or the launcher at
   * exit) ends what it left with reapPasst.
   */
  live: SharedArrayBuffer;
}

/** A fresh `live` word pair. */
export function newPasstLive(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(12);
  new Int32Array(sab).set([-1, -1, 0]);
  return sab;
}

/**
 * End the passt connection a terminated worker left: close its fd (passt
 * --one-off then exits by itself) and kill the process if it is still ours —
 * its command line names our socket directory, so a reused pid is left alone.
 * Returns what it did, for the log, or null when nothing was left.
 */
export function reapPasst(spec: PasstSpec): string | null {
  const live = new Int32Array(spec.live);
  const fd = Atomics.exchange(live, 0, -1);
  const pid = Atomics.exchange(live, 1, -1);
  if (fd >= 0) libc().close(fd);
  let killed = false;
  if (pid > 0) {
    try {
      const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmd.includes(spec.socketDir)) {
        Deno.kill(pid, "SIGKILL");
        killed = true;
      }
    } catch { /* gone */ }
  }
  if (fd < 0 && !killed) return null;
  return `ended the passt ${killed ? `(pid ${pid}) ` : ""}a terminated net worker left` +
    `${fd >= 0 ? " and closed its socket" : ""}`;
}

export interface PasstOptions {
  /** Messages the user should see (a restart). */
  log?: (text: string) => void;
  /** passt's own output, line by line (--verbose). */
  trace?: (text: string) => void;
}

/** The backend: frames to and from a supervised passt. */
export class PasstBackend implements NetBackend {
  readonly stats: BackendStats = newStats();
  readonly description = "passt (user network)";
  /** One passt per guest: the same default MAC on every run. */
  readonly macKey = USER_MAC_KEY;
  /** Times passt was started again after it died. */
  restarts = 0;
  readonly #spec: PasstSpec;
  readonly #log: (text: string) => void;
  readonly #trace: (text: string) => void;
  readonly #live: Int32Array;
  #child: Deno.ChildProcess | null = null;
  #childStatus: Promise<Deno.CommandStatus> | null = null;
  #fd = -1;
  #poller: Poller | null = null;
  /** passt's last lines, to explain a failure. */
  #tail: string[] = [];
  readonly #in = new Uint8Array(READ_BUF);
  #inLen = 0;
  readonly #out = new Uint8Array(OUT_MAX);
  readonly #outView = new DataView(this.#out.buffer);
  #outLen = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** The device's room for frames (start's canTake); reading pauses while it is false. */
  #canTake: () => boolean = () => true;
  /** Frames wait in #in because the device had no room. */
  #stalled = false;
  #loop: Promise<void> | null = null;
  #closed = false;

  constructor(spec: PasstSpec, opts: PasstOptions = {}) {
    this.#spec = spec;
    this.#log = opts.log ?? (() => {});
    this.#trace = opts.trace ?? (() => {});
    this.#live = new Int32Array(spec.live);
  }

  /** passt's pid, or null while none runs (tests kill it to see the restart). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  start(onFrame: FrameSink, onError?: (e: Error) => void, canTake?: () => boolean): void {
    if (this.#loop !== null) throw new Error("passt backend already started");
    if (canTake) this.#canTake = canTake;
    this.#loop = this.#run(onFrame).catch((e) => {
      if (!this.#closed) onError?.(e instanceof Error ? e : new Error(String(e)));
    });
  }

  /** Start passt, pump frames until it dies, start it again within the policy. */
  async #run(onFrame: FrameSink): Promise<void> {
    const reaped = reapPasst(this.#spec); // what a terminated predecessor left
    // Said once start() has returned: an actor's events before "ready" reach no one.
    if (reaped !== null) setTimeout(() => this.#log(`passt: ${reaped}`), 0);
    const deaths: number[] = [];
    for (let first = true;; first = false) {
      let why: string;
      let connected = false;
      try {
        await this.#launch();
        connected = true;
        why = await this.#pump(onFrame);
      } catch (e) {
        why = (e as Error).message;
      }
      if (this.#closed) return;
      why = `${why}${await this.#endChild()}`;
      const said = this.#tail.length > 0 ? ` (passt said: ${this.#tail.join(" | ")})` : "";
      // One that never started at all is a setup problem (no default route,
      // a forward's port taken): retrying would only say it five more times.
      if (first && !connected) throw new Error(`passt could not start: ${why}${said}`);
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && now - deaths[0] >= PASST_RESTARTS.windowMs) deaths.shift();
      if (deaths.length > PASST_RESTARTS.maxRestarts) {
        throw new Error(
          `passt failed ${deaths.length} times within ${PASST_RESTARTS.windowMs / 1000} s; ` +
            `giving up: ${why}${said}`,
        );
      }
      this.restarts++;
      this.#log(
        `passt: ${why}; starting it again (${deaths.length} of ` +
          `${PASST_RESTARTS.maxRestarts} restarts in ${PASST_RESTARTS.windowMs / 1000} s)`,
      );
      await new Promise((r) => setTimeout(r, PASST_RESTARTS.backoffMs));
      if (this.#closed) return;
    }
  }

  /** Spawn passt on a fresh socket path and connect to it. */
  async #launch(): Promise<void> {
    // Never a name an earlier passt (perhaps one a killed worker left) still holds.
    const path = `${this.#spec.socketDir}/passt-${Atomics.add(this.#live, 2, 1)}.sock`;
    this.#tail = [];
    const child = new Deno.Command(this.#spec.binary, {
      args: ["--foreground", "--one-off", "--socket", path, ...this.#spec.args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#childStatus = child.status;
    Atomics.store(this.#live, 1, child.pid);
    let exited: Deno.CommandStatus | null = null;
    void child.status.then((s) => exited = s);
    void this.#drain(child.stdout);
    void this.#drain(child.stderr);
    const c = libc();
    const sa = sockaddrUn(path);
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    for (;;) {
      if (this.#closed) throw new Error("closed");
      if (exited !== null) {
        await new Promise((r) => setTimeout(r, 20)); // let its last words arrive
        throw new Error("passt exited before opening its socket");
      }
      const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_STREAM): ${strerror(errno())}`);
      if (c.connect(fd, sa, sa.length) === 0) {
        // Room for bursts from the guest while passt is busy.
        const size = new Int32Array([OUT_MAX]);
        c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, new Uint8Array(size.buffer), 4);
        this.#fd = fd;
        Atomics.store(this.#live, 0, fd);
        this.#poller = new Poller(fd);
        this.#inLen = 0;
        this.#outLen = 0;
        this.#stalled = false;
        this.#trace(`passt (pid ${child.pid}) connected on ${path}`);
        return;
      }
      c.close(fd);
      if (Date.now() > deadline) {
        throw new Error(`passt did not open its socket ${path} within ${CONNECT_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** passt's output: traced line by line, the last lines kept for errors. */
  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trimEnd();
          pending = pending.slice(nl + 1);
          // passt also tries syslog; where there is none it says so on every line.
          if (line === "" || /^Failed to send \d+ bytes to syslog/.test(line)) continue;
          this.#tail.push(line);
          if (this.#tail.length > TAIL_LINES) this.#tail.shift();
          this.#trace(`passt: ${line}`);
        }
      }
    } catch { /* the pipe closed with the process */ }
  }

  /**
   * Read frames until the connection ends; returns why it ended. While the
   * device has no room, nothing more is read: passt's socket fills, passt
   * stops reading its own sockets, and TCP's flow control slows the sender.
   */
  async #pump(onFrame: FrameSink): Promise<string> {
    const c = libc();
    const fd = this.#fd;
    const poller = this.#poller!;
    while (!this.#closed) {
      if (this.#stalled) {
        await new Promise((r) => setTimeout(r, STALL_MS));
        const bad = this.#deliver(onFrame);
        if (bad !== null) return bad;
        continue;
      }
      if (!(await poller.wait())) continue;
      for (let i = 0; i < 16 && !this.#closed && !this.#stalled; i++) {
        const room = this.#in.subarray(this.#inLen);
        const n = Number(c.read(fd, room, BigInt(room.length)));
        if (n < 0) {
          const e = errno();
          if (e === EAGAIN) break;
          if (e === EINTR) continue;
          this.stats.rxErrors++;
          return `reading passt's socket failed: ${strerror(e)}`;
        }
        if (n === 0) return "passt closed its socket";
        this.#inLen += n;
        const bad = this.#deliver(onFrame);
        if (bad !== null) return bad;
      }
    }
    return "closed";
  }

  /**
   * Hand whole frames in the read buffer to onFrame while the device has
   * room; keep the rest (a partial frame, or frames it has no room for).
   */
  #deliver(onFrame: FrameSink): string | null {
    const buf = this.#in;
    let off = 0;
    this.#stalled = false;
    while (this.#inLen - off >= 4) {
      const len = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>>
        0;
      if (len > MAX_STREAM_FRAME) {
        this.stats.rxErrors++;
        return `passt sent a frame length of ${len} bytes (the stream is out of step)`;
      }
      if (this.#inLen - off - 4 < len) break;
      if (!this.#canTake()) {
        this.#stalled = true;
        break;
      }
      this.stats.rxFrames++;
      this.stats.rxBytes += len;
      onFrame(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    if (off > 0) {
      buf.copyWithin(0, off, this.#inLen);
      this.#inLen -= off;
    }
    return null;
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed || this.#fd < 0 || this.#outLen + 4 + frame.length > OUT_MAX) {
      this.stats.txDropped++;
      return false;
    }
    // Queued whole (length word and frame) so a partial write never splits the stream.
    this.#outView.setUint32(this.#outLen, frame.length);
    this.#out.set(frame, this.#outLen + 4);
    this.#outLen += 4 + frame.length;
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.#flush();
    return true;
  }

  /** Write what is queued; what the socket does not take waits for the retry timer. */
  #flush = (): void => {
    this.#retry = undefined;
    const c = libc();
    while (this.#outLen > 0 && this.#fd >= 0) {
      const n = Number(
        c.sendto(this.#fd, this.#out, BigInt(this.#outLen), MSG_DONTWAIT | MSG_NOSIGNAL, null, 0),
      );
      if (n > 0) {
        this.#out.copyWithin(0, n, this.#outLen);
        this.#outLen -= n;
        continue;
      }
      const e = errno();
      if (e === EINTR) continue;
      if (e !== EAGAIN) {
        // passt is gone (EPIPE, ECONNRESET): the read side sees it and restarts passt.
        this.#outLen = 0;
        return;
      }
      break;
    }
    if (this.#outLen > 0 && this.#retry === undefined && !this.#closed) {
      this.#retry = setTimeout(this.#flush, RETRY_MS);
    }
  };

  /** Close our end and make sure passt is gone; returns how it ended, for messages. */
  async #endChild(): Promise<string> {
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#poller?.close();
    this.#poller = null;
    const connected = this.#fd >= 0;
    if (this.#fd >= 0) {
      Atomics.store(this.#live, 0, -1);
      libc().close(this.#fd);
      this.#fd = -1;
    }
    this.#outLen = 0;
    const child = this.#child;
    const status = this.#childStatus;
    this.#child = null;
    this.#childStatus = null;
    if (child === null || status === null) return "";
    if (!connected) {
      try {
        child.kill("SIGKILL"); // never connected: --one-off would keep it waiting
      } catch { /* gone already */ }
    }
    // --one-off: passt leaves once our end is closed; if it does not, it is ended.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => timer = setTimeout(() => r(null), 1000));
    let s = await Promise.race([status, late]);
    if (s === null) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone meanwhile */ }
      s = await status;
    }
    clearTimeout(timer);
    Atomics.store(this.#live, 1, -1);
    return ` (${statusText(s)})`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#poller?.close();
    await this.#loop;
    await this.#endChild();
  }
}

function statusText(s: Deno.CommandStatus): string {
  return s.signal !== null ? `killed by ${s.signal}` : `exit status ${s.code}`;
}
