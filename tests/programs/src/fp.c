/* F and D, every instruction: built twice, -DPREC=32 (fp_s) and -DPREC=64
 * (fp_d). Each operation that rounds runs under the five static rounding
 * modes (with frm set to a *different* mode, so a hart that ignores the static
 * field shows) and under dyn with frm = each mode (a mismatch with the static
 * result prints "DYN!" and a mask). Every result is printed with its fflags,
 * cleared before each operation: "rrrrrrrr:ff", and "=" when a mode's result
 * and flags equal round-to-nearest-even's. Inputs walk ±0, ±1, ties, ±max,
 * subnormals, ±inf, quiet and signalling NaNs, and integer edges for the
 * conversions; fused multiply-add gets cases where single rounding matters.
 * The single build also checks NaN-boxing. Read next: bench_int.c. */
#include "lib/rt.h"

#if PREC == 32
#define SFX ".s"
#define TO "fmv.w.x"
#define FROM "fmv.x.w"
#define FD 8
#define FSEXT 1 /* fmv.x.w sign-extends the low word */
static const u64 VB[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0xc0200000, 0x3eaaaaab,
    0x40490fdb, 0x4b7fffff, 0x33800000, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80000001,
    0x007fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc12345,
};
/* Extra inputs for the unary operations and conversions. */
static const u64 VU[] = {
    0x3f000000, 0xbf000000, 0x40200000, 0xbfc00000, 0x40400000, 0x406ccccd, 0xc06ccccd,
    0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x4f7fffff, 0x4f800000, 0x5effffff,
    0x5f000000, 0xdf000000, 0xdf000001, 0x5f7fffff, 0x5f800000, 0x501502f9, 0xd01502f9,
    0x00000001, 0x40800000, 0x3e800000, 0xbe800000,
};
/* Fused multiply-add: single rounding makes these differ from mul-then-add. */
static const u64 FMA_CASES[][3] = {
    {0x3f800001, 0x3f800001, 0xbf800002},
    {0x3f800001, 0x3f7ffffe, 0xbf800000},
    {0x3eaaaaab, 0x40400000, 0xbf800000},
    {0x7f7fffff, 0x40000000, 0xff7fffff},
    {0x00800000, 0x3f000000, 0x80000001},
    {0x3f800000, 0x3f800000, 0xbf800000},
    {0x00000000, 0x7f800000, 0x7fc00000},
    {0x00000000, 0x7f800000, 0x7f800001},
    {0x7f800000, 0x3f800000, 0xff800000},
    {0x5f000000, 0x5f000000, 0xff800000},
};
#else
#define SFX ".d"
#define TO "fmv.d.x"
#define FROM "fmv.x.d"
#define FD 16
#define FSEXT 0
static const u64 VB[] = {
    0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
    0x3ff8000000000000, 0xc004000000000000, 0x3fd5555555555555, 0x400921fb54442d18,
    0x433fffffffffffff, 0x3ca0000000000000, 0x7fefffffffffffff, 0xffefffffffffffff,
    0x0010000000000000, 0x8000000000000001, 0x000fffffffffffff, 0x7ff0000000000000,
    0xfff0000000000000, 0x7ff8000000000000, 0x7ff0000000000001, 0xfff8000000012345,
};
static const u64 VU[] = {
    0x3fe0000000000000, 0xbfe0000000000000, 0x4004000000000000, 0xbff8000000000000,
    0x4008000000000000, 0x400d99999999999a, 0xc00d99999999999a, 0x41dfffffffc00000,
    0x41dfffffffe00000, 0x41e0000000000000, 0xc1e0000000000000, 0xc1e0000000100000,
    0xc1e0000000200000, 0x41efffffffe00000, 0x41efffffffffffff, 0x41f0000000000000,
    0x43dfffffffffffff, 0x43e0000000000000, 0xc3e0000000000000, 0xc3e0000000000001,
    0x43efffffffffffff, 0x43f0000000000000, 0x4202a05f20000000, 0xc202a05f20000000,
    0x0000000000000001, 0x47efffffe0000000, 0x47effffff0000000, 0x47efffffe0000001,
    0xc7effffff0000000, 0x36a0000000000000, 0x3690000000000000, 0x3698000000000000,
    0x380fffffffffffff, 0x3810000000000000, 0x3ff0000010000000, 0x3ff0000030000000,
    0x416fffffe0000000, 0x4170000010000000, 0x7ff4000000000000, 0x7ff800000000abcd,
};
static const u64 FMA_CASES[][3] = {
    {0x3ff0000000000001, 0x3ff0000000000001, 0xbff0000000000002},
    {0x3ff0000000000001, 0x3fefffffffffffff, 0xbff0000000000000},
    {0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000},
    {0x7fefffffffffffff, 0x4000000000000000, 0xffefffffffffffff},
    {0x0010000000000000, 0x3fe0000000000000, 0x8000000000000001},
    {0x3ff0000000000000, 0x3ff0000000000000, 0xbff0000000000000},
    {0x0000000000000000, 0x7ff0000000000000, 0x7ff8000000000000},
    {0x0000000000000000, 0x7ff0000000000000, 0x7ff0000000000001},
    {0x7ff0000000000000, 0x3ff0000000000000, 0xfff0000000000000},
    {0x5fe0000000000000, 0x5fe0000000000000, 0xfff0000000000000},
};
#endif
#define N(a) (sizeof a / sizeof a[0])

