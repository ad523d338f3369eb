// HTIF (devices/htif.ts) on a RAM buffer, and the symbol lookup that finds
// its words (lib/elf.ts findSymbols): each command's effect and answer, bad
// addresses in a syscall block, and symbol tables that lie. The whole path on
// the machine: tests/e2e/conformance_test.ts.
// Read next: devices/htif.ts.

import assert from "../../../testing/assert.ts";
import { Htif } from "../../../devices/htif.ts";
import { findSymbols } from "../../../lib/elf.ts";

const BASE = 0x8000_0000;
const TOHOST = BASE + 0x1000, FROMHOST = BASE + 0x1040;

function machine() {
  const ram = new SharedArrayBuffer(0x10000);
  const v = new DataView(ram);
  const out: number[] = [];
  const exits: number[] = [];
  const warnings: string[] = [];
  const htif = new Htif(new Uint8Array(ram), BASE, TOHOST, FROMHOST, {
    write: (b) => out.push(...b),
    exit: (c) => exits.push(c),
    warn: (t) => warnings.push(t),
  });
  const store = (addr: number, val: bigint) => v.setBigUint64(addr - BASE, val, true);
  const load = (addr: number) => v.getBigUint64(addr - BASE, true);
  return { htif, out, exits, warnings, store, load };
}

Deno.test("htif: nothing pending is no command; exit codes; tohost is cleared", () => {
  const m = machine();
  assert.equal(m.htif.poll(), false);
  m.store(TOHOST, 1n);
  assert.equal(m.htif.poll(), true);
  assert.deepEqual(m.exits, [0]);
  assert.equal(m.load(TOHOST), 0n);
  m.store(TOHOST, (21n << 1n) | 1n);
  m.htif.poll();
  assert.deepEqual(m.exits, [0, 21]);
});

Deno.test("htif: putchar (device 1, command 1) prints and answers 0x100 | char", () => {
  const m = machine();
  m.store(TOHOST, (1n << 56n) | (1n << 48n) | 0x41n);
  m.htif.poll();
  assert.deepEqual(m.out, [0x41]);
  assert.equal(m.load(FROMHOST), (1n << 56n) | (1n << 48n) | 0x141n);
});

Deno.test("htif: syscall block: write to stdout, exit, bad buffers, unknown calls", () => {
  const m = machine();
  const blk = BASE + 0x2000, buf = BASE + 0x3000;
  const put = (words: bigint[]) => words.forEach((w, i) => m.store(blk + 8 * i, w));
  m.store(buf, 0x0a6968n); // "hi\n"
  // write(1, buf, 3)
  put([64n, 1n, BigInt(buf), 3n]);
  m.store(TOHOST, BigInt(blk));
  m.htif.poll();
  assert.deepEqual(m.out, [0x68, 0x69, 0x0a]);
  assert.equal(m.load(blk), 3n, "the result");
  assert.equal(m.load(FROMHOST), 1n);
  // A buffer outside RAM: -EFAULT, nothing printed.
  put([64n, 1n, 0x1000n, 3n]);
  m.store(TOHOST, BigInt(blk));
  m.htif.poll();
  assert.equal(m.out.length, 3);
  assert.equal(BigInt.asIntN(64, m.load(blk)), -14n);
  // A block outside RAM: warned, no answer written anywhere.
  m.store(FROMHOST, 0n);
  m.store(TOHOST, 0x10n);
  m.htif.poll();
  assert.equal(m.load(FROMHOST), 0n);
  assert.match(m.warnings.join("\n"), /outside RAM/);
  // An unknown syscall: -ENOSYS.
  put([1234n, 0n, 0n, 0n]);
  m.store(TOHOST, BigInt(blk));
  m.htif.poll();
  assert.equal(BigInt.asIntN(64, m.load(blk)), -38n);
  // exit(5) through the block.
  put([93n, 5n]);
  m.store(TOHOST, BigInt(blk));
  m.htif.poll();
  assert.deepEqual(m.exits, [5]);
  // An unknown device: warned once, the run goes on.
  m.store(TOHOST, 7n << 56n);
  m.htif.poll();
  m.store(TOHOST, 7n << 56n);
  m.htif.poll();
  assert.equal(m.warnings.filter((w) => w.includes("no device 7")).length, 1);
});

Deno.test("elf: findSymbols reads .symtab; stripped, truncated or lying files give none", () => {
  const file = Deno.readFileSync(
    new URL("../../programs/bare-bin/conf_htif_pass", import.meta.url),
  );
  const syms = findSymbols(file, ["tohost", "fromhost", "nosuch"]);
  assert.equal(syms.get("tohost")! % 64n, 0n);
  assert.equal(syms.get("fromhost"), syms.get("tohost")! + 64n);
  assert.equal(syms.has("nosuch"), false);
  // The stripped SBI program has no symbol table.
  const stripped = Deno.readFileSync(
    new URL("../../programs/bare-bin/sbi_console", import.meta.url),
  );
  assert.equal(findSymbols(stripped, ["tohost"]).size, 0);
  // Cut short: the section headers are past the end.
  assert.equal(findSymbols(file.subarray(0, 200), ["tohost"]).size, 0);
  // Section headers pointing past the file.
  const bad = file.slice();
  new DataView(bad.buffer).setBigUint64(40, BigInt(bad.length - 10), true);
  assert.equal(findSymbols(bad, ["tohost"]).size, 0);
  assert.equal(findSymbols(new Uint8Array(10), ["tohost"]).size, 0);
});
