// Benchmark: virtio-blk seen from inside the guest — sequential 64 MiB reads
// and writes with direct I/O (busybox dd, 1 MiB blocks, iflag/oflag=direct)
// and 4 KiB random reads at queue depth 1 (a small static C program, built
// here with riscv64-linux-gnu-gcc and handed to the guest on a second disk),
// on actorvm and on qemu-system-riscv64 with the same scratch image, in the
// same run: the best of several passes (the steady state) and the first pass.
// Driven by scripts/bench.ts; alone: deno run -A scripts/bench/block.ts

import { fileURLToPath } from "node:url";
import { E2FS_MISSING, GUEST, mke2fs } from "../../testing/block_tools.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY = "actorvm-guest: ready";
const SCRATCH_MB = 80;
const DD_MB = 64;
/**
 * Sequential passes per direction: the first after boot runs the guest's
 * block path mostly interpreted, and the translator is warm after a few
 * (docs/cpu.md); the best is the steady state, the first is reported too.
 */
const SEQ_REPS = 6;
const REPS = 3;
const RANDOM_READS = 4000;

/** Random 4 KiB O_DIRECT preads over the whole device, one at a time; times itself. */
const RANDREAD_C = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: randread DEV COUNT\\n"); return 2; }
  long n = atol(argv[2]);
  int fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) { perror("open"); return 1; }
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) { perror("BLKGETSIZE64"); return 1; }
  void *buf;
  if (posix_memalign(&buf, 4096, 4096) != 0) return 1;
  uint64_t blocks = size / 4096, x = 0x9e3779b97f4a7c15ull;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    if (pread(fd, buf, 4096, (off_t)((x % blocks) * 4096)) != 4096) { perror("pread"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("randread %ld %.6f\\n", n, s);
  return 0;
}
`;

/** One guest on a console pipe; run() times each command on the host between its markers. */
export class Console {
  readonly child: Deno.ChildProcess;
  #out = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #wake: (() => void)[] = [];
  #exited = false;
  #n = 0;

  constructor(cmd: string, args: string[]) {
    this.child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    void this.#pump();
    this.child.stderr.pipeTo(new WritableStream()).catch(() => {});
    this.child.status.then(() => {
      this.#exited = true;
      this.#wake.splice(0).forEach((f) => f());
    });
  }

  async #pump() {
    const dec = new TextDecoder();
    for await (const chunk of this.child.stdout) {
      this.#out += dec.decode(chunk, { stream: true });
      this.#wake.splice(0).forEach((f) => f());
    }
  }

  /** Wait for `re` in the output after `from`; returns the match and the host time it arrived. */
  async waitFor(re: RegExp, from: number, timeoutMs: number) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#out.slice(from));
      if (m) return { m, at: performance.now(), end: from + m.index + m[0].length };
      const left = deadline - performance.now();
      if (left <= 0 || this.#exited) {
        throw new Error(
          `no ${re} (${this.#exited ? "exited" : "timeout"}): ${this.#out.slice(-800)}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.#wake.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async ready(timeoutMs = 120_000) {
    await this.waitFor(new RegExp(READY), 0, timeoutMs);
  }

  /** Run a command; its output and the host milliseconds between its begin and end markers. */
  async run(command: string, timeoutMs = 120_000): Promise<{ text: string; ms: number }> {
    const tag = `Q${++this.#n}x${Math.random().toString(36).slice(2, 8)}`;
    const from = this.#out.length;
    await this.#writer.write(
      new TextEncoder().encode(`echo ${tag}''B; ${command}; echo ${tag}''E$?\n`),
    );
    const b = await this.waitFor(new RegExp(`${tag}B\\r?\\n`), from, timeoutMs);
    const e = await this.waitFor(new RegExp(`${tag}E(\\d+)`), b.end, timeoutMs);
    const text = this.#out.slice(b.end, e.end - e.m[0].length).replace(/\r/g, "");
    if (e.m[1] !== "0") throw new Error(`guest command failed (${e.m[1]}): ${command}\n${text}`);
    return { text, ms: e.at - b.at };
  }

  async stop() {
    try {
      await this.#writer.write(new TextEncoder().encode("poweroff -f\n"));
    } catch {
      // gone already
    }
    const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.child.status;
    clearTimeout(t);
    await this.#writer.close().catch(() => {});
  }
}

