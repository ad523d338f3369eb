// A snapshot of a machine running Linux in Sv57 (--mmu=sv57): taken with
// Machine.snapshot, restored with the mode it was saved with (satp mode 10
// needs a hart built with Sv57; the snapshot's header carries --mmu), and the
// restored guest runs on, in Sv57, with the RAM it had (a tmpfs file). The
// snapshot machinery itself: tests/e2e/snapshot_test.ts; Sv57: cpu/mmu.ts.

import assert from "../../testing/assert.ts";
import { bootMachine, type Machine, READY_LINE } from "../../mod.ts";
import { bundledBoot } from "../../testing/guest_session.ts";

let seq = 0;
/** Type a command and return its output (the end marker is made by the shell). */
async function run(vm: Machine, cmd: string, ms = 60_000): Promise<string> {
  const tag = `S${++seq}X`;
  await vm.send(`${cmd}; echo "${tag.slice(0, 1)}""${tag.slice(1)}-END"\n`);
  const text = await vm.waitFor(`${tag}-END\r\n`, ms);
  const echoed = text.lastIndexOf(`"${tag.slice(0, 1)}""${tag.slice(1)}-END"`);
  const body = text.slice(text.indexOf("\n", echoed) + 1, text.lastIndexOf(`${tag}-END`));
  return body.replace(/\r\n/g, "\n");
}

Deno.test({
  name: "sv57 e2e: a snapshot of a guest in Sv57 restores in Sv57 and runs on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-sv57-" });
    const vms: Machine[] = [];
    try {
      const snap = `${dir}/m.snap`;
      const vm = await bootMachine({
        args: ["--mmu=sv57", ...bundledBoot()],
        log: () => {},
      });
      vms.push(vm);
      await vm.waitFor(READY_LINE, 90_000);
      assert.match(await run(vm, "grep -m1 mmu /proc/cpuinfo"), /mmu\s*: sv57/);
      await run(vm, "dmesg -n 1; seq 1 3000 > /tmp/numbers; md5sum /tmp/numbers");
      const r = await vm.snapshot(snap);
      assert.ok(r.bytes > 0, JSON.stringify(r));
      await vm.send("poweroff\n");
      assert.equal((await vm.result).exitCode, 0);

      const m = await bootMachine({ restore: snap, log: () => {} });
      vms.push(m);
      assert.match(await run(m, "grep -m1 mmu /proc/cpuinfo"), /mmu\s*: sv57/);
      const sum = (await run(m, "md5sum /tmp/numbers")).trim();
      const want = (await run(m, "seq 1 3000 | md5sum")).trim().split(/\s+/)[0];
      assert.equal(sum.split(/\s+/)[0], want, "the tmpfs file came back whole");
      await m.send("poweroff\n");
      assert.equal((await m.result).exitCode, 0);
    } finally {
      for (const v of vms) await v.stop().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
