// A fuzz test of the 9P server's message parser and operations: random bytes,
// valid messages mutated (bits flipped, cut short, lengths and fids bent,
// names full of "..", "/" and the outside's names), and valid messages with
// hostile arguments, 10^5 of them (ACTORVM_FUZZ_COUNT, ACTORVM_FUZZ_SEED) through real
// chains over guest RAM. Every request must get a well-formed reply (its own
// tag, a size field that matches) or none at all, nothing may be written
// outside the reply room (testing/p9_client.ts checks), nothing may throw,
// and nothing outside the share may change or appear. Seeded: a failure
// names its seed and message number.

import assert from "../../../testing/assert.ts";
import { MAX_MSIZE, P9Server } from "../../../devices/p9/server.ts";
import { NOFID, T, Writer } from "../../../devices/p9/wire.ts";
import { P9TestClient } from "../../../testing/p9_client.ts";

const N = Number(Deno.env.get("ACTORVM_FUZZ_COUNT") ?? 100_000);
// A new seed each run (printed): `ACTORVM_FUZZ_SEED=<s>` repeats one.
const SEED = Number(Deno.env.get("ACTORVM_FUZZ_SEED") ?? Math.floor(Math.random() * 0x7fff_ffff));
console.log(`9p fuzz: ${N} messages, seed ${SEED} (ACTORVM_FUZZ_SEED=${SEED})`);

