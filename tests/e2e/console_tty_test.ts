// The console under a real terminal (tmux): raw mode while the guest runs,
// the terminal restored after poweroff and after three ^C, and a single ^C
// delivered to the guest (it interrupts a `sleep` in the guest's shell).
// Skipped when tmux is not installed (CI installs it); the pane: testing/tmux.ts.
// Read next: launcher/terminal.ts.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { READY_LINE } from "../../testing/guest_session.ts";
import { haveTmux, TmuxPane } from "../../testing/tmux.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const isRaw = (stty: string) => /-icanon/.test(stty) && /-echo\b/.test(stty);

/**
 * Run the emulator, then — in the same shell command line, before bash's own
 * line editor touches the terminal again — print its exit status and the
 * terminal mode it left behind.
 */
const command = () =>
  `${Deno.execPath()} run -A '${MOD}'; echo "EXIT=$?"; ` +
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
