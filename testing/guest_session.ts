// The one expect-style handle on a running guest, for end-to-end tests and
// benchmarks: start `mod.ts` as a child process with pipes (or drive any
// process already spawned with piped stdio — a `mod.ts` inside a network
// namespace, a qemu reference run), wait for text on its console, type lines,
// run shell commands and collect their output, and collect its exit status.
// Every wait has a deadline, so a wedged guest fails a test instead of
// hanging CI. testing/net_vm.ts builds its networked `Vm` on this class.
// Read next: testing/net_vm.ts, then testing/virtio_driver.ts.
import { fileURLToPath } from "node:url";

export { READY_LINE } from "../mod.ts";

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
/**
 * ACTORVM_TEST_SMP=N runs every guest the tests start with `--smp=N` and the
 * bundled SMP kernel (tests/e2e/smp_suite_test.ts runs existing end-to-end
 * tests that way; docs/smp.md). Unset: one hart, as always.
 */
const TEST_SMP = Number(Deno.env.get("ACTORVM_TEST_SMP") ?? "1") || 1;
const SMP_ARGS = TEST_SMP > 1 ? [`--smp=${TEST_SMP}`] : [];
const GUEST_DIR = fileURLToPath(new URL("../guest/", import.meta.url));

/**
 * The `mod.ts` arguments, after any options, that boot the bundled kernel and
 * initramfs with the default console parameters plus `kernelArgs`; `image`
 * names another kernel under guest/ (e.g. "variants/Image-smp" for --smp).
 */
