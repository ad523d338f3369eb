// The machine snapshot file's layout: one module for its bytes, as
// machine/control.ts is for the control block. A fixed preamble (magic,
// format version, the header's length and SHA-256), a JSON header (what the
// machine was, the hart, each actor's state, and a table of sections), then
// the sections' bytes, each with its own length and SHA-256. Guest RAM is a
// section of 4 KiB page records with zero pages left out, gzip-compressed
// with the platform's CompressionStream. Reading checks the magic, the
// version, every length against the file's size and every checksum before
// it returns anything, so a corrupt, truncated or foreign file is refused
// before a machine starts. What goes in the header and how it is restored:
// launcher/snapshot.ts; the format in words: docs/snapshot.md.
// Read next: launcher/snapshot.ts.

/** "AVMSNAP\0". */
export const SNAPSHOT_MAGIC = new Uint8Array([0x41, 0x56, 0x4d, 0x53, 0x4e, 0x41, 0x50, 0x00]);
/** Bumped whenever the preamble, the header's meaning or a section's encoding changes. */
export const SNAPSHOT_VERSION = 1;
/** Bytes before the header: magic 8, version 4, header length 4, header SHA-256 32. */
export const PREAMBLE_BYTES = 48;
/** The largest header accepted (it is JSON: the hart, configs, the section table). */
const MAX_HEADER_BYTES = 16 * 2 ** 20;
export const PAGE_BYTES = 4096;

/** One section's place in the file (offset from the end of the header) and its checksum. */
export interface SectionEntry {
  name: string;
  offset: number;
  length: number;
  sha256: string;
  /** "raw" bytes, or "gzip" (decompressed with DecompressionStream). */
  encoding: "raw" | "gzip";
}

/** What a snapshot file holds, as read back: the header and each section's (decoded) bytes. */
export interface SnapshotFile<H> {
  header: H;
  sections: Map<string, Uint8Array>;
}

