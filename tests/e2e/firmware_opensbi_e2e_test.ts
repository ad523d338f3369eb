// End to end: the firmware boot (--bios) with Debian's OpenSBI. The hart
// starts in M-mode at 0x80000000; OpenSBI prints its banner on our UART,
// serves the SBI (timer through the CLINT, console, SRST) to the bundled
// Linux at 0x80200000, and its reset driver powers off through QEMU's test
// device — exit status 0. Skipped when the `opensbi` package is absent.
// Read next: docs/firmware.md, launcher/loader.ts (loadFirmware).

import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";

const DIR = "/usr/lib/riscv64-linux-gnu/opensbi/generic";
const has = (p: string) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
};
const missing = !has(`${DIR}/fw_jump.bin`);
if (missing) {
  console.warn(`firmware tests skipped: no ${DIR}/fw_jump.bin (apt-get install opensbi)`);
}

async function bootToPoweroff(fw: string, check: (s: GuestSession) => Promise<void>) {
  const s = new GuestSession({ args: [`--bios=${fw}`] });
  try {
    await s.waitFor("OpenSBI v", 20_000);
    await s.waitFor(READY_LINE, 60_000);
    await check(s);
    await s.send("poweroff\n");
    const st = await s.exit(30_000);
    assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
  } finally {
    await s.close();
  }
}

Deno.test({
  name: "firmware: OpenSBI fw_jump boots the bundled guest, serves its SBI, powers off (0)",
  ignore: missing,
  async fn() {
    await bootToPoweroff(`${DIR}/fw_jump.bin`, async (s) => {
      const out = s.output;
      // OpenSBI found our machine in the device tree: CLINT timer and IPI, UART, test device.
      assert.match(out, /Platform Timer Device\s+: aclint-mtimer @ 10000000Hz/);
      assert.match(out, /Platform IPI Device\s+: aclint-mswi/);
      assert.match(out, /Platform Console Device\s+: uart8250/);
      assert.match(out, /Platform Shutdown Device\s+: sifive_test/);
      assert.match(out, /Domain0 Next Address\s+: 0x0*80200000/);
      // The kernel talks to OpenSBI (implementation id 1), not to the host's SBI.
      assert.match(out, /SBI implementation ID=0x1 /);
      // Time runs (the timer interrupt goes MTIP -> OpenSBI -> STIP -> Linux).
      const up1 = Number(await s.run("cut -d' ' -f1 /proc/uptime"));
      await s.run("sleep 0.3");
      const up2 = Number(await s.run("cut -d' ' -f1 /proc/uptime"));
      assert.ok(up2 > up1, `uptime moves: ${up1} -> ${up2}`);
      assert.match(await s.run("uname -a"), /Linux actorvm .* riscv64/);
    });
  },
});

Deno.test({
  name: "firmware: OpenSBI fw_dynamic takes its next stage from the fw_dynamic info (a2)",
  ignore: missing || !has(`${DIR}/fw_dynamic.bin`),
  async fn() {
    await bootToPoweroff(`${DIR}/fw_dynamic.bin`, async (s) => {
      assert.match(s.output, /Domain0 Next Address\s+: 0x0*80200000/);
      assert.match(s.output, /Domain0 Next Mode\s+: S-mode/);
      // fw_dynamic passes our device tree on where it lies (fw_jump copies it to 0x82200000).
      assert.doesNotMatch(s.output, /Domain0 Next Arg1\s+: 0x0*82200000/);
      await Promise.resolve();
    });
  },
});
