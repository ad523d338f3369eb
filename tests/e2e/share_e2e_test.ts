// virtio-9p from the top: mod.ts boots the bundled kernel with two --share
// directories (one read-write, one ,ro), the guest mounts them itself
// (actorvm.share=), and one boot serves every check: a host file's sha256, a
// 32 MiB file written by the guest arriving whole, mkdir/mv/rm/ln -s/ls -l,
// the read-only share refusing every change, and the escapes — "..", a
// symlink to /etc, a symlink planted by the guest, a hard link to a file
// outside made on the host, and a directory swapped for a symlink to the
// outside while the guest works in it — none of which touches anything
// outside the share. Server-level escapes and the parser fuzz:
// tests/unit/p9/server_test.ts and tests/unit/p9/fuzz_test.ts.

import assert from "../../testing/assert.ts";
import { bundledBoot, GuestSession, READY_LINE, runMod } from "../../testing/guest_session.ts";
import { sha256Hex } from "../../testing/sha256.ts";
import { pattern } from "../../testing/block_tools.ts";

/** rm -r that waits out the swapping loop's last mv/ln (killing bash leaves its child running). */
async function removeTree(dir: string): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Every file under `dir` with its bytes' sha256 (symlinks as their target text). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isSymlink) out.set(p, `-> ${await Deno.readLink(p)}`);
      else if (e.isDirectory) {
        out.set(p, "dir");
        await walk(p);
      } else out.set(p, await sha256Hex(await Deno.readFile(p)));
    }
  };
  await walk(dir);
  return out;
}

