// A real terminal for end-to-end tests: one tmux pane, on its own tmux
// server, running a shell command; keys typed into it, its screen read back,
// its size changed (tmux then sends SIGWINCH to the program in it). Tests
// that need it are skipped with a message when tmux is not installed (CI
// installs it). Read next: tests/e2e/console_size_test.ts.

/** Whether tmux can be run here. */
export const haveTmux: boolean = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

export class TmuxPane {
  readonly name = `avm-test-${crypto.randomUUID().slice(0, 8)}`;
  constructor(
    readonly script: string,
    readonly cols = 160,
    readonly rows = 50,
  ) {}

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

  /** Start the pane and type the script into its shell. */
  start(): void {
    this.tmux(
      "new-session",
      "-d",
      "-s",
      this.name,
      "-x",
      String(this.cols),
      "-y",
      String(this.rows),
      "bash",
      "--norc",
    );
    this.tmux("set-option", "-t", this.name, "history-limit", "20000");
    this.keys(this.script, "Enter");
  }
  keys(...keys: string[]): void {
    this.tmux("send-keys", "-t", this.name, ...keys);
  }
  /** Resize the window (and so the pane): the program in it gets SIGWINCH. */
  resize(cols: number, rows: number): void {
    this.tmux("resize-window", "-t", this.name, "-x", String(cols), "-y", String(rows));
  }
  /** The pane's terminal device (e.g. /dev/pts/3). */
  tty(): string {
    return this.tmux("display-message", "-p", "-t", this.name, "#{pane_tty}").trim();
  }
  /** The pane's terminal mode as `stty -a` prints it (while the program in it runs). */
  stty(): string {
    const out = new Deno.Command("stty", { args: ["-a", "-F", this.tty()], stdout: "piped" })
      .outputSync();
    return new TextDecoder().decode(out.stdout);
  }
  screen(): string {
    return this.tmux("capture-pane", "-p", "-J", "-S", "-20000", "-t", this.name);
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