/* Integer inputs for fcvt.{s,d}.{w,wu,l,lu}: the W forms must ignore the
 * upper 32 bits. */
static const u64 VI[] = {
    0,
    1,
    0xffffffffffffffff,
    0x000000007fffffff,
    0x0000000080000000,
    0x00000000ffffffff,
    0xffffffff80000000,
    0x0000000001000001,
    0x0000000001000003,
    0x7fffffffffffffff,
    0x8000000000000000,
    0x0020000000000001,
    0x0020000000000003,
    0x123456789abcdef0,
    0xfedcba9876543211,
    0x1234567880000001,
    0x00000000fffffff0,
    0x0000000012345677,
};

/* One operation: a = b = c inputs, rm written to frm first; flags out. */
typedef u64 (*opfn)(u64 a, u64 b, u64 c, u64 rm, u64 *fl);

#define DEF(NAME, BODY)                                                                 \
  static u64 NAME(u64 a, u64 b, u64 c, u64 rm, u64 *fl) {                               \
    u64 r, f;                                                                           \
    asm volatile("fsrm %[rm]\n\tfsflags zero\n\t" BODY "\n\tfrflags %[f]\n\tfsrm zero"  \
                 : [r] "=&r"(r), [f] "=&r"(f)                                           \
                 : [a] "r"(a), [b] "r"(b), [c] "r"(c), [rm] "r"(rm)                     \
                 : "ft0", "ft1", "ft2", "ft3");                                         \
    *fl = f;                                                                            \
    return r;                                                                           \
  }

/* Operand shapes. F = float register, X = integer register. */
#define B_FFF(I, RM) TO " ft0,%[a]\n\t" TO " ft1,%[b]\n\t" I " ft2,ft0,ft1" RM "\n\t" FROM " %[r],ft2"
#define B_FFFF(I, RM)                                                                \
  TO " ft0,%[a]\n\t" TO " ft1,%[b]\n\t" TO " ft2,%[c]\n\t" I " ft3,ft0,ft1,ft2" RM "\n\t" FROM \
     " %[r],ft3"
#define B_FF(I, RM) TO " ft0,%[a]\n\t" I " ft2,ft0" RM "\n\t" FROM " %[r],ft2"
#define B_XF(I, RM) TO " ft0,%[a]\n\t" I " %[r],ft0" RM
#define B_XFF(I, RM) TO " ft0,%[a]\n\t" TO " ft1,%[b]\n\t" I " %[r],ft0,ft1" RM
#define B_FX(I, RM) I " ft2,%[a]" RM "\n\t" FROM " %[r],ft2"
/* To the other precision: the result is read with fmv.x.d (shows NaN-boxing). */
#define B_OF(I, RM) TO " ft0,%[a]\n\t" I " ft2,ft0" RM "\n\tfmv.x.d %[r],ft2"
#define B_MV(I, RM) TO " ft0,%[a]\n\t" FROM " %[r],ft0"

