// The gdbstub's framing (launcher/gdb/rsp.ts), its target description and
// the --gdb options: packets split anywhere, escapes, bad checksums, noise,
// Ctrl-C, an overlong packet; random streams never throw and never hold more
// than one packet. Read next: tests/e2e/gdb_e2e_test.ts.

import assert from "../../../testing/assert.ts";
import { framePacket, MAX_PACKET, RspReader } from "../../../launcher/gdb/rsp.ts";
import { registerBytes, TARGET_XML } from "../../../launcher/gdb/target.ts";
import { readCommandLine, UsageError } from "../../../launcher/cli.ts";

const enc = new TextEncoder();

Deno.test("rsp: packets, acks, Ctrl-C and noise, split at every byte", () => {
  const framed = (d: string) => new TextDecoder().decode(framePacket(d));
  const stream = enc.encode(`+junk${framed("qSupported")}\x03-${framed("m10,4")}`);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new RspReader();
    const ev = [...r.feed(stream.subarray(0, cut)), ...r.feed(stream.subarray(cut))];
    assert.deepEqual(ev, [
      { kind: "ack" },
      { kind: "packet", data: "qSupported" },
      { kind: "interrupt" },
      { kind: "nak" },
      { kind: "packet", data: "m10,4" },
    ]);
  }
});

Deno.test("rsp: a bad checksum or a non-hex digit is reported, and the next packet still reads", () => {
  const r = new RspReader();
  assert.deepEqual(r.feed(enc.encode("$g#00$g#zz$g#67")), [
    { kind: "bad-checksum" },
    { kind: "bad-checksum" },
    { kind: "packet", data: "g" },
  ]);
});

Deno.test("rsp: escapes both ways round-trip every byte value", () => {
  let all = "";
  for (let b = 0; b < 256; b++) all += String.fromCharCode(b);
  const framed = framePacket(all);
  // Nothing unescaped in the body may end or start a packet.
  const body = framed.subarray(1, framed.length - 3);
  assert.ok(!body.includes(0x23) && !body.includes(0x24));
  assert.deepEqual(new RspReader().feed(framed), [{ kind: "packet", data: all }]);
});

Deno.test("rsp: an overlong packet is an overflow, and the reader recovers", () => {
  const r = new RspReader();
  const big = new Uint8Array(MAX_PACKET + 10).fill(0x41);
  big[0] = 0x24;
  assert.deepEqual(r.feed(big), [{ kind: "overflow" }]);
  assert.deepEqual(r.feed(framePacket("?")), [{ kind: "packet", data: "?" }]);
});

Deno.test("rsp: random streams never throw", () => {
  const r = new RspReader();
  const buf = new Uint8Array(8192);
  for (let i = 0; i < 200; i++) {
    crypto.getRandomValues(buf);
    for (const e of r.feed(buf)) {
      if (e.kind === "packet") assert.ok(e.data.length <= MAX_PACKET);
    }
  }
});

Deno.test("target.xml: gdb's riscv features, register numbers and sizes", () => {
  for (
    const f of ["org.gnu.gdb.riscv.cpu", "org.gnu.gdb.riscv.fpu", "org.gnu.gdb.riscv.csr"]
  ) assert.match(TARGET_XML, new RegExp(`<feature name="${f.replace(/\./g, "\\.")}">`));
  assert.match(TARGET_XML, /<reg name="pc" bitsize="64" type="code_ptr" regnum="32"\/>/);
  assert.match(TARGET_XML, /<reg name="ft0" bitsize="64" type="riscv_double" regnum="33"\/>/);
  assert.match(TARGET_XML, /<reg name="fcsr" bitsize="32" type="int" regnum="68"/);
  assert.match(TARGET_XML, /<reg name="satp" bitsize="64" type="int" regnum="449"/);
  assert.equal(registerBytes(0), 8);
  assert.equal(registerBytes(66), 4);
  assert.equal(registerBytes(65 + 0x180), 8);
  assert.equal(registerBytes(65 + 0x7c0), 0);
  assert.equal(registerBytes(4161), 8);
});

Deno.test("cli: --gdb takes [host:]port, loopback unless --gdb-allow-remote", () => {
  const o = (...a: string[]) => readCommandLine(a);
  const gdb = (...a: string[]) => (o(...a) as { gdb: unknown }).gdb;
  assert.deepEqual(gdb("--gdb=1234"), { host: "127.0.0.1", port: 1234 });
  assert.deepEqual(gdb("--gdb=localhost:0"), { host: "localhost", port: 0 });
  assert.deepEqual(gdb("--gdb=[::1]:1234"), { host: "::1", port: 1234 });
  assert.deepEqual(gdb("--gdb=0.0.0.0:1234", "--gdb-allow-remote"), {
    host: "0.0.0.0",
    port: 1234,
  });
  assert.throws(() => o("--gdb=0.0.0.0:1234"), UsageError);
  assert.throws(() => o("--gdb=10.0.0.1:1234"), /--gdb-allow-remote/);
  assert.throws(() => o("--gdb=host:99999"), UsageError);
  assert.throws(() => o("--gdb=abc"), UsageError);
  assert.throws(() => o("--gdb-wait"), /needs --gdb/);
  assert.equal((o("--gdb=1", "--gdb-wait") as { gdbWait: boolean }).gdbWait, true);
});
