// The inter-guest segment (devices/net/sharenet.ts) with several members in one
// process: broadcast reaches everyone, unicast is switched to the learned
// member only, dead members' sockets are reclaimed and never break a sender.
// Unix sockets in a temporary directory only: no network is touched.
// Read next: devices/net/sharenet.ts.

import assert from "../../../testing/assert.ts";
import { SharenetBackend } from "../../../devices/net/sharenet.ts";
import { AF_UNIX, libc, SOCK_DGRAM, sockaddrUn } from "../../../devices/net/libc.ts";
import { FrameCatcher } from "../../../testing/net_frames.ts";

const MAC = (n: number) => [0x02, 0, 0, 0, 0, n];
const BCAST = [255, 255, 255, 255, 255, 255];

function frame(dst: number[], src: number[], tag: string): Uint8Array {
  const body = new TextEncoder().encode(tag);
  const f = new Uint8Array(14 + body.length);
  f.set(dst, 0);
  f.set(src, 6);
  f.set([0x88, 0xb5], 12); // the IEEE "local experimental" ethertype
  f.set(body, 14);
  return f;
}

const tagOf = (f: Uint8Array) => new TextDecoder().decode(f.subarray(14));

/** A socket file whose owner is gone, as a SIGKILLed member leaves behind. */
function staleSocket(path: string): void {
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM, 0);
  const sa = sockaddrUn(path);
  assert.equal(c.bind(fd, sa, sa.length), 0);
  c.close(fd);
}

async function withMembers(
  n: number,
  fn: (dir: string, members: SharenetBackend[], frames: FrameCatcher[]) => Promise<void>,
  prepare?: (dir: string) => void,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "avm-sharenet-" });
  const members: SharenetBackend[] = [];
  try {
    prepare?.(dir);
    const frames: FrameCatcher[] = [];
    for (let i = 0; i < n; i++) {
      const m = SharenetBackend.open(`${dir}/seg`);
      const f = new FrameCatcher();
      m.start(f.sink);
      members.push(m);
      frames.push(f);
    }
    await fn(`${dir}/seg`, members, frames);
  } finally {
    for (const m of members) await m.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("sharenet: broadcast reaches every other member, unicast only the learned one", () =>
  withMembers(3, async (dir, [a, b, c], [fa, fb, fc]) => {
    assert.deepEqual([a.slot, b.slot, c.slot], [0, 1, 2]);
    assert.equal(a.macKey, `sharenet:${Deno.realPathSync(dir)}:0`);
    assert.ok(a.send(frame(BCAST, MAC(1), "hello from a")));
    await fb.wait((f) => tagOf(f) === "hello from a", "broadcast at b");
    await fc.wait((f) => tagOf(f) === "hello from a", "broadcast at c");
    // b answers a (unknown MAC to b? it learned a's MAC from the broadcast).
    assert.ok(b.send(frame(MAC(1), MAC(2), "b to a")));
    await fa.wait((f) => tagOf(f) === "b to a", "unicast at a");
    // a now knows MAC(2) lives behind b: the next frame to it goes to b only.
    assert.ok(a.send(frame(MAC(2), MAC(1), "a to b")));
    await fb.wait((f) => tagOf(f) === "a to b", "unicast at b");
    // c saw the flooded broadcast but neither unicast frame.
    assert.ok(c.send(frame(BCAST, MAC(3), "sync")));
    await fa.wait((f) => tagOf(f) === "sync", "c's broadcast at a");
    await fb.wait((f) => tagOf(f) === "sync", "c's broadcast at b");
    assert.deepEqual(fc.frames.map(tagOf), ["hello from a"]);
    // Nobody hears its own frames.
    assert.ok(!fa.frames.some((f) => tagOf(f) === "hello from a"));
    assert.equal(a.stats.txFrames, 2);
    assert.deepEqual(fb.frames.map(tagOf), ["hello from a", "a to b", "sync"]);
    assert.equal(b.stats.rxFrames, 3);
  }));

Deno.test("sharenet: dead members' sockets are reclaimed and do not break senders", () =>
  withMembers(
    2,
    async (dir, [a, b], [, fb]) => {
      // Slot 0 was stale and has been taken over; slot 1 is the next one.
      assert.deepEqual([a.slot, b.slot], [0, 1]);
      // A member that died without removing its socket (a's first send reads the directory).
      staleSocket(`${dir}/7.sock`);
      for (let i = 0; i < 3; i++) assert.ok(a.send(frame(BCAST, MAC(1), `f${i}`)));
      await fb.wait((f) => tagOf(f) === "f2", "frames past a dead member");
      // The dead member's file was removed when it refused a frame.
      assert.throws(() => Deno.statSync(`${dir}/7.sock`));
      assert.equal(a.stats.txDropped, 0);
    },
    (tmp) => {
      Deno.mkdirSync(`${tmp}/seg`);
      staleSocket(`${tmp}/seg/0.sock`);
    },
  ));

Deno.test("sharenet: a lone member's frames are dropped and counted; close removes its socket", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "avm-sharenet-" });
  try {
    const a = SharenetBackend.open(dir);
    a.start(() => {});
    assert.equal(a.send(frame(BCAST, MAC(1), "anyone?")), false);
    assert.equal(a.send(new Uint8Array(10)), false); // shorter than a header
    assert.equal(a.stats.txDropped, 2);
    assert.ok(Deno.statSync(`${dir}/0.sock`).isSocket);
    await a.close();
    await a.close(); // twice is fine
    assert.throws(() => Deno.statSync(`${dir}/0.sock`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sharenet: bad paths get clear errors", () => {
  const dir = Deno.makeTempDirSync({ prefix: "avm-sharenet-" });
  try {
    Deno.writeTextFileSync(`${dir}/file`, "x");
    assert.throws(
      () => SharenetBackend.open(`${dir}/file`),
      /exists and is not a directory/,
    );
    const long = `${dir}/${"d".repeat(100)}`;
    assert.throws(() => SharenetBackend.open(long), /Unix sockets allow at most 107/);
    assert.throws(() => SharenetBackend.open(""), /needs a directory path/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sharenet: a burst beyond the socket queue arrives in order; past the backlog, drops are counted", () =>
  withMembers(2, async (_dir, [a, b], [, fb]) => {
    const seq = (f: Uint8Array) => Number(tagOf(f).slice(1));
    // 100 frames in one go: the receiver cannot drain meanwhile (same thread).
    for (let i = 0; i < 100; i++) assert.ok(a.send(frame(BCAST, MAC(1), `s${i}`)));
    await fb.wait((f) => tagOf(f) === "s99", "the end of the burst");
    assert.deepEqual(fb.frames.map(seq), Array.from({ length: 100 }, (_, i) => i));
    assert.equal(a.peerDrops, 0);
    // 400 more: queue + backlog overflow; what arrives is in order, the rest counted.
    fb.frames.length = 0;
    let accepted = 0, last = -1;
    for (let i = 0; i < 400; i++) {
      if (a.send(frame(BCAST, MAC(1), `s${i}`))) [accepted, last] = [accepted + 1, i];
    }
    assert.ok(a.peerDrops > 0);
    assert.equal(accepted + a.peerDrops, 400);
    assert.ok(b.stats.rxFrames >= 100);
    await fb.wait((f) => tagOf(f) === `s${last}`, "the last accepted frame");
    const got = fb.frames.map(seq);
    assert.equal(got.length, accepted);
    assert.ok(got.every((s, i) => i === 0 || s > got[i - 1]), "out of order");
  }));
