// The gdbstub: a TCP listener on the launcher's main thread speaking GDB's
// remote serial protocol, one debugger at a time. It owns no hart state: every
// register, memory or breakpoint packet becomes a request on the debug channel
// (actors/cpu/debug_channel.ts) that the halted cpu actor serves on its own
// thread (actors/cpu/debugger.ts). The main thread never blocks: it waits for
// the cpu's replies and stops with Atomics.waitAsync, so the terminal, the
// supervisors and the watchdog carry on. The listener lives across reboots;
// each boot attaches its channel. Protocol and design: docs/gdb.md.
// Read next: launcher/gdb/rsp.ts (framing), launcher/gdb/target.ts.

import { wakeCpu } from "../../machine/control.ts";
import {
  DBG,
  type DebugReply,
  type DebugRequest,
  readPayload,
  STOP,
  writePayload,
} from "../../actors/cpu/debug_channel.ts";
import { GDB_REG } from "../../cpu/debug.ts";
import { framePacket, MAX_PACKET, type RspEvent, RspReader } from "./rsp.ts";
import { registerBytes, TARGET_XML } from "./target.ts";

/** Where the gdbstub listens (LaunchOptions.gdb). */
export interface GdbListen {
  host: string;
  port: number;
}

/** What one boot hands the gdbstub. */
export interface GdbBoot {
  channel: SharedArrayBuffer;
  /** The boot's control block (to wake the cpu from wfi for a halt). */
  ctl: Int32Array;
  /** `k`: end the run. */
  kill(): void;
}

/** How long the cpu may take to answer a request or honour a halt before the stub gives up. */
const CPU_ANSWER_MS = 5000;
/** Most breakpoints at once (each one is a compare per instruction while any is set). */
const MAX_BREAKPOINTS = 64;
/** Most watchpoints at once (each is a compare per access on its pages while set). */
const MAX_WATCHPOINTS = 16;
/** Largest m/M/X access per packet: a reply of hex fits in MAX_PACKET. */
const MAX_ACCESS = MAX_PACKET / 2 - 16;

export class GdbServer {
  readonly #listener: Deno.TcpListener;
  readonly #log: (s: string) => void;
  #boot: GdbBoot | null = null;
  #bootWaiters: (() => void)[] = [];
  #session: Session | null = null;
  #sessionDone: Promise<void> = Promise.resolve();
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly host: string;

  private constructor(listener: Deno.TcpListener, log: (s: string) => void) {
    this.#listener = listener;
    this.#log = log;
    this.port = listener.addr.port;
    this.host = listener.addr.hostname;
  }

