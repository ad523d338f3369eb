// The inter-guest network (`--sharenet=<path>`), in the spirit of lguest's
// first network, where Guests shared a page: every emulator started with the
// same <path> joins one Ethernet segment, with no root rights and no tap.
// <path> is a directory; each member binds a Unix datagram socket `<N>.sock`
// in it (N = the lowest free slot, so a member's default MAC is stable) and
// sends each frame to the member that owns the destination MAC (learned from
// the sender address of what it receives), or to every member for broadcast,
// multicast and unknown destinations: a learning switch with no hub process.
// Members that died (SIGKILL leaves their socket file behind) are detected by
// ECONNREFUSED and their files removed under a lock; they never block anyone.
// A member whose receive queue is full gets the frame later from a bounded
// backlog (in order); beyond that frames are dropped and counted. Never waits.
// Read next: devices/net/net.ts.

import {
  AF_UNIX,
  EADDRINUSE,
  EAGAIN,
  ECONNREFUSED,
  EINTR,
  ENOENT,
  errno,
  libc,
  MSG_DONTWAIT,
  Poller,
  SO_SNDBUF,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrPath,
  sockaddrUn,
  SOL_SOCKET,
  strerror,
} from "./libc.ts";
import {
  type BackendStats,
  type FrameSink,
  MAX_FRAME,
  type NetBackend,
  newStats,
} from "./backend.ts";

/** Most members one segment can have (slots 0..MAX_MEMBERS-1). */
export const MAX_MEMBERS = 64;
/** How often the member list is re-read from the directory. */
const REFRESH_MS = 1000;
/** A learned MAC → member entry is forgotten after this long without traffic. */
const LEARN_TTL_MS = 30_000;
const BATCH = 64;
const RECV_BUF = 65536;

interface Member {
  path: string;
  addr: Uint8Array<ArrayBuffer>;
  /** Frames the member's full queue refused, oldest first, re-sent in order. */
  backlog: Uint8Array[];
}

/** Frames kept per member while its receive queue is full; beyond this they are dropped. */
const BACKLOG = 128;
/** How soon a backlog is retried when no new frame comes to push it along. */
const RETRY_MS = 1;

function newSocket(): number {
  const fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`sharenet: socket(AF_UNIX, SOCK_DGRAM): ${strerror(errno())}`);
  return fd;
}

/** True if some process has a socket bound at `path` (a datagram connect() succeeds). */
function isLive(path: string): boolean {
  const c = libc();
  const fd = newSocket();
  try {
    const sa = sockaddrUn(path);
    if (c.connect(fd, sa, sa.length) === 0) return true;
    const e = errno();
    return !(e === ECONNREFUSED || e === ENOENT);
  } finally {
    c.close(fd);
  }
}

/** Run `fn` holding the segment's lock file (claims and removals of stale members). */
function withLock<T>(dir: string, fn: () => T): T {
  const f = Deno.openSync(`${dir}/lock`, { read: true, write: true, create: true });
  try {
    f.lockSync(true);
    return fn();
  } finally {
    f.close(); // also releases the lock
  }
}

/**
 * One membership of a segment: a bound socket. Plain data, so the launcher
 * can join before boot (errors surface early) and hand it to the net worker;
 * fds are process-wide, and a restarted worker adopts the same member.
 */
export interface SharenetMember {
  fd: number;
  /** The segment directory, as a real path. */
  dir: string;
  /** This member's slot number; its socket is `<dir>/<slot>.sock`. */
  slot: number;
  sockPath: string;
}

/** Join the segment at `path` (created if missing). Throws a clear Error if it cannot. */
export function joinSharenet(path: string): SharenetMember {
  if (path === "") throw new Error("--sharenet needs a directory path");
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(path);
  } catch { /* not there yet */ }
  if (info !== null && !info.isDirectory) {
    throw new Error(`--sharenet=${path}: exists and is not a directory`);
  }
  try {
    Deno.mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new Error(`--sharenet=${path}: cannot create the directory: ${(e as Error).message}`);
  }
  const dir = Deno.realPathSync(path);
  const c = libc();
  const fd = newSocket();
  try {
    const [slot, sockPath] = withLock(dir, () => claim(fd, dir));
    // Room for many frames in flight to slow members (charged to the sender).
    const size = new Int32Array([1 << 20]);
    c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, new Uint8Array(size.buffer), 4);
    return { fd, dir, slot, sockPath };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/** What a member's default MAC is derived from (devices/net/net.ts defaultMac). */