/** xorshift32: the same messages for the same seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    u32: next,
    int: (n: number) => next() % n,
    pick: <V>(a: readonly V[]) => a[next() % a.length],
    chance: (p: number) => next() / 0x1_0000_0000 < p,
  };
}

const TYPES = Object.values(T);

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      out.push(`${p} ${e.isDirectory ? "d" : e.isSymlink ? "l" : "f"}`);
      if (e.isDirectory) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

Deno.test({
  name: `9p fuzz: ${N} random and mutated messages, no crash, nothing outside the share touched`,
  sanitizeResources: false,
  async fn() {
    const top = await Deno.makeTempDir({ prefix: "actorvm-9p-fuzz-" });
    const share = `${top}/share`, outside = `${top}/outside`;
    await Deno.mkdir(`${share}/a/b`, { recursive: true });
    await Deno.mkdir(outside);
    await Deno.writeTextFile(`${outside}/secret`, "secret\n");
    await Deno.writeTextFile(`${share}/a/file`, "data\n");
    await Deno.symlink(outside, `${share}/out`);
    await Deno.symlink("../outside/secret", `${share}/a/rel`);
    await Deno.link(`${outside}/secret`, `${share}/hard`);
    const outsideBefore = await listTree(outside);
    const secretBefore = await Deno.readTextFile(`${outside}/secret`);
    const { mode: outsideMode, mtime: outsideMtime } = await Deno.stat(outside);

    // A bug of the server's own (not the guest's) is logged: there must be none.
    const internal: string[] = [];
    const server = new P9Server(share, { readOnly: false, log: (l) => internal.push(l) });
    const c = new P9TestClient(server);
    const r = rng(SEED);
    const names = [
      "..",
      ".",
      "a",
      "b",
      "file",
      "out",
      "rel",
      "hard",
      "secret",
      "outside",
      "x",
      "../outside",
      "/etc",
      "a/b",
      "",
      "n\0",
      "y".repeat(300),
    ];
    const fid = () => r.chance(0.8) ? r.int(8) : r.chance(0.5) ? NOFID : r.u32();
    const num = () =>
      r.pick([0, 1, 2, 0o1000, 0o100, 0o2000, 0o644, 0o4000000, 0xffffffff, r.u32()]);
    const big = () => r.pick([0, 1, 4096, 2 ** 31, 2 ** 40, 2 ** 52, r.u32()]);
    /** A well-formed message of a random type with hostile arguments. */
    const valid = (w: Writer, type: number) => {
      switch (type) {
        case T.VERSION:
          return w.u32(r.pick([0, 4096, 8192, MAX_MSIZE, 0xffffffff])).str(
            r.pick(["9P2000.L", "9P2000", "x"]),
          );
        case T.ATTACH:
          return w.u32(fid()).u32(r.chance(0.9) ? NOFID : 1).str("u").str(r.pick(names))
            .u32(r.pick([0, 1000, NOFID]));
        case T.WALK: {
          w.u32(fid()).u32(fid());
          const n = r.chance(0.95) ? r.int(4) : r.int(20);
          w.u16(n);
          for (let i = 0; i < n; i++) w.str(r.pick(names));
          return;
        }
        case T.LCREATE:
          return w.u32(fid()).str(r.pick(names)).u32(num()).u32(num()).u32(num());
        case T.MKDIR:
        case T.SYMLINK:
          w.u32(fid()).str(r.pick(names));
          if (type === T.SYMLINK) w.str(r.pick(names));
          return w.u32(num()).u32(num());
        case T.READ:
          return w.u32(fid()).u64(big()).u32(r.pick([0, 1, 100, 4096, 0xffffffff]));
        case T.WRITE: {
          const n = r.int(64);
          w.u32(fid()).u64(big()).u32(r.chance(0.9) ? n : r.u32());
          for (let i = 0; i < n; i++) w.u8(r.int(256));
          return;
        }
        case T.SETATTR:
          w.u32(fid()).u32(r.u32() & 0x1ff).u32(num()).u32(num()).u32(num());
          return w.u64(big()).u64(big()).u64(r.u32()).u64(big()).u64(r.u32());
        case T.RENAMEAT:
          return w.u32(fid()).str(r.pick(names)).u32(fid()).str(r.pick(names));
        case T.RENAME:
        case T.LINK:
          return w.u32(fid()).u32(fid()).str(r.pick(names));
        case T.UNLINKAT:
          return w.u32(fid()).str(r.pick(names)).u32(r.pick([0, 0x200, r.u32()]));
        case T.READDIR:
          return w.u32(fid()).u64(big()).u32(r.pick([0, 10, 4096, 0xffffffff]));
        case T.MKNOD:
          return w.u32(fid()).str(r.pick(names)).u32(num()).u32(0).u32(0).u32(0);
        case T.FLUSH:
          return w.u16(r.int(65536));
        case T.XATTRWALK:
          return w.u32(fid()).u32(fid()).str("user.a");
        default:
          // lopen, getattr, clunk, remove, fsync, statfs, readlink...: a fid and numbers.
          w.u32(fid());
          for (let i = r.int(3); i > 0; i--) w.u32(num());
      }
    };

    const buf = new Uint8Array(8192);
    let replies = 0, successes = 0;
    try {
      for (let i = 0; i < N; i++) {
        // Now and then a fresh root fid, so that hostile requests reach real work.
        if (i % 64 === 0) {
          const f = r.int(8);
          c.rpc(T.CLUNK, (w) => w.u32(f));
          c.rpc(T.ATTACH, (w) => w.u32(f).u32(NOFID).str("u").str("").u32(0));
        }
        const kind = r.int(10);
        let msg: Uint8Array;
        if (kind === 0) {
          // Random bytes, random length.
          msg = new Uint8Array(r.int(64)).map(() => r.int(256));
        } else {
          const type = r.chance(0.97) ? r.pick(TYPES) : r.int(256);
          const w = new Writer(buf).begin(type, i & 0xffff);
          valid(w, type);
          msg = buf.slice(0, w.end());
          if (kind <= 3) {
            // Mutate: flip bytes, cut, extend, or bend the size field.
            const m = r.int(4);
            if (m === 0) {
              for (let k = 1 + r.int(4); k > 0; k--) msg[r.int(msg.length)] ^= 1 << r.int(8);
            } else if (m === 1) msg = msg.slice(0, r.int(msg.length + 1));
            else if (m === 2) {
              const more = new Uint8Array(msg.length + r.int(32));
              more.set(msg);
              msg = more;
            } else new DataView(msg.buffer).setUint32(0, r.u32() % (msg.length + 16), true);
          }
        }
        const room = r.chance(0.1) ? r.int(64) : r.pick([11, 4096, 1 << 16]);
        let reply: Uint8Array;
        try {
          reply = c.send(msg, room, 1 + r.int(3), 1 + r.int(3));
        } catch (e) {
          throw new Error(`seed ${SEED}, message ${i} (${msg.length} bytes): ${e}`);
        }
        if (reply.length > 0) {
          const p = c.parse(reply);
          assert.ok(
            p.type === msg[4] + 1 || p.type === T.LERROR + 1,
            `message ${i}: type ${p.type}`,
          );
          assert.deepEqual(p.tag, msg[5] | (msg[6] << 8), `message ${i}: tag`);
          replies++;
          if (p.type !== T.LERROR + 1) successes++;
        } else {
          // Only a request without a header or without room for an error goes unanswered.
          assert.ok(msg.length < 7 || room < 11, `message ${i}: no reply`);
        }
      }
    } finally {
      server.close();
    }
    assert.deepEqual(internal, []);
    assert.ok(replies > N / 2);
    // Enough requests got through the parser to do real work on the share.
    assert.ok(successes > N / 20, `${successes} successful replies`);
    console.log(
      `9p fuzz: ${replies} replies, ${successes} successful, ${server.stats.malformed} malformed`,
    );
    assert.ok(server.stats.malformed > 0);
    // Nothing outside the share changed or appeared.
    assert.deepEqual(await listTree(outside), outsideBefore);
    assert.deepEqual(await Deno.readTextFile(`${outside}/secret`), secretBefore);
    const st = await Deno.stat(outside);
    assert.deepEqual([st.mode, st.mtime?.getTime()], [outsideMode, outsideMtime?.getTime()]);
    const tops = [];
    for await (const e of Deno.readDir(top)) tops.push(e.name);
    assert.deepEqual(tops.sort(), ["outside", "share"]);
    await Deno.remove(top, { recursive: true });
  },
});