  /** Listen; throws (a clear message) when the address cannot be bound. */
  static listen(at: GdbListen, log: (s: string) => void): GdbServer {
    let l: Deno.TcpListener;
    try {
      l = Deno.listen({ hostname: at.host, port: at.port, transport: "tcp" });
    } catch (e) {
      throw new Error(`--gdb=${at.host}:${at.port}: cannot listen: ${(e as Error).message}`);
    }
    const s = new GdbServer(l, log);
    s.#accept();
    return s;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      // A debugger that just hung up may not have been seen to go yet.
      for (let i = 0; i < 50 && this.#session !== null && !this.#session.closed; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (this.#session !== null && !this.#session.closed) {
        this.#log("gdb: a debugger is already attached: refusing another connection");
        conn.close();
        continue;
      }
      // The last debugger's connection is gone but it may still be letting
      // the guest go (#letGo): the next one starts after that.
      const last = this.#sessionDone;
      // Replies are small and each one is waited for: no Nagle delay.
      try {
        conn.setNoDelay(true);
      } catch { /* not a TCP socket option here: only slower */ }
      const s = new Session(conn, this, this.#log);
      this.#session = s;
      this.#sessionDone = last.then(() => s.run()).catch((e) => {
        // Nothing a debugger does may take the launcher down.
        this.#log(`gdb: session failed: ${(e as Error).message}`);
        s.close();
      }).finally(() => {
        if (this.#session === s) this.#session = null;
      });
    }
  }

  /** A boot started: its channel and control block. */
  attach(boot: GdbBoot): void {
    this.#boot = boot;
    for (const w of this.#bootWaiters.splice(0)) w();
  }

  /** The boot is over (the guest's fate): a debugger attached is told and let go. */
  bootEnded(exitCode: number): void {
    this.#boot = null;
    this.#session?.ended(exitCode);
  }

  /** The current boot, waiting for one to start if none is attached. */
  async currentBoot(): Promise<GdbBoot> {
    while (this.#boot === null) await new Promise<void>((r) => this.#bootWaiters.push(r));
    return this.#boot;
  }

  get boot(): GdbBoot | null {
    return this.#boot;
  }

  close(): void {
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    this.#session?.close();
  }
}

/** One debugger's connection. */
class Session {
  readonly #reader = new RspReader();
  readonly #enc = new TextEncoder();
  #noAck = false;
  /** The writes under way, in order. */
  #out: Promise<void> = Promise.resolve();
  #closed = false;
  /** The hart is running (after c/s... until its stop reply went out). */
  #running = false;
  /** The stop reply `?` repeats. */
  #lastStop = "T05thread:01;";
  /** Breakpoints: address (hex, unsigned) -> kinds set there (Z0 software, Z1 hardware). */
  readonly #bps = new Map<string, Set<number>>();
  /** Watchpoints, in the order the cpu has them: Z2 write, Z3 read, Z4 access. */
  #watches: { type: number; addr: string; len: number }[] = [];
  /** Packets wait here while one is being served: served strictly in order. */
  #queue: Promise<void> = Promise.resolve();
  #boot: GdbBoot | null = null;
  /** D or k already decided what becomes of the guest. */
  #settled = false;

  constructor(
    private readonly conn: Deno.TcpConn,
    private readonly server: GdbServer,
    private readonly log: (s: string) => void,
  ) {}

  async run(): Promise<void> {
    this.log("gdb: debugger attached");
    try {
      this.#boot = await this.server.currentBoot();
      // Attaching halts the guest, as QEMU's gdbstub does.
      if (Atomics.load(this.#w(), DBG.HALTED) !== 1 && !(await this.#halt())) {
        this.log("gdb: the cpu actor does not answer the debug channel (a swapped cpu?)");
        this.close();
        return;
      }
      const buf = new Uint8Array(4096);
      while (!this.#closed) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        for (const e of this.#reader.feed(buf.subarray(0, n))) this.#event(e);
      }
    } catch (e) {
      if (!this.#closed) this.log(`gdb: connection error: ${(e as Error).message}`);
    } finally {
      await this.#queue;
      this.close();
      await this.#letGo();
      this.log("gdb: debugger detached");
    }
  }

  /**
   * The connection is gone (detached, or gdb died): a guest left halted
   * would hang for good, so it runs on without breakpoints.
   */
  async #letGo(): Promise<void> {
    if (this.#settled || this.#boot === null || this.#boot !== this.server.boot) return;
    const w = this.#w();
    if (Atomics.load(w, DBG.HALTED) !== 1) {
      // Running (breakpoints may still be set): halt first, then clear them.
      if (Atomics.load(w, DBG.SERVED) !== 1 || !(await this.#halt())) return;
    }
    await this.#request({ op: "breakpoints", addrs: [] });
    await this.#request({ op: "watchpoints", list: [] });
    await this.#request({ op: "resume" });
  }

  #w(): Int32Array {
    if (this.#boot === null) throw new Error("the machine is not running");
    return new Int32Array(this.#boot.channel);
  }

  #event(e: RspEvent): void {
    switch (e.kind) {
      case "packet":
        if (!this.#noAck) this.#writeRaw("+");
        this.#queue = this.#queue.then(() => this.#packet(e.data)).catch((err) => {
          this.log(`gdb: ${(err as Error).message}`);
          this.#send("E01");
        });
        break;
      case "interrupt":
        this.#queue = this.#queue.then(() => this.#interrupt()).catch(() => {});
        break;
      case "bad-checksum":
        if (!this.#noAck) this.#writeRaw("-");
        break;
      case "overflow":
        this.log(`gdb: a packet longer than ${MAX_PACKET} bytes: closing the connection`);
        this.close();
        break;
      case "ack":
      case "nak": // we never resend: a lost reply is gdb's timeout to handle
        break;
    }
  }

  /** The guest's fate: tell a debugger waiting for a stop, and let it go. */
  ended(exitCode: number): void {
    this.#boot = null;
    this.#send(`W${(exitCode & 0xff).toString(16).padStart(2, "0")}`);
    // Close once the W is out (the writes are queued).
    this.#out.finally(() => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  #writeRaw(s: string): void {
    this.#write(this.#enc.encode(s));
  }

  #send(data: string): void {
    this.#write(framePacket(data));
  }

  #write(bytes: Uint8Array): void {
    if (this.#closed) return;
    // One write at a time, each to its end: concurrent conn.write calls may
    // interleave or come back short. A dead peer ends the session.
    this.#out = this.#out.then(async () => {
      for (let at = 0; at < bytes.length && !this.#closed;) {
        at += await this.conn.write(bytes.subarray(at));
      }
    }).catch(() => this.close());
  }

  /** Ask the cpu to halt (a word it reads per batch, and a wake from wfi); wait for the stop. */
  async #halt(): Promise<boolean> {
    const w = this.#w();
    const seq = Atomics.load(w, DBG.STOP_SEQ);
    Atomics.store(w, DBG.HALT, 1);
    wakeCpu(this.#boot!.ctl);
    return await waitWord(w, DBG.STOP_SEQ, () => Atomics.load(w, DBG.STOP_SEQ) !== seq, {
      timeoutMs: CPU_ANSWER_MS,
    });
  }

  async #request(req: DebugRequest): Promise<DebugReply> {
    const boot = this.#boot;
    if (boot === null) return { ok: false, error: "the machine is not running" };
    const w = new Int32Array(boot.channel);
    if (Atomics.load(w, DBG.HALTED) !== 1) return { ok: false, error: "the hart is running" };
    if (!writePayload(boot.channel, req)) return { ok: false, error: "request too big" };
    const seq = Atomics.add(w, DBG.REQ_SEQ, 1) + 1;
    Atomics.notify(w, DBG.REQ_SEQ);
    const ok = await waitWord(w, DBG.REPLY_SEQ, () => Atomics.load(w, DBG.REPLY_SEQ) === seq, {
      timeoutMs: CPU_ANSWER_MS,
    });
    if (!ok) return { ok: false, error: "the cpu did not answer" };
    return readPayload<DebugReply>(boot.channel);
  }

  #interrupt(): void {
    if (!this.#running || this.#boot === null) {
      this.#send(this.#lastStop); // already halted: say so again
      return;
    }
    Atomics.store(this.#w(), DBG.HALT, 1);
    wakeCpu(this.#boot.ctl);
    // The stop reply itself comes from #resume's wait.
  }

  /** Resume the hart and send the stop reply when it halts again (or the run ends). */
  async #resume(): Promise<void> {
    const w = this.#w();
    const seq = Atomics.load(w, DBG.STOP_SEQ);
    const r = await this.#request({ op: "resume" });
    if (!r.ok) return this.#send("E01");
    this.#running = true;
    // Not awaited: packets (a Ctrl-C) keep being read while the guest runs.
    const boot = this.#boot;
    waitWord(w, DBG.STOP_SEQ, () => Atomics.load(w, DBG.STOP_SEQ) !== seq, {
      until: () => this.#closed || this.#boot !== boot,
    }).then((stopped) => {
      this.#running = false;
      if (stopped) this.#reportStop(Atomics.load(w, DBG.STOP_WHY));
    }).catch((e) => this.log(`gdb: ${(e as Error).message}`));
  }

  #reportStop(why: number): void {
    this.#queue = this.#queue.then(async () => {
      let stop = why === STOP.REQUESTED ? "T02thread:01;" : "T05thread:01;";
      if (why === STOP.WATCHPOINT) {
        const r = await this.#request({ op: "stopInfo" });
        const w = r.ok ? this.#watches[Number(r.values![0])] : undefined;
        if (w) stop += `${["watch", "rwatch", "awatch"][w.type - 2]}:${w.addr};`;
      } else if (why === STOP.BREAKPOINT) {
        const pc = await this.#request({ op: "getReg", n: GDB_REG.PC });
        const kinds = pc.ok ? this.#bps.get(pc.values![0]) : undefined;
        if (kinds?.has(0)) stop += "swbreak:;";
        else if (kinds?.has(1)) stop += "hwbreak:;";
      }
      this.#lastStop = stop;
      this.#send(stop);
    }).catch((e) => this.log(`gdb: ${(e as Error).message}`));
  }

  async #step(): Promise<void> {
    const r = await this.#request({ op: "step" });
    if (!r.ok) return this.#send("E01");
    if (r.ended) return; // the guest's fate: bootEnded says W
    this.#lastStop = "T05thread:01;";
    this.#send(this.#lastStop);
  }

  async #packet(p: string): Promise<void> {
    if (this.#closed) return;
    if (this.#running) {
      // All-stop: while the guest runs gdb sends nothing but ^C.
      return this.#send("E01");
    }
    const cmd = p[0] ?? "";
    switch (cmd) {
      case "?":
        return this.#send(this.#lastStop);
      case "g": {
        const r = await this.#request({ op: "regs" });
        if (!r.ok) return this.#send("E01");
        return this.#send(r.values!.map((v) => leHex(BigInt("0x" + v), 8)).join(""));
      }
      case "G": {
        const hex = p.slice(1);
        if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length < 33 * 16) return this.#send("E01");
        for (let n = 0; n <= GDB_REG.PC; n++) {
          const v = fromLeHex(hex.slice(n * 16, n * 16 + 16));
          const r = await this.#request({ op: "setReg", n, value: v.toString(16) });
          if (!r.ok) return this.#send("E01");
        }
        return this.#send("OK");
      }
      case "p": {
        const n = parseNum(p.slice(1));
        const size = n === null ? 0 : registerBytes(n);
        if (n === null || size === 0) return this.#send("E45");
        const r = await this.#request({ op: "getReg", n });
        return this.#send(r.ok ? leHex(BigInt("0x" + r.values![0]), size) : "E45");
      }
      case "P": {
        const m = /^P([0-9a-fA-F]+)=([0-9a-fA-F]+)$/.exec(p);
        const n = m ? parseInt(m[1], 16) : -1;
        const size = m ? registerBytes(n) : 0;
        if (!m || size === 0 || m[2].length !== 2 * size) return this.#send("E45");
        const r = await this.#request({ op: "setReg", n, value: fromLeHex(m[2]).toString(16) });
        return this.#send(r.ok ? "OK" : "E45");
      }
      case "m": {
        const m = /^m([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(p);
        if (!m) return this.#send("E01");
        const len = Math.min(parseInt(m[2], 16), MAX_ACCESS);
        const r = await this.#request({ op: "read", addr: m[1], len });
        return this.#send(r.ok ? r.data! : "E14");
      }
      case "M":
      case "X": {
        const m = /^[MX]([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8}):/.exec(p);
        if (!m) return this.#send("E01");
        const len = parseInt(m[2], 16);
        const body = p.slice(m[0].length);
        let data: string;
        if (cmd === "M") {
          if (body.length !== 2 * len || !/^[0-9a-fA-F]*$/.test(body)) return this.#send("E01");
          data = body;
        } else {
          if (body.length !== len) return this.#send("E01");
          data = [...body].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
        }
        if (len > MAX_ACCESS) return this.#send("E01");
        if (len === 0) return this.#send("OK"); // gdb probes X with an empty write
        const r = await this.#request({ op: "write", addr: m[1], data });
        return this.#send(r.ok ? "OK" : "E14");
      }
      case "Z":
      case "z":
        return await this.#breakpoint(p);
      case "c":
      case "s": {
        if (p.length > 1) {
          const a = /^[cs]([0-9a-fA-F]{1,16})$/.exec(p);
          if (!a) return this.#send("E01");
          const r = await this.#request({ op: "setReg", n: GDB_REG.PC, value: a[1] });
          if (!r.ok) return this.#send("E01");
        }
        return cmd === "c" ? await this.#resume() : await this.#step();
      }
      case "D": {
        // Detach: forget the breakpoints and let the guest run on.
        this.#settled = true;
        this.#bps.clear();
        this.#watches = [];
        await this.#request({ op: "breakpoints", addrs: [] });
        await this.#request({ op: "watchpoints", list: [] });
        await this.#request({ op: "resume" });
        this.#send("OK");
        await this.#out; // let OK leave before the close
        this.close();
        return;
      }
      case "k":
        this.log("gdb: kill: stopping the machine");
        this.#settled = true;
        this.#boot?.kill();
        this.close();
        return;
      case "H":
      case "T":
        return this.#send("OK"); // one thread: every thread id is it
      case "q":
      case "Q":
        return this.#send(this.#query(p));
      case "v":
        return await this.#vPacket(p);
      default:
        return this.#send(""); // not supported
    }
  }

  #query(p: string): string {
    if (p.startsWith("qSupported")) {
      return `PacketSize=${MAX_PACKET.toString(16)};qXfer:features:read+;QStartNoAckMode+;` +
        "swbreak+;hwbreak+;vContSupported+";
    }
    if (p === "QStartNoAckMode") {
      // The OK goes out acked; from the next packet on, no acks either way.
      queueMicrotask(() => this.#noAck = true);
      return "OK";
    }
    if (p === "qAttached") return "1";
    if (p === "qC") return "QC01";
    if (p === "qfThreadInfo") return "m01";
    if (p === "qsThreadInfo") return "l";
    if (p === "qSymbol::") return "OK";
    const x = /^qXfer:features:read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
    if (x) {
      if (x[1] !== "target.xml") return "E00";
      const off = parseInt(x[2], 16), len = Math.min(parseInt(x[3], 16), MAX_ACCESS);
      const part = TARGET_XML.slice(off, off + len);
      return (off + len >= TARGET_XML.length ? "l" : "m") + part;
    }
    return "";
  }

  async #vPacket(p: string): Promise<void> {
    if (p === "vCont?") return this.#send("vCont;c;C;s;S");
    if (p.startsWith("vCont;")) {
      // The first action for our one thread (or for all) decides: step or continue.
      for (const a of p.slice(6).split(";")) {
        const [act, thread] = a.split(":");
        if (thread !== undefined && thread !== "-1" && parseInt(thread, 16) !== 1) continue;
        if (act[0] === "s" || act[0] === "S") return await this.#step();
        if (act[0] === "c" || act[0] === "C") return await this.#resume();
        break;
      }
      return this.#send("E01");
    }
    return this.#send(""); // vMustReplyEmpty and everything else
  }

  async #breakpoint(p: string): Promise<void> {
    const m = /^([Zz])([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(p);
    if (!m) return this.#send("E01");
    const type = Number(m[2]);
    const addr = BigInt("0x" + m[3]).toString(16);
    if (type > 1) return await this.#watchpoint(m[1] === "Z", type, addr, parseInt(m[4], 16));
    if (m[1] === "Z") {
      if (!this.#bps.has(addr) && this.#bps.size >= MAX_BREAKPOINTS) return this.#send("E0c");
      const kinds = this.#bps.get(addr) ?? new Set<number>();
      kinds.add(type);
      this.#bps.set(addr, kinds);
    } else {
      const kinds = this.#bps.get(addr);
      kinds?.delete(type);
      if (kinds?.size === 0) this.#bps.delete(addr);
    }
    const r = await this.#request({ op: "breakpoints", addrs: [...this.#bps.keys()] });
    return this.#send(r.ok ? "OK" : "E01");
  }

  /** Z2/Z3/Z4: a watchpoint of `len` bytes (the cpu checks accesses on their pages). */
  async #watchpoint(insert: boolean, type: number, addr: string, len: number): Promise<void> {
    if (!(len >= 1 && len <= 4096)) return this.#send("E01");
    const same = (w: { type: number; addr: string; len: number }) =>
      w.type === type && w.addr === addr && w.len === len;
    if (insert) {
      if (this.#watches.length >= MAX_WATCHPOINTS) return this.#send("E0c");
      this.#watches.push({ type, addr, len });
    } else {
      const i = this.#watches.findIndex(same);
      if (i >= 0) this.#watches.splice(i, 1);
    }
    const list = this.#watches.map((w) => ({
      addr: w.addr,
      len: w.len,
      kind: w.type === 2 ? 1 : w.type === 3 ? 2 : 3,
    }));
    const r = await this.#request({ op: "watchpoints", list });
    return this.#send(r.ok ? "OK" : "E01");
  }
}

