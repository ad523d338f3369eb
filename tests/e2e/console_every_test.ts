// End to end: one terminal, every console (docs/machine.md, "Who gets typed
// input"). Typed input reaches whichever console the guest reads — the SBI
// console (legacy console_getchar, DBCN console_read), the UART's receive
// side, virtio-console — with no flag:
// - a bare-metal guest whose only console is the SBI's reads a line with
//   legacy getchar and one with DBCN read, typed at its prompts or all typed
//   before it started (tests/programs/src/bare/sbi_console.s);
// - kernels from scripts/build-guest.sh whose hvc0 is Linux's SBI console,
//   without a virtio-console driver (Image-sbicon) and with one, where the
//   virtio console is hvc1 with receive buffers nobody reads
//   (Image-sbicon-virtio): the shell on hvc0 takes typed commands;
// - the bundled kernel with console=ttyS0 reaches its shell on the UART, also
//   when hvc0 is in use first (console=hvc0 console=ttyS0: the input moves
//   from the virtio console to the UART);
// - in one run (U-Boot, or OpenSBI then U-Boot, then Linux), input follows
//   the guest from U-Boot's UART (the cpu polls it) to Linux's hvc0 (the
//   virtio console) once U-Boot has stopped polling. U-Boot's booti grows the
//   device tree in place: the direct run needs the free space we leave in it.
// A test is skipped (with a warning) when its image or tool is missing.
// Read next: actors/cpu/polled_input.ts, actors/console/console_actor.ts.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";

const at = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const SBI_PROGRAM = at("tests/programs/bare-bin/sbi_console");
const INITRD = `--initrd=${at("guest/initramfs.cpio")}`;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

Deno.test("console: the SBI console reads typed lines (legacy getchar, DBCN read), no flag", async () => {
  const s = new GuestSession({ args: ["32", SBI_PROGRAM] });
  try {
    let pos = await s.waitFor("sbi: getchar>\n", 20_000);
    await s.send("hello legacy\n");
    pos = await s.waitFor("legacy: hello legacy\n", 10_000, pos);
    pos = await s.waitFor("sbi: dbcn>\n", 10_000, pos);
    await s.send("hello dbcn\r"); // a terminal's Enter is CR
    await s.send("\n");
    await s.waitFor("dbcn: hello dbcn\r\n", 10_000, pos);
    const st = await s.exit(10_000);
    assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
  } finally {
    await s.close();
  }
});

// --uart is still accepted, and changes nothing (the UART is always there).
for (const opts of [[], ["--uart"]]) {
  Deno.test(
    `console: input typed before the guest polls the SBI console waits for it, none lost or doubled${
      opts.length ? " (--uart accepted)" : ""
    }`,
    async () => {
      const s = new GuestSession({ args: [...opts, "32", SBI_PROGRAM] });
      try {
        // Both lines at once, before the program has run an instruction.
        await s.send("first line\nsecond line\n");
        await s.waitFor("dbcn: second line\n", 20_000);
        const st = await s.exit(10_000);
        assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
        assert.equal(
          s.output,
          "sbi: getchar>\nlegacy: first line\nsbi: dbcn>\ndbcn: second line\n",
        );
      } finally {
        await s.close();
      }
    },
  );
}

/**
 * Boot `image` with the bundled initramfs; the shell must answer typed
 * commands. With `typeAhead`, a command typed before the kernel has started
 * must reach the shell whole. (Not on ttyS0: Linux's 8250 driver reads the
 * receive register to clear the port when ttyS0 is opened, discarding what
 * was typed before, as it does on QEMU and hardware.)
 */
async function shellAnswers(
  image: string,
  cmdline: string[],
  tty: RegExp,
  typeAhead: boolean,
): Promise<void> {
  const s = new GuestSession({ args: [INITRD, "128", image, ...cmdline] });
  try {
    if (typeAhead) await s.send("echo typed-ahead-$((6 * 7))\n");
    const ready = await s.waitFor(READY_LINE, 120_000);
    if (typeAhead) await s.waitFor("typed-ahead-42", 60_000, ready);
    assert.equal((await s.run("echo $((6 * 7))", 60_000)).trim(), "42");
    assert.match((await s.run("tty", 30_000)).trim(), tty);
    assert.match(await s.run("uname -a", 30_000), /^Linux /);
    await s.poweroff();
    const st = await s.exit(20_000);
    assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
  } finally {
    await s.close();
  }
}

