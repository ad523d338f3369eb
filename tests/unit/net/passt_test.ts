// The passt backend without a guest: the real passt, started by
// PasstBackend inside a namespace made for the test (this file's
// `import.meta.main` block runs there). Frames cross QEMU's stream protocol:
// an ARP request for the gateway gets passt's reply; passt SIGKILLed is started
// again and answers again; close() leaves no passt behind. Plus the pure parts:
// --forward parsing and passt's options.
// Read next: devices/net/passt.ts.

import { fileURLToPath } from "node:url";
import assert from "../../../testing/assert.ts";
import { netnsUnavailable, withNetns } from "../../../testing/netns.ts";
import { passtUnavailable, preparePasstNetns } from "../../../testing/net_user.ts";
import { arpRequest, parseArp } from "../../../testing/net_frames.ts";
import {
  findPasst,
  makeSocketDir,
  newPasstLive,
  parseForward,
  passtArgs,
  PasstBackend,
  USER_NET,
} from "../../../devices/net/passt.ts";

const SELF = fileURLToPath(import.meta.url);
let skip = await netnsUnavailable();
skip ??= await passtUnavailable();

Deno.test("passt: --forward specs parse to passt's -t/-u syntax, loopback by default", () => {
  assert.deepEqual(parseForward("tcp:8080:80"), {
    proto: "tcp",
    hostAddr: "127.0.0.1",
    hostPort: 8080,
    guestPort: 80,
  });
  assert.deepEqual(parseForward("udp:0.0.0.0:5353:53").hostAddr, "0.0.0.0");
  const args = passtArgs([parseForward("tcp:8080:80"), parseForward("tcp:2222:22")]);
  assert.deepEqual(args.slice(-6), [
    "--tcp-ports",
    "127.0.0.1/8080:80",
    "--tcp-ports",
    "127.0.0.1/2222:22",
    "--udp-ports",
    "none",
  ]);
  for (const bad of ["tcp:80", "sctp:1:2", "tcp:0:80", "tcp:1:65536", "tcp:1.2.3:1:2", "tcp:a:b"]) {
    assert.throws(() => parseForward(bad), Error, `--forward=${bad}`);
  }
  assert.throws(() => findPasst("passt", "/nonexistent"), Error, 'Debian package "passt"');
});

Deno.test({
  name: "passt: ARP through the stream protocol; passt killed is restarted; none left after close",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      await preparePasstNetns(ns);
      const r = await ns.exec([Deno.execPath(), "run", "-A", SELF, "inside"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
      assert.equal(out.replies, 2, r.stdout);
      assert.equal(out.restarts, 1);
      assert.match(out.log, /passt closed its socket \(killed by SIGKILL\); starting it again/);
      assert.equal(out.leftAfterClose, false);
    }),
});

if (skip) console.warn(`passt_test: skipping the namespace test: ${skip}`);

/** Inside the namespace: ARP for the gateway, kill passt, ARP again, close. */
async function inside(): Promise<void> {
  const sock = makeSocketDir();
  const logs: string[] = [];
  const be = new PasstBackend(
    {
      binary: findPasst(),
      socketDir: sock.dir,
      args: [...sock.args, ...passtArgs([])],
      live: newPasstLive(),
    },
    { log: (t) => logs.push(t) },
  );
  const me = [2, 0x41, 0x56, 1, 2, 3];
  let replies = 0;
  let wake: (() => void) | null = null;
  be.start((f) => {
    const a = parseArp(f);
    if (a?.op === 2 && a.senderIp === USER_NET.gateway) {
      replies++;
      wake?.();
    }
  });
  const arp = async () => {
    const got = new Promise<void>((r) => wake = r);
    // passt may not be connected yet: ask until it answers (up to 10 s).
    for (let i = 0; i < 100; i++) {
      be.send(arpRequest(me, USER_NET.address, USER_NET.gateway));
      const t = new Promise<boolean>((r) => setTimeout(() => r(false), 100));
      if (await Promise.race([got.then(() => true), t])) return;
    }
    throw new Error("no ARP reply from passt");
  };
  await arp();
  const pid = be.pid!;
  Deno.kill(pid, "SIGKILL");
  for (let i = 0; i < 200 && be.restarts === 0; i++) await new Promise((r) => setTimeout(r, 50));
  await arp();
  const newPid = be.pid!;
  await be.close();
  let left = true;
  for (let i = 0; i < 40 && left; i++) {
    try {
      Deno.statSync(`/proc/${newPid}/cmdline`);
      left = Deno.readTextFileSync(`/proc/${newPid}/cmdline`) !== "" &&
        !Deno.readTextFileSync(`/proc/${newPid}/stat`).includes(") Z ");
      if (left) await new Promise((r) => setTimeout(r, 50));
    } catch {
      left = false;
    }
  }
  Deno.removeSync(sock.dir, { recursive: true });
  console.log(JSON.stringify({
    replies: Math.min(replies, 2),
    restarts: be.restarts,
    log: logs.join("\n"),
    leftAfterClose: left,
    pids: [pid, newPid],
  }));
}

if (import.meta.main && Deno.args[0] === "inside") await inside();
