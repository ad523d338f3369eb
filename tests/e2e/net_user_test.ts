// `--net=user` end to end: the bundled guest on passt, inside a network
// namespace the test creates (testing/netns.ts), so every packet stays on that
// namespace's loopback. One boot serves these checks:
//   - the guest has the user network's addresses from its default command line;
//   - it downloads 4 MiB with wget from an HTTP server on the namespace's
//     loopback, through the gateway address 10.0.2.2, and the SHA-256 matches;
//   - a host client reaches busybox httpd in the guest through
//     --forward=tcp:8080:80, and a UDP datagram arrives through udp:5300:5300;
//   - passt killed under the guest is started again and the next download works;
//   - SIGKILL of the emulator: passt exits too (nothing outlives it).
// Without a boot: no passt on PATH, bad --forward and --forward without
// --net=user are clear errors with exit status 2.
// Read next: docs/net.md (the user network), devices/net/passt.ts.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { netnsUnavailable, withNetns } from "../../testing/netns.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import {
  fetchInNetns,
  passtUnavailable,
  preparePasstNetns,
  startBlobServer,
} from "../../testing/net_user.ts";

let skip = await netnsUnavailable();
skip ??= await passtUnavailable();
if (skip) console.warn(`net_user_test: skipping: ${skip}`);

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));
const BOOT_MS = 300_000;

/** Run mod.ts to its exit (it is expected to refuse before booting): status and stderr. */
async function runMod(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}
const BLOB = 4 << 20;
const HTTP_PORT = 8000;

/** passt processes started by the emulator `pid` (their socket lives in an actorvm-passt- dir). */
function passtChildren(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (!cmd.includes("actorvm-passt-") || !cmd.split("\0")[0].endsWith("passt")) continue;
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (pid < 0 || ppid === pid) out.push(Number(e.name));
    } catch { /* it went away */ }
  }
  return out;
}

/** The passt processes whose socket is in `dir`, whoever their parent is now. */
function passtIn(dir: string): number[] {
  return passtChildren(-1).filter((p) => {
    try {
      return Deno.readTextFileSync(`/proc/${p}/cmdline`).includes(dir);
    } catch {
      return false;
    }
  });
}