export const sharenetMacKey = (m: SharenetMember): string => `sharenet:${m.dir}:${m.slot}`;

/** Leave the segment: close the socket and remove its file. */
export function leaveSharenet(m: SharenetMember): void {
  libc().close(m.fd);
  try {
    Deno.removeSync(m.sockPath);
  } catch { /* gone already */ }
}

/** Bind the lowest free slot, reclaiming the files of dead members. Called under the lock. */
function claim(fd: number, dir: string): [number, string] {
  const c = libc();
  for (let n = 0; n < MAX_MEMBERS; n++) {
    const p = `${dir}/${n}.sock`;
    const sa = sockaddrUn(p);
    if (c.bind(fd, sa, sa.length) === 0) return [n, p];
    const e = errno();
    if (e !== EADDRINUSE) throw new Error(`--sharenet=${dir}: cannot bind ${p}: ${strerror(e)}`);
    if (isLive(p)) continue;
    // A dead member's socket file: take its place.
    Deno.removeSync(p);
    if (c.bind(fd, sa, sa.length) === 0) return [n, p];
    throw new Error(`--sharenet=${dir}: cannot bind ${p}: ${strerror(errno())}`);
  }
  throw new Error(`--sharenet=${dir}: the segment is full (${MAX_MEMBERS} members)`);
}

export interface SharenetOptions {
  /** Leave the segment on close() (default true); false when the launcher owns the member. */
  leave?: boolean;
}

export class SharenetBackend implements NetBackend {
  readonly stats: BackendStats = newStats();
  readonly description: string;
  readonly dir: string;
  readonly slot: number;
  /** Stable per segment and slot: what the default MAC is derived from. */
  readonly macKey: string;
  /** Frames not delivered to some member because its queue and backlog were full (per member). */
  peerDrops = 0;
  readonly #member: SharenetMember;
  readonly #leave: boolean;
  readonly #fd: number;
  readonly #path: string;
  readonly #poller: Poller;
  #members: Member[] = [];
  #refreshedAt = -Infinity;
  readonly #learned = new Map<string, { member: Member; at: number }>();
  readonly #buf = new Uint8Array(RECV_BUF);
  readonly #from = new Uint8Array(110);
  readonly #fromLen = new Uint32Array(1);
  #loop: Promise<void> | null = null;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Join `path` and own the membership (left on close). */
  static open(path: string): SharenetBackend {
    return new SharenetBackend(joinSharenet(path));
  }

  constructor(member: SharenetMember, opts: SharenetOptions = {}) {
    this.#member = member;
    this.#leave = opts.leave ?? true;
    this.#fd = member.fd;
    this.#path = member.sockPath;
    this.dir = member.dir;
    this.slot = member.slot;
    this.#poller = new Poller(this.#fd);
    this.macKey = sharenetMacKey(member);
    this.description = `sharenet ${this.dir} (member ${this.slot})`;
  }

  /** Re-read the member list from the directory (every REFRESH_MS at most). */
  #refresh(now: number): void {
    if (now - this.#refreshedAt < REFRESH_MS) return;
    this.#refreshedAt = now;
    const members: Member[] = [];
    for (const e of Deno.readDirSync(this.dir)) {
      if (!/^\d+\.sock$/.test(e.name)) continue;
      const p = `${this.dir}/${e.name}`;
      if (p === this.#path) continue;
      const old = this.#members.find((m) => m.path === p);
      members.push(old ?? { path: p, addr: sockaddrUn(p), backlog: [] });
    }
    this.#members = members;
  }

  /** A member that refused a frame is gone: forget it and remove its file (if still dead). */
  #bury(m: Member): void {
    this.#members = this.#members.filter((x) => x !== m);
    for (const [mac, l] of this.#learned) if (l.member === m) this.#learned.delete(mac);
    try {
      withLock(this.dir, () => {
        if (!isLive(m.path)) Deno.removeSync(m.path);
      });
    } catch { /* already removed by someone else */ }
  }

  /** One sendto(); "full" when the member's queue is full, "dead" when it is gone. */
  #trySend(m: Member, frame: Uint8Array): "ok" | "full" | "dead" {
    const c = libc();
    for (;;) {
      const n = Number(
        c.sendto(
          this.#fd,
          frame as Uint8Array<ArrayBuffer>,
          BigInt(frame.length),
          MSG_DONTWAIT,
          m.addr,
          m.addr.length,
        ),
      );
      if (n === frame.length) return "ok";
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return "full";
      if (e === ECONNREFUSED || e === ENOENT) this.#bury(m);
      return "dead";
    }
  }

