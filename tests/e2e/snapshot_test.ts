// Machine snapshots from the top, on the bundled guest. One cold boot (with
// a ,snapshot ext2 disk and a control socket) serves: the control socket's
// greeting, status, pause/resume and events, and every kind of garbage; a
// file written in tmpfs; a disk write loop and a console flood running, and
// a command typed while paused, when the snapshot is taken through the socket
// (the machine stays paused after it). Then two clones restored from
// that one file at once: each runs the typed command, finds the tmpfs file, finishes the write loop
// with every file's checksum right, writes its own data to RAM and to the
// disk and never sees the other's; after an unmount, each clone's disk
// (base + overlay, exportSnapshotDisk) is e2fsck-clean and holds its own
// data, and the base file is unchanged. Last, the command line refuses a
// truncated, corrupted, version-bumped file and a changed base, with exit
// status 2 before anything starts. The format itself:
// tests/unit/snapshot/format_test.ts.

import assert from "../../testing/assert.ts";
import { bootMachine, exportSnapshotDisk, type Machine, READY_LINE } from "../../mod.ts";
import { debugfsCat, E2FS_MISSING, e2fsck, mke2fs } from "../../testing/block_tools.ts";
import { sha256Hex } from "../../testing/sha256.ts";
import { fileURLToPath } from "node:url";
import { bundledBoot } from "../../testing/guest_session.ts";

const MOD = fileURLToPath(new URL("../../mod.ts", import.meta.url));

/** A line-oriented client of the control socket. */
class ControlClient {
  readonly lines: unknown[] = [];
  #buf = "";
  #waiters: (() => void)[] = [];
  private constructor(readonly conn: Deno.UnixConn) {
    void this.#pump();
  }
  static async connect(path: string): Promise<ControlClient> {
    return new ControlClient(await Deno.connect({ transport: "unix", path }));
  }
  async #pump() {
    const dec = new TextDecoder();
    for await (const chunk of this.conn.readable) {
      this.#buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = this.#buf.indexOf("\n")) >= 0) {
        this.lines.push(JSON.parse(this.#buf.slice(0, nl)));
        this.#buf = this.#buf.slice(nl + 1);
      }
      this.#waiters.splice(0).forEach((w) => w());
    }
  }
  async send(raw: string | Uint8Array): Promise<void> {
    const b = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
    for (let at = 0; at < b.length;) at += await this.conn.write(b.subarray(at));
  }
  /** The next line (not yet taken) matching `pred`. */
  async next(
    pred: (x: Record<string, unknown>) => boolean,
    ms = 30_000,
  ): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex((x) => pred(x as Record<string, unknown>));
      if (i >= 0) return this.lines.splice(i, 1)[0] as Record<string, unknown>;
      if (Date.now() > end) {
        throw new Error(`control: no such line; have ${JSON.stringify(this.lines)}`);
      }
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  /** Execute and wait for the answer with this id. */
  async exec(execute: string, args?: unknown, id: unknown = crypto.randomUUID()) {
    await this.send(JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id }) + "\n");
    return await this.next((x) => x.id === id && ("return" in x || "error" in x), 60_000);
  }
  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

let seq = 0;
/** Run a shell command on a library machine and return its output (between markers). */
async function run(vm: Machine, cmd: string, ms = 60_000): Promise<string> {
  const tag = `M${++seq}X`;
  // The markers are computed by the shell, so the echoed command line never matches them.
  await vm.send(`${cmd}; echo "${tag.slice(0, 1)}""${tag.slice(1)}-END"\n`);
  const text = await vm.waitFor(`${tag}-END\r\n`, ms);
  // The command's output: after the echoed line, before the end marker.
  const echoed = text.lastIndexOf(`"${tag.slice(0, 1)}""${tag.slice(1)}-END"`);
  const body = text.slice(text.indexOf("\n", echoed) + 1, text.lastIndexOf(`${tag}-END`));
  return body.replace(/\r\n/g, "\n").replace(/\[ *\d+\.\d{6}\][^\n]*\n/g, "");
}