async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "net user: wget through passt's gateway, forwarded ports, passt restarted, none left",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      await preparePasstNetns(ns);
      const server = await startBlobServer(ns, "127.0.0.1", HTTP_PORT, BLOB);
      const vm = new GuestSession({
        netns: ns.name,
        args: ["--net=user", "--forward=tcp:8080:80", "--forward=udp:5300:5300"],
      });
      try {
        await vm.waitFor(READY_LINE, BOOT_MS);
        const pid = vm.child.pid;
        const first = passtChildren(pid);
        assert.equal(first.length, 1, `one passt child of the emulator: ${first}`);
        const cmd = Deno.readTextFileSync(`/proc/${first[0]}/cmdline`).split("\0");
        const dir = cmd[cmd.indexOf("--socket") + 1].replace(/\/[^/]*$/, "");

        // The bundled guest's default command line carries the user network's addresses.
        const addrs = await vm.run("ip -4 addr show dev eth0; ip route; cat /etc/resolv.conf");
        assert.match(addrs, /inet 10\.0\.2\.15\/24/);
        assert.match(addrs, /default via 10\.0\.2\.2 dev eth0/);
        assert.match(addrs, /nameserver 10\.0\.2\.3/);

        // The gateway address is the host's loopback: 4 MiB through wget, checked.
        const get = `wget -q -O /tmp/blob http://10.0.2.2:${HTTP_PORT}/blob && ` +
          "sha256sum /tmp/blob && rm /tmp/blob";
        assert.equal((await vm.run(get, 180_000)).trim().split(/\s+/)[0], server.sha256);

        // A host client reaches the guest's httpd through --forward=tcp:8080:80.
        const sum = await vm.run(
          "mkdir -p /tmp/www && head -c 1048576 /dev/urandom >/tmp/www/f && " +
            "sha256sum /tmp/www/f && httpd -p 80 -h /tmp/www",
        );
        const got = await fetchInNetns(ns, "http://127.0.0.1:8080/f");
        assert.equal(got.bytes, 1 << 20);
        assert.equal(got.sha256, sum.trim().split(/\s+/)[0]);

        // UDP through --forward=udp:5300:5300 (busybox nc in the guest).
        await vm.run("(nc -u -l -p 5300 >/tmp/udp &) ; sleep 1");
        const sent = await ns.exec([
          "sh",
          "-c",
          // Three datagrams from three source ports: the guest's nc takes the first that arrives.
          "for i in 1 2 3; do printf 'hello-udp\\n' | nc -u -w1 127.0.0.1 5300; done",
        ]);
        assert.equal(sent.code, 0, sent.stderr);
        await vm.run(
          "i=0; while ! grep -q hello-udp /tmp/udp && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; " +
            "grep hello-udp /tmp/udp",
        );

        // passt killed under the guest: started again, and the next download works.
        Deno.kill(first[0], "SIGKILL");
        await until(() => vm.stderr.includes("starting it again"), 30_000, "passt's restart");
        await until(
          () => {
            const now = passtChildren(pid);
            return now.length === 1 && now[0] !== first[0];
          },
          30_000,
          "a new passt",
        );
        assert.match(
          vm.stderr,
          /passt: passt closed its socket \(killed by SIGKILL\); starting it again/,
        );
        assert.equal((await vm.run(get, 180_000)).trim().split(/\s+/)[0], server.sha256);

        // SIGKILL of the emulator: its end of the socket closes and passt (--one-off) leaves.
        const last = passtChildren(pid);
        await vm.kill();
        await until(() => passtIn(dir).length === 0, 10_000, `passt ${last} to exit`);
        // A SIGKILLed launcher cannot remove its socket directory: the test does.
        Deno.removeSync(dir, { recursive: true });
      } finally {
        await vm.kill();
        server.stop();
      }
    }),
});

Deno.test({
  name: "net user: no passt on PATH, a bad --forward, --forward without --net=user: exit 2",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const empty = Deno.makeTempDirSync({ prefix: "avm-nopath-" });
    try {
      const r = await runMod(["--net=user"], { PATH: empty });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--net=user: passt is not installed/);
      assert.match(r.stderr, /Debian package "passt" \(apt-get install passt\)/);
    } finally {
      Deno.removeSync(empty, { recursive: true });
    }
    const bad = await runMod(["--net=user", "--forward=tcp:80"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--forward=tcp:80: want tcp:<host-port>:<guest-port>/);
    const port = await runMod(["--net=user", "--forward=udp:8080:70000"]);
    assert.equal(port.code, 2, port.stderr);
    assert.match(port.stderr, /guest port "70000" is not a port/);
    const alone = await runMod(["--forward=tcp:8080:80"]);
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--forward=tcp:8080:80: forwarding needs --net=user/);
    const kind = await runMod(["--net=slirp"]);
    assert.equal(kind.code, 2, kind.stderr);
    assert.match(kind.stderr, /--net=slirp: the one network type is "user"/);
  },
});

