// The tap backend: a Linux tap interface opened through /dev/net/tun with
// Deno FFI, the way lguest's launcher set up its tun network. Frames are read
// from an O_NONBLOCK fd after a poll() that runs off the event loop, so the
// worker never blocks; close() wakes that poll and closes the fd, and because
// the tap is not persistent the kernel removes it as soon as the last fd goes
// (also on SIGKILL). The tap carries a virtio_net_hdr_v1 before every frame
// (IFF_VNET_HDR, TUNSETVNETHDRSZ 12), as QEMU's tap backend does: the host
// kernel takes the guest's TCP super-frames whole and, once the guest's driver
// asks for them (TUNSETOFFLOAD), hands super-frames of up to 64 KiB the other
// way. Host-side addressing and bridging: devices/net/netcfg.ts.
// Read next: devices/net/netcfg.ts, then devices/net/net.ts.

import {
  cstring,
  EACCES,
  EAGAIN,
  EBUSY,
  EINTR,
  EINVAL,
  ENODEV,
  ENOENT,
  ENXIO,
  EPERM,
  errno,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  Poller,
  strerror,
} from "./libc.ts";
import {
  type BackendStats,
  type FrameSink,
  MAX_GSO_FRAME,
  type NetBackend,
  newStats,
  type ReceiveOffloads,
  VNET_HDR_LEN,
} from "./backend.ts";

// <linux/if_tun.h> (ioctl request numbers are u64 to the FFI call: bigints)
const TUNSETIFF = 0x400454can;
const TUNSETOFFLOAD = 0x400454d0n;
const TUNSETVNETHDRSZ = 0x400454d8n;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const TUN_F_TSO_ECN = 0x08;
const IFNAMSIZ = 16;
/** Default name pattern: the kernel picks the first free avm0, avm1, ... */
export const DEFAULT_TAP_NAME = "avm%d";

/** Interface names the kernel accepts: 1..15 bytes, no '/', ':' or whitespace. */
export function checkIfName(name: string): void {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ) {
    throw new Error(`bad interface name "${name}": must be 1 to ${IFNAMSIZ - 1} bytes`);
  }
  if (/[\s/:]/.test(name) || name === "." || name === "..") {
    throw new Error(`bad interface name "${name}": no '/', ':' or spaces allowed`);
  }
}

/** An open tap interface: its fd (process-wide, so a worker can adopt it) and its name. */
export class Tap {
  private constructor(readonly fd: number, readonly name: string) {}

  /**
   * Create a tap named `name` (a pattern with %d lets the kernel number it).
   * Throws an Error naming the cause: no /dev/net/tun, no permission, name in use.
   */
  static open(name = DEFAULT_TAP_NAME): Tap {
    checkIfName(name);
    const c = libc();
    const fd = c.open(cstring("/dev/net/tun"), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) {
      const e = errno();
      if (e === ENOENT) {
        throw new Error(
          "cannot open /dev/net/tun: it does not exist (no tun driver: `modprobe tun`, " +
            "or create the node with `mknod /dev/net/tun c 10 200`)",
        );
      }
      if (e === EACCES || e === EPERM) {
        throw new Error(
          "cannot open /dev/net/tun: permission denied (a tap needs root or CAP_NET_ADMIN; " +
            "without them use --sharenet)",
        );
      }
      if (e === ENODEV || e === ENXIO) {
        throw new Error("cannot open /dev/net/tun: the tun driver is not loaded (`modprobe tun`)");
      }
      throw new Error(`cannot open /dev/net/tun: ${strerror(e)}`);
    }
    const ifr = new Uint8Array(40);
    ifr.set(new TextEncoder().encode(name));
    new DataView(ifr.buffer).setInt16(16, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
    if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
      const e = errno();
      c.close(fd);
      const what = name.includes("%d") ? "a tap" : `tap "${name}"`;
      if (e === EPERM || e === EACCES) {
        throw new Error(
          `cannot create ${what}: operation not permitted (needs CAP_NET_ADMIN in ` +
            "this network namespace, or the tap exists and belongs to another user)",
        );
      }
      if (e === EBUSY) {
        throw new Error(`cannot create ${what}: that name is in use by another process`);
      }
      if (e === EINVAL) {
        throw new Error(
          `cannot create ${what}: an interface of that name exists and is not a tap ` +
            "(or the name is invalid)",
        );
      }
      throw new Error(`cannot create ${what}: ${strerror(e)}`);
    }
    // The 12-byte header of virtio 1.0 (with num_buffers), the one our device uses.
    const size = new Int32Array([VNET_HDR_LEN]);
    if (c.ioctl(fd, TUNSETVNETHDRSZ, new Uint8Array(size.buffer)) < 0) {
      const e = errno();
      c.close(fd);
      throw new Error(`cannot set the tap's virtio-net header size: ${strerror(e)}`);
    }
    const end = ifr.indexOf(0);
    const actual = new TextDecoder().decode(ifr.subarray(0, end < 0 ? IFNAMSIZ : end));
    return new Tap(fd, actual);
  }

  /** Wrap a tap fd opened elsewhere in this process (e.g. by the launcher, before boot). */
  static adopt(fd: number, name: string): Tap {
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`bad tap fd ${fd}`);
    return new Tap(fd, name);
  }

  /** Close the fd; a non-persistent tap vanishes with its last fd. */
  close(): void {
    libc().close(this.fd);
  }
}

