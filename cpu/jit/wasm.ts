// A small WebAssembly binary encoder: just what the translator (cpu/jit/)
// emits — one module that imports a shared memory and a few host functions and
// exports functions built from i32/i64/f64 instructions and structured control
// flow. `Code` is a growable byte buffer with LEB128 helpers; `buildModule`
// wraps finished function bodies into the module's sections.
// Read next: cpu/jit/frontend.ts.

/** Opcodes the translator uses (names as in the spec's text format). */
export const W = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  /** Tail calls (the tail-call proposal, in V8 since 11.2): direct, and through a table. */
  return_call: 0x12,
  return_call_indirect: 0x13,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  global_get: 0x23,
  local_set: 0x21,
  local_tee: 0x22,
  i32_load: 0x28,
  i64_load: 0x29,
  f64_load: 0x2b,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i32_store8: 0x3a,
  i64_store: 0x37,
  f64_store: 0x39,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_u: 0x56,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  f64_ne: 0x62,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_trunc_f64_s: 0xaa,
  i64_trunc_f64_s: 0xb0,
  f64_convert_i64_s: 0xb9,
  i32_xor: 0x73,
  i32_lt_u: 0x49,
  i32_ge_u: 0x4f,
  i64_le_u: 0x58,
  f32_load: 0x2a,
  f32_store: 0x38,
  f64_const: 0x44,
  f64_eq: 0x61,
  f64_lt: 0x63,
  f64_gt: 0x64,
  f64_le: 0x65,
  f64_ge: 0x66,
  f64_abs: 0x99,
  f64_neg: 0x9a,
  f64_ceil: 0x9b,
  f64_floor: 0x9c,
  f64_trunc: 0x9d,
  f64_nearest: 0x9e,
  f64_sqrt: 0x9f,
  f64_add: 0xa0,
  f64_sub: 0xa1,
  f64_mul: 0xa2,
  f64_div: 0xa3,
  f64_convert_i32_s: 0xb7,
  f64_convert_i32_u: 0xb8,
  f32_demote_f64: 0xb6,
  f64_promote_f32: 0xbb,
  i32_reinterpret_f32: 0xbc,
  i64_reinterpret_f64: 0xbd,
  f32_reinterpret_i32: 0xbe,
  f64_reinterpret_i64: 0xbf,
  /** Prefix of the threads proposal's atomic instructions (then a u32 sub-opcode). */
  atomic: 0xfe,
} as const;

/** Sub-opcodes after W.atomic. */
export const A = {
  i32_load: 0x10,
  i64_load: 0x11,
  i32_store: 0x17,
  i64_store: 0x18,
  i32_add: 0x1e,
  i64_add: 0x1f,
  i32_and: 0x2c,
  i64_and: 0x2d,
  i32_or: 0x33,
  i64_or: 0x34,
  i32_xor: 0x3a,
  i64_xor: 0x3b,
  i32_xchg: 0x41,
  i64_xchg: 0x42,
  i32_cmpxchg: 0x48,
  i64_cmpxchg: 0x49,
} as const;

export const I32 = 0x7f, I64 = 0x7e, F64 = 0x7c, VOID = 0x40;

/** f64 constants' bytes, without an allocation per constant. */
const F64_SCRATCH = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64_SCRATCH.buffer);

/**
 * A growable byte buffer with the encodings wasm needs. The translator emits
 * ~100 KB per page through it, so every method makes room once and then
 * writes straight into the array (a check per byte was a quarter of the
 * emitter's time).
 */
export class Code {
  buf: Uint8Array<ArrayBuffer> = new Uint8Array(1024);
  len = 0;

  /** Make room for `n` more bytes. */
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  byte(b: number): this {
    if (this.len === this.buf.length) this.room(1);
    this.buf[this.len++] = b;
    return this;
  }

  bytes(b: ArrayLike<number>): this {
    this.room(b.length);
    const buf = this.buf;
    let len = this.len;
    for (let i = 0; i < b.length; i++) buf[len++] = b[i];
    this.len = len;
    return this;
  }

  /** Unsigned LEB128, written where len is (room made by the caller). */
  private leb(v: number): void {
    const buf = this.buf;
    let len = this.len;
    while (v >= 0x80) {
      buf[len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[len++] = v;
    this.len = len;
  }

  u32(v: number): this {
    this.room(5);
    this.leb(v >>> 0);
    return this;
  }

  /** Signed LEB128 of a safe integer (i32 or an i64 within ±2^53). */
  s64(v: number): this {
    this.room(10);
    const buf = this.buf;
    let len = this.len;
    if (v === (v | 0)) { // int32: shifts instead of divisions
      for (;;) {
        const b = v & 0x7f;
        v >>= 7;
        if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
          buf[len++] = b;
          this.len = len;
          return this;
        }
        buf[len++] = b | 0x80;
      }
    }
    for (;;) {
      const b = v & 0x7f; // two's complement low bits, also for negatives
      v = Math.floor(v / 128);
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        buf[len++] = b;
        this.len = len;
        return this;
      }
      buf[len++] = b | 0x80;
    }
  }

