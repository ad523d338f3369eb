// Host-side helpers for the block tests and benchmark: Debian's e2fsprogs
// (mke2fs -d to build an ext2 image from a directory, debugfs to read a file
// back out of one, e2fsck -fn to judge it) and deterministic file contents.
// Used by tests/e2e/block_e2e_test.ts, tests/e2e/block_durability_test.ts and
// scripts/bench/block.ts.
import { fileURLToPath } from "node:url";

export const GUEST = fileURLToPath(new URL("../guest", import.meta.url));

/** Where a tool lives: on PATH, or in /sbin and /usr/sbin (Debian puts e2fsprogs there). */
function findTool(name: string): string | null {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return `${d}/${name}`;
    } catch {
      // not here
    }
  }
  return null;
}

const TOOLS = {
  mke2fs: findTool("mke2fs"),
  debugfs: findTool("debugfs"),
  e2fsck: findTool("e2fsck"),
};

/** Why the ext2 tests cannot run here, or null if they can. */
export const E2FS_MISSING: string | null = (() => {
  const missing = Object.entries(TOOLS).filter(([, p]) => p === null).map(([n]) => n);
  return missing.length ? `${missing.join(", ")} not found` : null;
})();

async function tool(name: keyof typeof TOOLS, args: string[]) {
  const path = TOOLS[name];
  if (!path) throw new Error(`${name} not found (apt-get install e2fsprogs)`);
  const out = await new Deno.Command(path, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr), dec };
}

/** An ext2 image of `size` (mke2fs syntax, e.g. "8M") holding `dir`'s files, owned by root. */
export async function mke2fs(dir: string, img: string, size: string): Promise<void> {
  const r = await tool("mke2fs", [
    "-q",
    "-F",
    "-t",
    "ext2",
    "-d",
    dir,
    "-E",
    "root_owner=0:0",
    img,
    size,
  ]);
  if (r.code !== 0) throw new Error(`mke2fs ${img}: ${r.stderr}`);
}

/** The bytes of `path` inside the ext2 image; throws if it is not there. */
export async function debugfsRead(img: string, path: string): Promise<Uint8Array> {
  // debugfs says "File not found" on stderr and still exits 0: check with stat first.
  const st = await tool("debugfs", ["-R", `stat ${path}`, img]);
  if (st.stderr.includes("not found") || st.stderr.includes("No such")) {
    throw new Error(`${path} not in ${img}: ${st.stderr.trim()}`);
  }
  const r = await tool("debugfs", ["-R", `cat ${path}`, img]);
  if (r.code !== 0) throw new Error(`debugfs cat ${path}: ${r.stderr}`);
  return r.stdout;
}

/** debugfsRead as text. */
export async function debugfsCat(img: string, path: string): Promise<string> {
  return new TextDecoder().decode(await debugfsRead(img, path));
}

/** e2fsck -fn (force a full check, change nothing): code 0 means clean. */
export async function e2fsck(img: string): Promise<{ code: number; text: string }> {
  const r = await tool("e2fsck", ["-fn", img]);
  return { code: r.code, text: r.dec.decode(r.stdout) + r.stderr };
}

/** What `seq from to` prints. */
export function seqText(from: number, to: number): string {
  const lines: string[] = [];
  for (let i = from; i <= to; i++) lines.push(String(i));
  return lines.join("\n") + "\n";
}

/** `n` deterministic, not very compressible bytes (xorshift32 from `seed`). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
