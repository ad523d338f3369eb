// Ground-truth generator for the FPU vectors (tests/cpu_fpu_vectors/vectors.txt).
// Built with riscv64-linux-gnu-gcc and run under qemu-riscv64 by gen.sh: for
// every F/D instruction it draws operands (specials, boundaries, random bit
// patterns, cancellation and near-tie cases), executes the real instruction
// with each rounding mode set in frm (the instruction uses rm=dyn), and prints
//   <op> <rm> <a> <b> <c> <result> <fflags>
// in hex (unused operands print as 0), with 64-bit operands/results (FP values as raw register bits, singles
// NaN-boxed unless a vector tests an invalid box). Read next: ../cpu_fpu_vectors_test.ts.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

typedef uint64_t u64;
typedef void (*opfn)(u64, u64, u64, u64 *);

#define BOX(v) (0xffffffff00000000ull | (uint32_t)(v))

// FP result ops: operands moved in as raw 64-bit patterns, result moved out raw.
#define OP_FF(fn, insn)                                                                 \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    (void)c;                                                                            \
    asm volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\t" insn " ft2, ft0, ft1\n\t"     \
                 "fmv.x.d %0, ft2" : "=r"(*r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2"); \
  }
#define OP_F(fn, insn)                                                                  \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    (void)b; (void)c;                                                                   \
    asm volatile("fmv.d.x ft0, %1\n\t" insn " ft2, ft0\n\tfmv.x.d %0, ft2"              \
                 : "=r"(*r) : "r"(a) : "ft0", "ft2");                                   \
  }
#define OP_FFF(fn, insn)                                                                \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    asm volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\tfmv.d.x ft3, %3\n\t" insn       \
                 " ft2, ft0, ft1, ft3\n\tfmv.x.d %0, ft2"                               \
                 : "=r"(*r) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3");     \
  }
// Integer result ops.
#define OP_FF_X(fn, insn)                                                               \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    (void)c;                                                                            \
    asm volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\t" insn " %0, ft0, ft1"           \
                 : "=r"(*r) : "r"(a), "r"(b) : "ft0", "ft1");                           \
  }
#define OP_F_X(fn, insn)                                                                \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    (void)b; (void)c;                                                                   \
    asm volatile("fmv.d.x ft0, %1\n\t" insn " %0, ft0" : "=r"(*r) : "r"(a) : "ft0");    \
  }
// Integer source ops.
#define OP_X_F(fn, insn)                                                                \
  static void fn(u64 a, u64 b, u64 c, u64 *r) {                                        \
    (void)b; (void)c;                                                                   \
    asm volatile(insn " ft2, %1\n\tfmv.x.d %0, ft2" : "=r"(*r) : "r"(a) : "ft2");       \
  }

#define FOR_FMT(M, s)                                                                   \
  M##_FF(fadd_##s, "fadd." #s) M##_FF(fsub_##s, "fsub." #s) M##_FF(fmul_##s, "fmul." #s) \
  M##_FF(fdiv_##s, "fdiv." #s) M##_F(fsqrt_##s, "fsqrt." #s)                            \
  M##_FF(fmin_##s, "fmin." #s) M##_FF(fmax_##s, "fmax." #s)                             \
  M##_FF(fsgnj_##s, "fsgnj." #s) M##_FF(fsgnjn_##s, "fsgnjn." #s)                       \
  M##_FF(fsgnjx_##s, "fsgnjx." #s)                                                       \
  M##_FFF(fmadd_##s, "fmadd." #s) M##_FFF(fmsub_##s, "fmsub." #s)                       \
  M##_FFF(fnmsub_##s, "fnmsub." #s) M##_FFF(fnmadd_##s, "fnmadd." #s)                   \
  M##_FF_X(feq_##s, "feq." #s) M##_FF_X(flt_##s, "flt." #s) M##_FF_X(fle_##s, "fle." #s) \
  M##_F_X(fclass_##s, "fclass." #s) M##_F_X(fcvt_w_##s, "fcvt.w." #s)                   \
  M##_F_X(fcvt_wu_##s, "fcvt.wu." #s) M##_F_X(fcvt_l_##s, "fcvt.l." #s)                 \
  M##_F_X(fcvt_lu_##s, "fcvt.lu." #s) M##_X_F(fcvt_##s##_w, "fcvt." #s ".w")            \
  M##_X_F(fcvt_##s##_wu, "fcvt." #s ".wu") M##_X_F(fcvt_##s##_l, "fcvt." #s ".l")       \
  M##_X_F(fcvt_##s##_lu, "fcvt." #s ".lu")

