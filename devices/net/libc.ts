// The few libc calls the network backends need, through Deno FFI: open/ioctl
// for the tap (devices/net/tap.ts), AF_UNIX datagram sockets for the inter-guest
// network (devices/net/sharenet.ts), an AF_UNIX stream socket to passt
// (devices/net/passt.ts), and a poll() that runs off the event loop.
// Linux only (x86_64 / aarch64 share every constant used here).
// Read next: devices/net/tap.ts.

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // The same call for requests whose argument is a number, not a pointer (TUNSETOFFLOAD).
  ioctlValue: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  strerror: { parameters: ["i32"], result: "pointer" },
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  __errno_location: { parameters: [], result: "pointer" },
  // Nonblocking: runs on Deno's blocking-thread pool and returns a Promise,
  // so a worker waits for frames without ever blocking its event loop.
  poll: { parameters: ["pointer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Libc | null = null;

/** The libc symbols, loaded on first use (so importing this module needs no FFI permission). */
export function libc(): Libc {
  if (lib === null) {
    if (Deno.build.os !== "linux") {
      throw new Error(`network backends need Linux (this is ${Deno.build.os})`);
    }
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  }
  return lib;
}

export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = O_NONBLOCK;
export const EFD_CLOEXEC = O_CLOEXEC;
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const POLLIN = 0x1;

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EAGAIN = 11;
export const EACCES = 13;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const EADDRINUSE = 98;
export const EPIPE = 32;
export const ECONNRESET = 104;
export const ECONNREFUSED = 111;

/**
 * errno of the last failed sync call on this thread. Read it right after the
 * call: the FFI call and this read run on the same (worker) thread.
 */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** The C library's text for an errno value, e.g. "Operation not permitted". */
export function strerror(e: number): string {
  const p = libc().strerror(e);
  return p === null ? `errno ${e}` : Deno.UnsafePointerView.getCString(p);
}

/** Largest sun_path (without its NUL) in a struct sockaddr_un. */
export const SUN_PATH_MAX = 107;

/** A struct sockaddr_un for a filesystem path; throws if the path is too long. */
export function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length > SUN_PATH_MAX) {
    throw new Error(
      `socket path "${path}" is ${bytes.length} bytes; Unix sockets allow at most ${SUN_PATH_MAX}`,
    );
  }
  const sa = new Uint8Array(110);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(bytes, 2);
  return sa;
}

/** The path in a struct sockaddr_un of `len` bytes (as filled in by recvfrom). */
export function sockaddrPath(sa: Uint8Array, len: number): string {
  let end = Math.min(len, sa.length);
  const nul = sa.indexOf(0, 2);
  if (nul >= 0 && nul < end) end = nul;
  return new TextDecoder().decode(sa.subarray(2, end));
}

/** A NUL-terminated C string in a fresh buffer. */
export function cstring(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Waits, off the event loop, until `fd` is readable or `wake()` is called.
 * Each wait is one nonblocking poll() on {fd, an eventfd}; the eventfd lets
 * close() end a pending wait at once, so a backend's fd is truly released
 * (a pending FFI read would hold it forever). The timeout bounds how long a
 * pool thread can outlive a worker that was terminated without closing.
 */
export class Poller {
  /**
   * The two struct pollfd live in malloc'ed memory, not in this isolate's
   * heap: if the worker is terminated while a poll is pending, the pool
   * thread must not write revents into freed memory. (16 bytes leak then.)
   */
  readonly #mem: Deno.PointerObject;
  readonly #fds: DataView;
  readonly #wakeFd: number;
  #closed = false;
  #pending: Promise<number> | null = null;

  constructor(fd: number, readonly timeoutMs = 500) {
    const c = libc();
    this.#wakeFd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.#wakeFd < 0) throw new Error(`eventfd: ${strerror(errno())}`);
    const mem = c.malloc(16n);
    if (mem === null) throw new Error("poller: out of memory");
    this.#mem = mem;
    const v = this.#fds = new DataView(Deno.UnsafePointerView.getArrayBuffer(mem, 16));
    v.setInt32(0, fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(8, this.#wakeFd, true);
    v.setInt16(12, POLLIN, true);
  }

  /** Resolves true when the fd is readable, false on timeout or once closed. */
  async wait(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#pending !== null) throw new Error("poller: one wait at a time");
    const v = this.#fds;
    v.setInt16(6, 0, true);
    v.setInt16(14, 0, true);
    this.#pending = libc().poll(this.#mem, 2n, this.timeoutMs);
    let n: number;
    try {
      n = await this.#pending;
    } finally {
      this.#pending = null;
    }
    // n < 0 is EINTR (errno lives on the pool thread, so it is not readable
    // here); the caller simply waits again.
    return !this.#closed && n > 0 && v.getInt16(6, true) !== 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends any pending wait (it resolves false) and releases the eventfd once
   * that wait has returned. The watched fd is the caller's to close after.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const one = new BigUint64Array([1n]);
    libc().write(this.#wakeFd, new Uint8Array(one.buffer), 8n);
    // The pool thread may still be inside poll() on our fds: let it return
    // before the fds are closed (and their numbers reused).
    if (this.#pending !== null) await this.#pending.catch(() => 0);
    libc().close(this.#wakeFd);
    libc().free(this.#mem);
  }
}
