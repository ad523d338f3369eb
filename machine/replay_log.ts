// The record/replay log (--record, --replay): one JSON object a line. The first
// line is the header (what the run was made of: kernel, initrd, disks, fault
// plan, seed, so a replay on other inputs is refused before it starts); every
// other line is an event at an instruction count. Two kinds of event: "in"
// and "net" carry data from outside the machine (typed bytes, a received
// frame; base64) that replay delivers at its count; the others are checks — what the guest did at a
// count (a queue notify, a wfi and how far guest time skipped, the fate) —
// that replay compares with what it sees, stopping at the first difference.
// Disk reads are not logged: given the disk, they are determined. The
// design: docs/replay.md; the ADR: docs/adr/0013-replay.md.
// Read next: actors/cpu/deterministic.ts (the cpu's side that writes and reads it).

/** The log's format version (the header's `v`). */
export const REPLAY_LOG_VERSION = 1;

/** Instructions per timebase tick in deterministic mode: 10 ns each at the 10 MHz timebase. */
export const INSTRUCTIONS_PER_TICK = 10;

/** The first line: what the recorded run was made of. */
export interface ReplayHeader {
  k: "actorvm-replay";
  v: number;
  /** SHA-256 (hex) of the kernel, the initrd (or ""), each disk at the start, the fault plan (or ""). */
  kernel: string;
  initrd: string;
  disks: string[];
  faults: string;
  /** The seed (--seed; 0 without one): the device tree's rng-seed and the fault plan's choices. */
  seed: number;
  memMb: number;
  cmdline: string;
  /**
   * Whether the translator ran (--jit): both tiers are deterministic, but
   * they take a pending interrupt at different instructions, so a replay
   * runs on the tier that recorded.
   */
  jit: boolean;
  /** --mmu (absent in logs older than Sv57: sv48). */
  mmu?: "sv39" | "sv48" | "sv57";
  /** Each network's MAC address, in slot order (the guest sees it; a replay needs the same). */
  macs: string[];
  /**
   * The snapshot the run started from (--restore; SHA-256 of its file), or
   * absent for a boot from reset. A replay gives the same file, or is refused.
   */
  snapshot?: string;
}

/**
 * Data from outside, delivered at `at` (base64 in `b`): "in", bytes typed
 * into the console; "net", one frame received for the network in virtio slot `s`.
 */
export interface InputEvent {
  k: "in" | "net";
  at: number;
  b: string;
  s?: number;
}

/** The guest notified queue `q` of virtio slot `s` in the batch that started at `at`. */
export interface NotifyEvent {
  k: "io";
  at: number;
  s: number;
  q: number;
}

/** The hart waited in wfi at `at`; guest time went on to `to` (an instruction count). */
export interface WfiEvent {
  k: "wfi";
  at: number;
  to: number;
}

/** The run ended at `at` with `fate` (a FATE value). */
export interface EndEvent {
  k: "end";
  at: number;
  fate: number;
  reason: string;
}

export type CheckEvent = NotifyEvent | WfiEvent | EndEvent;
export type ReplayEvent = InputEvent | CheckEvent;

/** A log that cannot be used: the message names the line and what is wrong with it. */
export class ReplayLogError extends Error {}

