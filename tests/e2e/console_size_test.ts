// The terminal's size reaches the guest: under tmux, the bundled guest's
// `stty size` prints the pane's size (VIRTIO_CONSOLE_F_SIZE), follows a
// `tmux resize-window` (SIGWINCH → config change → hvc_resize), and the shell
// has hvc0 as its controlling terminal (`tty`, `stty -a`).
// Read next: devices/console.ts (setConsoleSize), launcher/terminal.ts.
import assert from "../../testing/assert.ts";
import { READY_LINE } from "../../testing/guest_session.ts";
import { haveTmux, TmuxPane } from "../../testing/tmux.ts";
import { fileURLToPath } from "node:url";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

Deno.test({
  name: "console under tmux: stty size matches the pane and follows a resize",
  ignore: !haveTmux,
  async fn() {
    const pane = new TmuxPane(`${Deno.execPath()} run -A '${MOD}'; echo "EXIT=$?"`, 132, 41);
    try {
      pane.start();
      await pane.waitFor(new RegExp(READY_LINE), 240_000);
      // Numbers the guest computes, so the typed line itself never matches.
      pane.keys("echo size-$((1+0)) $(stty size) /$(tty)/", "Enter");
      await pane.waitFor(/^size-1 41 132 \/\/dev\/hvc0\/$/m, 60_000);
      pane.keys("stty -a >/dev/null && echo stty-ok-$((40+2))", "Enter");
      await pane.waitFor(/^stty-ok-42$/m, 60_000);
      pane.resize(100, 30);
      // The resize reaches the guest asynchronously (signal, config interrupt, tty work).
      await new Promise((r) => setTimeout(r, 1000));
      pane.keys("clear; echo size-$((1+1)) $(stty size)", "Enter");
      await pane.waitFor(/^size-2 30 100$/m, 60_000);
      pane.keys("poweroff", "Enter");
      const screen = await pane.waitFor(/^EXIT=\d+$/m, 120_000);
      assert.match(screen, /^EXIT=0$/m);
    } finally {
      pane.kill();
    }
  },
});
