/* C: every RV64C instruction, each written as an explicit c.* mnemonic inside
 * `.option rvc` so the assembler must emit the 16-bit form (it refuses if it
 * cannot). Register operands are pinned to x8..x15 where the encoding needs
 * them. The FP forms c.fld/c.fsd/c.fldsp/c.fsdsp are here too. c.ebreak is
 * in fault.c. Read next: csr.c. */
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
    0xfedcba9876543211,
};
#define NV (sizeof V / sizeof V[0])

#define PUSH ".option push\n\t.option rvc\n\t"
#define POP "\n\t.option pop"

/* Two-register forms: c.add c.mv c.sub c.xor c.or c.and c.subw c.addw. */
#define CRR(OP, N)                                                   \
  static u64 N(u64 x, u64 y) {                                       \
    register u64 a asm("a0") = x;                                    \
    register u64 b asm("a1") = y;                                    \
    asm volatile(PUSH OP " a0, a1" POP : "+r"(a) : "r"(b));          \
    return a;                                                        \
  }
CRR("c.add", c_add)
CRR("c.mv", c_mv)
CRR("c.sub", c_sub)
CRR("c.xor", c_xor)
CRR("c.or", c_or)
CRR("c.and", c_and)
CRR("c.subw", c_subw)
CRR("c.addw", c_addw)

struct crr {
  const char *name;
  u64 (*f)(u64, u64);
};
static const struct crr CRRS[] = {
    {"c.add", c_add}, {"c.mv", c_mv},   {"c.sub", c_sub},   {"c.xor", c_xor},
    {"c.or", c_or},   {"c.and", c_and}, {"c.subw", c_subw}, {"c.addw", c_addw},
};