Deno.test({
  name: "share e2e: read, 32 MiB write, file operations, ro, and escapes in one boot",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const top = await Deno.makeTempDir({ prefix: "actorvm-9p-" });
    const rw = `${top}/rw`, ro = `${top}/ro`, outside = `${top}/outside`;
    let g: GuestSession | null = null;
    let swapper: Deno.ChildProcess | null = null;
    try {
      await Deno.mkdir(`${rw}/race`, { recursive: true });
      await Deno.mkdir(ro);
      await Deno.mkdir(outside);
      // Outside the share: a secret, a sentinel directory, both must stay as they are.
      await Deno.writeTextFile(`${outside}/secret`, "host secret\n");
      await Deno.writeTextFile(`${rw}/race/inside`, "inside\n");
      const small = pattern(1 << 20, 3);
      await Deno.writeFile(`${rw}/small.bin`, small);
      const big = pattern(32 << 20, 11);
      await Deno.writeFile(`${rw}/big.bin`, big);
      await Deno.writeTextFile(`${ro}/readme`, "read only\n");
      // Made on the host beforehand: a symlink to /etc, one to the outside,
      // and a hard link to the outside secret.
      await Deno.symlink("/etc", `${rw}/etclink`);
      await Deno.symlink(outside, `${rw}/outlink`);
      await Deno.link(`${outside}/secret`, `${rw}/hardlink`);
      const outsideBefore = await snapshot(outside);
      const roBefore = await snapshot(ro);

      g = new GuestSession({
        args: [
          `--share=${rw},tag=rw`,
          `--share=${ro},tag=ro,ro`,
          ...bundledBoot(["actorvm.share=rw", "actorvm.share=ro:/srv/ro"]),
        ],
      });
      await g.waitFor(READY_LINE, 60_000);
      await g.run("dmesg -n 1");
      assert.match(await g.run("grep 9p /proc/mounts"), /rw \/mnt\/rw 9p .*trans=virtio/);

      // Reading: a host file, byte for byte.
      const sum = await g.run("sha256sum /mnt/rw/small.bin");
      assert.deepEqual(sum.split(" ")[0], await sha256Hex(small));

      // Writing 32 MiB (read from the share and written back), then sync.
      await g.run("cp /mnt/rw/big.bin /mnt/rw/big.copy && sync && echo done", 180_000);
      assert.deepEqual((await Deno.stat(`${rw}/big.copy`)).size, 32 << 20);
      assert.deepEqual(
        await sha256Hex(await Deno.readFile(`${rw}/big.copy`)),
        await sha256Hex(big),
      );

      // mkdir, mv, rm, ln -s, ls -l.
      await g.run(
        "cd /mnt/rw && mkdir -p d/e && echo one > d/e/f && mv d/e/f d/g && " +
          "ln -s g d/link && mv d dd && rm -f small.bin && echo two >> dd/g",
      );
      assert.deepEqual(await Deno.readTextFile(`${rw}/dd/g`), "one\ntwo\n");
      assert.deepEqual(await Deno.readLink(`${rw}/dd/link`), "g");
      await assert.rejects(() => Deno.stat(`${rw}/small.bin`));
      await assert.rejects(() => Deno.stat(`${rw}/d`));
      const ls = await g.run("ls -l --color=never /mnt/rw/dd");
      assert.match(ls, /^-rw-r--r-- +1 .* 8 .* g$/m);
      assert.match(ls, /^lrwxrwxrwx +1 .* link -> g$/m);
      assert.match(ls, /^drwxr-xr-x +2 .* e$/m);
      assert.deepEqual(await g.run("cat /mnt/rw/dd/link"), "one\ntwo\n");
      assert.deepEqual(
        await g.run("rmdir /mnt/rw/dd/e && ls -1 --color=never /mnt/rw/dd"),
        "g\nlink\n",
      );
      // chmod and truncate reach the host.
      await g.run("chmod 600 /mnt/rw/dd/g && truncate -s 3 /mnt/rw/dd/g");
      assert.deepEqual((await Deno.stat(`${rw}/dd/g`)).mode! & 0o777, 0o600);
      assert.deepEqual(await Deno.readTextFile(`${rw}/dd/g`), "one");
      // A hard link made by the guest stays inside; stat and df work.
      await g.run("ln /mnt/rw/dd/g /mnt/rw/dd/g2");
      assert.deepEqual((await Deno.stat(`${rw}/dd/g`)).nlink, 2);
      assert.match(await g.run("df /mnt/rw"), /rw .* \/mnt\/rw/);
      // flock: a second, non-blocking lock on a held file is refused.
      assert.deepEqual(
        await g.run(
          'touch /mnt/rw/lk; flock /mnt/rw/lk sh -c "flock -n /mnt/rw/lk true; echo inner=\\$?"',
        ),
        "inner=1\n",
      );

      // The read-only share: reads work, every change is refused.
      assert.deepEqual(await g.run("cat /srv/ro/readme"), "read only\n");
      const roOut = await g.run(
        "cd /srv/ro; touch new 2>&1; echo x >> readme 2>&1; mkdir d 2>&1; rm readme 2>&1; " +
          "mv readme r2 2>&1; ln -s x l 2>&1; chmod 777 readme 2>&1; true",
      );
      assert.match(roOut, /Read-only file system/);
      assert.doesNotMatch(roOut, /Permission denied|Operation not permitted/);
      assert.deepEqual(await snapshot(ro), roBefore);

      // Escapes. "..": the guest's own parent, never the host's.
      assert.deepEqual(await g.run("ls -1 --color=never /mnt/rw/.. | sort"), "rw\n");
      // A symlink to /etc is the guest's /etc; one to the outside leads nowhere in the guest.
      assert.match(await g.run("cat /mnt/rw/etclink/hostname 2>&1; true"), /No such file/);
      assert.match(await g.run("cat /mnt/rw/outlink/secret 2>&1; true"), /No such file/);
      // A symlink the guest plants, absolute or relative: followed in the guest.
      await g.run(
        `ln -s ${outside}/secret /mnt/rw/planted; ln -s ../../outside/secret /mnt/rw/rel; ` +
          "echo pwned > /mnt/rw/planted 2>&1; echo pwned > /mnt/rw/rel 2>&1; true",
      );
      // The hard link made on the host: readable as the share's own file, never changed.
      assert.deepEqual(await g.run("cat /mnt/rw/hardlink"), "host secret\n");
      const hl = await g.run(
        "echo pwned >> /mnt/rw/hardlink 2>&1; echo pwned > /mnt/rw/hardlink 2>&1; " +
          "truncate -s 0 /mnt/rw/hardlink 2>&1; chmod 777 /mnt/rw/hardlink 2>&1; " +
          "touch /mnt/rw/hardlink 2>&1; true",
      );
      assert.match(hl, /Permission denied/);

      // A directory swapped for a symlink to the outside, over and over, while the guest works in it.
      swapper = new Deno.Command("bash", {
        args: [
          "-c",
          `cd ${rw}; while :; do mv race race.d; ln -s ${outside} race; rm race; mv race.d race; done`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await g.run(
        "i=0; while [ $i -lt 150 ]; do cat /mnt/rw/race/inside /mnt/rw/race/secret >/dev/null 2>&1; " +
          "echo $i > /mnt/rw/race/w$i 2>/dev/null; i=$((i+1)); done; echo ok",
        120_000,
      );
      swapper.kill("SIGKILL");
      await swapper.status;
      swapper = null;

      // Nothing outside the share changed or appeared.
      assert.deepEqual(await snapshot(outside), outsideBefore);
      const tops = [];
      for await (const e of Deno.readDir(top)) tops.push(e.name);
      assert.deepEqual(tops.sort(), ["outside", "ro", "rw"]);

      await g.poweroff();
      const st = await g.exit(30_000);
      assert.deepEqual(st.code, 0, g.stderr);
    } finally {
      if (swapper) {
        swapper.kill("SIGKILL");
        await swapper.status;
      }
      await g?.close();
      await removeTree(top);
    }
  },
});

Deno.test({
  name: "share e2e: a missing or non-directory --share stops the launcher (status 2)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-9p-" });
    try {
      await Deno.writeTextFile(`${dir}/file`, "x");
      const missing = await runMod([`--share=${dir}/nope`, ...bundledBoot()], 30_000);
      assert.deepEqual(missing.code, 2);
      assert.match(missing.err, /--share=.*nope: does not exist/);
      const file = await runMod([`--share=${dir}/file`, ...bundledBoot()], 30_000);
      assert.deepEqual(file.code, 2);
      assert.match(file.err, /not a directory/);
      const dup = await runMod([`--share=${dir},tag=a`, `--share=${dir},tag=a`], 30_000);
      assert.deepEqual(dup.code, 2);
      assert.match(dup.err, /tag "a" is already used/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
