// --control=<path>: the machine's control channel on a unix socket, one JSON
// object per line, shaped like QEMU's QMP so its clients feel at home. On
// connect the server sends a greeting ({"QMP": {...}}); a client sends
// {"execute": "<command>", "arguments": {...}, "id": <any>} and gets
// {"return": {...}, "id": ...} or {"error": {"class": ..., "desc": ...},
// "id": ...}; events arrive as {"event": ..., "data": ..., "timestamp": ...}.
// Bad input of any kind — not JSON, not an object, an unknown command, bad
// arguments, a line past 1 MiB — gets an error reply; the machine never
// notices. The socket is owner-only (0600; made in a private directory and
// renamed into place, so nobody can connect before the mode is set).
// The operations themselves: launcher/control.ts. Protocol: docs/snapshot.md.
// Read next: launcher/control.ts.

import { VERSION } from "./cli.ts";
import { ControlError, type ControlEvent, type MachineControl } from "./control.ts";
import { SnapshotRefused } from "./snapshot.ts";

/** The longest command line accepted; the rest of a longer one is discarded. */
const MAX_LINE = 1 << 20;
/** Lines waiting to be written to one client before it is dropped for not reading. */
const MAX_QUEUED = 4096;

/** The commands, with QMP's names for the same things as aliases. */
const COMMANDS = [
  "qmp_capabilities",
  "status",
  "query-status",
  "pause",
  "stop",
  "resume",
  "cont",
  "snapshot",
  "quit",
] as const;

export class ControlSocket {
  readonly path: string;
  readonly #listener: Deno.Listener;
  readonly #control: MachineControl;
  /** Each connection, and what is being written to it. */
  readonly #conns = new Map<Deno.Conn, () => Promise<void>>();
  readonly #log: (s: string) => void;
  #closed = false;

  private constructor(
    path: string,
    listener: Deno.Listener,
    control: MachineControl,
    log: (s: string) => void,
  ) {
    this.path = path;
    this.#listener = listener;
    this.#control = control;
    this.#log = log;
    void this.#accept();
  }