/* Register-immediate forms, applied to all of V. */
#define CRI(OP, IMM)                                                     \
  {                                                                      \
    out_str(OP " " #IMM ":");                                            \
    for (unsigned i = 0; i < NV; i++) {                                  \
      register u64 a asm("a2") = V[i];                                   \
      asm volatile(PUSH OP " a2, " #IMM POP : "+r"(a));                  \
      u64 res = a; /* read the pinned register before any call */        \
      out_sp();                                                          \
      out_h64(res);                                                      \
    }                                                                    \
    out_nl();                                                            \
  }

static void imm_ops(void) {
  CRI("c.addi", 1) CRI("c.addi", -1) CRI("c.addi", 31) CRI("c.addi", -32)
  CRI("c.addiw", 0) CRI("c.addiw", 1) CRI("c.addiw", 31) CRI("c.addiw", -32)
  CRI("c.li", 0) CRI("c.li", -1) CRI("c.li", 31) CRI("c.li", -32)
  CRI("c.lui", 1) CRI("c.lui", 31) CRI("c.lui", 0xfffe0) CRI("c.lui", 0xfffff)
  CRI("c.slli", 1) CRI("c.slli", 31) CRI("c.slli", 32) CRI("c.slli", 63)
  CRI("c.srli", 1) CRI("c.srli", 31) CRI("c.srli", 32) CRI("c.srli", 63)
  CRI("c.srai", 1) CRI("c.srai", 31) CRI("c.srai", 32) CRI("c.srai", 63)
  CRI("c.andi", 0) CRI("c.andi", -1) CRI("c.andi", 31) CRI("c.andi", -32)
  u64 r = 77;
  asm volatile(PUSH "c.nop" POP);
  out_str("c.nop ok\n");
  (void)r;
}

static u8 buf[528] __attribute__((aligned(16))); /* 512 + room for dump() */

static void fill(void) {
  for (int i = 0; i < 528; i++) buf[i] = (u8)(i * 7 + 0x93);
}

#define CLOAD(OP, OFF)                                                        \
  {                                                                           \
    register u64 a asm("a0");                                                 \
    register u8 *b asm("a1") = buf;                                           \
    asm volatile(PUSH OP " a0, " #OFF "(a1)" POP : "=r"(a) : "r"(b) : "memory"); \
    u64 res = a;                                                              \
    out_str(OP " " #OFF " ");                                                 \
    out_h64(res);                                                             \
    out_nl();                                                                 \
  }
#define CFLD(OFF)                                                             \
  {                                                                           \
    register u64 a asm("a0");                                                 \
    register u8 *b asm("a1") = buf;                                           \
    asm volatile(PUSH "c.fld fa2, " #OFF "(a1)\n\tfmv.x.d a0, fa2" POP         \
                 : "=r"(a) : "r"(b) : "memory", "fa2");                       \
    u64 res = a;                                                              \
    out_str("c.fld " #OFF " ");                                               \
    out_h64(res);                                                             \
    out_nl();                                                                 \
  }
#define CSTORE(OP, OFF)                                                       \
  {                                                                           \
    fill();                                                                   \
    register u64 a asm("a0") = 0x0102030405060708;                            \
    register u8 *b asm("a1") = buf;                                           \
    asm volatile(PUSH OP " a0, " #OFF "(a1)" POP : : "r"(a), "r"(b) : "memory"); \
    dump(OP " " #OFF, OFF);                                                   \
  }
#define CFSD(OFF)                                                             \
  {                                                                           \
    fill();                                                                   \
    register u64 a asm("a0") = 0x1112131415161718;                            \
    register u8 *b asm("a1") = buf;                                           \
    asm volatile(PUSH "fmv.d.x fs1, a0\n\tc.fsd fs1, " #OFF "(a1)" POP          \
                 : : "r"(a), "r"(b) : "memory", "fs1");                       \
    dump("c.fsd " #OFF, OFF);                                                 \
  }

/* Prints the 16 bytes of buf around `off`. */
static void dump(const char *what, int off) {
  out_str(what);
  out_ch(':');
  int s = off >= 4 ? off - 4 : 0;
  for (int i = s; i < s + 16; i++) {
    out_sp();
    out_h8(buf[i]);
  }
  out_nl();
}

/* Stack-pointer relative forms: a 512-byte frame filled from buf, then the
 * compressed load reads from it (or the compressed store writes into it and
 * the frame is copied back to buf). */
#define SPLOAD(OP, OFF, F)                                                    \
  {                                                                           \
    u64 r;                                                                    \
    asm volatile(PUSH "c.addi16sp sp, -512\n\t"                               \
                 "li t0, 0\n1:\tadd t1, %1, t0\n\tld t2, 0(t1)\n\tadd t1, sp, t0\n\t" \
                 "sd t2, 0(t1)\n\taddi t0, t0, 8\n\tli t1, 512\n\tblt t0, t1, 1b\n\t" \
                 OP " " F ", " #OFF "(sp)\n\t"                                \
                 "c.addi16sp sp, 496\n\tc.addi16sp sp, 16\n\t" "mv %0, a3"                          \
                 POP : "=r"(r) : "r"(buf) : "t0", "t1", "t2", "a3", "fa3", "memory"); \
    out_str(OP " " #OFF " ");                                                 \
    out_h64(r);                                                               \
    out_nl();                                                                 \
  }
#define SPSTORE(OP, OFF, PRE, F)                                              \
  {                                                                           \
    fill();                                                                   \
    asm volatile(PUSH "c.addi16sp sp, -512\n\t"                               \
                 "li t0, 0\n1:\tadd t1, %0, t0\n\tld t2, 0(t1)\n\tadd t1, sp, t0\n\t" \
                 "sd t2, 0(t1)\n\taddi t0, t0, 8\n\tli t1, 512\n\tblt t0, t1, 1b\n\t" \
                 "li a3, 0x2122232425262728\n\t" PRE                          \
                 OP " " F ", " #OFF "(sp)\n\t"                                \
                 "li t0, 0\n1:\tadd t1, sp, t0\n\tld t2, 0(t1)\n\tadd t1, %0, t0\n\t" \
                 "sd t2, 0(t1)\n\taddi t0, t0, 8\n\tli t1, 512\n\tblt t0, t1, 1b\n\t" \
                 "c.addi16sp sp, 496\n\tc.addi16sp sp, 16"                                         \
                 POP : : "r"(buf) : "t0", "t1", "t2", "a3", "fa3", "memory"); \
    dump(OP " " #OFF, OFF);                                                   \
  }

static void mem_ops(void) {
  fill();
  CLOAD("c.lw", 0) CLOAD("c.lw", 4) CLOAD("c.lw", 64) CLOAD("c.lw", 124)
  CLOAD("c.ld", 0) CLOAD("c.ld", 8) CLOAD("c.ld", 128) CLOAD("c.ld", 248)
  CFLD(0) CFLD(8) CFLD(248)
  CSTORE("c.sw", 0) CSTORE("c.sw", 4) CSTORE("c.sw", 124)
  CSTORE("c.sd", 0) CSTORE("c.sd", 8) CSTORE("c.sd", 248)
  CFSD(0) CFSD(16) CFSD(248)
  fill();
  SPLOAD("c.lwsp", 0, "a3") SPLOAD("c.lwsp", 4, "a3") SPLOAD("c.lwsp", 252, "a3")
  SPLOAD("c.ldsp", 0, "a3") SPLOAD("c.ldsp", 8, "a3") SPLOAD("c.ldsp", 504, "a3")
  {
    u64 r;
    asm volatile(PUSH "c.addi16sp sp, -512\n\t"
                 "li t0, 0\n1:\tadd t1, %1, t0\n\tld t2, 0(t1)\n\tadd t1, sp, t0\n\t"
                 "sd t2, 0(t1)\n\taddi t0, t0, 8\n\tli t1, 512\n\tblt t0, t1, 1b\n\t"
                 "c.fldsp fa3, 0(sp)\n\tfmv.x.d t0, fa3\n\t"
                 "c.fldsp fa3, 504(sp)\n\tfmv.x.d t1, fa3\n\txor %0, t0, t1\n\t"
                 "c.addi16sp sp, 496\n\tc.addi16sp sp, 16" POP
                 : "=r"(r) : "r"(buf) : "t0", "t1", "t2", "fa3", "memory");
    out_str("c.fldsp 0^504 ");
    out_h64(r);
    out_nl();
  }
  SPSTORE("c.swsp", 0, "", "a3") SPSTORE("c.swsp", 4, "", "a3") SPSTORE("c.swsp", 252, "", "a3")
  SPSTORE("c.sdsp", 0, "", "a3") SPSTORE("c.sdsp", 8, "", "a3") SPSTORE("c.sdsp", 504, "", "a3")
  SPSTORE("c.fsdsp", 0, "fmv.d.x fa3, a3\n\t", "fa3")
  SPSTORE("c.fsdsp", 504, "fmv.d.x fa3, a3\n\t", "fa3")
  /* c.addi4spn and c.addi16sp: distances from sp. */
  u64 d1, d2, d3;
  asm volatile(PUSH "c.addi4spn a4, sp, 4\n\tsub %0, a4, sp\n\t"
               "c.addi4spn a4, sp, 1020\n\tsub %1, a4, sp\n\t"
               "mv a5, sp\n\tc.addi16sp sp, -16\n\tc.addi16sp sp, 496\n\tsub %2, sp, a5\n\t"
               "mv sp, a5" POP
               : "=r"(d1), "=r"(d2), "=r"(d3) : : "a4", "a5");
  out_str("c.addi4spn 4 ");
  out_h64(d1);
  out_str(" 1020 ");
  out_h64(d2);
  out_str(" c.addi16sp -16+496 ");
  out_h64(d3);
  out_nl();
}

static void control_ops(void) {
  for (unsigned i = 0; i < NV; i++) {
    register u64 a asm("a0") = V[i];
    u64 tz, tnz; /* outputs in ordinary registers: safe across the calls below */
    asm volatile(PUSH "li %0, 1\n\tc.beqz a0, 1f\n\tli %0, 0\n1:\t"
                 "li %1, 1\n\tc.bnez a0, 2f\n\tli %1, 0\n2:" POP
                 : "=&r"(tz), "=&r"(tnz) : "r"(a));
    out_str("c.beqz/c.bnez ");
    out_h64(V[i]);
    out_sp();
    out_h64(tz);
    out_sp();
    out_h64(tnz);
    out_nl();
  }
  u64 r = 1;
  asm volatile(PUSH "c.j 1f\n\tli %0, 2\n1:" POP : "+r"(r));
  out_str("c.j ");
  out_h64(r);
  out_nl();
  /* Backward c.bnez / c.j loop. */
  register u64 n asm("a1") = 0;
  register u64 k asm("a2") = 7;
  asm volatile(PUSH "1:\tc.addi a1, 5\n\tc.addi a2, -1\n\tc.bnez a2, 1b\n\t"
               "c.j 3f\n2:\tc.li a1, 0\n3:" POP : "+r"(n), "+r"(k));
  u64 res = n;
  out_str("c.loop ");
  out_h64(res);
  out_nl();
  /* c.jr: jump through a register; c.jalr: link = pc + 2. */
  u64 link, here;
  r = 5;
  asm volatile(PUSH "la t0, 1f\n\tc.jr t0\n\tli %0, 6\n1:" POP : "+r"(r) : : "t0");
  out_str("c.jr ");
  out_h64(r);
  out_nl();
  asm volatile(PUSH "la t0, 1f\n2:\tc.jalr t0\n\tnop\n1:\tmv %0, ra\n\tla %1, 2b" POP
               : "=r"(link), "=r"(here) : : "t0", "ra");
  out_str("c.jalr link ");
  out_h64(link - here);
  out_nl();
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (unsigned k = 0; k < sizeof CRRS / sizeof CRRS[0]; k++) {
    for (unsigned i = 0; i < NV; i++) {
      out_str(CRRS[k].name);
      out_sp();
      out_h64(V[i]);
      out_ch(':');
      for (unsigned j = 0; j < NV; j++) {
        out_sp();
        out_h64(CRRS[k].f(V[i], V[j]));
      }
      out_nl();
    }
  }
  imm_ops();
  mem_ops();
  control_ops();
  return 0;
}