Deno.test({
  name: "snapshot e2e: control socket, snapshot under load, two clones at once, refusals",
  ignore: E2FS_MISSING !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-snap-" });
    const vms: Machine[] = [];
    try {
      await Deno.mkdir(`${dir}/src`);
      await Deno.writeTextFile(`${dir}/src/base.txt`, "from the base\n");
      const img = `${dir}/base.img`;
      await mke2fs(`${dir}/src`, img, "16M");
      const baseHash = await sha256Hex(await Deno.readFile(img));
      const sock = `${dir}/ctl.sock`;
      const snap = `${dir}/m.snap`;

      // ---- The cold boot.
      const vm = await bootMachine({
        args: [`--block=${img},snapshot`, `--control=${sock}`, ...bundledBoot(["actorvm.mount=1"])],
        log: () => {},
      });
      vms.push(vm);
      await vm.waitFor(READY_LINE, 90_000);
      assert.deepEqual((Deno.statSync(sock).mode ?? 0) & 0o777, 0o600, "socket mode");
      const c = await ControlClient.connect(sock);
      const greeting = await c.next((x) => "QMP" in x);
      assert.ok((greeting.QMP as { version: { actorvm: string } }).version.actorvm);
      const st = (await c.exec("status")).return as Record<string, unknown>;
      assert.deepEqual([st.status, st.running, st.boot], ["running", true, 1]);
      assert.ok((st.instret as number) > 0);

      // Garbage: each line gets an error reply, the machine runs on.
      await c.send("this is not json\n");
      assert.match(JSON.stringify(await c.next((x) => "error" in x)), /not JSON/);
      await c.send("[1,2,3]\n");
      assert.match(JSON.stringify(await c.next((x) => "error" in x)), /want an object/);
      await c.send(new Uint8Array([0xff, 0xfe, 0x7b, 0x0a]));
      assert.match(JSON.stringify(await c.next((x) => "error" in x)), /GenericError/);
      await c.send(`{"execute": 5, "id": 1}\n`);
      assert.match(JSON.stringify(await c.next((x) => x.id === 1)), /no \\"execute\\"/);
      const unknown = await c.exec("format-the-disk");
      assert.deepEqual((unknown.error as { class: string }).class, "CommandNotFound");
      const badArgs = await c.exec("snapshot", { path: 7 });
      assert.match(JSON.stringify(badArgs), /want \{\\"path\\"/);
      await c.send(`{"execute":"status","arguments":[1]}\n`);
      assert.match(JSON.stringify(await c.next((x) => "error" in x)), /must be an object/);
      await c.send("x".repeat(1_200_000) + "\n");
      assert.match(JSON.stringify(await c.next((x) => "error" in x)), /longer than/);
      const badPath = await c.exec("snapshot", { path: `${dir}/no/such/dir/x.snap` });
      assert.ok("error" in badPath, JSON.stringify(badPath));
      assert.deepEqual(((await c.exec("status")).return as { status: string }).status, "running");

      // Pause: the guest stops (its instruction count too), resume: it runs on.
      assert.deepEqual((await c.exec("pause")).return, {});
      await c.next((x) => x.event === "STOP");
      const p1 = (await c.exec("status")).return as { status: string; instret: number };
      await new Promise((r) => setTimeout(r, 300));
      const p2 = (await c.exec("status")).return as { status: string; instret: number };
      assert.deepEqual(p1.status, "paused");
      assert.deepEqual(p2.instret, p1.instret, "a paused hart retires nothing");
      assert.deepEqual((await c.exec("resume")).return, {});
      await c.next((x) => x.event === "RESUME");
      assert.match(await run(vm, "echo alive-$((40+2))"), /alive-42/);

      // State to find again: a tmpfs file; then a disk write loop and a console flood.
      await run(vm, "dmesg -n 1; echo tmpfs-secret > /tmp/secret; cat /mnt/base.txt");
      await vm.send(
        "(i=0; while [ $i -lt 40 ]; do dd if=/dev/urandom of=/mnt/f$i bs=4k count=8 2>/dev/null;" +
          " sha256sum /mnt/f$i >> /mnt/sums; i=$((i+1)); done; echo loop-$((1))-done) &" +
          " (seq 1 3000 | while read n; do echo flood-$n; done) &\n",
      );
      await vm.waitFor("flood-200", 60_000); // the flood and the loop are under way
      // Typed while paused: the guest has not read it at the snapshot; every clone must.
      assert.deepEqual((await c.exec("pause")).return, {});
      await vm.send("echo typed-$((5*5))\n");
      await new Promise((r) => setTimeout(r, 300)); // the console actor takes what it can
      const snapReply = await c.exec("snapshot", { path: snap });
      assert.ok("return" in snapReply, JSON.stringify(snapReply));
      const r = snapReply.return as { bytes: number; pausedMs: number };
      assert.ok(r.bytes > 0 && r.bytes === Deno.statSync(snap).size);
      await c.next((x) => x.event === "SNAPSHOT");
      assert.deepEqual(((await c.exec("status")).return as { status: string }).status, "paused");
      assert.deepEqual((await c.exec("resume")).return, {});
      // The original runs on and finishes its loop.
      assert.match(await run(vm, "wait", 180_000), /loop-1-done/);
      await vm.send("poweroff\n");
      const fate = await c.next((x) => x.event === "GUEST_FATE", 60_000);
      assert.deepEqual((fate.data as { fate: string }).fate, "powered off");
      await vm.output.pipeTo(new WritableStream());
      assert.deepEqual((await vm.result).exitCode, 0);
      c.close();
      assert.throws(() => Deno.statSync(sock), Deno.errors.NotFound, "the socket is removed");

      // ---- Two clones of that moment, at once.
      const clones = await Promise.all(["A", "B"].map(async (who) => {
        const m = await bootMachine({ restore: snap, log: () => {} });
        vms.push(m);
        return { who, m };
      }));
      await Promise.all(clones.map(async ({ who, m }) => {
        await m.waitFor("typed-25\r\n", 60_000); // the input typed while paused
        // The flood and the loop were running: both carry on, from where they were.
        // (`wait`: the clone's shell still has both jobs, and waits for them.)
        assert.match(await run(m, "wait", 180_000), /loop-1-done/);
        assert.deepEqual(await run(m, "cat /tmp/secret"), "tmpfs-secret\n");
        const check = await run(m, "sha256sum -c /mnt/sums | grep -vc ': OK$'; wc -l < /mnt/sums");
        assert.deepEqual(check, "0\n40\n", `clone ${who}: sums`);
        await run(m, `echo clone-${who} > /tmp/who; echo clone-${who} > /mnt/who; sync`);
      }));
      for (const { who, m } of clones) {
        await run(m, "echo 3 > /proc/sys/vm/drop_caches");
        assert.deepEqual(await run(m, "cat /tmp/who /mnt/who"), `clone-${who}\nclone-${who}\n`);
        await run(m, "umount /mnt && sync");
        const s2 = `${dir}/clone-${who}.snap`;
        await m.snapshot(s2);
        const out = `${dir}/clone-${who}.img`;
        await exportSnapshotDisk(s2, 0, out);
        const fsck = await e2fsck(out);
        assert.deepEqual(fsck.code, 0, `clone ${who}: e2fsck -fn:\n${fsck.text}`);
        assert.deepEqual(await debugfsCat(out, "/who"), `clone-${who}\n`);
        assert.deepEqual(await debugfsCat(out, "/base.txt"), "from the base\n");
        await m.send("poweroff\n");
        await m.output.pipeTo(new WritableStream());
        assert.deepEqual((await m.result).exitCode, 0);
      }
      assert.deepEqual(await sha256Hex(await Deno.readFile(img)), baseHash, "the base changed");

      // ---- Files the command line refuses, with exit status 2, before anything starts.
      const good = await Deno.readFile(snap);
      const cases: [string, Uint8Array, RegExp][] = [
        ["truncated", good.subarray(0, good.length - 1000), /truncated/],
        ["short", good.subarray(0, 20), /truncated/],
        ["corrupt", flip(good, good.length - 5000), /checksum mismatch/],
        ["header", flip(good, 60), /header checksum mismatch/],
        ["version", bump(good), /format version 99/],
        [
          "foreign",
          new TextEncoder().encode("not a snapshot at all, but long enough to read".repeat(3)),
          /bad magic/,
        ],
      ];
      for (const [name, bytes, want] of cases) {
        const f = `${dir}/${name}.snap`;
        await Deno.writeFile(f, bytes);
        const res = await launch([`--restore=${f}`]);
        assert.deepEqual(res.code, 2, `${name}: ${res.stderr}`);
        assert.match(res.stderr, want, name);
        assert.ok(!res.stderr.includes("Linux version"), `${name}: nothing booted`);
      }
      // A base that changed since the snapshot.
      const f = await Deno.open(img, { write: true });
      await f.seek(20_000, Deno.SeekMode.Start);
      await f.write(new Uint8Array([1, 2, 3]));
      f.close();
      const changed = await launch([`--restore=${snap}`]);
      assert.deepEqual(changed.code, 2, changed.stderr);
      assert.match(changed.stderr, /base\.img is not the file the snapshot was taken on/);
      const usage = await launch([`--restore=${snap}`, `--block=${img}`]);
      assert.deepEqual(usage.code, 2);
      assert.match(usage.stderr, /--restore: the machine comes from the snapshot; --block/);
    } finally {
      for (const m of vms) await m.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] ^= 0x40;
  return c;
}

function bump(b: Uint8Array): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(8, 99, true);
  return c;
}

async function launch(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}
