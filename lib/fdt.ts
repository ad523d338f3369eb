// The flattened device tree codec (DTB, version 17): a small writer (nodes,
// properties, phandles, the strings and memory reservation blocks) and a
// reader that parses a blob back (for tests and tools). It knows nothing of
// our machine: launcher/devicetree.ts builds the machine's tree with it.
// Read next: docs/machine.md (what our tree holds; launcher/devicetree.ts builds it).

/** The blob's header constants (Devicetree Specification v0.4, chapter 5). */
export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
export const FDT_HEADER_BYTES = 40;
/** Structure-block tokens. */
export const FDT_BEGIN_NODE = 1;
export const FDT_END_NODE = 2;
export const FDT_PROP = 3;
export const FDT_NOP = 4;
export const FDT_END = 9;

const utf8 = new TextEncoder();

/** One node of the tree being written; properties and children keep their order. */
export class FdtNode {
  readonly props: { name: string; value: Uint8Array }[] = [];
  readonly children: FdtNode[] = [];

  constructor(readonly tree: FdtWriter, readonly name: string) {
    if (name.includes("/") || name.includes("\0")) {
      throw new Error(`fdt: bad node name "${name}"`);
    }
  }

  /** Add a child node and return it. */
  child(name: string): FdtNode {
    if (this.children.some((c) => c.name === name)) {
      throw new Error(`fdt: node "${name}" added twice`);
    }
    const n = new FdtNode(this.tree, name);
    this.children.push(n);
    return n;
  }

  /** Raw bytes; every other setter ends here. Setting a property twice replaces it. */
  bytes(name: string, value: Uint8Array): this {
    if (name.length === 0 || name.length > 31 || name.includes("\0")) {
      throw new Error(`fdt: bad property name "${name}"`);
    }
    const old = this.props.findIndex((p) => p.name === name);
    if (old >= 0) this.props[old] = { name, value };
    else this.props.push({ name, value });
    return this;
  }

  /** An empty property (a flag such as `interrupt-controller`). */
  empty(name: string): this {
    return this.bytes(name, new Uint8Array(0));
  }

  /** One or more big-endian 32-bit cells. */
  u32(name: string, ...cells: number[]): this {
    const b = new Uint8Array(cells.length * 4);
    const v = new DataView(b.buffer);
    cells.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c > 0xffff_ffff) {
        throw new Error(`fdt: ${name}: cell ${c} is not a u32`);
      }
      v.setUint32(i * 4, c);
    });
    return this.bytes(name, b);
  }

  /** One or more 64-bit values, each as two cells (high first). */
  u64(name: string, ...values: (number | bigint)[]): this {
    const b = new Uint8Array(values.length * 8);
    const v = new DataView(b.buffer);
    values.forEach((x, i) => {
      const big = BigInt(x);
      if (big < 0n || big > 0xffff_ffff_ffff_ffffn) throw new Error(`fdt: ${name}: ${x} not a u64`);
      v.setBigUint64(i * 8, big);
    });
    return this.bytes(name, b);
  }

  /** A NUL-terminated string. */
  string(name: string, s: string): this {
    return this.strings(name, s);
  }

  /** A string list: each string NUL-terminated, back to back. */
  strings(name: string, ...list: string[]): this {
    const parts = list.map((s) => {
      if (s.includes("\0")) throw new Error(`fdt: ${name}: string contains NUL`);
      return utf8.encode(s + "\0");
    });
    const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      b.set(p, o);
      o += p.length;
    }
    return this.bytes(name, b);
  }

  /** Give this node a phandle (once) and return it, for references from other nodes. */
  phandle(): number {
    const have = this.props.find((p) => p.name === "phandle");
    if (have) return new DataView(have.value.buffer).getUint32(0);
    const h = this.tree.allocPhandle();
    this.u32("phandle", h);
    return h;
  }
}

/** A device tree under construction; `toBytes()` serialises it as a v17 blob. */
export class FdtWriter {
  readonly root: FdtNode;
  readonly reservations: { address: bigint; size: bigint }[] = [];
  bootCpuId = 0;
  #nextPhandle = 1;

  constructor() {
    this.root = new FdtNode(this, "");
  }

  allocPhandle(): number {
    return this.#nextPhandle++;
  }

  /** A memory reservation block entry (physical range the OS must not use). */
  reserve(address: number | bigint, size: number | bigint): void {
    this.reservations.push({ address: BigInt(address), size: BigInt(size) });
  }

  /**
   * Serialise. `padBytes` of free space is left at the end of the blob (counted
   * in totalsize), room for a later writer such as a bootloader to grow it.
   */
  toBytes(padBytes = 0): Uint8Array {
    // Strings block: each property name once, in first-use order.
    const strOff = new Map<string, number>();
    const strParts: Uint8Array[] = [];
    let strLen = 0;
    const nameOff = (n: string): number => {
      let o = strOff.get(n);
      if (o === undefined) {
        o = strLen;
        strOff.set(n, o);
        const b = utf8.encode(n + "\0");
        strParts.push(b);
        strLen += b.length;
      }
      return o;
    };

    // Structure block, built as a list of chunks.
    const chunks: Uint8Array[] = [];
    let structLen = 0;
    const word = (w: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, w);
      chunks.push(b);
      structLen += 4;
    };
    const padded = (data: Uint8Array) => {
      const len = (data.length + 3) & ~3;
      const b = new Uint8Array(len);
      b.set(data);
      chunks.push(b);
      structLen += len;
    };
    const emit = (node: FdtNode) => {
      word(FDT_BEGIN_NODE);
      padded(utf8.encode(node.name + "\0"));
      for (const p of node.props) {
        word(FDT_PROP);
        word(p.value.length);
        word(nameOff(p.name));
        padded(p.value);
      }
      for (const c of node.children) emit(c);
      word(FDT_END_NODE);
    };
    emit(this.root);
    word(FDT_END);

