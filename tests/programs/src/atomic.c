/* A: LR/SC success and failure (no reservation, wrong address, reservation
 * used up), sign extension of lr.w/amo*.w results, and every AMO in .w and .d
 * form (with aq/rl variants) over pairs of edge values: prints the old value
 * returned in rd and the memory after, plus the neighbouring word so a .w
 * that writes 8 bytes shows. Read next: compressed.c. */
#include "lib/rt.h"

static const u64 V[] = {
    0,
    1,
    0xffffffffffffffff,
    0x7fffffffffffffff,
    0x8000000000000000,
    0x000000007fffffff,
    0x0000000080000000,
    0x00000000ffffffff,
    0x123456789abcdef0,
};
#define NV (sizeof V / sizeof V[0])

static volatile u64 cell[4] __attribute__((aligned(64)));
/* Far from cell (another reservation granule whatever its size up to a page). */
static volatile u64 far[2] __attribute__((aligned(4096)));

#define AMO(OP, N)                                                              \
  static u64 N(volatile u64 *p, u64 v) {                                        \
    u64 r;                                                                      \
    asm volatile(OP " %0, %2, (%1)" : "=r"(r) : "r"(p), "r"(v) : "memory");      \
    return r;                                                                   \
  }
AMO("amoswap.w", swap_w)
AMO("amoadd.w.aq", add_w)
AMO("amoxor.w.rl", xor_w)
AMO("amoand.w.aqrl", and_w)
AMO("amoor.w", or_w)
AMO("amomin.w", min_w)
AMO("amomax.w.aq", max_w)
AMO("amominu.w.rl", minu_w)
AMO("amomaxu.w.aqrl", maxu_w)
AMO("amoswap.d.aqrl", swap_d)
AMO("amoadd.d", add_d)
AMO("amoxor.d.aq", xor_d)
AMO("amoand.d.rl", and_d)
AMO("amoor.d.aqrl", or_d)
AMO("amomin.d.aq", min_d)
AMO("amomax.d", max_d)
AMO("amominu.d.aqrl", minu_d)
AMO("amomaxu.d.rl", maxu_d)

struct amo {
  const char *name;
  u64 (*f)(volatile u64 *, u64);
  int word;
};
static const struct amo AMOS[] = {
    {"amoswap.w", swap_w, 1}, {"amoadd.w", add_w, 1},   {"amoxor.w", xor_w, 1},
    {"amoand.w", and_w, 1},   {"amoor.w", or_w, 1},     {"amomin.w", min_w, 1},
    {"amomax.w", max_w, 1},   {"amominu.w", minu_w, 1}, {"amomaxu.w", maxu_w, 1},
    {"amoswap.d", swap_d, 0}, {"amoadd.d", add_d, 0},   {"amoxor.d", xor_d, 0},
    {"amoand.d", and_d, 0},   {"amoor.d", or_d, 0},     {"amomin.d", min_d, 0},
    {"amomax.d", max_d, 0},   {"amominu.d", minu_d, 0}, {"amomaxu.d", maxu_d, 0},
};

static void line(const char *what, u64 a, u64 b, u64 c) {
  out_str(what);
  out_sp();
  out_h64(a);
  out_sp();
  out_h64(b);
  out_sp();
  out_h64(c);
  out_nl();
}

static void lrsc(void) {
  u64 old, rc;
  /* lr.w / sc.w success; lr.w sign-extends. */
  cell[0] = 0x11111111f0000001;
  asm volatile("lr.w %0, (%2)\n\tsc.w %1, %3, (%2)"
               : "=&r"(old), "=&r"(rc) : "r"(cell), "r"(0xaaaaaaaa22222222) : "memory");
  line("lr.w/sc.w ok", old, rc, cell[0]);
  /* A second sc.w after a successful one has no reservation: fails, no store. */
  asm volatile("sc.w %0, %2, (%1)" : "=&r"(rc) : "r"(cell), "r"(0x33333333) : "memory");
  line("sc.w again", 0, rc, cell[0]);
  /* sc.w to another address than the lr.w's fails. */
  far[0] = 0x5555555566666666;
  asm volatile("lr.w %0, (%2)\n\tsc.w %1, %3, (%4)"
               : "=&r"(old), "=&r"(rc)
               : "r"(cell), "r"(0x77777777), "r"(far)
               : "memory");
  line("sc.w other addr", rc, cell[0], far[0]);
  /* Clear any reservation, then lr.d / sc.d succeed. */
  asm volatile("sc.d %0, zero, (%1)" : "=&r"(rc) : "r"(cell + 2) : "memory");
  cell[0] = 0x8000000000000001;
  asm volatile("lr.d.aq %0, (%2)\n\tsc.d.rl %1, %3, (%2)"
               : "=&r"(old), "=&r"(rc) : "r"(cell), "r"(0x0123456789abcdef) : "memory");
  line("lr.d/sc.d ok", old, rc, cell[0]);
  asm volatile("sc.d %0, %2, (%1)" : "=&r"(rc) : "r"(cell), "r"(0x42) : "memory");
  line("sc.d again", 0, rc, cell[0]);
  asm volatile("lr.d.aqrl %0, (%2)\n\tsc.d.aqrl %1, %3, (%4)"
               : "=&r"(old), "=&r"(rc)
               : "r"(cell), "r"(0x99), "r"(far)
               : "memory");
  line("sc.d other addr", rc, cell[0], far[0]);
  /* A typical retry loop: atomic increment with lr/sc. */
  cell[0] = 41;
  asm volatile("1: lr.d %0, (%2)\n\taddi %0, %0, 1\n\tsc.d %1, %0, (%2)\n\tbnez %1, 1b"
               : "=&r"(old), "=&r"(rc) : "r"(cell) : "memory");
  line("lr/sc loop", old, rc, cell[0]);
  /* lr.w.aqrl / sc.w.aqrl. */
  cell[0] = 0x00000000ffffffff;
  asm volatile("lr.w.aqrl %0, (%2)\n\tsc.w.aqrl %1, zero, (%2)"
               : "=&r"(old), "=&r"(rc) : "r"(cell) : "memory");
  line("lr.w.aqrl/sc.w.aqrl", old, rc, cell[0]);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  lrsc();
  for (unsigned k = 0; k < sizeof AMOS / sizeof AMOS[0]; k++) {
    for (unsigned i = 0; i < NV; i++) {
      out_str(AMOS[k].name);
      out_sp();
      out_h64(V[i]);
      out_ch(':');
      for (unsigned j = 0; j < NV; j++) {
        /* .w ops work on cell[0]'s low word; the high word is a sentinel. */
        cell[0] = AMOS[k].word ? (0xa5a5a5a500000000 | (V[i] & 0xffffffff)) : V[i];
        u64 old = AMOS[k].f(cell, V[j]);
        out_sp();
        out_h64(old);
        out_ch('/');
        out_h64(cell[0]);
      }
      out_nl();
    }
  }
  /* rd = x0 still performs the memory operation. */
  cell[0] = 5;
  asm volatile("amoadd.d zero, %1, (%0)" : : "r"(cell), "r"(7) : "memory");
  line("amoadd rd=x0", cell[0], 0, 0);
  /* rd == rs2: the old value lands in rd after the operation used rs2. */
  cell[0] = 100;
  u64 r = 3;
  asm volatile("amoadd.d %0, %0, (%1)" : "+r"(r) : "r"(cell) : "memory");
  line("amoadd rd=rs2", r, cell[0], 0);
  return 0;
}