export function bundledBoot(
  kernelArgs: string[] = [],
  memMb = 128,
  image = TEST_SMP > 1 ? "variants/Image-smp" : "Image",
): string[] {
  return [
    `--initrd=${GUEST_DIR}initramfs.cpio`,
    String(memMb),
    `${GUEST_DIR}${image}`,
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
    args: ["run", "-A", MOD, ...SMP_ARGS, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(timer);
  return { code: status.code, err };
}

/**
 * runMod's sibling for runs whose output is the point (record and replay):
 * `mod.ts` with `args` (no --smp added: deterministic runs have one hart) to
 * its exit, with `input` on stdin (closed at once when there is none),
 * killed after `limitMs`; the exit status, stdout's bytes and stderr.
 */
export async function runToEnd(
  args: string[],
  { input, limitMs = 120_000 }: { input?: string; limitMs?: number } = {},
): Promise<{ code: number; out: Uint8Array; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const [status, out, err] = await Promise.all([
    child.status,
    new Response(child.stdout).bytes(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  return { code: status.code, out, err };
}

/** The final line's instruction count: `actorvm: guest ... (N instructions)`. */
export function finalCount(stderr: string): number {
  const m = stderr.match(/actorvm: guest [^\n]*\((\d+) instructions\)/);
  if (!m) throw new Error(`no final instruction count in:\n${stderr}`);
  return Number(m[1]);
}

/**
 * Drop the kernel's own console lines (`[    1.234567] ...`, CONFIG_PRINTK_TIME)
 * wherever they landed, even in the middle of a line of command output: the
 * kernel writes to the same console as the shell, at any moment.
 */
export function withoutKernelLines(text: string): string {
  return text.replace(/\[ *\d+\.\d{6}\][^\n]*\n/g, "");
}

export interface SessionOptions {
  /** Arguments after `mod.ts`. */
  args?: string[];
  /** Run the command inside this network namespace (ip netns exec). */
  netns?: string;
  env?: Record<string, string>;
  /** Drive this already spawned process (stdin, stdout, stderr piped) instead of starting `mod.ts`. */
  child?: Deno.ChildProcess;
}

/** A running guest: wait for console text, type, run shell commands, stop. */
export class GuestSession {
  readonly child: Deno.ChildProcess;
  #out = "";
  #err = "";
  #waiters: (() => void)[] = [];
  #exited = false;
  #seq = 0;
  /** Distinguishes this session's command markers from anything else on the console. */
  readonly #tag = Math.random().toString(36).slice(2, 8).toUpperCase();
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>[];
  readonly #enc = new TextEncoder();

  constructor(opts: SessionOptions = {}) {
    this.child = opts.child ?? GuestSession.#spawn(opts);
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

  static #spawn(opts: SessionOptions): Deno.ChildProcess {
    const argv = ["run", "-A", MOD, ...SMP_ARGS, ...(opts.args ?? [])];
    return new Deno.Command(opts.netns ? "ip" : Deno.execPath(), {
      args: opts.netns ? ["netns", "exec", opts.netns, Deno.execPath(), ...argv] : argv,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    }).spawn();
  }

  /** Everything the guest's console (stdout) has printed so far. */
  get output(): string {
    return this.#out;
  }
  get stderr(): string {
    return this.#err;
  }
  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
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

  /**
   * Poll `find` each time output arrives until it returns non-null; throws
   * with the tails of stdout and stderr on the deadline or if the process exits.
   */
  async #until<T>(find: () => T | null, what: string, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const got = find();
      if (got !== null) return got;
      const left = deadline - performance.now();
      if (left <= 0 || this.#exited) {
        throw new Error(
          `${this.#exited ? "emulator exited" : "timed out"} waiting for ${what}\n` +
            `--- stdout tail ---\n${this.#out.slice(-2000)}\n--- stderr tail ---\n${
              this.#err.slice(-2000)
            }`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Wait until `what` appears in stdout after position `from`; returns the
   * index just past the match. Throws with the tail of the output on timeout.
   */
  waitFor(what: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    return this.#until(
      () => {
        const hay = this.#out.slice(from);
        if (typeof what === "string") {
          const i = hay.indexOf(what);
          return i >= 0 ? from + i + what.length : null;
        }
        const m = what.exec(hay);
        return m ? from + m.index + m[0].length : null;
      },
      String(what),
      timeoutMs,
    );
  }

  /** Type bytes on the guest's console. */
  async send(text: string | Uint8Array): Promise<void> {
    await this.#writer.write(typeof text === "string" ? this.#enc.encode(text) : text);
  }

  /**
   * Run one shell command and return what it printed (\r removed); throws
   * with that output if its status is not 0. The command is typed between two
   * `echo`s of markers this session numbers itself, and its output is what
   * lies between their lines, kernel console lines taken out — so a printk
   * landing mid-command can't end up in the result. (A command whose own
   * output looks like printk, such as a bare `dmesg`, loses those lines too.)
   */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const mark = `__${this.#tag}_${++this.#seq}`;
    const from = this.#out.length;
    // The shell echoes the typed line: the markers are split by '' in it, so
    // only what the two echo commands print matches. The end marker starts a
    // line of its own even if the output did not end with a newline.
    await this.send(`echo ${mark}''_B__; ${command}; printf '\\n%s %s\\n' ${mark}''_E__ $?\n`);
    const re = new RegExp(`${mark}_B__\\r?\\n([\\s\\S]*?)\\r?\\n${mark}_E__ (\\d+)\\r?\\n`);
    const m = await this.#until(
      () => re.exec(withoutKernelLines(this.#out.slice(from))),
      `the end of \`${command}\``,
      timeoutMs,
    );
    const text = m[1].replace(/\r/g, "");
    if (m[2] !== "0") throw new Error(`guest command failed (${m[2]}): ${command}\n${text}`);
    return text;
  }

  /** Wait for the process to exit (with a deadline); returns its status. */
  async exit(timeoutMs: number): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("emulator did not exit in time")), timeoutMs);
    });
    try {
      return await Promise.race([this.#status, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL the process and wait until it and its output are gone. */
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#finish();
  }

  /** Close stdin and make sure the process is gone. */
  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* already closed */ }
    await this.kill();
  }

  /**
   * Type `poweroff -f`, give the guest `graceMs` to exit, then SIGKILL it;
   * everything the emulator printed (its exit summary) is in output/stderr after.
   */
  async poweroff(graceMs = 5000): Promise<void> {
    if (!this.#exited) {
      try {
        await this.send("\npoweroff -f\n");
      } catch { /* stdin gone */ }
      const t = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* gone */ }
      }, graceMs);
      await this.#status;
      clearTimeout(t);
    }
    await this.#finish();
  }

  /** After exit: wait (briefly) for the output pumps, and release stdin. */
  async #finish(): Promise<void> {
    await this.#status;
    // A grandchild still holding the pipes must not hang the test.
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#pumps),
      new Promise((r) => t = setTimeout(r, 5000)),
    ]);
    clearTimeout(t);
    try {
      await this.#writer.close();
    } catch { /* closed */ }
  }
}
