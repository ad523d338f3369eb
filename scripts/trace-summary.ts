// Where the time went, from a --trace file: each track's busy and idle time,
// request latency percentiles per device (notify → used ring), interrupt
// latency (raised → claimed, raised → completed), the boot's milestones and
// the longest spans; with --svg, a timeline picture of the same file (the one
// in docs/trace.md is made this way). Reads the JSON launcher/trace_file.ts
// writes; any Chrome Trace Event file with the same event names works.
//
//   deno run -A scripts/trace-summary.ts trace.json [--svg timeline.svg] [--json]
//
// Read next: docs/trace.md (what the numbers say about a boot and a disk).

import { parseArgs } from "node:util";

/** One event of the file (the fields this script reads). */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid?: number;
  tid?: number;
  id?: string | number;
  args?: Record<string, unknown>;
}

/** Latency figures of one group, in microseconds. */
export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What the summary found; printed as text, or as JSON with --json. */
export interface Summary {
  /** First to last event, µs. */
  spanUs: number;
  tracks: { name: string; busyUs: number; idleUs: number; busyShare: number; what: string }[];
  requests: Record<string, Latency>;
  /** Per device: the guest's notify to the device actor picking it up (the doorbell's arrow). */
  pickups: Record<string, Latency>;
  interrupts: {
    raiseToClaim: Latency;
    raiseToComplete: Latency;
    bySource: Record<string, Latency>;
  };
  milestones: { name: string; tsUs: number }[];
  /**
   * When the process started, µs from the first event (negative), if the file
   * records its clock (actorvm's otherData: originEpochMs, processStartEpochMs).
   */
  processStartUs?: number;
  /** The longest slices and requests, hart spans and traps aside. */
  longest: { name: string; track: string; tsUs: number; durUs: number }[];
  /** The longest trap spans (a blocked system call is one). */
  longestTraps: { name: string; track: string; tsUs: number; durUs: number }[];
}

/** p-th percentile (0..100) of sorted `xs`, nearest rank. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function latency(xs: number[]): Latency {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    count: s.length,
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? s[s.length - 1] : 0),
  };
}

/** Total length of the union of intervals. */
function unionLength(iv: [number, number][]): number {
  iv.sort((a, b) => a[0] - b[0]);
  let total = 0, start = -Infinity, end = -Infinity;
  for (const [a, b] of iv) {
    if (a > end) {
      if (end > start) total += end - start;
      start = a;
      end = b;
    } else if (b > end) end = b;
  }
  if (end > start) total += end - start;
  return total;
}

/** What counts as a track's busy time: its hart runs, its device passes, or any slice. */
const BUSY: Record<string, (e: TraceEvent) => boolean> = {
  "hart 0": (e) => e.name === "run",
};

/** The clock an actorvm trace file records in its otherData (launcher/trace_file.ts). */
export interface TraceClock {
  /** Unix ms of ts 0. */
  originEpochMs: number;
  /** Unix ms when the launcher's process started. */
  processStartEpochMs: number;
}

