// The gdbstub end to end (docs/gdb.md): gdb-multiarch --batch drives a real
// boot of the bundled guest held by --gdb-wait — pc at the entry point, a
// software breakpoint at start_kernel (from System.map), registers, x/4i,
// stepi, a register and a memory write, a hardware watchpoint on jiffies, a
// hardware breakpoint in user space (busybox's _start, the first thing /init
// runs), Ctrl-C once the guest is ready, detach — and the guest then powers
// off normally. A second boot (an actor swapped, a fault plan) takes a hostile
// byte stream on the gdb port and keeps running, and a raw-protocol debugger
// sets and hits a breakpoint after it. A third drives it from the library.
// Skipped, with a message, when gdb-multiarch is not installed.

import { fileURLToPath } from "node:url";
import assert from "../../testing/assert.ts";
import { GuestSession, READY_LINE } from "../../testing/guest_session.ts";
import { readElfHeader, readProgramHeaders } from "../../lib/elf.ts";

const GUEST = fileURLToPath(new URL("../../guest/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const hasGdb = await new Deno.Command("gdb-multiarch", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);
if (!hasGdb) console.warn("gdb tests skipped: no gdb-multiarch (apt-get install gdb-multiarch)");

/** A symbol's address from the bundled System.map. */
function symbol(name: string): bigint {
  const map = Deno.readTextFileSync(`${GUEST}System.map`);
  const m = new RegExp(`^([0-9a-f]+) [tTdDbB] ${name}$`, "m").exec(map);
  if (!m) throw new Error(`no ${name} in System.map`);
  return BigInt("0x" + m[1]);
}

/** A file from the bundled initramfs (newc cpio). */
function fromInitramfs(path: string): Uint8Array {
  const b = Deno.readFileSync(`${GUEST}initramfs.cpio`);
  const text = new TextDecoder();
  let at = 0;
  while (at + 110 <= b.length) {
    const field = (i: number) =>
      parseInt(text.decode(b.subarray(at + 6 + 8 * i, at + 14 + 8 * i)), 16);
    const size = field(6), nameSize = field(11);
    const name = text.decode(b.subarray(at + 110, at + 110 + nameSize - 1));
    const data = (at + 110 + nameSize + 3) & ~3;
    if (name === path) return b.subarray(data, data + size);
    if (name === "TRAILER!!!") break;
    at = (data + size + 3) & ~3;
  }
  throw new Error(`no ${path} in the initramfs`);
}

/**
 * The second instruction of busybox's _start: the first would stop before the
 * page fault that maps it, where gdb cannot read the code yet.
 */
function busyboxSecondInsn(): bigint {
  const elf = fromInitramfs("bin/busybox");
  const h = readElfHeader(elf);
  const seg = readProgramHeaders(elf, h).find((p) =>
    p.type === 1 && p.vaddr <= h.entry && h.entry < p.vaddr + p.filesz
  )!;
  const half = seg.data[Number(h.entry - seg.vaddr)];
  return h.entry + ((half & 3) === 3 ? 4n : 2n);
}

async function gdbPort(vm: GuestSession): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const m = /gdb: listening on 127\.0\.0\.1:(\d+)/.exec(vm.stderr);
    if (m) return Number(m[1]);
    if (vm.exited) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no gdb port announced:\n${vm.stderr}`);
}

Deno.test({
  name: "gdb: attach at the entry, break in the kernel and in user space, step, ^C, detach",
  ignore: !hasGdb,
  async fn() {
    const vm = new GuestSession({ args: ["--gdb=127.0.0.1:0", "--gdb-wait"] });
    let gdb: Deno.ChildProcess | null = null;
    try {
      const port = await gdbPort(vm);
      const startKernel = symbol("start_kernel");
      const user = busyboxSecondInsn();
      const script = await Deno.makeTempFile({ suffix: ".gdb" });
      const hex = (v: bigint) => "0x" + v.toString(16);
      await Deno.writeTextFile(
        script,
        [
          "set pagination off",
          "set confirm off",
          `target remote 127.0.0.1:${port}`,
          "echo CHECK-ENTRY\\n",
          "p/x $pc",
          `break *${hex(startKernel)}`,
          "continue",
          "echo CHECK-KERNEL\\n",
          "p/x $pc",
          "info registers sp ra priv",
          "x/4i $pc",
          "stepi",
          "echo CHECK-STEPPED\\n",
          "p/x $pc",
          // Writes: a register (P), memory (X, with a byte that needs escaping: 0x7d).
          "echo CHECK-WRITE\\n",
          "set $t0 = 0x123456789abcdef0",
          "p/x $t0",
          "set *(int *)($sp - 200) = 0x5a5a1234",
          "set var *(char *)($sp - 199) = 0x7d",
          "x/wx $sp - 200",
          "delete",
          // A hardware watchpoint: the timer tick's write of jiffies.
          `watch *(long *)${hex(symbol("jiffies"))}`,
          "continue",
          "echo CHECK-WATCH\\n",
          "x/2i $pc - 4",
          "delete",
          `hbreak *${hex(user)}`,
          "continue",
          "echo CHECK-USER\\n",
          "p/x $pc",
          "info registers priv",
          "x/2i $pc",
          "delete",
          "echo CHECK-RUNNING\\n",
          "continue",
          "echo CHECK-INTERRUPTED\\n",
          "info registers priv",
          "detach",
        ].join("\n") + "\n",
      );
      gdb = new Deno.Command("gdb-multiarch", {
        args: ["--batch", "-nx", "-x", script],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = new Promise<string>((resolve) => {
        let text = "";
        const dec = new TextDecoder();
        (async () => {
          for await (const c of gdb!.stdout) text += dec.decode(c);
          resolve(text);
        })();
      });
      const err = new Response(gdb.stderr).text();
      // The guest runs on to its ready line once the breakpoints are gone; then ^C.
      await vm.waitFor(READY_LINE, 120_000);
      await new Promise((r) => setTimeout(r, 500));
      gdb.kill("SIGINT");
      // A debugger that does not finish its script fails the test instead of hanging it.
      const bound = setTimeout(() => gdb?.kill("SIGKILL"), 60_000);
      const status = await gdb.status;
      clearTimeout(bound);
      const text = await out;
      const msg = `gdb stdout:\n${text}\ngdb stderr:\n${await err}\nactorvm stderr:\n${vm.stderr}`;
      assert.equal(status.code, 0, msg);
      const after = (tag: string) => text.slice(text.indexOf(tag));
      assert.match(after("CHECK-ENTRY"), /\$1 = 0x80200000/, msg);
      assert.match(after("CHECK-KERNEL"), new RegExp(`\\$2 = ${hex(startKernel)}`), msg);
      assert.match(after("CHECK-KERNEL"), /sp\s+0xffffffff[0-9a-f]+/, msg);
      assert.match(after("CHECK-KERNEL"), /priv\s+0x1\s+prv:1 \[Supervisor\]/, msg);
      // start_kernel opens its stack frame; four instructions are disassembled.
      assert.match(after("CHECK-KERNEL"), /=> 0xffffffff[0-9a-f]+:\s+add\s+sp,sp,-\d+/, msg);
      assert.equal(
        after("CHECK-KERNEL").split("CHECK-STEPPED")[0].match(/^ {3}0x|^=> 0x/gm)?.length,
        4,
        msg,
      );
      assert.match(after("CHECK-STEPPED"), new RegExp(`\\$3 = ${hex(startKernel + 2n)}`), msg);
      assert.match(
        text,
        /Hardware watchpoint 2: \*\(long \*\)0x[0-9a-f]+\s+Old value = \S+\s+New value = \d+/,
        msg,
      );
      assert.match(after("CHECK-WATCH").split("CHECK-USER")[0], /:\s+s[dw]\s/, msg); // the store
      assert.match(after("CHECK-WRITE"), /\$4 = 0x123456789abcdef0/, msg);
      assert.match(after("CHECK-WRITE"), /0xffffffff[0-9a-f]+:\s+0x5a5a7d34/, msg);
      assert.match(after("CHECK-USER"), new RegExp(`\\$5 = ${hex(user)}`), msg);
      assert.match(after("CHECK-USER"), /priv\s+0x0\s+prv:0 \[User/, msg);
      assert.match(after("CHECK-USER"), new RegExp(`=> ${hex(user)}:\\s+\\S+`), msg);
      assert.match(after("CHECK-INTERRUPTED"), /priv\s+0x[013]/, msg);
      assert.match(text, /Inferior 1 \(Remote target\) detached/, msg);
      // Detached: the guest runs on and powers off normally.
      assert.match(await vm.run("echo still-here"), /still-here/);
      await vm.send("poweroff -f\n");
      const st = await vm.exit(60_000);
      assert.equal(st.code, 0, vm.stderr);
      assert.match(vm.stderr, /gdb: debugger attached/);
      await Deno.remove(script);
    } finally {
      try {
        gdb?.kill("SIGKILL");
      } catch { /* exited */ }
      await vm.close();
    }
  },
});

/** A raw connection to the gdb port: everything the stub sends is collected as it comes. */
class Raw {
  #text = "";
  #closed = false;
  constructor(readonly conn: Deno.TcpConn) {
    (async () => {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        this.#text += new TextDecoder("latin1").decode(buf.subarray(0, n));
      }
      this.#closed = true;
    })();
  }
  static async open(port: number): Promise<Raw> {
    return new Raw(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  /**
   * Send `bytes`; what came back by the first whole reply, or within `ms`
   * when `wait` ("<closed>" appended if the stub hung up).
   */
  async exchange(bytes: Uint8Array, ms: number, wait = false): Promise<string> {
    this.#text = "";
    await this.conn.write(bytes).catch(() => {});
    const end = Date.now() + ms;
    const whole = () => !wait && (this.#text === "-" || /#[0-9a-f]{2}$/.test(this.#text));
    while (Date.now() < end && !this.#closed && !whole()) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#text + (this.#closed ? "<closed>" : "");
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

const packet = (data: string) => {
  let sum = 0;
  for (const c of data) sum = (sum + c.charCodeAt(0)) & 0xff;
  return new TextEncoder().encode(`$${data}#${sum.toString(16).padStart(2, "0")}`);
};

Deno.test({
  name: "gdb: a hostile byte stream gets errors or a closed connection, no crash; " +
    "then a breakpoint, with actors swapped and a fault plan",
  // No gdb-multiarch needed: the stream is raw bytes.
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "actorvm-gdb-" });
    // Late interrupts and clock events while a debugger stops and starts the hart.
    await Deno.writeTextFile(
      `${dir}/plan.json`,
      JSON.stringify({
        rules: [
          { layer: "irq", effect: "delay", ms: 3, when: { probability: 0.2 } },
          { layer: "waker", effect: "delay", ms: 2, when: { probability: 0.2 } },
        ],
      }),
    );
    const vm = new GuestSession({
      args: [
        "--gdb=127.0.0.1:0",
        `--faults=${dir}/plan.json`,
        "--seed=7",
        "--actor",
        `irq=${ROOT}examples/irq_logger.worker.ts`,
        "--actor",
        `cpu=${ROOT}actors/cpu/cpu.worker.ts`,
      ],
    });
    try {
      const port = await gdbPort(vm);
      await vm.waitFor(READY_LINE, 120_000);
      const enc = new TextEncoder();
      let conn = await Raw.open(port);
      // Random noise between packets is dropped; a bad checksum is answered "-".
      const noise = new Uint8Array(4096);
      crypto.getRandomValues(noise);
      for (let i = 0; i < noise.length; i++) if (noise[i] === 0x24) noise[i] = 0; // no "$"
      await conn.exchange(noise, 500, true);
      assert.match(await conn.exchange(enc.encode("$g#00"), 1000), /^-$/);
      assert.match(await conn.exchange(enc.encode("$?#zz"), 1000), /-/);
      // Malformed arguments get an error reply, unknown packets an empty one.
      assert.match(await conn.exchange(packet("m,zz"), 1000), /\$E01#/);
      assert.match(await conn.exchange(packet("mffffffffffffffff0,10"), 1000), /\$E01#/);
      assert.match(await conn.exchange(packet("Z9,0,4"), 1000), /\$E01#/);
      assert.match(await conn.exchange(packet("p99999"), 1000), /\$E45#/);
      assert.match(await conn.exchange(packet("X0,ffffffff:"), 1000), /\$E01#/);
      assert.match(await conn.exchange(packet("qNoSuchThing"), 1000), /\$#00/);
      assert.match(await conn.exchange(packet("m0,4"), 1000), /\$E14#/); // nothing mapped at 0
      // A packet with no end longer than the stub takes: the connection closes.
      const huge = new Uint8Array(70_000).fill(0x41);
      huge[0] = 0x24;
      assert.match(await conn.exchange(huge, 3000), /<closed>/);
      conn.close();
      // An unterminated packet, then the peer goes away: nothing is left behind.
      conn = await Raw.open(port);
      await conn.exchange(enc.encode("$qSupported:multiprocess+;xmlRe"), 300, true);
      conn.close();
      // The stub still works: attach (the guest halts), read registers, break
      // in the idle loop (the guest waits at its shell), continue to it, detach.
      conn = await Raw.open(port);
      assert.match(await conn.exchange(packet("QStartNoAckMode"), 2000), /\$OK#/);
      assert.match(await conn.exchange(packet("?"), 2000), /^\$T05/);
      assert.match(await conn.exchange(packet("g"), 2000), /^\$[0-9a-f]{528}#/);
      const idle = symbol("arch_cpu_idle").toString(16);
      assert.match(await conn.exchange(packet(`Z0,${idle},2`), 2000), /^\$OK#/);
      const stop = await conn.exchange(packet("vCont;c"), 5000);
      const pc = await conn.exchange(packet("p20"), 2000); // register 32: pc, little-endian
      const le = idle.match(/../g)!.reverse().join("").padEnd(16, "0");
      assert.equal(pc.slice(1, 17), le, `${stop} ${pc}`);
      assert.match(stop, /^\$T05thread:01;swbreak:;#/, pc);
      assert.match(await conn.exchange(packet(`z0,${idle},2`), 2000), /^\$OK#/);
      assert.match(await conn.exchange(packet("D"), 2000), /^\$OK#/);
      conn.close();
      // And the guest runs on, and powers off normally.
      assert.match(await vm.run("echo still-here"), /still-here/);
      await vm.send("poweroff -f\n");
      const st = await vm.exit(60_000);
      assert.equal(st.code, 0, vm.stderr);
      assert.match(vm.stderr, /irq logger: \d+ raised/); // the swapped actor ran
      assert.match(vm.stderr, /injected/); // and the plan did
    } finally {
      await vm.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gdb: from the library, bootMachine({ gdb }) waits at the entry; k ends the run; " +
    "a poweroff under a debugger is W00",
  async fn() {
    // In a child `deno run`, as a user's program would (library_test.ts says why).
    const dir = await Deno.makeTempDir({ prefix: "actorvm-gdb-lib-" });
    try {
      const mod = new URL("../../mod.ts", import.meta.url).href;
      await Deno.writeTextFile(
        `${dir}/main.ts`,
        `import { bootMachine } from ${JSON.stringify(mod)};
const m = await bootMachine({ gdb: { listen: "127.0.0.1:0", wait: true }, log: () => {} });
const conn = await Deno.connect({ hostname: "127.0.0.1", port: m.gdb!.port });
const pk = (d: string) => {
  let s = 0;
  for (const c of d) s = (s + c.charCodeAt(0)) & 255;
  return new TextEncoder().encode("$" + d + "#" + s.toString(16).padStart(2, "0"));
};
const buf = new Uint8Array(4096);
let text = "";
async function ask(d: string): Promise<string> {
  await conn.write(pk(d));
  text = "";
  while (!/\\$[^#]*#..$/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.slice(text.indexOf("$") + 1, text.lastIndexOf("#"));
}
console.log("stop " + await ask("?"));
console.log("pc " + await ask("p20"));
await conn.write(pk("k"));
const r = await m.result;
console.log("fate " + r.status + ": " + r.reason);
conn.close();
// A second machine runs on under the debugger to its poweroff: gdb is told W00.
const m2 = await bootMachine({ gdb: { listen: "127.0.0.1:0" }, log: () => {} });
await m2.waitFor("actorvm-guest: ready", 120000);
const c2 = await Deno.connect({ hostname: "127.0.0.1", port: m2.gdb!.port });
await c2.write(pk("?"));
await c2.write(pk("c"));
await new Promise((r) => setTimeout(r, 300));
await m2.send("poweroff -f\\n");
let t2 = "";
for (;;) {
  const n = await c2.read(buf);
  if (n === null) break;
  t2 += new TextDecoder().decode(buf.subarray(0, n));
}
console.log("exit " + (/\\$(W[0-9a-f]{2})#/.exec(t2)?.[1] ?? t2));
console.log("fate2 " + (await m2.result).status);
`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${dir}/main.ts`],
        stdin: "null",
        signal: AbortSignal.timeout(120_000),
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const msg = `${stdout}\n${new TextDecoder().decode(out.stderr)}`;
      assert.equal(out.code, 0, msg);
      assert.match(stdout, /^stop T05thread:01;$/m, msg);
      assert.match(stdout, /^pc 0000208000000000$/m, msg); // 0x80200000, little-endian
      assert.match(stdout, /^fate stopped: killed by the debugger$/m, msg);
      assert.match(stdout, /^exit W00$/m, msg);
      assert.match(stdout, /^fate2 powered off$/m, msg);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
