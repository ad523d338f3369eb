// The console under a real terminal (tmux): raw mode while the guest runs,
// the terminal restored after poweroff and after three ^C, and a single ^C
// delivered to the guest (it interrupts a `sleep` in the guest's shell).
// Skipped with a message when tmux is not installed (CI installs it).
// Read next: launcher/terminal.ts.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { READY_LINE } from "../../testing/guest_session.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const haveTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

class TmuxPane {
  readonly name = `avm-test-${crypto.randomUUID().slice(0, 8)}`;
  constructor(readonly script: string) {}

  private tmux(...args: string[]): string {
    // Each pane on its own tmux server (-L): tests running in parallel never
    // race one shared server's sessions.
    const out = new Deno.Command("tmux", {
      args: ["-L", this.name, ...args],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      throw new Error(`tmux ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  }

  start(): void {
    this.tmux("new-session", "-d", "-s", this.name, "-x", "160", "-y", "50", "bash", "--norc");
    this.tmux("set-option", "-t", this.name, "history-limit", "20000");
    this.keys(this.script, "Enter");
  }
  keys(...keys: string[]): void {
    this.tmux("send-keys", "-t", this.name, ...keys);
  }
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-20000", "-t", this.name);
  }
  tty(): string {
    return this.tmux("display-message", "-p", "-t", this.name, "#{pane_tty}").trim();
  }
  /** The pane's terminal mode as `stty -a` prints it (while the emulator runs). */
  stty(): string {
    const out = new Deno.Command("stty", { args: ["-a", "-F", this.tty()], stdout: "piped" })
      .outputSync();
    return new TextDecoder().decode(out.stdout);
  }
  async waitFor(re: RegExp, ms: number): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const s = this.screen();
      if (re.test(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 250));
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

const isRaw = (stty: string) => /-icanon/.test(stty) && /-echo\b/.test(stty);

/**
 * Run the emulator, then — in the same shell command line, before bash's own
 * line editor touches the terminal again — print its exit status and the
 * terminal mode it left behind.
 */
const command = () =>
  `${Deno.execPath()} run -A ${MOD}; echo "EXIT=$?"; ` +
  `echo "MODE=$(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ,)"`;
const LEFT_COOKED = /^MODE=icanon,echo,$/m;

Deno.test({
  name: "console under tmux: raw while running, ^C to the guest, restored after poweroff",
  ignore: !haveTmux,
  async fn() {
    const pane = new TmuxPane(command());
    try {
      pane.start();
      await pane.waitFor(new RegExp(READY_LINE), 240_000);
      assert.ok(isRaw(pane.stty()), "terminal is raw while the guest runs");
      // One ^C interrupts a long sleep in the guest's shell, and the shell goes on.
      pane.keys("sleep 1000", "Enter");
      await new Promise((r) => setTimeout(r, 1500));
      pane.keys("C-c");
      pane.keys("echo after-ctrl-c-$((40+2))", "Enter");
      await pane.waitFor(/after-ctrl-c-42/, 60_000);
      pane.keys("poweroff", "Enter");
      const screen = await pane.waitFor(/^MODE=[a-z,-]*$/m, 120_000);
      assert.match(screen, /^EXIT=0$/m);
      assert.match(screen, LEFT_COOKED, "terminal restored after poweroff");
    } finally {
      pane.kill();
    }
  },
});

Deno.test({
  name: "console under tmux: three ^C within a second stop the emulator and restore the terminal",
  ignore: !haveTmux,
  async fn() {
    const pane = new TmuxPane(command());
    try {
      pane.start();
      await pane.waitFor(new RegExp(READY_LINE), 240_000);
      assert.ok(isRaw(pane.stty()), "terminal is raw while the guest runs");
      pane.keys("C-c", "C-c", "C-c");
      const screen = await pane.waitFor(/^MODE=[a-z,-]*$/m, 60_000);
      assert.match(screen, /^EXIT=130$/m);
      assert.match(screen, LEFT_COOKED, "terminal restored after three ^C");
    } finally {
      pane.kill();
    }
  },
});