  /** Re-send a member's backlog in order, as far as its queue takes it. */
  #flush(m: Member): void {
    while (m.backlog.length > 0) {
      const r = this.#trySend(m, m.backlog[0]);
      if (r === "full") return;
      m.backlog.shift();
      if (r === "dead") {
        m.backlog = [];
        return;
      }
    }
  }

  #armRetry(): void {
    if (this.#retry !== undefined || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      let left = false;
      for (const m of this.#members) {
        this.#flush(m);
        left ||= m.backlog.length > 0;
      }
      if (left) this.#armRetry();
    }, RETRY_MS);
  }

  /**
   * Send to one member; false if it did not take the frame. A member whose
   * queue is full (a Unix datagram queue holds only net.unix.max_dgram_qlen
   * frames) gets the frame later, in order, from a bounded backlog.
   */
  #sendTo(m: Member, frame: Uint8Array): boolean {
    if (m.backlog.length > 0) this.#flush(m);
    if (m.backlog.length === 0) {
      const r = this.#trySend(m, frame);
      if (r !== "full") return r === "ok";
    }
    if (m.backlog.length >= BACKLOG) {
      this.peerDrops++;
      return false;
    }
    m.backlog.push(frame.slice());
    this.#armRetry();
    return true;
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed || frame.length < 14 || frame.length > MAX_FRAME) {
      this.stats.txDropped++;
      return false;
    }
    const now = performance.now();
    this.#refresh(now);
    let delivered = false;
    const unicast = (frame[0] & 1) === 0;
    const known = unicast ? this.#learned.get(macKeyOf(frame, 0)) : undefined;
    if (known !== undefined && now - known.at < LEARN_TTL_MS) {
      delivered = this.#sendTo(known.member, frame);
    } else {
      for (const m of this.#members.slice()) delivered = this.#sendTo(m, frame) || delivered;
    }
    if (!delivered) {
      // Nobody else on the segment (or nobody could take it): the frame is lost,
      // as on a real wire with no one listening.
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  start(onFrame: FrameSink, onError?: (e: Error) => void): void {
    if (this.#loop !== null) throw new Error("sharenet backend already started");
    this.#loop = this.#run(onFrame).catch((e) => {
      if (!this.#closed) onError?.(e instanceof Error ? e : new Error(String(e)));
    });
  }

  async #run(onFrame: FrameSink): Promise<void> {
    const c = libc();
    while (!this.#closed) {
      if (!(await this.#poller.wait())) continue;
      for (let i = 0; i < BATCH && !this.#closed; i++) {
        this.#fromLen[0] = this.#from.length;
        const n = Number(
          c.recvfrom(
            this.#fd,
            this.#buf,
            BigInt(RECV_BUF),
            MSG_DONTWAIT,
            this.#from,
            new Uint8Array(this.#fromLen.buffer),
          ),
        );
        if (n < 0) {
          const e = errno();
          if (e === EAGAIN) break;
          if (e === EINTR) continue;
          this.stats.rxErrors++;
          throw new Error(`${this.description}: receive failed: ${strerror(e)}`);
        }
        if (n < 14 || n > MAX_FRAME) {
          this.stats.rxErrors++;
          continue;
        }
        this.#learn(sockaddrPath(this.#from, this.#fromLen[0]), this.#buf);
        this.stats.rxFrames++;
        this.stats.rxBytes += n;
        onFrame(this.#buf.subarray(0, n));
      }
    }
  }

  /** Remember which member the frame's source MAC lives behind. */
  #learn(from: string, frame: Uint8Array): void {
    if (from === "" || (frame[6] & 1) !== 0) return;
    const now = performance.now();
    let m = this.#members.find((x) => x.path === from);
    if (m === undefined) {
      // A member that joined since the last refresh: add it at once.
      if (!from.startsWith(this.dir + "/")) return;
      m = { path: from, addr: sockaddrUn(from), backlog: [] };
      this.#members.push(m);
    }
    this.#learned.set(macKeyOf(frame, 6), { member: m, at: now });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#poller.close();
    await this.#loop;
    if (this.#leave) leaveSharenet(this.#member);
  }
}

function macKeyOf(f: Uint8Array, at: number): string {
  return `${f[at]},${f[at + 1]},${f[at + 2]},${f[at + 3]},${f[at + 4]},${f[at + 5]}`;
}
