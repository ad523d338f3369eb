// An expect-style handle on one running emulator, for end-to-end tests: start
// `mod.ts` as a child process with pipes (or any argv), wait for text on its
// console, type lines, and collect its exit status. Every wait has a deadline,
// so a wedged guest fails a test instead of hanging CI.
// Used by tests/boot_*_test.ts and the block/net/fault end-to-end tests.

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const GUEST_DIR = new URL("../guest/", import.meta.url).pathname;
export const READY_LINE = "actorvm-guest: ready";

/**
 * The `mod.ts` arguments, after any options, that boot the bundled kernel and
 * initramfs with the default console parameters plus `kernelArgs`.
 */
export function bundledBoot(kernelArgs: string[] = [], memMb = 128): string[] {
  return [
    `--initrd=${GUEST_DIR}initramfs.cpio`,
    String(memMb),
    `${GUEST_DIR}Image`,
    "console=hvc0",
    "earlycon=sbi",
    ...kernelArgs,
  ];
}

/**
 * Run `mod.ts` with `args` to its exit (stdin and stdout closed), killing it
 * after `limitMs` so a broken build fails instead of hanging; returns the
 * exit status and everything it wrote on stderr.
 */
export async function runMod(
  args: string[],
  limitMs: number,
): Promise<{ code: number; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(timer);
  return { code: status.code, err };
}

export interface SessionOptions {
  /** Arguments after `mod.ts`. */
  args?: string[];
  /** Run the command inside this network namespace (ip netns exec). */
  netns?: string;
  env?: Record<string, string>;
}

export class GuestSession {
  readonly child: Deno.ChildProcess;
  private out = "";
  private err = "";
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly done: Promise<Deno.CommandStatus>;
  private readonly enc = new TextEncoder();
  private waiters: (() => void)[] = [];

  constructor(opts: SessionOptions = {}) {
    const argv = ["run", "-A", MOD, ...(opts.args ?? [])];
    const exe = opts.netns ? "ip" : Deno.execPath();
    this.child = new Deno.Command(exe, {
      args: opts.netns ? ["netns", "exec", opts.netns, Deno.execPath(), ...argv] : argv,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    }).spawn();
    this.writer = this.child.stdin.getWriter();
    this.pump(this.child.stdout, (s) => this.out += s);
    this.pump(this.child.stderr, (s) => this.err += s);
    this.done = this.child.status;
  }

  private async pump(stream: ReadableStream<Uint8Array>, add: (s: string) => void) {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      add(dec.decode(chunk, { stream: true }));
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Everything the guest's console (stdout) has printed so far. */
  get output(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }

  /**
   * Wait until `what` appears in stdout after position `from`; returns the
   * index just past the match. Throws with the tail of the output on timeout.
   */
  async waitFor(what: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.done.then(() => exited = true);
    for (;;) {
      const hay = this.out.slice(from);
      if (typeof what === "string") {
        const i = hay.indexOf(what);
        if (i >= 0) return from + i + what.length;
      } else {
        const m = what.exec(hay);
        if (m) return from + m.index + m[0].length;
      }
      const left = deadline - Date.now();
      if (left <= 0 || exited) {
        throw new Error(
          `${exited ? "emulator exited" : "timed out"} waiting for ${String(what)}\n` +
            `--- stdout tail ---\n${this.out.slice(-2000)}\n--- stderr tail ---\n${
              this.err.slice(-2000)
            }`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Type bytes on the guest's console. */
  async send(text: string | Uint8Array): Promise<void> {
    await this.writer.write(typeof text === "string" ? this.enc.encode(text) : text);
  }

  /**
   * Run one shell command and return what it printed: the command is wrapped
   * in unique markers so its output can be cut out of the console stream.
   */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const tag = `M${Math.random().toString(36).slice(2, 10)}`;
    const from = this.out.length;
    // The marker is split in the typed line so the echo of the line does not match.
    await this.send(`echo ${tag}''B; ${command}; echo ${tag}''E$?\n`);
    const b = await this.waitFor(`${tag}B`, timeoutMs, from);
    const e = await this.waitFor(new RegExp(`${tag}E(\\d+)`), timeoutMs, b);
    const body = this.out.slice(b, e);
    const m = /([\s\S]*)M[a-z0-9]+E(\d+)$/.exec(body)!;
    const status = Number(m[2]);
    const text = m[1].replace(/\r/g, "").replace(/^\n/, "");
    if (status !== 0) throw new Error(`guest command failed (${status}): ${command}\n${text}`);
    return text;
  }

  /** Wait for the process to exit (with a deadline); returns its status. */
  async exit(timeoutMs: number): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("emulator did not exit in time")), timeoutMs);
    });
    try {
      return await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close stdin and make sure the process is gone. */
  async close(): Promise<void> {
    try {
      await this.writer.close();
    } catch {
      // already closed
    }
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.done;
  }
}