const SBICON = at("guest/variants/Image-sbicon");
const SBICON_VIRTIO = at("guest/variants/Image-sbicon-virtio");
for (const [image, what] of [[SBICON, "without"], [SBICON_VIRTIO, "with"]] as const) {
  const ignore = !exists(image);
  if (ignore) console.warn(`skipped: no ${image} (deno task build-guest builds it)`);
  Deno.test({
    name:
      `console: Linux's SBI console as hvc0 takes typed commands, ${what} a virtio-console driver`,
    ignore,
    fn: () => shellAnswers(image, ["console=hvc0", "earlycon=sbi"], /^\/dev\/hvc0$/, true),
  });
}

const has8250 = (() => {
  try {
    return /^CONFIG_SERIAL_8250=y$/m.test(Deno.readTextFileSync(at("guest/kernel.config")));
  } catch {
    return false;
  }
})();
if (!has8250) console.warn("skipped: the bundled kernel has no 8250 driver (CONFIG_SERIAL_8250)");
Deno.test({
  name: "console: the bundled kernel with console=ttyS0 reaches its shell on the UART, no flag",
  ignore: !has8250,
  fn: () => shellAnswers(at("guest/Image"), ["console=ttyS0"], /^\/dev\/ttyS0$/, false),
});
Deno.test({
  name: "console: hvc0 in use, the shell on ttyS0: input moves from the virtio console to the UART",
  ignore: !has8250,
  // The kernel prints on both (so the console actor takes the input once
  // hvc0 has transmitted); /dev/console, the shell's, is the last: ttyS0.
  // Opening it enables the UART's receive interrupt: the cpu asks for the
  // input and the console actor lets go.
  fn: () =>
    shellAnswers(at("guest/Image"), ["console=hvc0", "console=ttyS0"], /^\/dev\/ttyS0$/, false),
});

const UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf";
const OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";
const MKE2FS = ["/usr/sbin/mke2fs", "/sbin/mke2fs"].find(exists);
const noUboot = !exists(UBOOT) || !exists(OPENSBI) || !MKE2FS;
if (noUboot) {
  console.warn(`skipped: no ${UBOOT}, ${OPENSBI} or mke2fs (u-boot-qemu, opensbi, e2fsprogs)`);
}
for (const firmware of [[], [`--bios=${OPENSBI}`]]) {
  Deno.test({
    name: `console: typed input follows the guest from U-Boot's UART to Linux's hvc0, no flag${
      firmware.length ? " (under OpenSBI)" : ""
    }`,
    ignore: noUboot,
    async fn() {
      const dir = await Deno.makeTempDir();
      const disk = `${dir}/boot.img`;
      const s0 = { s: null as GuestSession | null };
      try {
        await Deno.mkdir(`${dir}/files`);
        for (const f of ["Image", "initramfs.cpio"]) {
          await Deno.copyFile(at(`guest/${f}`), `${dir}/files/${f}`);
        }
        const mk = await new Deno.Command(MKE2FS!, {
          args: ["-q", "-F", "-t", "ext2", "-b", "1024", "-d", `${dir}/files`, disk, "16M"],
          stderr: "piped",
        }).output();
        assert.equal(mk.code, 0, new TextDecoder().decode(mk.stderr));
        const s = s0.s = new GuestSession({
          args: [...firmware, `--block=${disk},ro`, "256", UBOOT],
        });
        let pos = await s.waitFor("Hit any key to stop autoboot", 30_000);
        await s.send("\n"); // to U-Boot, on the UART
        pos = await s.waitFor("=> ", 10_000, pos);
        await s.send(
          "load virtio 0 84000000 Image; load virtio 0 88000000 initramfs.cpio; " +
            "setenv bootargs console=hvc0 earlycon=sbi; " +
            "booti 84000000 88000000:${filesize} ${fdtcontroladdr}\n",
        );
        pos = await s.waitFor("Starting kernel", 20_000, pos);
        await s.waitFor(READY_LINE, 120_000, pos);
        // To Linux's shell, on hvc0: the UART nobody polls any more let go.
        assert.equal((await s.run("echo $((6 * 7))", 60_000)).trim(), "42");
        assert.equal((await s.run("tty", 30_000)).trim(), "/dev/hvc0");
        await s.poweroff();
        const st = await s.exit(20_000);
        assert.equal(st.code, 0, `exit status (stderr: ${s.stderr.slice(-500)})`);
      } finally {
        await s0.s?.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