    const rsvOff = FDT_HEADER_BYTES; // already 8-aligned
    const rsvLen = (this.reservations.length + 1) * 16;
    const structOff = rsvOff + rsvLen;
    const stringsOff = structOff + structLen;
    const total = stringsOff + strLen + padBytes;
    const out = new Uint8Array((total + 7) & ~7);
    const v = new DataView(out.buffer);
    v.setUint32(0, FDT_MAGIC);
    v.setUint32(4, out.length);
    v.setUint32(8, structOff);
    v.setUint32(12, stringsOff);
    v.setUint32(16, rsvOff);
    v.setUint32(20, FDT_VERSION);
    v.setUint32(24, FDT_LAST_COMP_VERSION);
    v.setUint32(28, this.bootCpuId);
    v.setUint32(32, strLen);
    v.setUint32(36, structLen);
    this.reservations.forEach((r, i) => {
      v.setBigUint64(rsvOff + i * 16, r.address);
      v.setBigUint64(rsvOff + i * 16 + 8, r.size);
    });
    let o = structOff;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    for (const s of strParts) {
      out.set(s, o);
      o += s.length;
    }
    return out;
  }
}

/** A node read back from a blob by `parseFdt`. */
export interface ParsedFdtNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: ParsedFdtNode[];
}

/**
 * Read a blob back (tests, `--verbose` dumps). Strict: a bad magic, version,
 * offset or token is an error naming what is wrong.
 */
export function parseFdt(blob: Uint8Array): {
  root: ParsedFdtNode;
  reservations: { address: bigint; size: bigint }[];
  bootCpuId: number;
} {
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.length < FDT_HEADER_BYTES || v.getUint32(0) !== FDT_MAGIC) {
    throw new Error("fdt: no FDT magic");
  }
  const total = v.getUint32(4);
  const structOff = v.getUint32(8);
  const stringsOff = v.getUint32(12);
  const rsvOff = v.getUint32(16);
  if (total > blob.length) throw new Error(`fdt: totalsize ${total} > ${blob.length} bytes`);
  if (v.getUint32(24) > FDT_VERSION) throw new Error(`fdt: last_comp_version ${v.getUint32(24)}`);
  const stringsLen = v.getUint32(32);
  const structLen = v.getUint32(36);
  if (structOff + structLen > total || stringsOff + stringsLen > total) {
    throw new Error("fdt: blocks run past totalsize");
  }
  const reservations = [];
  for (let o = rsvOff;; o += 16) {
    if (o + 16 > total) throw new Error("fdt: unterminated memory reservation block");
    const address = v.getBigUint64(o), size = v.getBigUint64(o + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }
  const dec = new TextDecoder();
  const cstr = (o: number, limit: number): string => {
    const end = blob.indexOf(0, o);
    if (end < 0 || end >= limit) throw new Error(`fdt: unterminated string at ${o}`);
    return dec.decode(blob.subarray(o, end));
  };
  let p = structOff;
  const end = structOff + structLen;
  const tok = () => {
    if (p + 4 > end) throw new Error("fdt: structure block ends early");
    const t = v.getUint32(p);
    p += 4;
    return t;
  };
  const stack: ParsedFdtNode[] = [];
  let root: ParsedFdtNode | null = null;
  for (;;) {
    const t = tok();
    if (t === FDT_BEGIN_NODE) {
      const name = cstr(p, end);
      p += (utf8.encode(name).length + 1 + 3) & ~3;
      const n: ParsedFdtNode = { name, props: new Map(), children: [] };
      if (stack.length) stack[stack.length - 1].children.push(n);
      else if (root) throw new Error("fdt: two root nodes");
      else root = n;
      stack.push(n);
    } else if (t === FDT_PROP) {
      const len = tok(), nameoff = tok();
      if (!stack.length) throw new Error("fdt: property outside a node");
      if (p + len > end) throw new Error("fdt: property runs past the structure block");
      if (nameoff >= stringsLen) throw new Error(`fdt: name offset ${nameoff} out of range`);
      const name = cstr(stringsOff + nameoff, stringsOff + stringsLen);
      stack[stack.length - 1].props.set(name, blob.slice(p, p + len));
      p += (len + 3) & ~3;
    } else if (t === FDT_END_NODE) {
      if (!stack.pop()) throw new Error("fdt: unbalanced END_NODE");
    } else if (t === FDT_NOP) {
      continue;
    } else if (t === FDT_END) {
      if (stack.length || !root) throw new Error("fdt: END inside a node");
      break;
    } else {
      throw new Error(`fdt: bad token ${t} at ${p - 4}`);
    }
  }
  return { root: root!, reservations, bootCpuId: v.getUint32(28) };
}