/** Summarise the events of one trace file (with its clock, milestones also from the process's start). */
export function summarize(events: TraceEvent[], clock?: TraceClock): Summary {
  const names = new Map<number, string>();
  for (const e of events) {
    if (e.ph === "M" && e.name === "thread_name") names.set(e.tid!, String(e.args?.name));
  }
  const timed = events.filter((e) => e.ph !== "M" && typeof e.ts === "number");
  const t0 = Math.min(...timed.map((e) => e.ts!));
  const t1 = Math.max(...timed.map((e) => e.ts! + (e.dur ?? 0)));
  const span = t1 - t0;

  // Busy time per track: the union of its slices (zero-length markers and messages aside).
  const tracks: Summary["tracks"] = [];
  for (const [tid, name] of names) {
    const pick = BUSY[name] ?? ((e: TraceEvent) => e.cat !== "message" && e.cat !== "flow");
    const slices = timed.filter((e) =>
      e.tid === tid && e.ph === "X" && (e.dur ?? 0) > 0 && pick(e)
    );
    if (slices.length === 0) continue;
    const busy = unionLength(slices.map((e) => [e.ts!, e.ts! + e.dur!]));
    const what = BUSY[name]
      ? "run spans (idle: wfi)"
      : [...new Set(slices.map((e) => e.cat))].join(", ");
    tracks.push({
      name,
      busyUs: Math.round(busy),
      idleUs: Math.round(span - busy),
      busyShare: Math.round((busy / span) * 1000) / 10,
      what,
    });
  }

  // Requests: async spans of category "request", by name (device and kind).
  const begins = new Map<string, TraceEvent>();
  const reqs = new Map<string, number[]>();
  const irqSpans: { src: string; begin: number; end: number; id: string }[] = [];
  for (const e of timed) {
    if (e.ph === "b") begins.set(`${e.cat}:${e.id}`, e);
    if (e.ph !== "e") continue;
    const b = begins.get(`${e.cat}:${e.id}`);
    if (!b) continue;
    if (e.cat === "request") {
      // Keyed by the device's track too: two disks' "block read" are two rows.
      const key = `${names.get(b.tid!) ?? `tid ${b.tid}`}: ${b.name}`;
      const list = reqs.get(key) ?? [];
      list.push(e.ts! - b.ts!);
      reqs.set(key, list);
    } else if (e.cat === "irq") {
      irqSpans.push({ src: String(b.args?.source), begin: b.ts!, end: e.ts!, id: String(e.id) });
    }
  }
  const requests: Record<string, Latency> = {};
  for (const [k, v] of [...reqs].sort()) requests[k] = latency(v);

  // Doorbells: each "pick up notify" ends the arrow its "notify" started.
  const anchors = new Map<string, string>();
  for (const e of timed) if (e.ph === "X" && e.dur === 0) anchors.set(`${e.tid}@${e.ts}`, e.name);
  const starts = new Map<string, number>();
  for (const e of timed) if (e.ph === "s") starts.set(String(e.id), e.ts!);
  const picks = new Map<string, number[]>();
  for (const e of timed) {
    if (e.ph !== "f" || anchors.get(`${e.tid}@${e.ts}`) !== "pick up notify") continue;
    const t = starts.get(String(e.id));
    if (t === undefined) continue;
    const k = names.get(e.tid!) ?? `tid ${e.tid}`;
    picks.set(k, [...(picks.get(k) ?? []), e.ts! - t]);
  }
  const pickups: Record<string, Latency> = {};
  for (const [k, v] of [...picks].sort()) pickups[k] = latency(v);

  // Interrupts: the claim is the "t" step of the interrupt's arrow on the cpu's track.
  const cpuTid = [...names].find(([, n]) => n === "cpu")?.[0];
  const claims = new Map<string, number>();
  for (const e of timed) {
    if (e.ph === "t" && e.tid === cpuTid) claims.set(`irq:${e.id}`, e.ts!);
  }
  const toClaim: number[] = [], toComplete: number[] = [];
  const bySrc = new Map<string, number[]>();
  for (const s of irqSpans) {
    toComplete.push(s.end - s.begin);
    const c = claims.get(s.id);
    if (c === undefined) continue;
    toClaim.push(c - s.begin);
    const l = bySrc.get(s.src) ?? [];
    l.push(c - s.begin);
    bySrc.set(s.src, l);
  }
  const bySource: Record<string, Latency> = {};
  for (const [k, v] of bySrc) bySource[`source ${k}`] = latency(v);

  const milestones = timed.filter((e) => e.cat === "milestone")
    .map((e) => ({ name: e.name, tsUs: Math.round(e.ts! - t0) }));
  const top = (pick: (e: TraceEvent) => boolean, n: number) =>
    timed.filter((e) => e.ph === "X" && pick(e))
      .sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, n)
      .map((e) => ({
        name: e.name,
        track: names.get(e.tid!) ?? `tid ${e.tid}`,
        tsUs: Math.round(e.ts! - t0),
        durUs: Math.round(e.dur ?? 0),
      }));
  // Requests are async spans: count them as slices on their device for this list.
  const reqSlices: TraceEvent[] = [];
  const open = new Map<string, TraceEvent>();
  for (const e of timed) {
    if (e.cat !== "request") continue;
    if (e.ph === "b") open.set(String(e.id), e);
    else if (e.ph === "e" && open.has(String(e.id))) {
      const b = open.get(String(e.id))!;
      reqSlices.push({ ...b, ph: "X", dur: e.ts! - b.ts!, tid: -1 });
    }
  }
  names.set(-1, "requests");
  timed.push(...reqSlices);
  const longest = top((e) => e.cat !== "hart" && e.cat !== "trap", 10);
  const longestTraps = top((e) => e.cat === "trap", 5);
  return {
    spanUs: Math.round(span),
    tracks,
    requests,
    pickups,
    interrupts: { raiseToClaim: latency(toClaim), raiseToComplete: latency(toComplete), bySource },
    milestones,
    ...(clock
      ? {
        processStartUs: Math.round((clock.processStartEpochMs - clock.originEpochMs) * 1000 - t0),
      }
      : {}),
    longest,
    longestTraps,
  };
}

