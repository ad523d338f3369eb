// End to end: hvc0's output does not make the guest spin. Linux's virtio
// console transmits one buffer per echoed keystroke and then polls its
// transmit queue, interrupts off, until the host returns the buffer
// (virtio_console.c __send_to_port); the cpu actor waits for the console
// actor after a notify of that queue instead (actors/cpu/cpu_actor.ts,
// CONSOLE_TX_WAIT_MS). Read with --profile: before, ten typed commands made
// that polling ~54% of the session's instructions.
// Read next: actors/cpu/cpu_actor.ts (the bus's virtio write), devices/console.ts.

import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";

/** The percentages --profile printed for the polling loop's functions. */
function pollingShare(stderr: string): number {
  let sum = 0;
  for (const m of stderr.matchAll(/^\s+([\d.]+)%\s+(\S+)$/gm)) {
    if (
      /^(virtqueue_get_buf_ctx|virtqueue_get_buf|virtqueue_is_broken|__send_to_port)$/.test(m[2])
    ) {
      sum += Number(m[1]);
    }
  }
  return sum;
}

Deno.test("console: typed commands' echo costs the guest no transmit polling", async () => {
  const s = new GuestSession({ args: ["--profile"] });
  try {
    await s.waitFor(READY_LINE, 120_000);
    for (let i = 0; i < 10; i++) {
      const out = await s.run("echo hello-world-this-is-a-line-typed-at-the-shell");
      assert.match(out, /hello-world-this-is-a-line-typed-at-the-shell/);
    }
  } finally {
    await s.poweroff();
  }
  assert.match(s.stderr, /actorvm: profile, \d+ samples/, s.stderr.slice(-3000));
  const share = pollingShare(s.stderr);
  assert.ok(share < 15, `transmit polling was ${share}% of the guest's instructions`);
});
