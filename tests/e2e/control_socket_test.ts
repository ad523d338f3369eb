// --control from the command line: `mod.ts --control=<path>` listens before
// the guest boots; `quit` is answered, the GUEST_FATE event says "stopped",
// the process exits 130 (stopped, as three ^C) and the socket is gone. A
// path that already exists is refused with exit status 2 before anything
// starts. Everything else about the socket: tests/e2e/snapshot_test.ts.

import assert from "../../testing/assert.ts";
import { fileURLToPath } from "node:url";
import { READY_LINE } from "../../mod.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

Deno.test({
  name: "control socket: quit from the command line, and an existing path refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-ctl-" });
    try {
      const sock = `${dir}/vm.sock`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, `--control=${sock}`],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
      const dec = new TextDecoder();
      let out = "";
      const reader = child.stdout.getReader();
      while (!out.includes(READY_LINE)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += dec.decode(value, { stream: true });
      }
      void (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      const conn = await Deno.connect({ transport: "unix", path: sock });
      await conn.write(
        new TextEncoder().encode('{"execute":"status","id":"s"}\n{"execute":"quit","id":"q"}\n'),
      );
      let lines = "";
      for await (const chunk of conn.readable) lines += dec.decode(chunk, { stream: true });
      const msgs = lines.trim().split("\n").map((l) => JSON.parse(l));
      assert.ok("QMP" in msgs[0]);
      assert.deepEqual(msgs.find((m) => m.id === "s").return.status, "running");
      assert.deepEqual(msgs.find((m) => m.id === "q").return, {});
      const fate = msgs.find((m) => m.event === "GUEST_FATE");
      assert.deepEqual(fate?.data?.fate, "stopped");
      const status = await child.status;
      clearTimeout(killer);
      await child.stdin.close().catch(() => {});
      const err = dec.decode(await new Response(child.stderr).arrayBuffer());
      assert.deepEqual(status.code, 130, err);
      assert.throws(() => Deno.statSync(sock), Deno.errors.NotFound, "the socket is removed");

      await Deno.writeTextFile(sock, "");
      const again = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MOD, `--control=${sock}`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.deepEqual(again.code, 2);
      assert.match(dec.decode(again.stderr), /--control=.*vm\.sock: already exists/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