/** What a tap's default MAC is derived from (devices/net/net.ts defaultMac). */
export const tapMacKey = (name: string): string => `tap:${name}`;

/** One read: a header and a super-frame (what QEMU reads at most: 4 KiB over 64 KiB). */
const READ_BUF = 4096 + 65536;
/** The header a frame sent without one gets: no offloads asked for. */
const NO_HDR = new Uint8Array(VNET_HDR_LEN);
/** Frames read per poll wake-up before giving the event loop a turn. */
const BATCH = 64;

/** The backend: frames in from the tap, frames out to it. */
export class TapBackend implements NetBackend {
  readonly stats: BackendStats = newStats();
  readonly description: string;
  readonly macKey: string;
  /** Frames cross with a virtio_net_hdr_v1 (IFF_VNET_HDR). */
  readonly offloads = true;
  readonly #poller: Poller;
  readonly #buf = new Uint8Array(READ_BUF);
  /** Header and frame together, for a send() whose two do not already lie so. */
  readonly #out = new Uint8Array(VNET_HDR_LEN + MAX_GSO_FRAME);
  /** The TUNSETOFFLOAD flags last set (-1: none yet). */
  #offloadFlags = -1;
  #loop: Promise<void> | null = null;
  #closed = false;

  /**
   * `closeTap` (default true): close() also closes the tap's fd, removing the
   * tap. False when the launcher owns the tap and a restarted net worker
   * will adopt the same fd.
   */
  constructor(readonly tap: Tap, readonly closeTap = true) {
    this.description = `tap ${tap.name}`;
    this.macKey = tapMacKey(tap.name);
    this.#poller = new Poller(tap.fd);
  }

  start(onFrame: FrameSink, onError?: (e: Error) => void): void {
    if (this.#loop !== null) throw new Error("tap backend already started");
    this.#loop = this.#run(onFrame).catch((e) => {
      if (!this.#closed) onError?.(e instanceof Error ? e : new Error(String(e)));
    });
  }

  async #run(onFrame: FrameSink): Promise<void> {
    const c = libc();
    const fd = this.tap.fd;
    while (!this.#closed) {
      if (!(await this.#poller.wait())) continue;
      for (let i = 0; i < BATCH && !this.#closed; i++) {
        const n = Number(c.read(fd, this.#buf, BigInt(READ_BUF)));
        if (n < 0) {
          const e = errno();
          if (e === EAGAIN) break;
          if (e === EINTR) continue;
          this.stats.rxErrors++;
          throw new Error(`${this.description}: read failed: ${strerror(e)}`);
        }
        if (n < VNET_HDR_LEN) {
          this.stats.rxErrors++; // the kernel always writes a header; never seen
          continue;
        }
        this.stats.rxFrames++;
        this.stats.rxBytes += n - VNET_HDR_LEN;
        onFrame(this.#buf.subarray(VNET_HDR_LEN, n), this.#buf.subarray(0, VNET_HDR_LEN));
      }
    }
  }

  send(frame: Uint8Array, hdr: Uint8Array = NO_HDR): boolean {
    if (this.#closed || hdr.length !== VNET_HDR_LEN) {
      this.stats.txDropped++;
      return false;
    }
    let out: Uint8Array;
    if (hdr.buffer === frame.buffer && hdr.byteOffset + VNET_HDR_LEN === frame.byteOffset) {
      out = new Uint8Array(frame.buffer, hdr.byteOffset, VNET_HDR_LEN + frame.length);
    } else if (frame.length <= MAX_GSO_FRAME) {
      out = this.#out.subarray(0, VNET_HDR_LEN + frame.length);
      out.set(hdr);
      out.set(frame, VNET_HDR_LEN);
    } else {
      this.stats.txDropped++;
      return false;
    }
    // The tap's write never blocks: the kernel takes the frame or refuses it
    // (EIO while the host end is down, EINVAL for a header it finds malformed).
    const n = Number(libc().write(this.tap.fd, out as Uint8Array<ArrayBuffer>, BigInt(out.length)));
    if (n !== out.length) {
      this.stats.txDropped++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  /**
   * TUNSETOFFLOAD: what the kernel may hand us. TSO needs the checksum
   * offload (the kernel refuses it alone), and ECN needs TSO.
   */
  setReceiveOffloads(o: ReceiveOffloads): void {
    let flags = 0;
    if (o.csum) {
      flags |= TUN_F_CSUM;
      if (o.tso4) flags |= TUN_F_TSO4;
      if (o.tso6) flags |= TUN_F_TSO6;
      if (o.ecn && (o.tso4 || o.tso6)) flags |= TUN_F_TSO_ECN;
    }
    if (this.#closed || flags === this.#offloadFlags) return;
    if (libc().ioctlValue(this.tap.fd, TUNSETOFFLOAD, BigInt(flags)) < 0) {
      throw new Error(`${this.description}: TUNSETOFFLOAD ${flags}: ${strerror(errno())}`);
    }
    this.#offloadFlags = flags;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#poller.close();
    await this.#loop;
    if (this.closeTap) this.tap.close();
  }
}