  /**
   * Listen on `path` (which must not exist). Throws an Error with a message
   * fit for the user (the launcher turns it into exit status 2).
   */
  static listen(path: string, control: MachineControl, log: (s: string) => void): ControlSocket {
    try {
      Deno.lstatSync(path);
      throw new Error(`--control=${path}: already exists (remove it if no machine uses it)`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const slash = path.lastIndexOf("/");
    const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
    let tmp: string;
    try {
      tmp = Deno.makeTempDirSync({ dir, prefix: ".actorvm-control-" }); // mode 0700
    } catch (e) {
      throw new Error(`--control=${path}: cannot create it: ${(e as Error).message}`);
    }
    const inner = `${tmp}/s`;
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ transport: "unix", path: inner });
      Deno.chmodSync(inner, 0o600);
      Deno.renameSync(inner, path);
    } catch (e) {
      try {
        Deno.removeSync(tmp, { recursive: true });
      } catch { /* nothing to clean */ }
      throw new Error(`--control=${path}: cannot listen: ${(e as Error).message}`);
    }
    Deno.removeSync(tmp);
    return new ControlSocket(path, listener, control, log);
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        void this.#serve(conn).finally(() => {
          this.#conns.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
      }
    } catch (e) {
      if (!this.#closed) this.#log(`control: accept failed: ${(e as Error).message}`);
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const enc = new TextEncoder();
    let writing = Promise.resolve();
    let dead = false;
    let queued = 0;
    const send = (obj: unknown) => {
      if (dead) return writing;
      // A client that reads nothing while events pile up is dropped, not buffered forever.
      if (++queued > MAX_QUEUED) {
        dead = true;
        try {
          conn.close();
        } catch { /* gone */ }
        return writing;
      }
      const bytes = enc.encode(JSON.stringify(obj) + "\n");
      writing = writing.then(async () => {
        queued--;
        if (dead) return;
        try {
          for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
        } catch {
          dead = true; // the client went away: stop writing to it
        }
      });
      return writing;
    };
    this.#conns.set(conn, () => writing);
    const unlisten = this.#control.listen((e: ControlEvent) => {
      const now = Date.now();
      void send({
        event: e.event,
        ...(e.data ? { data: e.data } : {}),
        timestamp: { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 },
      });
    });
    void send({ QMP: { version: { actorvm: VERSION }, capabilities: [] } });
    const dec = new TextDecoder();
    let pending = "";
    let skipping = false; // inside a line longer than MAX_LINE
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          break;
        }
        if (n === null) break;
        pending += dec.decode(buf.subarray(0, n), { stream: true });
        for (;;) {
          const nl = pending.indexOf("\n");
          if (nl < 0) break;
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (skipping) {
            skipping = false; // the end of the over-long line
            continue;
          }
          if (line.trim() === "") continue;
          await send(await this.#execute(line));
        }
        if (pending.length > MAX_LINE) {
          pending = "";
          if (!skipping) {
            skipping = true;
            await send(error(undefined, "GenericError", `line longer than ${MAX_LINE} bytes`));
          }
        }
      }
    } finally {
      unlisten();
      await writing;
    }
  }

  async #execute(line: string): Promise<unknown> {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      return error(undefined, "GenericError", `not JSON: ${(e as Error).message}`);
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      return error(undefined, "GenericError", 'want an object like {"execute": "status"}');
    }
    const m = msg as Record<string, unknown>;
    const id = m.id;
    const cmd = m.execute;
    if (typeof cmd !== "string") return error(id, "GenericError", 'no "execute" command name');
    const args = m.arguments ?? {};
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return error(id, "GenericError", '"arguments" must be an object');
    }
    if (!(COMMANDS as readonly string[]).includes(cmd)) {
      return error(
        id,
        "CommandNotFound",
        `the command ${JSON.stringify(cmd).slice(0, 80)} has not been found ` +
          `(commands: ${COMMANDS.join(", ")})`,
      );
    }
    const c = this.#control;
    try {
      switch (cmd) {
        case "qmp_capabilities":
          return ok(id, {});
        case "status":
        case "query-status":
          return ok(id, c.status());
        case "pause":
        case "stop":
          await c.pause();
          return ok(id, {});
        case "resume":
        case "cont":
          await c.resume();
          return ok(id, {});
        case "snapshot": {
          const { path, disks } = args as Record<string, unknown>;
          if (typeof path !== "string" || path === "") {
            return error(id, "GenericError", 'snapshot: want {"path": "<file>"}');
          }
          if (disks !== undefined && disks !== "refuse" && disks !== "copy") {
            return error(id, "GenericError", 'snapshot: "disks" is "refuse" or "copy"');
          }
          const r = await c.snapshot(path, { disks: disks as "refuse" | "copy" | undefined });
          return ok(id, {
            path: r.path,
            bytes: r.bytes,
            pages: r.pages,
            pausedMs: Math.round(r.pausedMs),
            totalMs: Math.round(r.totalMs),
          });
        }
        case "quit":
          // Answered before the machine goes: the reply reaches the client.
          setTimeout(() => c.quit(), 0);
          return ok(id, {});
      }
    } catch (e) {
      const cls = e instanceof ControlError || e instanceof SnapshotRefused
        ? "GenericError"
        : "InternalError";
      return error(id, cls, (e as Error).message);
    }
    return error(id, "GenericError", "unreachable");
  }

  /**
   * Stop listening, remove the socket, and end every connection once what
   * was being written to it (the fate event) is out, within a second.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(this.path);
    } catch { /* already gone */ }
    const flushed = Promise.all([...this.#conns.values()].map((w) => w()));
    await Promise.race([flushed, new Promise((r) => setTimeout(r, 1000))]);
    for (const c of this.#conns.keys()) {
      try {
        c.close();
      } catch { /* gone */ }
    }
  }
}

function ok(id: unknown, value: unknown): unknown {
  return id === undefined ? { return: value } : { return: value, id };
}

function error(id: unknown, cls: string, desc: string): unknown {
  const e = { error: { class: cls, desc } };
  return id === undefined ? e : { ...e, id };
}