/**
 * Wait (never blocking the event loop) until `done()` holds, sleeping on word
 * `i`; false on the timeout or when `until()` says to give up.
 */
async function waitWord(
  w: Int32Array,
  i: number,
  done: () => boolean,
  opts: { timeoutMs?: number; until?: () => boolean },
): Promise<boolean> {
  const end = performance.now() + (opts.timeoutMs ?? Infinity);
  for (;;) {
    const v = Atomics.load(w, i);
    if (done()) return true;
    if (opts.until?.()) return false;
    const left = end - performance.now();
    if (left <= 0) return false;
    const r = Atomics.waitAsync(w, i, v, Math.min(left, 100));
    if (r.async) await r.value;
  }
}

function parseNum(s: string): number | null {
  return /^[0-9a-fA-F]{1,8}$/.test(s) ? parseInt(s, 16) : null;
}

/** `v` as `size` bytes little-endian, in hex (gdb's register byte order on riscv). */
function leHex(v: bigint, size: number): string {
  let s = "";
  for (let i = 0; i < size; i++) {
    s += Number((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, "0");
  }
  return s;
}

function fromLeHex(hex: string): bigint {
  let v = 0n;
  for (let i = hex.length - 2; i >= 0; i -= 2) {
    v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
  }
  return v;
}
