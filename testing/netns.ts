// Test helper: network namespaces that a test creates and always deletes.
// Every network test runs its taps, bridges, veths, addresses and emulators
// inside namespaces made here (`ip netns add avm-test-<pid>-<random>`), so nothing
// touches the host's own namespace. Used by tests/net_*_test.ts.
// Read next: tests/unit/net/tap_test.ts.

/** Why network tests cannot run here, or null when they can. */
export async function netnsUnavailable(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "network tests need Linux";
  if (Deno.uid() !== 0) return "network tests need root (they create network namespaces and taps)";
  try {
    Deno.statSync("/dev/net/tun");
  } catch {
    return "network tests need /dev/net/tun";
  }
  try {
    const r = await new Deno.Command("ip", { args: ["-V"], stdout: "null", stderr: "null" })
      .output();
    if (!r.success) return "network tests need `ip` from iproute2";
  } catch {
    return "network tests need `ip` from iproute2";
  }
  return null;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command (not inside any namespace); never throws for a non-zero exit. */
export async function run(cmd: string[], stdin?: string): Promise<RunResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Delete namespaces left by test processes that were killed before their
 * cleanup ran (`avm-test-<pid>-...` whose pid is gone). Namespaces of live
 * processes, and names in any other form, are never touched.
 */
async function sweepOrphans(): Promise<void> {
  const r = await run(["ip", "netns", "list"]);
  for (const line of r.stdout.split("\n")) {
    const m = /^(avm-test-(\d+)-[0-9a-f]+)\b/.exec(line);
    if (!m) continue;
    try {
      Deno.statSync(`/proc/${m[2]}`);
    } catch {
      await run(["ip", "netns", "del", m[1]]);
    }
  }
}

/** One namespace: commands run in it through `ip netns exec`. */
export class Netns {
  readonly #children = new Set<Deno.ChildProcess>();
  private constructor(readonly name: string) {}

  static async create(): Promise<Netns> {
    await sweepOrphans();
    // The creator's pid in the name lets a later run remove what a killed run left.
    const name = `avm-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const r = await run(["ip", "netns", "add", name]);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
    const ns = new Netns(name);
    await ns.sh("ip link set lo up");
    return ns;
  }

  /** Argument vector that runs `cmd` inside this namespace. */
  argv(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...cmd];
  }

  /** Run a command inside; resolves with its output whatever the exit code. */
  exec(cmd: string[], stdin?: string): Promise<RunResult> {
    return run(this.argv(cmd), stdin);
  }

  /** Run a shell line inside; throws with its stderr on failure. */
  async sh(line: string): Promise<string> {
    const r = await this.exec(["sh", "-c", line]);
    if (r.code !== 0) {
      throw new Error(`[${this.name}] ${line}: exit ${r.code}: ${r.stderr.trim()}`);
    }
    return r.stdout;
  }

  /** Start a long-running process inside; it is killed when the namespace is deleted. */
  spawn(cmd: string[], opts: Omit<Deno.CommandOptions, "args"> = {}): Deno.ChildProcess {
    const argv = this.argv(cmd);
    const child = new Deno.Command(argv[0], {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...opts,
      args: argv.slice(1),
    }).spawn();
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    return child;
  }

  /** Kill what we started inside, then delete the namespace (and every link in it). */
  async delete(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status.catch(() => {});
    }
    const r = await run(["ip", "netns", "del", this.name]);
    if (r.code !== 0) throw new Error(`ip netns del ${this.name}: ${r.stderr.trim()}`);
  }
}

/**
 * Run `fn` with `count` fresh namespaces, deleting them all afterwards even
 * when `fn` throws.
 */
export async function withNetns<T>(
  count: number,
  fn: (...ns: Netns[]) => Promise<T>,
): Promise<T> {
  const made: Netns[] = [];
  try {
    for (let i = 0; i < count; i++) made.push(await Netns.create());
    return await fn(...made);
  } finally {
    for (const ns of made) await ns.delete().catch((e) => console.error(e));
  }
}

/** Read a child's stdout/stderr to text after it exits (for error messages). */
export async function collect(child: Deno.ChildProcess): Promise<RunResult> {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