Deno.test({
  name: "net user: fault layers apply to passt's frames; a killed net worker's passt is reaped",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      await preparePasstNetns(ns);
      const server = await startBlobServer(ns, "127.0.0.1", HTTP_PORT, 1 << 20, 7);
      const plan = Deno.makeTempFileSync({ prefix: "avm-netuser-plan-", suffix: ".json" });
      Deno.writeTextFileSync(
        plan,
        JSON.stringify({
          seed: 3,
          rules: [
            // Killed once frames flow (its passt is up): the next worker must end what it left.
            { layer: "net", effect: "kill", when: { dir: "rx", nth: 20 } },
            { layer: "net", effect: "drop", when: { dir: "rx", probability: 0.03 } },
            { layer: "net", effect: "duplicate", when: { dir: "tx", probability: 0.03 } },
          ],
        }),
      );
      const vm = new GuestSession({ netns: ns.name, args: [`--faults=${plan}`, "--net=user"] });
      try {
        await vm.waitFor(READY_LINE, BOOT_MS);
        const get = `wget -q -O /tmp/blob http://10.0.2.2:${HTTP_PORT}/blob && ` +
          "sha256sum /tmp/blob && rm /tmp/blob";
        // The first download makes the traffic that gets the worker killed; its
        // connection dies with the old passt, so it may fail.
        await vm.run(`wget -q -T 10 -O /dev/null http://10.0.2.2:${HTTP_PORT}/blob; true`, 60_000);
        await until(() => /net actor restarted \(1\)/.test(vm.stderr), 30_000, "the restart");
        assert.equal((await vm.run(get, 180_000)).trim().split(/\s+/)[0], server.sha256);
        const now = passtChildren(vm.child.pid);
        assert.equal(now.length, 1, `exactly one passt after the worker's restart: ${now}`);
        const cmd = Deno.readTextFileSync(`/proc/${now[0]}/cmdline`).split("\0");
        const dir = cmd[cmd.indexOf("--socket") + 1].replace(/\/[^/]*$/, "");
        await vm.send("poweroff\n");
        assert.equal((await vm.exit(60_000)).code, 0, vm.stderr);
        assert.match(
          vm.stderr,
          /passt: ended the passt (\(pid \d+\) )?a terminated net worker left/,
        );
        assert.match(
          vm.stderr,
          /rule 0 net kill ×1, rule 1 net drop ×\d+, rule 2 net duplicate ×\d+/,
        );
        await until(() => passtIn(dir).length === 0, 10_000, "passt to exit after poweroff");
        assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
      } finally {
        await vm.kill();
        server.stop();
        Deno.removeSync(plan);
      }
    }),
});

Deno.test({
  name:
    "net user: a taken forward port is refused (exit 2); a passt that cannot start is said once",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNetns(1, async (ns) => {
      // A forward's host port taken: refused before boot, exit 2.
      const holder = ns.spawn([
        Deno.execPath(),
        "eval",
        "Deno.listen({ hostname: '127.0.0.1', port: 8080 }); console.log('ok'); setInterval(() => {}, 1e6);",
      ]);
      const reader = holder.stdout.getReader();
      await reader.read(); // "ok": it listens
      const taken = await ns.exec([
        Deno.execPath(),
        "run",
        "-A",
        MOD,
        "--net=user",
        "--forward=tcp:8080:80",
      ]);
      holder.kill("SIGKILL");
      reader.releaseLock();
      assert.equal(taken.code, 2, taken.stderr);
      assert.match(
        taken.stderr,
        /--forward=tcp:127\.0\.0\.1:8080:80: host port 127\.0\.0\.1:8080 is in use/,
      );
      // No default route in the namespace: this passt refuses to start.
      const vm = new GuestSession({ netns: ns.name, args: ["--net=user"] });
      try {
        await vm.waitFor(READY_LINE, BOOT_MS);
        await until(() => vm.stderr.includes("link down"), 30_000, "the backend's failure");
        assert.match(
          vm.stderr,
          /virtio-net 0: passt \(user network\): passt could not start: passt exited before opening its socket \(exit status \d+\) \(passt said: .*External interface not usable.*\); link down/,
        );
        assert.doesNotMatch(vm.stderr, /starting it again/);
        assert.match(await vm.run("ip link show eth0"), /NO-CARRIER/);
        await vm.send("poweroff\n");
        assert.equal((await vm.exit(60_000)).code, 0, vm.stderr);
      } finally {
        await vm.kill();
      }
    }),
});