/** A snapshot file that cannot be used, with the reason in words. */
export class SnapshotFormatError extends Error {
  override name = "SnapshotFormatError";
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** gzip `chunks` with the platform's CompressionStream. */
export async function gzip(chunks: Iterable<Uint8Array>): Promise<Uint8Array> {
  const cs = new CompressionStream("gzip");
  const out = new Response(cs.readable).bytes();
  const w = cs.writable.getWriter();
  for (const c of chunks) {
    // In pieces of at most 1 MiB: the stream compresses while we hand it more.
    for (let at = 0; at < c.length; at += 2 ** 20) {
      await w.write(c.subarray(at, at + 2 ** 20) as Uint8Array<ArrayBuffer>);
    }
  }
  await w.close();
  return await out;
}

async function gunzip(bytes: Uint8Array, limit: number, what: string): Promise<Uint8Array> {
  const ds = new DecompressionStream("gzip");
  const w = ds.writable.getWriter();
  void w.write(bytes as Uint8Array<ArrayBuffer>).then(() => w.close()).catch(() => {});
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const p of ds.readable) {
      total += p.length;
      // A decompression bomb (or a lie) stops here, not after filling memory.
      if (total > limit) throw new SnapshotFormatError(`${what}: decompresses past ${limit} bytes`);
      parts.push(p);
    }
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw e;
    throw new SnapshotFormatError(`${what}: not valid gzip (${(e as Error).message})`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A section to write: its bytes, compressed or not. */
export interface SectionInput {
  name: string;
  bytes: Uint8Array;
  encoding: "raw" | "gzip";
}

/**
 * The whole file's bytes: `header` (JSON-able; `sections` is filled in here)
 * and the sections, each checksummed as stored. Sections marked "gzip" must
 * already be compressed (gzip()).
 */
export async function encodeSnapshot<H extends object>(
  header: H,
  sections: SectionInput[],
): Promise<Uint8Array[]> {
  const table: SectionEntry[] = [];
  let offset = 0;
  for (const s of sections) {
    table.push({
      name: s.name,
      offset,
      length: s.bytes.length,
      sha256: await sha256(s.bytes),
      encoding: s.encoding,
    });
    offset += s.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify({ ...header, sections: table }));
  const pre = new Uint8Array(PREAMBLE_BYTES);
  pre.set(SNAPSHOT_MAGIC, 0);
  const dv = new DataView(pre.buffer);
  dv.setUint32(8, SNAPSHOT_VERSION, true);
  dv.setUint32(12, json.length, true);
  const h = await crypto.subtle.digest("SHA-256", json);
  pre.set(new Uint8Array(h), 16);
  return [pre, json, ...sections.map((s) => s.bytes)];
}

/**
 * Check and read a snapshot file's bytes. `limits` bounds what a gzip
 * section may decompress to (by name; default 64 MiB). Throws
 * SnapshotFormatError naming what is wrong.
 */
export async function decodeSnapshot<H>(
  file: Uint8Array,
  limits: (name: string) => number = () => 64 * 2 ** 20,
): Promise<SnapshotFile<H>> {
  if (file.length < PREAMBLE_BYTES) {
    throw new SnapshotFormatError(`truncated: ${file.length} bytes, not even a preamble`);
  }
  if (!SNAPSHOT_MAGIC.every((b, i) => file[i] === b)) {
    throw new SnapshotFormatError("not an actorvm snapshot (bad magic)");
  }
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(
      `format version ${version}; this actorvm reads version ${SNAPSHOT_VERSION}`,
    );
  }
  const hlen = dv.getUint32(12, true);
  if (hlen > MAX_HEADER_BYTES) throw new SnapshotFormatError(`header of ${hlen} bytes: too big`);
  if (PREAMBLE_BYTES + hlen > file.length) {
    throw new SnapshotFormatError(`truncated: the header needs ${hlen} bytes`);
  }
  const json = file.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + hlen);
  const want = Array.from(file.subarray(16, 48), (b) => b.toString(16).padStart(2, "0")).join("");
  if (await sha256(json) !== want) throw new SnapshotFormatError("header checksum mismatch");
  let header: H & { sections?: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(json));
  } catch {
    throw new SnapshotFormatError("header is not JSON");
  }
  const table = header?.sections;
  if (!Array.isArray(table)) throw new SnapshotFormatError("header has no section table");
  const body = PREAMBLE_BYTES + hlen;
  const sections = new Map<string, Uint8Array>();
  let end = 0;
  for (const e of table as SectionEntry[]) {
    const ok = typeof e?.name === "string" && Number.isSafeInteger(e.offset) && e.offset >= 0 &&
      Number.isSafeInteger(e.length) && e.length >= 0 && typeof e.sha256 === "string" &&
      (e.encoding === "raw" || e.encoding === "gzip");
    if (!ok) throw new SnapshotFormatError("malformed section table");
    if (body + e.offset + e.length > file.length) {
      throw new SnapshotFormatError(
        `truncated: section ${e.name} needs ${e.length} bytes at ${body + e.offset}, ` +
          `the file has ${file.length}`,
      );
    }
    const bytes = file.subarray(body + e.offset, body + e.offset + e.length);
    if (await sha256(bytes) !== e.sha256) {
      throw new SnapshotFormatError(`section ${e.name}: checksum mismatch (the file is corrupt)`);
    }
    sections.set(
      e.name,
      e.encoding === "gzip" ? await gunzip(bytes, limits(e.name), `section ${e.name}`) : bytes,
    );
    end = Math.max(end, e.offset + e.length);
  }
  if (body + end !== file.length) {
    throw new SnapshotFormatError(`${file.length - body - end} stray bytes after the last section`);
  }
  return { header: header as H, sections };
}

/** RAM as page records (one buffer): a u32 page index, then the page; zero pages left out. */
export function ramPages(ram: Uint8Array): Uint8Array {
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.byteLength / 4);
  const pages = ram.byteLength / PAGE_BYTES;
  const used: number[] = [];
  for (let p = 0; p < pages; p++) {
    const from = p * (PAGE_BYTES / 4);
    for (let i = from; i < from + PAGE_BYTES / 4; i++) {
      if (words[i] !== 0) {
        used.push(p);
        break;
      }
    }
  }
  const rec = 4 + PAGE_BYTES;
  const out = new Uint8Array(used.length * rec);
  const dv = new DataView(out.buffer);
  used.forEach((p, k) => {
    dv.setUint32(k * rec, p, true);
    out.set(ram.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES), k * rec + 4);
  });
  return out;
}

/**
 * Put page records back into `ram`, zeroed first unless `fresh` (RAM nobody
 * wrote yet: zeroing it would only make the host back every page). Throws on
 * a record out of place.
 */
export function loadRamPages(records: Uint8Array, ram: Uint8Array, fresh = false): number {
  const rec = 4 + PAGE_BYTES;
  if (records.length % rec !== 0) {
    throw new SnapshotFormatError(`RAM section: ${records.length} bytes, not whole page records`);
  }
  const pages = ram.byteLength / PAGE_BYTES;
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  if (!fresh) ram.fill(0);
  let n = 0;
  for (let at = 0; at < records.length; at += rec) {
    const p = dv.getUint32(at, true);
    if (p >= pages) throw new SnapshotFormatError(`RAM section: page ${p} past ${pages} pages`);
    ram.set(records.subarray(at + 4, at + rec), p * PAGE_BYTES);
    n++;
  }
  return n;
}