#define DEF6(NAME, SHAPE, I)          \
  DEF(NAME##_0, SHAPE(I, ",rne"))     \
  DEF(NAME##_1, SHAPE(I, ",rtz"))     \
  DEF(NAME##_2, SHAPE(I, ",rdn"))     \
  DEF(NAME##_3, SHAPE(I, ",rup"))     \
  DEF(NAME##_4, SHAPE(I, ",rmm"))     \
  DEF(NAME##_d, SHAPE(I, ",dyn"))
#define DEF1(NAME, SHAPE, I) DEF(NAME, SHAPE(I, ""))

/* How a result prints: digits, and whether the upper bits are a sign extension
 * (fmv.x.w, fcvt.w*) or zero; anything else prints all 16 digits after '!'. */
enum { R_F = 0, R_X64 = 1, R_X32 = 2, R_BIT = 3, R_OTHER = 4 };

struct op {
  const char *name;
  int kind;
  opfn st[5];
  opfn dyn;
};
#define OP6(NAME, I, K) {I, K, {NAME##_0, NAME##_1, NAME##_2, NAME##_3, NAME##_4}, NAME##_d}
#define OP1(NAME, I, K) {I, K, {NAME, 0, 0, 0, 0}, 0}

DEF6(f_add, B_FFF, "fadd" SFX)
DEF6(f_sub, B_FFF, "fsub" SFX)
DEF6(f_mul, B_FFF, "fmul" SFX)
DEF6(f_div, B_FFF, "fdiv" SFX)
DEF1(f_min, B_FFF, "fmin" SFX)
DEF1(f_max, B_FFF, "fmax" SFX)
DEF1(f_sgnj, B_FFF, "fsgnj" SFX)
DEF1(f_sgnjn, B_FFF, "fsgnjn" SFX)
DEF1(f_sgnjx, B_FFF, "fsgnjx" SFX)
DEF1(f_eq, B_XFF, "feq" SFX)
DEF1(f_lt, B_XFF, "flt" SFX)
DEF1(f_le, B_XFF, "fle" SFX)
DEF6(f_madd, B_FFFF, "fmadd" SFX)
DEF6(f_msub, B_FFFF, "fmsub" SFX)
DEF6(f_nmsub, B_FFFF, "fnmsub" SFX)
DEF6(f_nmadd, B_FFFF, "fnmadd" SFX)
DEF6(f_sqrt, B_FF, "fsqrt" SFX)
DEF1(f_class, B_XF, "fclass" SFX)
DEF6(f_cvt_w, B_XF, "fcvt.w" SFX)
DEF6(f_cvt_wu, B_XF, "fcvt.wu" SFX)
DEF6(f_cvt_l, B_XF, "fcvt.l" SFX)
DEF6(f_cvt_lu, B_XF, "fcvt.lu" SFX)
/* The exact conversions (fcvt.d.s, fcvt.d.w, fcvt.d.wu) take no rounding
 * mode in the assembler: one column. */
#if PREC == 32
DEF1(f_cvt_o, B_OF, "fcvt.d.s")
DEF6(f_from_w, B_FX, "fcvt.s.w")
DEF6(f_from_wu, B_FX, "fcvt.s.wu")
#define CVT_O(K) OP1(f_cvt_o, "fcvt.d.s", K)
#define FROM_W(K) OP6(f_from_w, "fcvt.w", K), OP6(f_from_wu, "fcvt.wu", K)
DEF6(f_from_l, B_FX, "fcvt.s.l")
DEF6(f_from_lu, B_FX, "fcvt.s.lu")
#else
DEF6(f_cvt_o, B_OF, "fcvt.s.d")
DEF1(f_from_w, B_FX, "fcvt.d.w")
DEF1(f_from_wu, B_FX, "fcvt.d.wu")
#define CVT_O(K) OP6(f_cvt_o, "fcvt.s.d", K)
#define FROM_W(K) OP1(f_from_w, "fcvt.w", K), OP1(f_from_wu, "fcvt.wu", K)
DEF6(f_from_l, B_FX, "fcvt.d.l")
DEF6(f_from_lu, B_FX, "fcvt.d.lu")
#endif
DEF1(f_mv, B_MV, "")

static const struct op ARITH[] = {
    OP6(f_add, "fadd", R_F),
    OP6(f_sub, "fsub", R_F),
    OP6(f_mul, "fmul", R_F),
    OP6(f_div, "fdiv", R_F),
};
static const struct op MISC[] = {
    OP1(f_min, "fmin", R_F),     OP1(f_max, "fmax", R_F), OP1(f_sgnj, "fsgnj", R_F),
    OP1(f_sgnjn, "fsgnjn", R_F), OP1(f_sgnjx, "fsgnjx", R_F), OP1(f_eq, "feq", R_BIT),
    OP1(f_lt, "flt", R_BIT),     OP1(f_le, "fle", R_BIT),
};
static const struct op FMA[] = {
    OP6(f_madd, "fmadd", R_F),
    OP6(f_msub, "fmsub", R_F),
    OP6(f_nmsub, "fnmsub", R_F),
    OP6(f_nmadd, "fnmadd", R_F),
};
static const struct op UNARY[] = {
    OP6(f_sqrt, "fsqrt", R_F),      OP1(f_class, "fclass", R_OTHER),
    OP6(f_cvt_w, "fcvt.w", R_X32),  OP6(f_cvt_wu, "fcvt.wu", R_X32),
    OP6(f_cvt_l, "fcvt.l", R_X64),  OP6(f_cvt_lu, "fcvt.lu", R_X64),
    CVT_O(R_X64),                   OP1(f_mv, "fmv", R_F),
};
static const struct op FROMINT[] = {
    FROM_W(R_F),
    OP6(f_from_l, "fcvt.l", R_F),
    OP6(f_from_lu, "fcvt.lu", R_F),
};

static int canonical(u64 r, int kind) {
  switch (kind) {
  case R_F:
    return FSEXT ? r == (u64)(i64)(i32)(u32)r : 1;
  case R_X32:
    return r == (u64)(i64)(i32)(u32)r;
  case R_BIT:
    return r <= 1;
  case R_OTHER:
    return r <= 0xffff;
  default:
    return 1;
  }
}

static void out_res(u64 r, u64 fl, int kind) {
  if (!canonical(r, kind)) {
    out_ch('!');
    out_h64(r);
  } else if (kind == R_F) {
    out_hex(r, FD);
  } else if (kind == R_X32) {
    out_h32(r);
  } else if (kind == R_BIT) {
    out_hex(r, 1);
  } else if (kind == R_OTHER) {
    out_hex(r, 3);
  } else {
    out_h64(r);
  }
  out_ch(':');
  out_h8(fl);
}

/* Runs one operation on (a, b, c) in every mode it has and prints it. */
static void run(const struct op *o, u64 a, u64 b, u64 c) {
  u64 r0, f0;
  out_ch(' ');
  out_str(o->name);
  out_ch(' ');
  /* Static modes run with frm set to another mode: (m + 2) % 5. */
  r0 = o->st[0](a, b, c, 2, &f0);
  out_res(r0, f0, o->kind);
  if (!o->dyn) return;
  u64 rs[5], fs[5];
  rs[0] = r0;
  fs[0] = f0;
  for (u64 m = 1; m < 5; m++) {
    rs[m] = o->st[m](a, b, c, (m + 2) % 5, &fs[m]);
    out_ch(' ');
    if (rs[m] == r0 && fs[m] == f0) {
      out_ch('=');
    } else {
      out_res(rs[m], fs[m], o->kind);
    }
  }
  u64 mask = 0;
  for (u64 m = 0; m < 5; m++) {
    u64 f, r = o->dyn(a, b, c, m, &f);
    if (r != rs[m] || f != fs[m]) mask |= 1u << m;
  }
  if (mask) {
    out_str(" DYN!");
    out_h8(mask);
  }
}

static void group(const char *what, const struct op *ops, unsigned n, const u64 *in, unsigned nin,
                  int indig) {
  out_str(what);
  for (unsigned i = 0; i < nin; i++) {
    out_ch(' ');
    out_hex(in[i], indig);
  }
  out_ch(':');
  for (unsigned k = 0; k < n; k++) run(&ops[k], in[0], nin > 1 ? in[1] : 0, nin > 2 ? in[2] : 0);
  out_nl();
}

static void binary(void) {
  for (unsigned i = 0; i < N(VB); i++) {
    for (unsigned j = 0; j < N(VB); j++) {
      u64 in[2] = {VB[i], VB[j]};
      group("arith" SFX, ARITH, N(ARITH), in, 2, FD);
      group("misc" SFX, MISC, N(MISC), in, 2, FD);
    }
  }
}

static void unary(void) {
  for (unsigned i = 0; i < N(VB) + N(VU); i++) {
    u64 in[1] = {i < N(VB) ? VB[i] : VU[i - N(VB)]};
    group("unary" SFX, UNARY, N(UNARY), in, 1, FD);
  }
  for (unsigned i = 0; i < N(VI); i++) {
    u64 in[1] = {VI[i]};
    group("fcvt" SFX " from", FROMINT, N(FROMINT), in, 1, 16);
  }
}

/* The fused multiply-add cube over a subset of VB, then the targeted cases. */
static const unsigned FMA_PICK[] = {0, 1, 2, 3, 6, 10, 13, 15, 17, 18};

static void fma(void) {
  for (unsigned i = 0; i < N(FMA_PICK); i++)
    for (unsigned j = 0; j < N(FMA_PICK); j++)
      for (unsigned k = 0; k < N(FMA_PICK); k++) {
        u64 in[3] = {VB[FMA_PICK[i]], VB[FMA_PICK[j]], VB[FMA_PICK[k]]};
        group("fma" SFX, FMA, N(FMA), in, 3, FD);
      }
  for (unsigned i = 0; i < N(FMA_CASES); i++)
    group("fma" SFX, FMA, N(FMA), FMA_CASES[i], 3, FD);
}

/* Loads and stores, aligned and not; a single load's register is read back
 * with fmv.x.d to show the NaN-box. */
static u8 mem[48] __attribute__((aligned(16)));

static void fill(void) {
  for (int i = 0; i < 48; i++) mem[i] = (u8)(0x3c + i * 0x1d);
}

static void dump(void) {
  for (int i = 0; i < 24; i++) out_h8(mem[i]);
  out_nl();
}

static void loadstore(void) {
  static const int offs[] = {0, 8, 4, 2, 1, 7};
  for (unsigned i = 0; i < N(offs); i++) {
    u64 r;
    fill();
#if PREC == 32
    asm volatile("flw ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(mem + offs[i]) : "ft0", "memory");
    out_str("flw +");
#else
    asm volatile("fld ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(mem + offs[i]) : "ft0", "memory");
    out_str("fld +");
#endif
    out_dec(offs[i]);
    out_ch(' ');
    out_h64(r);
    out_nl();
    fill();
#if PREC == 32
    asm volatile("fmv.d.x ft0, %0\n\tfsw ft0, 0(%1)\n\tfsw ft0, 16(%1)" : : "r"(0x1122334455667788),
                 "r"(mem + offs[i]) : "ft0", "memory");
    out_str("fsw +");
#else
    asm volatile("fmv.d.x ft0, %0\n\tfsd ft0, 0(%1)\n\tfsd ft0, -8(%2)" : : "r"(0x1122334455667788),
                 "r"(mem + offs[i]), "r"(mem + 24) : "ft0", "memory");
    out_str("fsd +");
#endif
    out_dec(offs[i]);
    out_ch(' ');
    dump();
  }
}

#if PREC == 32
/* NaN-boxing: a single operand whose upper 32 bits are not all ones is the
 * canonical NaN to every operation except the transfers (fsw, fmv.x.w). */
static void nanbox(void) {
  static const u64 raw[] = {0xffffffff3f800000, 0x000000003f800000, 0xfffffffe3f800000,
                            0x7fffffff3f800000, 0xffffffff7fa00000, 0x00000000ffc00001};
  for (unsigned i = 0; i < N(raw); i++) {
    u64 add, sgnj, cls, mvx, cvt, fma, mn, eq, cw, fl, st = 0;
    asm volatile("fsflags zero\n\tfmv.d.x ft0, %[x]\n\tli t0, 0x3f800000\n\tfmv.w.x ft1, t0\n\t"
                 "fadd.s ft2, ft0, ft1\n\tfmv.x.d %[add], ft2\n\t"
                 "fsgnj.s ft2, ft0, ft0\n\tfmv.x.d %[sgnj], ft2\n\t"
                 "fclass.s %[cls], ft0\n\tfmv.x.w %[mvx], ft0\n\t"
                 "fcvt.d.s ft2, ft0\n\tfmv.x.d %[cvt], ft2\n\t"
                 "fmadd.s ft2, ft1, ft1, ft0\n\tfmv.x.d %[fma], ft2\n\t"
                 "fmin.s ft2, ft0, ft1\n\tfmv.x.d %[mn], ft2\n\t"
                 "feq.s %[eq], ft0, ft0\n\tfcvt.w.s %[cw], ft0, rtz\n\t"
                 "fsw ft0, 0(%[st])\n\tfrflags %[fl]"
                 : [add] "=&r"(add), [sgnj] "=&r"(sgnj), [cls] "=&r"(cls), [mvx] "=&r"(mvx),
                   [cvt] "=&r"(cvt), [fma] "=&r"(fma), [mn] "=&r"(mn), [eq] "=&r"(eq),
                   [cw] "=&r"(cw), [fl] "=&r"(fl)
                 : [x] "r"(raw[i]), [st] "r"(&st)
                 : "t0", "ft0", "ft1", "ft2", "memory");
    out_str("nanbox ");
    out_h64(raw[i]);
    out_str(": fadd ");
    out_h64(add);
    out_str(" fsgnj ");
    out_h64(sgnj);
    out_str(" fclass ");
    out_h64(cls);
    out_str(" fmv.x.w ");
    out_h64(mvx);
    out_str(" fcvt.d.s ");
    out_h64(cvt);
    out_nl();
    out_str("  fmadd ");
    out_h64(fma);
    out_str(" fmin ");
    out_h64(mn);
    out_str(" feq ");
    out_h64(eq);
    out_str(" fcvt.w ");
    out_h64(cw);
    out_str(" fsw ");
    out_h64(st);
    out_str(" fflags ");
    out_h8(fl);
    out_nl();
  }
  /* Writes of singles NaN-box: fmv.w.x, flw, arithmetic, fcvt.s.d. */
  u64 a, b, c, d;
  u32 w = 0xc0490fdb;
  asm volatile("fmv.w.x ft0, %[v]\n\tfmv.x.d %[a], ft0\n\tflw ft1, 0(%[p])\n\tfmv.x.d %[b], ft1\n\t"
               "fadd.s ft2, ft0, ft1\n\tfmv.x.d %[c], ft2\n\tfcvt.s.d ft3, ft2\n\tfmv.x.d %[d], ft3"
               : [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d)
               : [v] "r"(0x123456783f800000), [p] "r"(&w)
               : "ft0", "ft1", "ft2", "ft3", "memory");
  out_str("boxed writes ");
  out_h64(a);
  out_sp();
  out_h64(b);
  out_sp();
  out_h64(c);
  out_sp();
  out_h64(d);
  out_nl();
}
#endif

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  binary();
  unary();
  fma();
  loadstore();
#if PREC == 32
  nanbox();
#endif
  return 0;
}