/** A log read back: the header, the inputs and the checks, each in order, with their line numbers. */
export interface ReplayLog {
  header: ReplayHeader;
  inputs: { ev: InputEvent; line: number; bytes: Uint8Array }[];
  checks: { ev: CheckEvent; line: number }[];
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Parse a log's text; every mistake is a ReplayLogError naming its line. */
export function parseReplayLog(text: string, what = "the log"): ReplayLog {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const bad = (line: number, why: string) => new ReplayLogError(`${what}, line ${line}: ${why}`);
  const obj = (i: number): Record<string, unknown> => {
    try {
      const v = JSON.parse(lines[i]);
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      return v;
    } catch (e) {
      throw bad(i + 1, `not a JSON object (${e instanceof Error ? e.message : e})`);
    }
  };
  if (lines.length === 0) throw new ReplayLogError(`${what} is empty`);
  const h = obj(0);
  if (h.k !== "actorvm-replay") {
    throw bad(1, `not an actorvm replay log (no "actorvm-replay" header)`);
  }
  if (h.v !== REPLAY_LOG_VERSION) {
    throw bad(1, `log format version ${h.v}, this actorvm reads version ${REPLAY_LOG_VERSION}`);
  }
  const log: ReplayLog = { header: h as unknown as ReplayHeader, inputs: [], checks: [] };
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const e = obj(i);
    const line = i + 1;
    if (!isCount(e.at)) throw bad(line, `"at" is not an instruction count`);
    if ((e.at as number) < last) {
      throw bad(line, `"at" ${e.at} goes back (the line before is at ${last})`);
    }
    last = e.at as number;
    switch (e.k) {
      case "in":
      case "net": {
        if (typeof e.b !== "string") throw bad(line, `input without "b" (base64 bytes)`);
        if (e.k === "net" && !isCount(e.s)) throw bad(line, `frame without its slot "s"`);
        let bytes: Uint8Array;
        try {
          bytes = Uint8Array.from(atob(e.b), (c) => c.charCodeAt(0));
        } catch {
          throw bad(line, `"b" is not base64`);
        }
        const max = e.k === "net" ? 1514 : 4096;
        if (bytes.length === 0 || bytes.length > max) {
          throw bad(
            line,
            `${e.k === "net" ? "a frame" : "input"} of ${bytes.length} bytes (1..${max})`,
          );
        }
        log.inputs.push({ ev: e as unknown as InputEvent, line, bytes });
        break;
      }
      case "io":
        if (!isCount(e.s) || !isCount(e.q)) {
          throw bad(line, `notify without slot "s" and queue "q"`);
        }
        log.checks.push({ ev: e as unknown as NotifyEvent, line });
        break;
      case "wfi":
        if (!isCount(e.to) || (e.to as number) < (e.at as number)) {
          throw bad(line, `wfi without "to" >= "at"`);
        }
        log.checks.push({ ev: e as unknown as WfiEvent, line });
        break;
      case "end":
        if (!isCount(e.fate)) throw bad(line, `end without "fate"`);
        log.checks.push({ ev: e as unknown as EndEvent, line });
        break;
      default:
        throw bad(line, `unknown event kind ${JSON.stringify(e.k)}`);
    }
  }
  return log;
}

/** A script for --deterministic: only input events, keyed on instruction count (a log's "in" lines). */
export function parseInputScript(text: string, what: string): ReplayLog["inputs"] {
  const withHeader = JSON.stringify({ k: "actorvm-replay", v: REPLAY_LOG_VERSION }) + "\n" + text;
  const log = parseReplayLog(withHeader, what);
  if (log.checks.length) {
    const c = log.checks[0];
    throw new ReplayLogError(`${what}, line ${c.line - 1}: a script holds only "in" events`);
  }
  return log.inputs.map((x) => ({ ...x, line: x.line - 1 }));
}

/** One event as a log line (no newline). */
export function formatEvent(e: ReplayEvent | ReplayHeader): string {
  return JSON.stringify(e);
}

/** Bytes as the base64 of an "in" event. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** An event in words, for a divergence message: `notify slot 0 queue 1 at 123`. */
export function describeEvent(e: ReplayEvent): string {
  switch (e.k) {
    case "in":
      return `input of ${atob(e.b).length} bytes at ${e.at}`;
    case "net":
      return `a frame of ${atob(e.b).length} bytes for slot ${e.s} at ${e.at}`;
    case "io":
      return `notify of slot ${e.s} queue ${e.q} in the batch from ${e.at}`;
    case "wfi":
      return `wfi at ${e.at} idle until ${e.to}`;
    case "end":
      return `the end at ${e.at} (fate ${e.fate}: ${e.reason})`;
  }
}

/** Whether two check events are the same. */
export function sameCheck(a: CheckEvent, b: CheckEvent): boolean {
  if (a.k !== b.k || a.at !== b.at) return false;
  if (a.k === "io" && b.k === "io") return a.s === b.s && a.q === b.q;
  if (a.k === "wfi" && b.k === "wfi") return a.to === b.to;
  if (a.k === "end" && b.k === "end") return a.fate === b.fate;
  return false;
}
