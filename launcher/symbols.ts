// Kernel symbols from a System.map, for turning guest PCs into names: the
// crash trace (--trace-on-crash), the profile (--profile) and
// scripts/boot-trace.ts all print "function+offset" with this.
// Read next: mod.ts (where the crash trace and the profile are printed).

export class SymbolMap {
  private readonly addrs: bigint[] = [];
  private readonly names: string[] = [];

  /** Parse System.map text ("ffffffff80000000 T _start" per line). */
  constructor(text: string) {
    const rows: [bigint, string][] = [];
    for (const line of text.split("\n")) {
      const [addr, type, name] = line.split(" ");
      if (!name || !/^[0-9a-f]+$/i.test(addr) || !/^[tTwW]$/.test(type)) continue;
      rows.push([BigInt("0x" + addr), name]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [a, n] of rows) {
      this.addrs.push(a);
      this.names.push(n);
    }
  }

  /** Load a System.map; null (not an error) if the file is not there or not a regular file. */
  static load(path: string): SymbolMap | null {
    try {
      // A device (/dev/zero) would be read forever, at exit.
      if (!Deno.statSync(path).isFile) return null;
      return new SymbolMap(Deno.readTextFileSync(path));
    } catch {
      return null;
    }
  }

  get size(): number {
    return this.addrs.length;
  }

  /** The function containing `pc`, or null below the first symbol. */
  lookup(pc: bigint): { name: string; offset: bigint } | null {
    let lo = 0, hi = this.addrs.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid] <= pc) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best < 0 ? null : { name: this.names[best], offset: pc - this.addrs[best] };
  }

  /** "name+0xoff", or "?" when unknown. */
  describe(pc: bigint): string {
    const s = this.lookup(pc);
    return s ? `${s.name}+0x${s.offset.toString(16)}` : "?";
  }

  /** Fold pc samples into per-function percentages, hottest first. */
  profile(samples: [bigint, number][], top = 25): { name: string; percent: number }[] {
    const byFn = new Map<string, number>();
    let total = 0;
    for (const [pc, n] of samples) {
      const name = this.lookup(pc)?.name ?? "?";
      byFn.set(name, (byFn.get(name) ?? 0) + n);
      total += n;
    }
    return [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, n]) => ({
      name,
      percent: Number((100 * n / total).toFixed(1)),
    }));
  }
}
