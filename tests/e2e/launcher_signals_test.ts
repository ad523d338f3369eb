// Every signal that would end the emulator leaves the terminal as it found it,
// and SIGUSR1 opens no debugger port. Under tmux with a plain `sh` parent (an
// interactive bash puts the terminal back itself and would hide a raw one):
// the emulator runs a tiny kernel that waits in wfi, each signal is sent once
// the terminal is raw, then the same shell line prints the exit status and
// the terminal mode left behind. Skipped with a message when tmux is missing.
// Read next: launcher/signals.ts, launcher/terminal.ts.
import { kernelImage } from "../../testing/kernel_image.ts";
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { stopSignals } from "../../launcher/signals.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const haveTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
if (!haveTmux) console.error("launcher_signals_test: tmux not installed, skipped");

/**
 * A kernel that enables supervisor external interrupts and waits in wfi
 * forever: the run lasts until it is stopped, and costs no host cpu.
 */
function idleKernel(): Uint8Array {
  const code = [
    0x20000293, // li t0,0x200 (SEIE)
    0x10429073, // csrw sie,t0
    0x10500073, // wfi
    0xffdff06f, // j -4
  ];
  return kernelImage(code);
}

function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** A tmux pane running a plain `sh`, on its own tmux server. */
class ShPane {
  readonly name = `avm-sig-${crypto.randomUUID().slice(0, 8)}`;
  private tmux(...args: string[]): string {
    return run("tmux", ["-L", this.name, ...args]);
  }
  start(): void {
    this.tmux("new-session", "-d", "-s", this.name, "-x", "200", "-y", "50", "sh");
    this.tmux("set-option", "-t", this.name, "history-limit", "20000");
  }
  type(line: string): void {
    this.tmux("send-keys", "-t", this.name, "-l", line);
    this.tmux("send-keys", "-t", this.name, "Enter");
  }
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-20000", "-t", this.name);
  }
  shellPid(): number {
    return Number(this.tmux("display-message", "-p", "-t", this.name, "#{pane_pid}").trim());
  }
  stty(): string {
    const tty = this.tmux("display-message", "-p", "-t", this.name, "#{pane_tty}").trim();
    return run("stty", ["-a", "-F", tty]);
  }
  async waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.screen().match(re);
      if (m) return m;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${re}; screen:\n${this.screen()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  kill(): void {
    try {
      this.tmux("kill-server");
    } catch {
      // already gone
    }
  }
}

const isRaw = (stty: string) =>
  /(^|\s)-icanon\b/.test(stty) && /(^|\s)-echo\b/.test(stty) && /(^|\s)-isig\b/.test(stty);

/** The emulator started by the pane's shell, once the terminal is raw. */
async function emulatorRunning(pane: ShPane): Promise<number> {
  const end = Date.now() + 30_000;
  for (;;) {
    if (isRaw(pane.stty())) {
      const kids = run("pgrep", ["-P", String(pane.shellPid())]).trim().split("\n");
      assert.deepEqual(kids.length, 1, `one child of the shell: ${kids}`);
      return Number(kids[0]);
    }
    if (Date.now() > end) throw new Error(`the terminal never went raw; screen:\n${pane.screen()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The shell line: run the emulator, then print its status and the terminal's
 * isig/icanon/echo flags as it left them, tagged so each run is told apart.
 */
const line = (kernel: string, tag: string) =>
  `${Deno.execPath()} run -A ${MOD} 32 ${kernel}; echo "EXIT-${tag}=$?"; ` +
  `echo "MODE-${tag}=$(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(isig|icanon|echo)$' | tr '\\n' ,)"`;

function withKernel(fn: (kernel: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeFileSync(`${dir}/Image`, idleKernel());
      await fn(`${dir}/Image`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** TCP ports the process `pid` listens on (from `ss -ltnp`). */
function listening(pid: number): string[] {
  return run("ss", ["-Hltnp"]).split("\n").filter((l) => l.includes(`pid=${pid},`));
}

Deno.test({
  name: "signals: each that would end the emulator stops it (130) and restores the terminal",
  ignore: !haveTmux,
  fn: withKernel(async (kernel) => {
    const sigs: Deno.Signal[] = stopSignals().filter((s) => s !== "SIGUSR1");
    // The list is what the emulator handles: the three, and the others
    // whose default would kill it with the terminal left raw.
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR2"]) {
      assert.ok(sigs.includes(s as Deno.Signal), `${s} is handled`);
    }
    const pane = new ShPane();
    try {
      pane.start();
      for (const sig of sigs) {
        const tag = sig.slice(3);
        pane.type(line(kernel, tag));
        const pid = await emulatorRunning(pane);
        Deno.kill(pid, sig);
        const mode = await pane.waitFor(new RegExp(`^MODE-${tag}=([a-z,-]*)$`, "m"), 30_000);
        const screen = pane.screen();
        assert.match(screen, new RegExp(`^EXIT-${tag}=130$`, "m"), `${sig}: exit status`);
        assert.deepEqual(mode[1], "isig,icanon,echo,", `${sig}: terminal restored`);
        assert.match(screen, new RegExp(`actorvm: ${sig}: stopping`), `${sig}: said`);
      }
    } finally {
      pane.kill();
    }
  }),
});

Deno.test({
  name: "signals: SIGUSR1 opens no inspector port; the emulator runs on, raw",
  ignore: !haveTmux,
  fn: withKernel(async (kernel) => {
    const pane = new ShPane();
    try {
      pane.start();
      pane.type(line(kernel, "USR1"));
      const pid = await emulatorRunning(pane);
      // Deno starts listening for SIGUSR1 half a second into a run.
      await new Promise((r) => setTimeout(r, 1000));
      Deno.kill(pid, "SIGUSR1");
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(listening(pid), [], "no listening port");
      assert.ok(!/Debugger listening|inspector/i.test(pane.screen()), pane.screen());
      assert.ok(isRaw(pane.stty()), "still running with the terminal raw");
      const sigIgn = BigInt(
        "0x" + /SigIgn:\s*([0-9a-f]+)/.exec(
          Deno.readTextFileSync(`/proc/${pid}/status`),
        )![1],
      );
      assert.ok((sigIgn >> 9n) & 1n, "SIGUSR1 is ignored by the kernel");
      Deno.kill(pid, "SIGTERM");
      const mode = await pane.waitFor(/^MODE-USR1=([a-z,-]*)$/m, 30_000);
      assert.match(pane.screen(), /^EXIT-USR1=130$/m);
      assert.deepEqual(mode[1], "isig,icanon,echo,");
    } finally {
      pane.kill();
    }
    // The check can fail: this Deno does open an inspector on SIGUSR1 when
    // nothing stops it (it would then also listen on 127.0.0.1:9229).
    const plain = new Deno.Command(Deno.execPath(), {
      args: ["eval", "setTimeout(() => {}, 4000)"],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 1000));
      plain.kill("SIGUSR1");
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(listening(plain.pid).length > 0, "a plain Deno program listens after SIGUSR1");
    } finally {
      plain.kill("SIGKILL");
      await plain.output();
    }
  }),
});
