// Boots the bundled guest (guest/) under qemu-system-riscv64 through
// scripts/qemu-boot.sh, the reference our emulator is compared against:
// once with the self-check switch (ready line, disk, link, clean power-off),
// once interactively (^C interrupts `sleep` at the shell, `poweroff` works).
// Skipped, with a message, where QEMU is absent. Guest details: docs/guest.md.
import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HARD_LIMIT_MS = 60_000; // no boot may outlive this, whatever happens
const PROMPT = /actorvm:[^\r\n]*# /; // PS1 from guest/rootfs/etc/profile

function haveQemu(): boolean {
  try {
    return new Deno.Command("qemu-system-riscv64", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const QEMU = haveQemu();
if (!QEMU) {
  console.warn(
    "guest_qemu_test: qemu-system-riscv64 not found, skipping (apt-get install qemu-system-misc)",
  );
}

/** One QEMU run: its console output so far, and a way to wait for text in it. */
class Boot {
  readonly child: Deno.ChildProcess;
  readonly stdin: WritableStreamDefaultWriter<Uint8Array>;
  output = "";
  readonly done: Promise<Deno.CommandStatus>;
  #reading: Promise<void>;
  #watchdog: ReturnType<typeof setTimeout>;

  constructor(args: string[]) {
    const child = new Deno.Command("bash", {
      args: [`${ROOT}scripts/qemu-boot.sh`, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.child = child;
    this.stdin = child.stdin.getWriter();
    this.#watchdog = setTimeout(() => this.kill(), HARD_LIMIT_MS);
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        this.output += decoder.decode(chunk, { stream: true });
      }
    })();
    this.done = child.status.then(async (s) => {
      clearTimeout(this.#watchdog);
      await this.#reading;
      return s;
    });
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Resolves with the output index after the first match of `re` at or after `from`. */
  async until(re: RegExp, from = 0, ms = 30_000): Promise<number> {
    const deadline = Date.now() + ms;
    let exited = false;
    this.done.then(() => exited = true);
    for (;;) {
      const m = re.exec(this.output.slice(from));
      if (m) return from + m.index + m[0].length;
      if (exited || Date.now() > deadline) {
        throw new Error(`no ${re} in the guest output:\n${this.output.slice(from)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** QEMU's exit status, or an error if it has not exited within `ms`. */
  exited(ms = 10_000): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`QEMU still running after ${ms} ms`)), ms);
    });
    return Promise.race([this.done, late]).finally(() => clearTimeout(timer));
  }

  async type(text: string): Promise<void> {
    await this.stdin.write(new TextEncoder().encode(text));
  }

  async close(): Promise<Deno.CommandStatus> {
    await this.stdin.close().catch(() => {});
    return await this.done;
  }
}

Deno.test({
  name:
    "guest under QEMU: self-check passes, disk reads and writes, link is up, power-off is clean",
  ignore: !QEMU,
  async fn() {
    // -s mounts the disk read-only; rw adds the write-flush-reread check.
    // qemu-boot.sh sends the writes to a snapshot: guest/disk.img stays as is.
    const boot = new Boot(["-s", "-a", "actorvm.mount=1"]);
    let status: Deno.CommandStatus;
    try {
      // The virtio console is reset as the kernel powers off, so the last
      // words are the guest's own; then QEMU must exit by itself.
      const at = await boot.until(/actorvm-guest: self-check done, powering off/);
      status = await boot.exited();
      assert.ok(at > 0);
    } finally {
      boot.kill();
      await boot.close();
    }
    const out = boot.output.replaceAll("\r\n", "\n");
    assert.equal(out.match(/^actorvm-guest: ready$/gm)?.length, 1, "exactly one ready line");
    assert.match(out, /^actorvm-selfcheck: disk hello\.txt: hello from the actorvm test disk$/m);
    assert.match(out, /^actorvm-selfcheck: disk ok 3 files match SHA256SUMS$/m);
    assert.match(out, /^actorvm-selfcheck: disk-write ok [0-9a-f]{64}$/m);
    assert.match(out, /^actorvm-selfcheck: eth0-carrier ok 1$/m);
    assert.match(out, /^actorvm-selfcheck: eth0-addr ok 10\.0\.2\.15\/24$/m);
    assert.match(out, /^actorvm-selfcheck: fpu ok 0\.667$/m);
    assert.doesNotMatch(out, /FAIL/);
    assert.match(out, /^actorvm-selfcheck: pass (\d+)\/\1$/m);
    // The kernel asked the SBI to power off: QEMU exited by itself, with 0.
    assert.equal(status.code, 0, "QEMU exit status after the SBI power-off");
  },
});

Deno.test({
  name: "guest under QEMU: the shell has job control (^C stops sleep) and poweroff works",
  ignore: !QEMU,
  async fn() {
    const boot = new Boot(["-d", "none", "-n"]);
    try {
      const ready = await boot.until(/actorvm-guest: ready/);
      let at = await boot.until(PROMPT, ready);
      await boot.type("sleep 30\n");
      at = await boot.until(/sleep 30\r?\n/, at);
      // ^C until a fresh prompt shows: a ^C that lands before sleep is in the
      // foreground reaches only the shell, and sleep would run on for 30 s.
      for (let tries = 0;; tries++) {
        await boot.type("\x03");
        try {
          at = await boot.until(PROMPT, at, 1_000);
          break;
        } catch (e) {
          if (tries === 5) throw e;
        }
      }
      await boot.type("echo job-$((6 * 7))\n");
      at = await boot.until(/\njob-42\r?\n/, at, 5_000);
      await boot.type("poweroff\n");
      // busybox init's graceful path (two one-second pauses), then the SBI.
      await boot.until(/Requesting system poweroff/, at, 10_000);
      const status = await boot.exited();
      assert.equal(status.code, 0, "QEMU exit status after poweroff");
    } finally {
      boot.kill();
      await boot.close();
    }
  },
});