  /** Signed LEB128 of any 64-bit value. */
  sBig(v: bigint): this {
    v = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  op(o: number): this {
    return this.byte(o);
  }
  i32(v: number): this {
    this.room(1);
    this.buf[this.len++] = W.i32_const;
    return this.s64(v | 0);
  }
  i64(v: number): this {
    this.room(1);
    this.buf[this.len++] = W.i64_const;
    return this.s64(v);
  }
  f64(v: number): this {
    this.room(9);
    this.buf[this.len++] = W.f64_const;
    F64_SCRATCH[0] = v;
    this.buf.set(F64_BYTES, this.len);
    this.len += 8;
    return this;
  }
  /** An atomic access (W.atomic prefix, sub-opcode from A), naturally aligned. */
  atomic(sub: number, align: number, offset: number): this {
    this.room(16);
    this.buf[this.len++] = W.atomic;
    this.leb(sub);
    this.leb(align);
    this.leb(offset >>> 0);
    return this;
  }
  /** A memory access: opcode, alignment (log2), offset. */
  mem(o: number, align: number, offset: number): this {
    this.room(11);
    this.buf[this.len++] = o;
    this.leb(align);
    this.leb(offset >>> 0);
    return this;
  }
  /** An opcode and one unsigned immediate (local.get, br, call…). */
  private opU(o: number, v: number): this {
    this.room(6);
    this.buf[this.len++] = o;
    this.leb(v);
    return this;
  }
  get(l: number): this {
    return this.opU(W.local_get, l);
  }
  set(l: number): this {
    return this.opU(W.local_set, l);
  }
  tee(l: number): this {
    return this.opU(W.local_tee, l);
  }

  /** Append a size-prefixed copy of another buffer (a section or a body). */
  sized(c: Code): this {
    this.u32(c.len);
    return this.append(c);
  }

  /** Append another buffer's bytes. */
  append(c: Code): this {
    this.room(c.len);
    this.buf.set(c.buf.subarray(0, c.len), this.len);
    this.len += c.len;
    return this;
  }

  bytesOut(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

export interface FuncType {
  params: number[];
  results: number[];
}

export interface ModuleSpec {
  types: FuncType[];
  /** Imported functions ("h", name) with their type index; they take the first function indices. */
  imports: { name: string; type: number }[];
  /** Imported immutable i32 globals ("h", name), global indices 0, 1, …. */
  globals?: string[];
  /** The shared memory ("h", "mem") with its page count (initial = maximum). */
  memoryPages: number;
  /** If set, the function table ("h", "tab") of this many entries (initial = maximum), table 0. */
  tableSize?: number;
  /** Defined functions: type index, extra locals (type per local), body (without the final end). */
  funcs: { type: number; locals: number[]; body: Code; export?: string }[];
}

function str(c: Code, s: string): void {
  const b = new TextEncoder().encode(s);
  c.u32(b.length).bytes(b);
}

/** Encode a whole module. */
export function buildModule(m: ModuleSpec): Uint8Array<ArrayBuffer> {
  const out = new Code();
  out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, body: Code) => out.byte(id).sized(body);

  const types = new Code().u32(m.types.length);
  for (const t of m.types) {
    types.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
  }
  section(1, types);

  const globals = m.globals ?? [];
  const imps = new Code().u32(
    m.imports.length + globals.length + 1 + (m.tableSize === undefined ? 0 : 1),
  );
  for (const i of m.imports) {
    str(imps, "h");
    str(imps, i.name);
    imps.byte(0x00).u32(i.type);
  }
  for (const g of globals) {
    str(imps, "h");
    str(imps, g);
    imps.byte(0x03).byte(0x7f).byte(0x00); // i32, immutable
  }
  str(imps, "h");
  str(imps, "mem");
  imps.byte(0x02).byte(0x03).u32(m.memoryPages).u32(m.memoryPages); // shared, min = max
  if (m.tableSize !== undefined) {
    str(imps, "h");
    str(imps, "tab");
    imps.byte(0x01).byte(0x70).byte(0x01).u32(m.tableSize).u32(m.tableSize); // funcref, min = max
  }
  section(2, imps);

  const fns = new Code().u32(m.funcs.length);
  for (const f of m.funcs) fns.u32(f.type);
  section(3, fns);

  const exported = m.funcs.map((f, i) => [f.export, i] as const).filter(([e]) => e !== undefined);
  const exps = new Code().u32(exported.length);
  for (const [name, i] of exported) {
    str(exps, name!);
    exps.byte(0x00).u32(m.imports.length + i);
  }
  section(7, exps);

  const code = new Code().u32(m.funcs.length);
  for (const f of m.funcs) {
    const body = new Code();
    // Locals as runs of one type.
    const runs: [number, number][] = [];
    for (const t of f.locals) {
      if (runs.length > 0 && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
      else runs.push([1, t]);
    }
    body.u32(runs.length);
    for (const [n, t] of runs) body.u32(n).byte(t);
    body.append(f.body);
    body.byte(W.end);
    code.sized(body);
  }
  section(10, code);
  return out.bytesOut();
}
