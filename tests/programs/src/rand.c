/* Randomised differential test: operands from a fixed-seed generator biased
 * toward the interesting parts of each format (near 1, huge, tiny and
 * subnormal exponents, mantissas with long runs of ones or zeros, specials
 * now and then, integers near the conversion limits; the addend of half the
 * fused multiply-adds nearly cancels the product), run through every F/D
 * arithmetic and conversion operation in all five static rounding modes and
 * through the M extension. To keep the expected output small it prints one
 * hash per operation per block of 250 iterations; `rand v` prints every
 * result instead, for chasing a mismatch against qemu-riscv64 by hand.
 * argv[1] = iterations (default 2000). Read next: bench_int.c. */
#include "lib/rt.h"

static u64 seed = 0x243f6a8885a308d3ull;
static u64 rnd(void) {
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return seed;
}

/* A double: sign, an exponent class, and a mantissa with structure. */
static u64 rnd_d(void) {
  u64 r = rnd(), s = r & (1ull << 63);
  u64 m = rnd();
  switch ((r >> 8) & 3) {
  case 0: m &= 0xfffffffffffffull; break;
  case 1: m = (m | 0xffffffff00000ull) & 0xfffffffffffffull; break;   /* runs of ones */
  case 2: m = m & 0xff0000000000full; break;                          /* runs of zeros */
  default: m = (m >> (r >> 58)) & 0xfffffffffffffull; break;
  }
  u64 e;
  switch ((r >> 12) & 15) {
  case 0: e = 0; break;                                   /* subnormal / zero */
  case 1: e = 1 + ((r >> 20) & 63); break;                /* tiny */
  case 2: e = 0x7fe - ((r >> 20) & 63); break;            /* huge */
  case 3: e = 0x7ff; break;                               /* inf / NaN */
  case 4: case 5: case 6: e = 0x3ff + ((r >> 20) & 3) - 1; break; /* near 1 */
  case 7: e = 0x3ff + 30 + ((r >> 20) & 3); break;        /* near 2^31 */
  case 8: e = 0x3ff + 62 + ((r >> 20) & 3); break;        /* near 2^63 */
  default: e = (r >> 20) & 0x7ff; break;
  }
  return s | (e << 52) | m;
}

static u64 rnd_s(void) {
  u64 r = rnd(), s = (r >> 31) & 1;
  u64 m = rnd();
  switch ((r >> 8) & 3) {
  case 0: m &= 0x7fffff; break;
  case 1: m = (m | 0x7ff800) & 0x7fffff; break;
  case 2: m &= 0x70000f; break;
  default: m = (m >> (r >> 59)) & 0x7fffff; break;
  }
  u64 e;
  switch ((r >> 12) & 15) {
  case 0: e = 0; break;
  case 1: e = 1 + ((r >> 20) & 15); break;
  case 2: e = 0xfe - ((r >> 20) & 15); break;
  case 3: e = 0xff; break;
  case 4: case 5: case 6: e = 0x7f + ((r >> 20) & 3) - 1; break;
  case 7: e = 0x7f + 30 + ((r >> 20) & 3); break;
  case 8: e = 0x7f + 62 + ((r >> 20) & 3); break;
  default: e = (r >> 20) & 0xff; break;
  }
  return (s << 31) | (e << 23) | m;
}

static u64 rnd_i(void) {
  u64 r = rnd();
  switch (r & 7) {
  case 0: return (u64)(i64)(i32)rnd();
  case 1: return 0x7fffffffffffffffull - (r >> 58);
  case 2: return 0x8000000000000000ull + (r >> 58);
  case 3: return rnd() >> (r >> 58);
  case 4: return (u64)(i64)(signed char)r;
  default: return rnd();
  }
}

static int verbose;
#define NOPS 64
static u64 hash[NOPS];
static const char *names[NOPS];

static void record(int k, const char *name, u64 v) {
  names[k] = name;
  if (verbose) {
    out_str(name);
    out_sp();
    out_h64(v);
    out_nl();
  }
  hash[k] = (hash[k] ^ v) * 0x100000001b3ull;
  hash[k] ^= hash[k] >> 29;
}

