// End to end: Debian's S-mode U-Boot (package u-boot-qemu) as the kernel on
// our direct path — a second real guest that checks the platform: it probes
// the device tree, drives the ns16550a as its console with no flag (the UART
// is always there, as on QEMU virt, and typed input reaches it: the polled
// consoles' rule, docs/machine.md), finds and reads our virtio-blk disk, and
// powers off through SBI SRST (exit 0).
// Skipped when u-boot-qemu is absent.
// Read next: devices/uart.ts, docs/firmware.md.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { GuestSession } from "../../testing/guest_session.ts";

const UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf";
const missing = (() => {
  try {
    return !Deno.statSync(UBOOT).isFile;
  } catch {
    return true;
  }
})();
if (missing) console.warn(`U-Boot test skipped: no ${UBOOT} (apt-get install u-boot-qemu)`);

Deno.test({
  name:
    "firmware: U-Boot (S-mode) with no flag shows its prompt on the UART, runs version, reads the disk, powers off",
  ignore: missing,
  async fn() {
    // A private copy: the disk is only read, but others may lock guest/disk.img for writing.
    const disk = await Deno.makeTempFile({ suffix: ".img" });
    await Deno.copyFile(fileURLToPath(new URL("../../guest/disk.img", import.meta.url)), disk);
    const sectors = (await Deno.stat(disk)).size / 512;
    const s = new GuestSession({ args: [`--block=${disk},ro`, "128", UBOOT] });
    try {
      let at = await s.waitFor("Hit any key to stop autoboot", 30_000);
      await s.send("\n");
      at = await s.waitFor("=> ", 10_000, at);
      assert.match(s.output, /Model: riscv-virtio,actorvm/);
      assert.match(s.output, /DRAM:\s+128 MiB/);
      await s.send("version\n");
      at = await s.waitFor(/U-Boot \d{4}\.\d+/, 10_000, at);
      at = await s.waitFor("=> ", 10_000, at);
      await s.send("virtio scan; virtio info\n");
      at = await s.waitFor(/Capacity: .*\(\d+ x 512\)/, 10_000, at);
      assert.match(s.output, /Device 0: .*VirtIO Block Device/);
      assert.match(s.output, new RegExp(`\\(${sectors} x 512\\)`));
      // Read the ext2 superblock (sector 2) through virtio and show its magic 0xef53.
      await s.send("virtio read 84000000 2 1; md.w 84000038 1\n");
      at = await s.waitFor(/84000038: ef53/, 10_000, at);
      await s.waitFor("=> ", 10_000, at);
      await s.send("poweroff\n");
      const st = await s.exit(10_000);
      assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
    } finally {
      await s.close();
      await Deno.remove(disk);
    }
  },
});
