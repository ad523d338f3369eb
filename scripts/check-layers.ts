// The import order, checked: every import points down the house's layers.
//
//   tests/                                           (the tests)
//   scripts/                                         (benchmarks, tools, the guest build)
//   testing/                                         (what tests and benchmarks share)
//   mod.ts, examples/                                (the entry; swap-in actors)
//   launcher/, usermode/                             (the main thread; the user-mode runner)
//   actors/<role>/ → actors/runtime/                 (workers; the generic runtime knows no role)
//   faults/                                          (fault plans and the layers devices pass through)
//   devices/                                         (device models, usable without a worker)
//   machine/                                         (the shared contract: control block, memory map)
//   cpu/, lib/                                       (the hart behind its bus; codecs and rings)
//
// A file may import from its own folder and from any lower layer, never from a
// higher one or a sibling of the same rank (but examples/ may import mod.ts, as
// any program using the library does); actors/runtime/ imports no role and
// nothing above lib/; scripts/ and testing/ never import from tests/.
// `deno task check` runs this; tests/unit/layers_test.ts runs it too.

import { fileURLToPath } from "node:url";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

/** Rank of each top folder; a higher rank may import a lower one. */
const RANK: Record<string, number> = {
  cpu: 0,
  lib: 0,
  machine: 1,
  devices: 2,
  faults: 3,
  actors: 4,
  launcher: 5,
  usermode: 5,
  "mod.ts": 6,
  examples: 6,
  testing: 7,
  scripts: 8,
  tests: 9,
};

/** The layer a repository path belongs to ("actors/runtime" is its own). */
function layerOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "actors" && parts[1] === "runtime") return "actors/runtime";
  return parts[0];
}

function rankOf(layer: string): number | undefined {
  return layer === "actors/runtime" ? RANK.actors : RANK[layer];
}

/** Why `from` may not import `to`, or null when it may. */
export function violation(from: string, to: string): string | null {
  const a = layerOf(from), b = layerOf(to);
  if (a === b) return null;
  if (b === "tests") return "nothing outside tests/ imports from tests/";
  if (a === "actors/runtime") {
    return b === "lib" ? null : "actors/runtime/ is generic: it imports only lib/";
  }
  if (a === "actors" && b === "actors/runtime") return null;
  // An example may use the library entry, as a program outside the repository would.
  if (a === "examples" && b === "mod.ts") return null;
  const ra = rankOf(a), rb = rankOf(b);
  if (ra === undefined || rb === undefined) return null;
  if (rb < ra) return null;
  return `${a}/ (rank ${ra}) may not import ${b}/ (rank ${rb})`;
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const p = join(dir, e.name);
    if (e.isDirectory) {
      if (["guest", "docs", "bin", ".git"].includes(e.name)) continue;
      yield* sources(p);
    } else if (e.name.endsWith(".ts")) yield p;
  }
}

/** Every relative module specifier in `text` (static, dynamic and worker URLs). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)(["'`])(\.\.?\/[^"'`$]*\.ts)\1/g;
  for (const m of text.matchAll(re)) out.push(m[2]);
  return out;
}

/** All violations in the tree at `root`, as "file: import → reason" lines. */
export async function checkLayers(root = ROOT): Promise<string[]> {
  const bad: string[] = [];
  for await (const file of sources(root)) {
    const rel = relative(root, file);
    const text = await Deno.readTextFile(file);
    for (const spec of specifiers(text)) {
      const target = relative(root, normalize(join(dirname(file), spec)));
      const why = violation(rel, target);
      if (why) bad.push(`${rel}: ${spec} → ${why}`);
    }
  }
  return bad.sort();
}

if (import.meta.main) {
  const bad = await checkLayers();
  for (const b of bad) console.error(b);
  if (bad.length) {
    console.error(`check-layers: ${bad.length} import(s) point up the layers`);
    Deno.exit(1);
  }
  console.log("check-layers: every import points down");
}