FOR_FMT(OP, s)
FOR_FMT(OP, d)
OP_F(fcvt_s_d, "fcvt.s.d") OP_F(fcvt_d_s, "fcvt.d.s")
OP_F_X(fmv_x_w, "fmv.x.w") OP_F_X(fmv_x_d, "fmv.x.d")
OP_X_F(fmv_w_x, "fmv.w.x") OP_X_F(fmv_d_x, "fmv.d.x")

// Operand kinds: what a, b, c are, and whether rm matters.
enum { K_FF, K_F, K_FFF, K_FF_X, K_F_X, K_X_F, K_TOINT, K_FROMINT };
struct op { const char *name; opfn fn; int fmt; int kind; int rounds; };

#define OPS(s, F)                                                                                  \
  {"fadd." #s, fadd_##s, F, K_FF, 1}, {"fsub." #s, fsub_##s, F, K_FF, 1},                          \
  {"fmul." #s, fmul_##s, F, K_FF, 1}, {"fdiv." #s, fdiv_##s, F, K_FF, 1},                          \
  {"fsqrt." #s, fsqrt_##s, F, K_F, 1}, {"fmin." #s, fmin_##s, F, K_FF, 0},                         \
  {"fmax." #s, fmax_##s, F, K_FF, 0}, {"fsgnj." #s, fsgnj_##s, F, K_FF, 0},                        \
  {"fsgnjn." #s, fsgnjn_##s, F, K_FF, 0}, {"fsgnjx." #s, fsgnjx_##s, F, K_FF, 0},                  \
  {"fmadd." #s, fmadd_##s, F, K_FFF, 1}, {"fmsub." #s, fmsub_##s, F, K_FFF, 1},                    \
  {"fnmsub." #s, fnmsub_##s, F, K_FFF, 1}, {"fnmadd." #s, fnmadd_##s, F, K_FFF, 1},                \
  {"feq." #s, feq_##s, F, K_FF_X, 0}, {"flt." #s, flt_##s, F, K_FF_X, 0},                          \
  {"fle." #s, fle_##s, F, K_FF_X, 0}, {"fclass." #s, fclass_##s, F, K_F_X, 0},                     \
  {"fcvt.w." #s, fcvt_w_##s, F, K_TOINT, 1}, {"fcvt.wu." #s, fcvt_wu_##s, F, K_TOINT, 1},          \
  {"fcvt.l." #s, fcvt_l_##s, F, K_TOINT, 1}, {"fcvt.lu." #s, fcvt_lu_##s, F, K_TOINT, 1},          \
  {"fcvt." #s ".w", fcvt_##s##_w, F, K_FROMINT, 1}, {"fcvt." #s ".wu", fcvt_##s##_wu, F, K_FROMINT, 1}, \
  {"fcvt." #s ".l", fcvt_##s##_l, F, K_FROMINT, 1}, {"fcvt." #s ".lu", fcvt_##s##_lu, F, K_FROMINT, 1}

static const struct op ops[] = {
  OPS(s, 0), OPS(d, 1),
  {"fcvt.s.d", fcvt_s_d, 1, K_F, 1}, {"fcvt.d.s", fcvt_d_s, 0, K_F, 1},
  {"fmv.x.w", fmv_x_w, 0, K_F_X, 0}, {"fmv.x.d", fmv_x_d, 1, K_F_X, 0},
  {"fmv.w.x", fmv_w_x, 0, K_X_F, 0}, {"fmv.d.x", fmv_d_x, 1, K_X_F, 0},
};

static u64 rng_state = 0x9e3779b97f4a7c15ull;
static u64 rnd(void) {
  rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}
static unsigned below(unsigned n) { return (unsigned)(rnd() % n); }

// Format parameters: fracBits, expBits.
static int FB[2] = {23, 52}, EB[2] = {8, 11};
static u64 mk(int f, int sign, u64 exp, u64 frac) {
  u64 v = ((u64)sign << (FB[f] + EB[f])) | (exp << FB[f]) | (frac & ((1ull << FB[f]) - 1));
  return v;
}
static u64 box(int f, u64 v) {
  if (f) return v;
  return below(40) == 0 ? (v & 0xffffffffull) | ((rnd() & 0xffffffffull) & ~0xffull) << 32 : BOX(v);
}
static u64 emax(int f) { return (1ull << EB[f]) - 1; }
static u64 bias(int f) { return (1ull << (EB[f] - 1)) - 1; }

// Raw (unboxed) value from double / int, in format f.
static u64 from_double(int f, double d) {
  if (f) { u64 v; memcpy(&v, &d, 8); return v; }
  float x = (float)d; uint32_t v; memcpy(&v, &x, 4); return v;
}

static const double specials[] = {
  0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 1.5, 2.5, -2.5, 3.5, 0.25, 0.75, -0.5,
  2147483647.0, 2147483648.0, -2147483648.0, -2147483649.0, 4294967295.0, 4294967296.0,
  9223372036854775807.0, -9223372036854775808.0, 18446744073709551616.0, 1e10, -1e10,
};

static u64 special(int f) {
  u64 fracmask = (1ull << FB[f]) - 1;
  switch (below(16)) {
    case 0: return mk(f, below(2), emax(f), 0);                      // ±inf
    case 1: return mk(f, below(2), emax(f), 1ull << (FB[f] - 1));    // canonical qNaN
    case 2: return mk(f, below(2), emax(f), 1 + (rnd() & (fracmask >> 1))); // sNaN
    case 3: return mk(f, below(2), emax(f), (1ull << (FB[f] - 1)) | rnd()); // qNaN payload
    case 4: return mk(f, below(2), 0, 1);                            // min subnormal
    case 5: return mk(f, below(2), 0, fracmask);                     // max subnormal
    case 6: return mk(f, below(2), 1, below(2) ? 0 : rnd());         // near min normal
    case 7: return mk(f, below(2), emax(f) - 1, fracmask - below(3)); // near max
    default: {
      double d = specials[below(sizeof specials / sizeof specials[0])];
      u64 v = from_double(f, d);
      // sometimes step one ulp either way
      int step = (int)below(5) - 2;
      if (step == 2 || step == -2) step = 0;
      return v + (u64)(int64_t)step;
    }
  }
}

// A random finite-or-not value with a chosen exponent spread.
static u64 value(int f) {
  switch (below(8)) {
    case 0: case 1: return special(f);
    case 2: return rnd() & (f ? ~0ull : 0xffffffffull);                // any pattern
    case 3: return mk(f, below(2), below(4), rnd());                   // subnormal / tiny
    case 4: return mk(f, below(2), emax(f) - 1 - below(4), rnd());     // huge
    default: return mk(f, below(2), bias(f) - 8 + below(17), rnd());   // moderate
  }
}

// Second operand related to the first: same or near exponent (cancellation), or independent.
static u64 related(int f, u64 a) {
  u64 e = (a >> FB[f]) & emax(f);
  switch (below(6)) {
    case 0: return a ^ (rnd() & 0xf);                                   // nearly equal
    case 1: return (a ^ (rnd() & 0xf)) ^ (1ull << (FB[f] + EB[f]));     // nearly opposite
    case 2: { int64_t ne = (int64_t)e + (int64_t)below(2 * FB[f] + 8) - FB[f] - 4;
              if (ne < 0) ne = 0; if (ne >= (int64_t)emax(f)) ne = emax(f) - 1;
              return mk(f, below(2), (u64)ne, rnd()); }
    default: return value(f);
  }
}

// Multiplicand pair whose product is near a tie, and c chosen to cancel it.
static void fma_operands(int f, u64 *a, u64 *b, u64 *c) {
  *a = value(f); *b = related(f, *a);
  if (below(3) == 0) { *b = value(f); *c = value(f); return; }
  if (f) {
    double x, y; memcpy(&x, a, 8); memcpy(&y, b, 8);
    double p = x * y; u64 pv; memcpy(&pv, &p, 8);
    pv += (u64)((int64_t)below(5) - 2);
    *c = pv ^ (below(2) ? (1ull << 63) : 0);
  } else {
    float x, y; uint32_t av = *a, bv = *b; memcpy(&x, &av, 4); memcpy(&y, &bv, 4);
    float p = x * y; uint32_t pv; memcpy(&pv, &p, 4);
    pv += (uint32_t)((int)below(5) - 2);
    *c = pv ^ (below(2) ? 0x80000000u : 0);
  }
}

// A float near an integer boundary of the conversions.
static u64 toint_operand(int f) {
  if (below(3) == 0) return value(f);
  double lim[] = {0, 1, 2147483648.0, 4294967296.0, 9223372036854775808.0, 18446744073709551616.0};
  double d = lim[below(6)];
  if (below(2)) d = -d;
  double frac[] = {0, 0.5, -0.5, 0.25, -0.75, 1, -1, 1.5, -1.5};
  d += frac[below(9)];
  if (below(3) == 0) d = (double)(int64_t)(rnd() >> below(64)) + frac[below(9)];
  u64 v = from_double(f, d);
  return v + (u64)((int64_t)below(3) - 1);                             // ±1 ulp
}

static u64 int_operand(void) {
  switch (below(4)) {
    case 0: { u64 lim[] = {0, 1, ~0ull, 0x7fffffffull, 0x80000000ull, 0xffffffffull, 0x100000000ull,
                           0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffff80000000ull,
                           (1ull << 24) + 1, (1ull << 53) + 1};
              return lim[below(12)] + (u64)((int64_t)below(3) - 1); }
    default: { u64 v = rnd() >> below(64); return below(2) ? -v : v; }
  }
}

// Hand-picked cases, run first in every rounding mode: each names what it pins down.
// Singles are given unboxed (boxed when run).
static const struct hand { const char *op; u64 a, b, c; } hand[] = {
  // tininess after rounding: (1-2^-24) * 2^-126 rounds up to 2^-126, UF in RNE
  {"fmul.s", 0x3f7fffff, 0x00800000, 0},
  {"fmul.d", 0x3fefffffffffffffull, 0x0010000000000000ull, 0},
  // 2^-126 - 2^-152: below 2^-126 but rounds to it with unbounded exponent, no UF in RNE
  {"fnmsub.s", 0x19800000, 0x19800000, 0x00800000},
  {"fnmsub.d", 0x1e30000000000000ull, 0x1e30000000000000ull, 0x0010000000000000ull},
  // single rounding: (1+2^-k)(1-2^-k) - 1 = -2^-2k, where a separate multiply gives 0
  {"fmadd.s", 0x3f800400, 0x3f7ff800, 0xbf800000},
  {"fmadd.d", 0x3ff0000002000000ull, 0x3feffffffc000000ull, 0xbff0000000000000ull},
  // max*2 - max = max exactly (the product alone overflows)
  {"fmadd.d", 0x7fefffffffffffffull, 0x4000000000000000ull, 0x7fefffffffffffffull ^ (1ull << 63)},
  {"fmsub.s", 0x7f7fffff, 0x40000000, 0x7f7fffff},
  // inf * 0 + qNaN is invalid
  {"fmadd.d", 0x7ff0000000000000ull, 0, 0x7ff8000000000000ull},
  {"fnmadd.s", 0, 0xff800000, 0x7fc00000},
  // zero signs: +0 + -0, x - x, -0 * +0 + -0
  {"fadd.d", 0, 0x8000000000000000ull, 0},
  {"fsub.s", 0x3dcccccd, 0x3dcccccd, 0},
  {"fmadd.d", 0x8000000000000000ull, 0, 0x8000000000000000ull},
  {"fmsub.s", 0x3f800000, 0x3f800000, 0x3f800000},
  // conversions at the saturation edges
  {"fcvt.w.d", 0x41dfffffffe00000ull, 0, 0},  // 2147483647.5
  {"fcvt.w.d", 0xc1e0000000100000ull, 0, 0},  // -2147483648.5
  {"fcvt.w.d", 0xc1e0000000200000ull, 0, 0},  // -2147483649
  {"fcvt.wu.d", 0xbfe0000000000000ull, 0, 0}, // -0.5
  {"fcvt.wu.s", 0xbf000000, 0, 0},            // -0.5
  {"fcvt.wu.d", 0x41efffffffffffffull, 0, 0}, // just below 2^32
  {"fcvt.l.d", 0xc3e0000000000000ull, 0, 0},  // -2^63
  {"fcvt.l.d", 0xc3e0000000000001ull, 0, 0},  // below -2^63
  {"fcvt.l.s", 0x5f000000, 0, 0},             // 2^63
  {"fcvt.lu.d", 0x43f0000000000000ull, 0, 0}, // 2^64
  {"fcvt.lu.s", 0xff800000, 0, 0},            // -inf
  {"fcvt.w.s", 0x7fa00000, 0, 0},             // sNaN
  {"fcvt.wu.d", 0xfff8000000000000ull, 0, 0}, // negative qNaN
  // narrowing near the single limits
  {"fcvt.s.d", 0x380fffffffffffffull, 0, 0},  // just below 2^-126
  {"fcvt.s.d", 0x36a0000000000000ull, 0, 0},  // 2^-149 (min subnormal)
  {"fcvt.s.d", 0x3690000000000000ull, 0, 0},  // 2^-150: tie with zero
  {"fcvt.s.d", 0x47efffffefffffffull, 0, 0},  // just under the overflow threshold
  {"fcvt.s.d", 0x47efffffe0000000ull, 0, 0},  // max single + half ulp
  {"fcvt.d.s", 0x7f800001, 0, 0},             // sNaN
  // division and root
  {"fdiv.d", 0x3ff0000000000000ull, 0x4008000000000000ull, 0},
  {"fdiv.s", 0xbf800000, 0, 0},
  {"fdiv.d", 0, 0, 0},
  {"fsqrt.d", 0x4000000000000000ull, 0, 0},
  {"fsqrt.s", 0x80000000, 0, 0},
  {"fsqrt.d", 0x0000000000000001ull, 0, 0},
  {"fsqrt.s", 0xbf800000, 0, 0},
  // integer to float rounding
  {"fcvt.s.w", 0x7fffffff, 0, 0},
  {"fcvt.s.lu", 0xffffffffffffffffull, 0, 0},
  {"fcvt.d.l", 0x8000000000000001ull, 0, 0},
  {"fcvt.d.lu", 0x20000000000001ull, 0, 0},
  {"fcvt.s.wu", 0xffffffff01000001ull, 0, 0},
  // min/max: signed zeros, sNaN
  {"fmin.s", 0, 0x80000000, 0},
  {"fmax.d", 0x8000000000000000ull, 0, 0},
  {"fmin.d", 0x7ff0000000000001ull, 0x3ff0000000000000ull, 0},
  {"fmax.s", 0x7fc00000, 0x7f800001, 0},
  {"feq.s", 0x7f800001, 0, 0},
  {"feq.d", 0x7ff8000000000000ull, 0, 0},
  {"flt.d", 0x7ff8000000000000ull, 0, 0},
  {"fle.s", 0x80000000, 0, 0},
};

static void print_vector(const struct op *o, int rm, u64 a, u64 b, u64 c, u64 r, u64 fl) {
  int nb = o->kind == K_FF || o->kind == K_FF_X || o->kind == K_FFF, nc = o->kind == K_FFF;
  printf("%s %d %llx %llx %llx %llx %llx\n", o->name, rm, (unsigned long long)a,
         nb ? (unsigned long long)b : 0ull, nc ? (unsigned long long)c : 0ull,
         (unsigned long long)r, (unsigned long long)fl);
}

static void run(const struct op *o, int rm, u64 a, u64 b, u64 c) {
  u64 r, fl;
  asm volatile("fsrm %0\n\tfsflags zero" : : "r"((u64)rm));
  o->fn(a, b, c, &r);
  asm volatile("frflags %0" : "=r"(fl));
  print_vector(o, rm, a, b, c, r, fl);
}

int main(int argc, char **argv) {
  for (size_t h = 0; h < sizeof hand / sizeof hand[0]; h++) {
    const struct op *o = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
      if (!strcmp(ops[i].name, hand[h].op)) o = &ops[i];
    if (!o) { fprintf(stderr, "unknown op %s\n", hand[h].op); return 1; }
    int fromint = o->kind == K_FROMINT || o->kind == K_X_F;
    u64 a = fromint || o->fmt ? hand[h].a : BOX(hand[h].a);
    u64 b = o->fmt ? hand[h].b : BOX(hand[h].b), c = o->fmt ? hand[h].c : BOX(hand[h].c);
    for (int rm = 0; rm < (o->rounds ? 5 : 1); rm++) run(o, rm, a, b, c);
  }
  int n = argc > 1 ? atoi(argv[1]) : 16;
  if (argc > 2) rng_state ^= strtoull(argv[2], 0, 0) * 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    const struct op *o = &ops[i];
    int f = o->fmt;
    int count = o->rounds ? n : 2 * n;
    for (int k = 0; k < count; k++) {
      u64 a = 0, b = 0, c = 0;
      switch (o->kind) {
        case K_FF: case K_FF_X: a = value(f); b = below(2) ? related(f, a) : value(f);
          if (below(8) == 0) b = a; break;
        case K_F: case K_F_X: a = value(f); break;
        case K_FFF: fma_operands(f, &a, &b, &c); break;
        case K_TOINT: a = toint_operand(f); break;
        case K_FROMINT: case K_X_F: a = int_operand(); break;
      }
      if (o->kind != K_FROMINT && o->kind != K_X_F) { a = box(f, a); b = box(f, b); c = box(f, c); }
      for (int rm = 0; rm < (o->rounds ? 5 : 1); rm++) run(o, rm, a, b, c);
    }
  }
  return 0;
}