/* Result and flags of one FP operation in one static mode, folded together. */
#define FOP(K, NAME, TO, FROM, INSN, RM, A, B, C)                                              \
  {                                                                                      \
    u64 r, f;                                                                            \
    asm volatile("fsflags zero\n\t" TO " ft0,%2\n\t" TO " ft1,%3\n\t" TO " ft2,%4\n\t" INSN RM \
                 "\n\t" FROM " %0,ft3\n\tfrflags %1"                                        \
                 : "=&r"(r), "=&r"(f) : "r"(A), "r"(B), "r"(C) : "ft0", "ft1", "ft2", "ft3"); \
    record(K, NAME, r ^ (f << 56) ^ (f << 11));                                          \
  }
#define ALLRM(K, NAME, TO, FROM, INSN, A, B, C)      \
  FOP(K, NAME, TO, FROM, INSN, ",rne", A, B, C)      \
  FOP(K, NAME, TO, FROM, INSN, ",rtz", A, B, C)      \
  FOP(K, NAME, TO, FROM, INSN, ",rdn", A, B, C)      \
  FOP(K, NAME, TO, FROM, INSN, ",rup", A, B, C)      \
  FOP(K, NAME, TO, FROM, INSN, ",rmm", A, B, C)
/* Integer-result forms: the result register is an x register. */
#define XOP(K, NAME, TO, INSN, RM, A, B)                                                   \
  {                                                                                  \
    u64 r, f;                                                                        \
    asm volatile("fsflags zero\n\t" TO " ft0,%2\n\t" TO " ft1,%3\n\t" INSN RM "\n\tfrflags %1" \
                 : "=&r"(r), "=&r"(f) : "r"(A), "r"(B) : "ft0", "ft1");              \
    record(K, NAME, r ^ (f << 56) ^ (f << 11));                                      \
  }
#define XALLRM(K, NAME, TO, INSN, A)      \
  XOP(K, NAME, TO, INSN, ",rne", A, 0)   \
  XOP(K, NAME, TO, INSN, ",rtz", A, 0)   \
  XOP(K, NAME, TO, INSN, ",rdn", A, 0)   \
  XOP(K, NAME, TO, INSN, ",rup", A, 0)   \
  XOP(K, NAME, TO, INSN, ",rmm", A, 0)
/* From an integer register. */
#define IOP(K, NAME, FROM, INSN, RM, A)                                                  \
  {                                                                                \
    u64 r, f;                                                                      \
    asm volatile("fsflags zero\n\t" INSN RM "\n\t" FROM " %0,ft3\n\tfrflags %1"      \
                 : "=&r"(r), "=&r"(f) : "r"(A) : "ft3");                           \
    record(K, NAME, r ^ (f << 56) ^ (f << 11));                                    \
  }
#define IALLRM(K, NAME, FROM, INSN, A)     \
  IOP(K, NAME, FROM, INSN, ",rne", A)      \
  IOP(K, NAME, FROM, INSN, ",rtz", A)      \
  IOP(K, NAME, FROM, INSN, ",rdn", A)      \
  IOP(K, NAME, FROM, INSN, ",rup", A)      \
  IOP(K, NAME, FROM, INSN, ",rmm", A)
#define MOP(K, NAME, A, B)                                             \
  {                                                                    \
    u64 r;                                                             \
    asm volatile(NAME " %0,%1,%2" : "=r"(r) : "r"(A), "r"(B));         \
    record(K, NAME, r);                                                \
  }