interface VmResult {
  readMBs: number[];
  writeMBs: number[];
  readMBsHost: number[];
  writeMBsHost: number[];
  randRead?: { reads: number; seconds: number; iops: number; hostSeconds: number };
  /** Guest clock seconds per host second over the session (1 = the guest's timings are real time). */
  guestClockRate: number;
}

const MB = 1e6;

/** busybox dd's last line: "67108864 bytes (64.0MB) copied, 0.251923 seconds, 254.0MB/s". */
export function ddSeconds(text: string): { bytes: number; seconds: number } {
  const m = /(\d+) bytes \([^)]*\) copied, ([\d.]+) seconds/.exec(text);
  if (!m) throw new Error(`no dd summary in: ${text}`);
  return { bytes: Number(m[1]), seconds: Number(m[2]) };
}

async function measure(vm: Console, tools: boolean): Promise<VmResult> {
  await vm.ready();
  await vm.run("dmesg -n 1");
  const up0 = performance.now();
  const guest0 = Number((await vm.run("cut -d' ' -f1 /proc/uptime")).text.trim());
  // The scratch disk is the one of SCRATCH_MB (QEMU and actorvm number slots differently).
  const dev = (await vm.run(
    `for d in /sys/block/vd*; do if [ $(cat $d/size) = ${
      SCRATCH_MB * 2048
    } ]; then echo \${d##*/}; fi; done`,
  )).text.trim();
  if (!/^vd[a-z]$/.test(dev)) throw new Error(`scratch disk not found: "${dev}"`);
  const r: VmResult = {
    readMBs: [],
    writeMBs: [],
    readMBsHost: [],
    writeMBsHost: [],
    guestClockRate: 0,
  };
  for (let i = 0; i < SEQ_REPS; i++) {
    const rd = await vm.run(
      `dd if=/dev/${dev} of=/dev/null bs=1M count=${DD_MB} iflag=direct 2>&1`,
    );
    const a = ddSeconds(rd.text);
    r.readMBs.push(a.bytes / a.seconds / MB);
    r.readMBsHost.push(a.bytes / (rd.ms / 1000) / MB);
    const wr = await vm.run(
      `dd if=/dev/zero of=/dev/${dev} bs=1M count=${DD_MB} oflag=direct 2>&1`,
    );
    const b = ddSeconds(wr.text);
    r.writeMBs.push(b.bytes / b.seconds / MB);
    r.writeMBsHost.push(b.bytes / (wr.ms / 1000) / MB);
  }
  if (tools) {
    const tdev = (await vm.run(
      `for d in /sys/block/vd*; do case $(cat $d/serial) in tools*) echo \${d##*/};; esac; done`,
    )).text.trim();
    await vm.run(`mkdir -p /t && mount -o ro /dev/${tdev} /t`);
    // A warm-up pass first: the hart's first runs through new kernel paths are slower.
    await vm.run(`/t/randread /dev/${dev} ${RANDOM_READS / 4}`);
    for (let i = 0; i < REPS; i++) {
      const rr = await vm.run(`/t/randread /dev/${dev} ${RANDOM_READS}`);
      const m = /randread (\d+) ([\d.]+)/.exec(rr.text);
      if (!m) throw new Error(`randread: ${rr.text}`);
      const run = {
        reads: Number(m[1]),
        seconds: Number(m[2]),
        iops: Math.round(Number(m[1]) / Number(m[2])),
        hostSeconds: rr.ms / 1000,
      };
      if (!r.randRead || run.iops > r.randRead.iops) r.randRead = run;
    }
  }
  const guest1 = Number((await vm.run("cut -d' ' -f1 /proc/uptime")).text.trim());
  r.guestClockRate = (guest1 - guest0) / ((performance.now() - up0) / 1000);
  return r;
}

