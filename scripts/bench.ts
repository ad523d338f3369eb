// `deno task bench`: runs every benchmark module in scripts/bench/ (or only the
// ones named on the command line) and prints one JSON document. Each module
// exports `run(): Promise<Record<string, unknown>>` and measures its own
// reference in the same run, so results are ratios, not absolute claims.
// Usage: deno task bench [name...]   e.g. deno task bench runtime cpu
// Read next: scripts/bench/boot.ts (one module: actorvm against QEMU), README.md's Benchmarks.

const dir = new URL("./bench/", import.meta.url);
const wanted = new Set(Deno.args);
const names: string[] = [];
for (const e of Deno.readDirSync(dir)) {
  if (!e.isFile || !e.name.endsWith(".ts")) continue;
  const name = e.name.slice(0, -3);
  if (wanted.size === 0 || wanted.has(name)) names.push(name);
}
names.sort();

const results: Record<string, unknown> = {};
for (const name of names) {
  const mod = await import(new URL(`${name}.ts`, dir).href);
  const t0 = performance.now();
  try {
    results[name] = await mod.run();
  } catch (e) {
    results[name] = { error: e instanceof Error ? e.message : String(e) };
  }
  console.error(`bench ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
// A reference tool that is absent must not hide in the JSON: every module's
// `missing` list and every "skipped" reason (anywhere in its result) are
// gathered, printed on stderr, and listed at the top of the document.
const missing: string[] = [];
const gather = (name: string, v: unknown): void => {
  if (v === null || typeof v !== "object") return;
  for (const [k, x] of Object.entries(v)) {
    if (k === "missing" && Array.isArray(x)) missing.push(...x.map((t) => `${name}: ${t}`));
    else if (/skipped/i.test(k) && typeof x === "string") missing.push(`${name}: ${x}`);
    else gather(name, x);
  }
};
for (const [name, r] of Object.entries(results)) gather(name, r);
for (const m of new Set(missing)) {
  console.error(`bench: MISSING ${m} — its ratios are absent (see README "Benchmarks")`);
}
console.log(JSON.stringify(
  {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    missing: [...new Set(missing)],
    results,
  },
  null,
  2,
));