static void one_d(void) {
  u64 a = rnd_d(), b = rnd_d(), c = rnd_d(), i = rnd_i();
  /* Half the time make c cancel a*b closely, where fused rounding matters. */
  if (rnd() & 1) {
    double x, y, p;
    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    p = -(x * y);
    memcpy(&c, &p, 8);
    c += (rnd() & 7) - 3;
  }
  if (verbose) {
    out_str("d ");
    out_h64(a); out_sp(); out_h64(b); out_sp(); out_h64(c); out_sp(); out_h64(i);
    out_nl();
  }
  ALLRM(0, "fadd.d", "fmv.d.x", "fmv.x.d", "fadd.d ft3,ft0,ft1", a, b, c)
  ALLRM(1, "fsub.d", "fmv.d.x", "fmv.x.d", "fsub.d ft3,ft0,ft1", a, b, c)
  ALLRM(2, "fmul.d", "fmv.d.x", "fmv.x.d", "fmul.d ft3,ft0,ft1", a, b, c)
  ALLRM(3, "fdiv.d", "fmv.d.x", "fmv.x.d", "fdiv.d ft3,ft0,ft1", a, b, c)
  ALLRM(4, "fsqrt.d", "fmv.d.x", "fmv.x.d", "fsqrt.d ft3,ft0", a, b, c)
  ALLRM(5, "fmadd.d", "fmv.d.x", "fmv.x.d", "fmadd.d ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(6, "fmsub.d", "fmv.d.x", "fmv.x.d", "fmsub.d ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(7, "fnmsub.d", "fmv.d.x", "fmv.x.d", "fnmsub.d ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(8, "fnmadd.d", "fmv.d.x", "fmv.x.d", "fnmadd.d ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(9, "fcvt.s.d", "fmv.d.x", "fmv.x.d", "fcvt.s.d ft3,ft0", a, b, c)
  FOP(10, "fmin.d", "fmv.d.x", "fmv.x.d", "fmin.d ft3,ft0,ft1", "", a, b, c)
  FOP(11, "fmax.d", "fmv.d.x", "fmv.x.d", "fmax.d ft3,ft0,ft1", "", a, b, c)
  XOP(12, "feq.d", "fmv.d.x", "feq.d %0,ft0,ft1", "", a, b)
  XOP(13, "flt.d", "fmv.d.x", "flt.d %0,ft0,ft1", "", a, b)
  XOP(14, "fle.d", "fmv.d.x", "fle.d %0,ft0,ft1", "", a, b)
  XOP(15, "fclass.d", "fmv.d.x", "fclass.d %0,ft0", "", a, b)
  XALLRM(16, "fcvt.w.d", "fmv.d.x", "fcvt.w.d %0,ft0", a)
  XALLRM(17, "fcvt.wu.d", "fmv.d.x", "fcvt.wu.d %0,ft0", a)
  XALLRM(18, "fcvt.l.d", "fmv.d.x", "fcvt.l.d %0,ft0", a)
  XALLRM(19, "fcvt.lu.d", "fmv.d.x", "fcvt.lu.d %0,ft0", a)
  IALLRM(20, "fcvt.d.l", "fmv.x.d", "fcvt.d.l ft3,%2", i)
  IALLRM(21, "fcvt.d.lu", "fmv.x.d", "fcvt.d.lu ft3,%2", i)
  IOP(22, "fcvt.d.w", "fmv.x.d", "fcvt.d.w ft3,%2", "", i)
  IOP(23, "fcvt.d.wu", "fmv.x.d", "fcvt.d.wu ft3,%2", "", i)
}

static void one_s(void) {
  u64 a = rnd_s(), b = rnd_s(), c = rnd_s(), i = rnd_i();
  if (rnd() & 1) {
    float x, y, p;
    u32 a32 = (u32)a, b32 = (u32)b, c32;
    memcpy(&x, &a32, 4);
    memcpy(&y, &b32, 4);
    p = -(x * y);
    memcpy(&c32, &p, 4);
    c = (u32)(c32 + (rnd() & 7) - 3);
  }
  if (verbose) {
    out_str("s ");
    out_h32(a); out_sp(); out_h32(b); out_sp(); out_h32(c); out_sp(); out_h64(i);
    out_nl();
  }
  ALLRM(24, "fadd.s", "fmv.w.x", "fmv.x.w", "fadd.s ft3,ft0,ft1", a, b, c)
  ALLRM(25, "fsub.s", "fmv.w.x", "fmv.x.w", "fsub.s ft3,ft0,ft1", a, b, c)
  ALLRM(26, "fmul.s", "fmv.w.x", "fmv.x.w", "fmul.s ft3,ft0,ft1", a, b, c)
  ALLRM(27, "fdiv.s", "fmv.w.x", "fmv.x.w", "fdiv.s ft3,ft0,ft1", a, b, c)
  ALLRM(28, "fsqrt.s", "fmv.w.x", "fmv.x.w", "fsqrt.s ft3,ft0", a, b, c)
  ALLRM(29, "fmadd.s", "fmv.w.x", "fmv.x.w", "fmadd.s ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(30, "fmsub.s", "fmv.w.x", "fmv.x.w", "fmsub.s ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(31, "fnmsub.s", "fmv.w.x", "fmv.x.w", "fnmsub.s ft3,ft0,ft1,ft2", a, b, c)
  ALLRM(32, "fnmadd.s", "fmv.w.x", "fmv.x.w", "fnmadd.s ft3,ft0,ft1,ft2", a, b, c)
  FOP(33, "fcvt.d.s", "fmv.w.x", "fmv.x.d", "fcvt.d.s ft3,ft0", "", a, b, c)
  FOP(34, "fmin.s", "fmv.w.x", "fmv.x.w", "fmin.s ft3,ft0,ft1", "", a, b, c)
  FOP(35, "fmax.s", "fmv.w.x", "fmv.x.w", "fmax.s ft3,ft0,ft1", "", a, b, c)
  XOP(36, "feq.s", "fmv.w.x", "feq.s %0,ft0,ft1", "", a, b)
  XOP(37, "flt.s", "fmv.w.x", "flt.s %0,ft0,ft1", "", a, b)
  XOP(38, "fle.s", "fmv.w.x", "fle.s %0,ft0,ft1", "", a, b)
  XOP(39, "fclass.s", "fmv.w.x", "fclass.s %0,ft0", "", a, b)
  XALLRM(40, "fcvt.w.s", "fmv.w.x", "fcvt.w.s %0,ft0", a)
  XALLRM(41, "fcvt.wu.s", "fmv.w.x", "fcvt.wu.s %0,ft0", a)
  XALLRM(42, "fcvt.l.s", "fmv.w.x", "fcvt.l.s %0,ft0", a)
  XALLRM(43, "fcvt.lu.s", "fmv.w.x", "fcvt.lu.s %0,ft0", a)
  IALLRM(44, "fcvt.s.l", "fmv.x.w", "fcvt.s.l ft3,%2", i)
  IALLRM(45, "fcvt.s.lu", "fmv.x.w", "fcvt.s.lu ft3,%2", i)
  IALLRM(46, "fcvt.s.w", "fmv.x.w", "fcvt.s.w ft3,%2", i)
  IALLRM(47, "fcvt.s.wu", "fmv.x.w", "fcvt.s.wu ft3,%2", i)
}

static void one_m(void) {
  u64 a = rnd_i(), b = rnd_i();
  if ((rnd() & 15) == 0) b = 0;
  if (verbose) {
    out_str("m ");
    out_h64(a); out_sp(); out_h64(b);
    out_nl();
  }
  MOP(48, "mul", a, b) MOP(49, "mulh", a, b) MOP(50, "mulhsu", a, b) MOP(51, "mulhu", a, b)
  MOP(52, "div", a, b) MOP(53, "divu", a, b) MOP(54, "rem", a, b) MOP(55, "remu", a, b)
  MOP(56, "mulw", a, b) MOP(57, "divw", a, b) MOP(58, "divuw", a, b) MOP(59, "remw", a, b)
  MOP(60, "remuw", a, b) MOP(61, "sraw", a, b) MOP(62, "sra", a, b) MOP(63, "srlw", a, b)
}

int main(int argc, char **argv) {
  u64 n = 2000;
  for (int k = 1; k < argc; k++) {
    if (argv[k][0] == 'v') verbose = 1;
    else n = parse_dec(argv[k], n);
  }
  for (u64 it = 0; it < n; it++) {
    one_d();
    one_s();
    one_m();
    if ((it + 1) % 250 == 0 || it + 1 == n) {
      out_str("after ");
      out_dec(it + 1);
      out_nl();
      for (int k = 0; k < NOPS; k++) {
        out_str("  ");
        out_str(names[k]);
        out_sp();
        out_h64(hash[k]);
        out_nl();
        hash[k] = 0;
      }
    }
  }
  return 0;
}
