// Benchmark: virtio-9p seen from inside the guest — 32 MiB sequential reads
// and writes (busybox dd, 512 KiB blocks, the write made durable with
// conv=fsync) on a host directory mounted with 9P2000.L over virtio, msize
// 512000, on actorvm (--share) and on qemu-system-riscv64 (-virtfs local,
// security_model=passthrough) with the same directory, in the same run.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/share.ts

import { fileURLToPath } from "node:url";
import { GUEST } from "../../testing/block_tools.ts";
import { Console, ddSeconds } from "./block.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MIB = 32;
const REPS = 3;
const MB = 1e6;

interface VmResult {
  readMBs: number[];
  writeMBs: number[];
}

async function measure(vm: Console): Promise<VmResult> {
  await vm.ready();
  await vm.run("dmesg -n 1");
  const mounts = (await vm.run("grep ' 9p ' /proc/mounts")).text;
  if (!mounts.includes("/mnt/bench")) throw new Error(`the share is not mounted: ${mounts}`);
  const r: VmResult = { readMBs: [], writeMBs: [] };
  for (let i = 0; i < REPS; i++) {
    const rd = ddSeconds(
      (await vm.run(`dd if=/mnt/bench/in.bin of=/dev/null bs=512k 2>&1`, 300_000)).text,
    );
    r.readMBs.push(rd.bytes / rd.seconds / MB);
    const wr = ddSeconds(
      (await vm.run(
        `dd if=/dev/zero of=/mnt/bench/out.bin bs=512k count=${MIB * 2} conv=fsync 2>&1`,
        300_000,
      )).text,
    );
    r.writeMBs.push(wr.bytes / wr.seconds / MB);
    await vm.run("rm /mnt/bench/out.bin");
  }
  return r;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;
const best = (xs: number[]) => round1(Math.max(...xs));
const summarize = (r: VmResult) => ({
  seqReadMBs: best(r.readMBs),
  seqWriteMBs: best(r.writeMBs),
  readRuns: r.readMBs.map(round1),
  writeRuns: r.writeMBs.map(round1),
});

export async function run(): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "actorvm-bench-9p-" });
  try {
    const data = new Uint8Array(MIB << 20);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    await Deno.writeFile(`${dir}/in.bin`, data);
    const cmdline = ["console=hvc0", "earlycon=sbi", "actorvm.share=bench"];

    const ours = new Console(Deno.execPath(), [
      "run",
      "-A",
      `${ROOT}mod.ts`,
      `--share=${dir},tag=bench`,
      `--initrd=${GUEST}/initramfs.cpio`,
      "128",
      `${GUEST}/Image`,
      ...cmdline,
    ]);
    let actorvm: VmResult;
    try {
      actorvm = await measure(ours);
    } finally {
      await ours.stop();
    }

    let qemu: VmResult | { skipped: string };
    try {
      await new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
        .output();
      const q = new Console("bash", [
        `${ROOT}scripts/qemu-boot.sh`,
        "-n",
        "-d",
        "none",
        "-c",
        cmdline.join(" "),
        "--",
        "-fsdev",
        `local,id=bench,path=${dir},security_model=passthrough`,
        "-device",
        "virtio-9p-device,fsdev=bench,mount_tag=bench",
      ]);
      try {
        qemu = await measure(q);
      } finally {
        await q.stop();
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      qemu = { skipped: "qemu-system-riscv64 not found" };
    }
    const out: Record<string, unknown> = {
      what: `${MIB} MiB dd, bs=512k, through a 9P2000.L share (trans=virtio, msize=512000, ` +
        `cache=none); the write with conv=fsync; best of ${REPS}, MB/s = 1e6 B/s, from dd's ` +
        `in-guest timing; QEMU: -virtfs local (security_model=passthrough) on the same directory`,
      actorvm: summarize(actorvm),
      qemu: "skipped" in qemu ? qemu : summarize(qemu),
    };
    if (!("skipped" in qemu)) {
      out.ratio = {
        seqRead: round2(Math.max(...actorvm.readMBs) / Math.max(...qemu.readMBs)),
        seqWrite: round2(Math.max(...actorvm.writeMBs) / Math.max(...qemu.writeMBs)),
      };
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