/** Build randread into an ext2 "tools" disk, or say why not. */
async function toolsDisk(dir: string): Promise<string | { skipped: string }> {
  if (E2FS_MISSING) return { skipped: E2FS_MISSING };
  await Deno.mkdir(`${dir}/tools`);
  await Deno.writeTextFile(`${dir}/randread.c`, RANDREAD_C);
  try {
    const cc = await new Deno.Command("riscv64-linux-gnu-gcc", {
      args: ["-static", "-O2", "-o", `${dir}/tools/randread`, `${dir}/randread.c`],
      stderr: "piped",
    }).output();
    if (!cc.success) return { skipped: `cc: ${new TextDecoder().decode(cc.stderr)}` };
  } catch {
    return { skipped: "riscv64-linux-gnu-gcc not found" };
  }
  const img = `${dir}/tools.img`;
  await mke2fs(`${dir}/tools`, img, "4M");
  return img;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const best = (xs: number[]) => round1(Math.max(...xs));

export async function run(): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir({ prefix: "actorvm-bench-blk-" });
  try {
    // actorvm names the file's base name as the serial; QEMU gets the same by option.
    const scratch = `${dir}/scratch.img`;
    await Deno.writeFile(scratch, new Uint8Array(SCRATCH_MB << 20));
    const tools = await toolsDisk(dir);
    const toolsImg = typeof tools === "string" ? tools : null;
    const cmdline = ["console=hvc0", "earlycon=sbi"];

    const ours = new Console(Deno.execPath(), [
      "run",
      "-A",
      `${ROOT}mod.ts`,
      `--block=${scratch}`,
      ...(toolsImg ? [`--block=${toolsImg},ro`] : []),
      `--initrd=${GUEST}/initramfs.cpio`,
      "128",
      `${GUEST}/Image`,
      ...cmdline,
    ]);
    let actorvm: VmResult;
    try {
      actorvm = await measure(ours, toolsImg !== null);
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
        "-w",
        "-d",
        scratch,
        "-c",
        cmdline.join(" "),
        "--",
        ...(toolsImg
          ? [
            "-drive",
            `if=none,file=${toolsImg},format=raw,id=tools,readonly=on`,
            "-device",
            "virtio-blk-device,drive=tools,serial=tools",
          ]
          : []),
      ]);
      try {
        qemu = await measure(q, toolsImg !== null);
      } finally {
        await q.stop();
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      qemu = { skipped: "qemu-system-riscv64 not found" };
    }

    const out: Record<string, unknown> = {
      what: `${DD_MB} MiB dd, bs=1M, iflag/oflag=direct, on a raw ${SCRATCH_MB} MiB image ` +
        `(best of ${SEQ_REPS}, and the first alone; MB/s = 1e6 B/s, from dd's own in-guest timing; *Host from the host ` +
        `between console markers, including dd's start); randRead: best of ${REPS} runs of ${RANDOM_READS} random ` +
        `4 KiB O_DIRECT preads at queue depth 1 after a warm-up, clock_gettime in the guest`,
      actorvm: summarize(actorvm),
      qemu: "skipped" in qemu ? qemu : summarize(qemu),
    };
    if (!("skipped" in qemu)) {
      out.ratio = {
        seqRead: round2(Math.max(...actorvm.readMBs) / Math.max(...qemu.readMBs)),
        seqWrite: round2(Math.max(...actorvm.writeMBs) / Math.max(...qemu.writeMBs)),
        seqReadFirst: round2(actorvm.readMBs[0] / qemu.readMBs[0]),
        seqWriteFirst: round2(actorvm.writeMBs[0] / qemu.writeMBs[0]),
        randReadIops: actorvm.randRead && qemu.randRead
          ? round2(actorvm.randRead.iops / qemu.randRead.iops)
          : null,
      };
    }
    if (!toolsImg) out.randReadSkipped = (tools as { skipped: string }).skipped;
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function summarize(r: VmResult) {
  return {
    seqReadMBs: best(r.readMBs),
    seqWriteMBs: best(r.writeMBs),
    seqReadMBsHost: best(r.readMBsHost),
    seqWriteMBsHost: best(r.writeMBsHost),
    readRuns: r.readMBs.map(round1),
    writeRuns: r.writeMBs.map(round1),
    randRead: r.randRead
      ? {
        ...r.randRead,
        seconds: round2(r.randRead.seconds),
        hostSeconds: round2(r.randRead.hostSeconds),
      }
      : null,
    guestClockRate: round2(r.guestClockRate),
  };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