const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 2 : 0)} ms`;
const lat = (l: Latency) =>
  `n=${l.count}  p50 ${l.p50} µs  p90 ${l.p90} µs  p99 ${l.p99} µs  max ${l.max} µs`;

/** The summary as text. */
export function formatSummary(s: Summary): string {
  const out: string[] = [];
  out.push(`trace: ${ms(s.spanUs)} from first to last event`);
  out.push("", "busy and idle, per track:");
  for (const t of s.tracks) {
    out.push(
      `  ${t.name.padEnd(14)} busy ${ms(t.busyUs).padStart(10)} (${
        String(t.busyShare).padStart(5)
      }%)` +
        `  idle ${ms(t.idleUs).padStart(10)}  [${t.what}]`,
    );
  }
  out.push("", "requests, notify -> used ring:");
  for (const [k, l] of Object.entries(s.requests)) out.push(`  ${k.padEnd(34)} ${lat(l)}`);
  out.push("", "notify -> the device actor picks it up:");
  for (const [k, l] of Object.entries(s.pickups)) out.push(`  ${k.padEnd(34)} ${lat(l)}`);
  out.push("", "interrupts:");
  out.push(`  raised -> claimed      ${lat(s.interrupts.raiseToClaim)}`);
  out.push(`  raised -> completed    ${lat(s.interrupts.raiseToComplete)}`);
  for (const [k, l] of Object.entries(s.interrupts.bySource)) {
    out.push(`  ${(k + ", to claim").padEnd(22)} ${lat(l)}`);
  }
  out.push("", "milestones:");
  const fromStart = s.processStartUs;
  if (fromStart !== undefined) {
    out.push(
      `  ${"".padStart(10)}  (in brackets: from the process's start, ${ms(-fromStart)} before)`,
    );
  }
  for (const m of s.milestones) {
    const since = fromStart === undefined ? "" : `  [${ms(m.tsUs - fromStart)}]`;
    out.push(`  ${ms(m.tsUs).padStart(10)}  ${m.name}${since}`);
  }
  out.push("", "longest spans (hart runs and traps aside):");
  for (const l of s.longest) {
    out.push(`  ${ms(l.durUs).padStart(10)}  ${l.name} on ${l.track} at ${ms(l.tsUs)}`);
  }
  out.push("", "longest traps (a system call that blocks is one):");
  for (const l of s.longestTraps) {
    out.push(`  ${ms(l.durUs).padStart(10)}  ${l.name} at ${ms(l.tsUs)}`);
  }
  return out.join("\n");
}

const COLORS: Record<string, string> = {
  hart: "#4e79a7",
  wfi: "#d0d0d0",
  trap: "#f28e2b",
  sbi: "#e15759",
  virtio: "#76b7b2",
  request: "#59a14f",
  irq: "#edc948",
  timer: "#b07aa1",
  message: "#9c755f",
  milestone: "#d62728",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");

/**
 * A timeline picture: one row per track, slices as bars (merged where they
 * are under a pixel apart, so a boot stays a small file), request spans in a
 * row per device, milestones as red lines across.
 */
export function renderSvg(events: TraceEvent[], title = "actorvm --trace"): string {
  const names = new Map<number, string>();
  const order = new Map<number, number>();
  for (const e of events) {
    if (e.ph === "M" && e.name === "thread_name") names.set(e.tid!, String(e.args?.name));
    if (e.ph === "M" && e.name === "thread_sort_index") {
      order.set(e.tid!, Number(e.args?.sort_index));
    }
  }
  const timed = events.filter((e) => e.ph !== "M" && typeof e.ts === "number");
  const t0 = Math.min(...timed.map((e) => e.ts!));
  const t1 = Math.max(...timed.map((e) => e.ts! + (e.dur ?? 0)));
  const W = 1100, LEFT = 130, ROW = 22, TOP = 48;
  const x = (t: number) => LEFT + ((t - t0) / (t1 - t0 || 1)) * (W - LEFT - 10);
  // Rows: each track, then one per request name (async spans are drawn there).
  type Bar = [number, number, string];
  const rows = new Map<string, Bar[]>();
  const rowOf = (name: string) => {
    let r = rows.get(name);
    if (!r) rows.set(name, r = []);
    return r;
  };
  const tids = [...names.keys()].sort((a, b) => (order.get(a) ?? a) - (order.get(b) ?? b));
  for (const t of tids) rowOf(names.get(t)!);
  const begins = new Map<string, TraceEvent>();
  for (const e of timed) {
    if (e.ph === "X" && (e.dur ?? 0) > 0 && e.cat !== "flow") {
      const colour = e.name === "wfi" ? "wfi" : e.cat ?? "";
      rowOf(names.get(e.tid!) ?? `tid ${e.tid}`).push([e.ts!, e.ts! + e.dur!, colour]);
    } else if (
      (e.ph === "i" || e.ph === "X") && e.cat !== "flow" && e.cat !== "milestone" &&
      e.cat !== "message"
    ) {
      // Instants (a notify, a claim, a timer event) as ticks: a tick's width is set when drawn.
      rowOf(names.get(e.tid!) ?? `tid ${e.tid}`).push([e.ts!, e.ts!, e.cat ?? ""]);
    } else if (e.ph === "b" && e.cat === "request") begins.set(String(e.id), e);
    else if (e.ph === "e" && e.cat === "request") {
      const b = begins.get(String(e.id));
      if (b) {
        rowOf(`${names.get(b.tid!) ?? `tid ${b.tid}`} requests`).push([
          b.ts!,
          e.ts!,
          "request",
        ]);
      }
    }
  }
  const parts: string[] = [];
  let y = TOP;
  for (const [name, bars] of rows) {
    parts.push(`<text x="4" y="${y + 15}" font-size="11">${esc(name)}</text>`);
    parts.push(`<line x1="${LEFT}" y1="${y + ROW}" x2="${W - 10}" y2="${y + ROW}" stroke="#eee"/>`);
    // Merge bars of one colour closer than half a pixel.
    const byCat = new Map<string, Bar[]>();
    for (const b of bars) byCat.set(b[2], [...(byCat.get(b[2]) ?? []), b]);
    for (const [cat, list] of byCat) {
      list.sort((a, b) => a[0] - b[0]);
      let cur: [number, number] | null = null;
      const flush = () => {
        if (!cur) return;
        const w = Math.max(0.5, cur[1] - cur[0]);
        parts.push(
          `<rect x="${cur[0].toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${
            ROW - 6
          }" fill="${COLORS[cat] ?? "#999"}"/>`,
        );
      };
      for (const [a, b] of list) {
        const xa = x(a), xb = x(b);
        if (cur && xa - cur[1] < 0.5) cur[1] = Math.max(cur[1], xb);
        else {
          flush();
          cur = [xa, xb];
        }
      }
      flush();
    }
    y += ROW;
  }
  // Milestones across every row, and a time axis.
  // The actors' own marks (the launcher's "seen" copies would overprint them).
  const marks = timed.filter((e) =>
    e.cat === "milestone" && e.ph === "i" && !e.name.startsWith("seen ")
  );
  for (const [i, e] of marks.entries()) {
    const mx = x(e.ts!).toFixed(1);
    const ly = TOP - 6 - (i % 2) * 12;
    parts.push(
      `<line x1="${mx}" y1="${
        TOP - 4
      }" x2="${mx}" y2="${y}" stroke="#d62728" stroke-dasharray="3,2"/>`,
    );
    parts.push(`<text x="${mx}" y="${ly}" font-size="9" fill="#d62728">${esc(e.name)}</text>`);
  }
  const spanMs = (t1 - t0) / 1000;
  const step =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => spanMs / s <= 12) ?? 10000;
  for (let t = 0; t <= spanMs; t += step) {
    const tx = x(t0 + t * 1000).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${y}" x2="${tx}" y2="${y + 4}" stroke="#333"/>`);
    parts.push(`<text x="${tx}" y="${y + 15}" font-size="10" text-anchor="middle">${t} ms</text>`);
  }
  const legend = Object.entries(COLORS).map(([k, c], i) =>
    `<rect x="${LEFT + i * 88}" y="${y + 24}" width="10" height="10" fill="${c}"/>` +
    `<text x="${LEFT + i * 88 + 14}" y="${y + 33}" font-size="10">${k}</text>`
  );
  const H = y + 44;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n` +
    `<text x="4" y="14" font-size="13" font-weight="bold">${esc(title)}</text>\n` +
    parts.join("\n") + "\n" + legend.join("\n") + "\n</svg>\n";
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { svg: { type: "string" }, json: { type: "boolean" }, title: { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error(
      "usage: deno run -A scripts/trace-summary.ts <trace.json> [--svg out.svg] [--json]",
    );
    Deno.exit(2);
  }
  let events: TraceEvent[];
  let clock: TraceClock | undefined;
  try {
    const doc = JSON.parse(await Deno.readTextFile(positionals[0]));
    events = Array.isArray(doc) ? doc : doc.traceEvents;
    const other = Array.isArray(doc) ? undefined : doc.otherData;
    if (
      typeof other?.originEpochMs === "number" && typeof other?.processStartEpochMs === "number"
    ) clock = other;
    if (!Array.isArray(events)) throw new Error("no traceEvents array");
  } catch (e) {
    console.error(`trace-summary: ${positionals[0]}: ${(e as Error).message}`);
    Deno.exit(1);
  }
  const s = summarize(events, clock);
  console.log(values.json ? JSON.stringify(s, null, 2) : formatSummary(s));
  if (values.svg) {
    await Deno.writeTextFile(values.svg, renderSvg(events, values.title));
    if (!values.json) console.log(`\ntimeline: ${values.svg}`);
  }
}
