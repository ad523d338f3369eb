/* RV64I and M, every instruction: register-register and immediate ALU ops
 * (64-bit and W forms) over a table of edge values, loads and stores at every
 * alignment, branches, jal/jalr, lui/auipc, fences, and M including division
 * by zero and the INT_MIN / -1 overflow. One line per (op, a): the results for
 * every b. Read next: atomic.c. */
#include "lib/rt.h"

static const u64 V[] = {
    0,
    1,
    2,
    0xffffffffffffffff,
    0xfffffffffffffffe,
    0x7fffffffffffffff,
    0x8000000000000000,
    0x000000007fffffff,
    0x0000000080000000,
    0x00000000ffffffff,
    0xffffffff80000000,
    0x123456789abcdef0,
    0xfedcba9876543211,
    31,
    33,
    63,
    0x5555555555555555,
};
#define NV (sizeof V / sizeof V[0])

#define RR(OP, N)                                                   \
  static u64 N(u64 a, u64 b) {                                      \
    u64 r;                                                          \
    asm volatile(OP " %0,%1,%2" : "=r"(r) : "r"(a), "r"(b));        \
    return r;                                                       \
  }
RR("add", f_add)
RR("sub", f_sub)
RR("sll", f_sll)
RR("slt", f_slt)
RR("sltu", f_sltu)
RR("xor", f_xor)
RR("srl", f_srl)
RR("sra", f_sra)
RR("or", f_or)
RR("and", f_and)
RR("addw", f_addw)
RR("subw", f_subw)
RR("sllw", f_sllw)
RR("srlw", f_srlw)
RR("sraw", f_sraw)
RR("mul", f_mul)
RR("mulh", f_mulh)
RR("mulhsu", f_mulhsu)
RR("mulhu", f_mulhu)
RR("div", f_div)
RR("divu", f_divu)
RR("rem", f_rem)
RR("remu", f_remu)
RR("mulw", f_mulw)
RR("divw", f_divw)
RR("divuw", f_divuw)
RR("remw", f_remw)
RR("remuw", f_remuw)

struct rr {
  const char *name;
  u64 (*f)(u64, u64);
};
static const struct rr RRS[] = {
    {"add", f_add},       {"sub", f_sub},       {"sll", f_sll},     {"slt", f_slt},
    {"sltu", f_sltu},     {"xor", f_xor},       {"srl", f_srl},     {"sra", f_sra},
    {"or", f_or},         {"and", f_and},       {"addw", f_addw},   {"subw", f_subw},
    {"sllw", f_sllw},     {"srlw", f_srlw},     {"sraw", f_sraw},   {"mul", f_mul},
    {"mulh", f_mulh},     {"mulhsu", f_mulhsu}, {"mulhu", f_mulhu}, {"div", f_div},
    {"divu", f_divu},     {"rem", f_rem},       {"remu", f_remu},   {"mulw", f_mulw},
    {"divw", f_divw},     {"divuw", f_divuw},   {"remw", f_remw},   {"remuw", f_remuw},
};

/* Immediate forms: one function per (op, immediate), each applied to all of V. */
#define RI(OP, IMM)                                                        \
  {                                                                        \
    out_str(OP " " #IMM ":");                                              \
    for (unsigned i = 0; i < NV; i++) {                                    \
      u64 r;                                                               \
      asm volatile(OP " %0,%1," #IMM : "=r"(r) : "r"(V[i]));               \
      out_sp();                                                            \
      out_h64(r);                                                          \
    }                                                                      \
    out_nl();                                                              \
  }
#define RI6(OP)  \
  RI(OP, 0)      \
  RI(OP, 1)      \
  RI(OP, -1)     \
  RI(OP, 2047)   \
  RI(OP, -2048)  \
  RI(OP, 0x555)

static void imm_ops(void) {
  RI6("addi")
  RI6("slti")
  RI6("sltiu")
  RI6("xori")
  RI6("ori")
  RI6("andi")
  RI6("addiw")
  RI("slli", 0) RI("slli", 1) RI("slli", 31) RI("slli", 32) RI("slli", 63)
  RI("srli", 0) RI("srli", 1) RI("srli", 31) RI("srli", 32) RI("srli", 63)
  RI("srai", 0) RI("srai", 1) RI("srai", 31) RI("srai", 32) RI("srai", 63)
  RI("slliw", 0) RI("slliw", 1) RI("slliw", 31)
  RI("srliw", 0) RI("srliw", 1) RI("srliw", 31)
  RI("sraiw", 0) RI("sraiw", 1) RI("sraiw", 31)
}

#define LUI(IMM)                                 \
  {                                              \
    u64 r;                                       \
    asm volatile("lui %0," #IMM : "=r"(r));      \
    out_str("lui " #IMM " ");                    \
    out_h64(r);                                  \
    out_nl();                                    \
  }

static void upper_ops(void) {
  LUI(0) LUI(1) LUI(0x7ffff) LUI(0x80000) LUI(0xfffff) LUI(0x12345)
  /* auipc: print the distance from the instruction's own address. */
  u64 here, got;
  asm volatile("1: auipc %0, 0\n\tla %1, 1b" : "=r"(got), "=r"(here));
  out_str("auipc 0 ");
  out_h64(got - here);
  out_nl();
  asm volatile("1: auipc %0, 0x12345\n\tla %1, 1b" : "=r"(got), "=r"(here));
  out_str("auipc 0x12345 ");
  out_h64(got - here);
  out_nl();
  asm volatile("1: auipc %0, 0xfffff\n\tla %1, 1b" : "=r"(got), "=r"(here));
  out_str("auipc 0xfffff ");
  out_h64(got - here);
  out_nl();
}

static u8 mem[64] __attribute__((aligned(16)));

static void fill_mem(void) {
  for (int i = 0; i < 64; i++) mem[i] = (u8)(0x81 + i * 0x17);
}

#define LOAD(OP)                                                                  \
  {                                                                               \
    out_str(OP ":");                                                              \
    for (int off = 0; off < 9; off++) {                                           \
      u64 r;                                                                      \
      asm volatile(OP " %0, 0(%1)" : "=r"(r) : "r"(mem + off) : "memory");      \
      out_sp();                                                                   \
      out_h64(r);                                                                 \
    }                                                                             \
    u64 r1, r2;                                                                   \
    asm volatile(OP " %0, 8(%2)\n\t" OP " %1, -8(%3)"                             \
                 : "=&r"(r1), "=&r"(r2) : "r"(mem), "r"(mem + 24) : "memory");       \
    out_str(" ofs ");                                                             \
    out_h64(r1);                                                                  \
    out_sp();                                                                     \
    out_h64(r2);                                                                  \
    out_nl();                                                                     \
  }

static void dump_mem(const char *what) {
  out_str(what);
  out_str(":");
  for (int i = 0; i < 32; i++) {
    if (i % 8 == 0) out_sp();
    out_h8(mem[i]);
  }
  out_nl();
}

#define STORE(OP)                                                                 \
  for (int off = 0; off < 9; off++) {                                             \
    memset(mem, 0, 32);                                                           \
    asm volatile(OP " %0, 0(%1)" : : "r"(0x8877665544332211), "r"(mem + off) : "memory"); \
    asm volatile(OP " %0, 20(%1)" : : "r"(0xfedcba9876543210), "r"(mem) : "memory"); \
    dump_mem(OP);                                                                 \
  }

static void mem_ops(void) {
  fill_mem();
  LOAD("lb")
  LOAD("lh")
  LOAD("lw")
  LOAD("ld")
  LOAD("lbu")
  LOAD("lhu")
  LOAD("lwu")
  STORE("sb")
  STORE("sh")
  STORE("sw")
  STORE("sd")
}

/* Branches: bit j of the mask is set if the branch was taken for (V[i], V[j]). */
#define BR(OP)                                                                 \
  {                                                                            \
    out_str(OP ":");                                                           \
    for (unsigned i = 0; i < NV; i++) {                                        \
      u64 m = 0;                                                               \
      for (unsigned j = 0; j < NV; j++) {                                      \
        u64 t;                                                                 \
        asm volatile("li %0, 1\n\t" OP " %1, %2, 1f\n\tli %0, 0\n1:"           \
                     : "=&r"(t) : "r"(V[i]), "r"(V[j]));                       \
        m |= t << j;                                                           \
      }                                                                        \
      out_sp();                                                                \
      out_hex(m, 5);                                                           \
    }                                                                          \
    out_nl();                                                                  \
  }

/* Misaligned accesses that straddle a page boundary (both pages mapped): the
 * emulator must split them across two translations. */
static u8 pages[8192] __attribute__((aligned(4096)));

#define XLOAD(OP, BACK)                                                            \
  {                                                                                \
    u64 r;                                                                         \
    asm volatile(OP " %0, 0(%1)" : "=r"(r) : "r"(pages + 4096 - BACK) : "memory"); \
    out_str(OP " page-" #BACK " ");                                                \
    out_h64(r);                                                                    \
    out_nl();                                                                      \
  }
#define XSTORE(OP, BACK)                                                           \
  {                                                                                \
    for (int i = 4088; i < 4104; i++) pages[i] = 0xee;                             \
    asm volatile(OP " %0, 0(%1)" : : "r"(0x0102030405060708), "r"(pages + 4096 - BACK) \
                 : "memory");                                                      \
    out_str(OP " page-" #BACK ":");                                                \
    for (int i = 4088; i < 4104; i++) out_h8(pages[i]);                            \
    out_nl();                                                                      \
  }

static void cross_page(void) {
  for (int i = 0; i < 8192; i++) pages[i] = (u8)(i * 13 + 7);
  XLOAD("lh", 1) XLOAD("lhu", 1) XLOAD("lw", 1) XLOAD("lw", 3) XLOAD("lwu", 2)
  XLOAD("ld", 1) XLOAD("ld", 4) XLOAD("ld", 7)
  XSTORE("sh", 1) XSTORE("sw", 1) XSTORE("sw", 3) XSTORE("sd", 1) XSTORE("sd", 5)
  XSTORE("sd", 7)
  u64 r;
  for (int i = 0; i < 8192; i++) pages[i] = (u8)(i * 13 + 7);
  asm volatile("fld ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(pages + 4093) : "ft0", "memory");
  out_str("fld page-3 ");
  out_h64(r);
  out_nl();
  asm volatile("flw ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(pages + 4094) : "ft0", "memory");
  out_str("flw page-2 ");
  out_h64(r);
  out_nl();
  for (int i = 4088; i < 4104; i++) pages[i] = 0xee;
  asm volatile("fmv.d.x ft0, %0\n\tfsd ft0, 0(%1)\n\tfsw ft0, 8(%1)" : : "r"(0x1112131415161718),
               "r"(pages + 4090) : "ft0", "memory");
  out_str("fsd page-6, fsw page+2:");
  for (int i = 4088; i < 4104; i++) out_h8(pages[i]);
  out_nl();
}

static void branch_ops(void) {
  BR("beq")
  BR("bne")
  BR("blt")
  BR("bge")
  BR("bltu")
  BR("bgeu")
  /* Backward branch taken in a loop. */
  u64 n = 0, k = 10;
  asm volatile("1: addi %0, %0, 3\n\taddi %1, %1, -1\n\tbnez %1, 1b" : "+r"(n), "+r"(k));
  out_str("loop ");
  out_h64(n);
  out_nl();
}

static void jump_ops(void) {
  u64 link, target, r;
  /* jal: the link is the address after the jal. */
  asm volatile("jal %0, 1f\n2: nop\n1: la %1, 2b" : "=r"(link), "=r"(target));
  out_str("jal link ");
  out_h64(link - target);
  out_nl();
  /* jal x0 (plain jump) over an instruction that must not run. */
  r = 1;
  asm volatile("jal x0, 1f\n\tli %0, 2\n1:" : "+r"(r));
  out_str("j ");
  out_h64(r);
  out_nl();
  /* jalr with an offset and an odd target: bit 0 is cleared. */
  asm volatile("la t0, 1f\n\taddi t0, t0, -7\n\tjalr %0, 8(t0)\n\tli %1, 99\n\tj 2f\n"
               "1: nop\n\tla %1, 1b\n\tsub %1, %1, %0\n2:"
               : "=&r"(link), "=&r"(r) : : "t0");
  out_str("jalr odd ");
  out_h64(r);
  out_nl();
  /* jalr with rd == rs1: the target is read before the link is written. */
  asm volatile("la %0, 1f\n\tjalr %0, 0(%0)\n\tli %1, 99\n\tj 2f\n"
               "1: la %1, 1b\n\tsub %1, %0, %1\n2:"
               : "=&r"(link), "=&r"(r));
  out_str("jalr rd=rs1 ");
  out_h64(r);
  out_nl();
  /* jalr with a negative offset and x0 link. */
  asm volatile("li %0, 5\n\tla t0, 1f\n\taddi t0, t0, 16\n\tjalr x0, -16(t0)\n\tli %0, 7\n1:"
               : "=&r"(r) : : "t0");
  out_str("jalr neg ");
  out_h64(r);
  out_nl();
  /* x0 stays zero whatever is written to it. */
  asm volatile("addi x0, x0, 5\n\tlui x0, 1\n\tmv %0, x0" : "=r"(r));
  out_str("x0 ");
  out_h64(r);
  out_nl();
}

static void fence_ops(void) {
  asm volatile("fence\n\tfence rw, rw\n\tfence iorw, iorw\n\tfence r, r\n\tfence w, w\n\t"
               "fence.tso\n\tfence i, o\n\tnop" ::: "memory");
  out_str("fences ok\n");
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (unsigned k = 0; k < sizeof RRS / sizeof RRS[0]; k++) {
    for (unsigned i = 0; i < NV; i++) {
      out_str(RRS[k].name);
      out_sp();
      out_h64(V[i]);
      out_ch(':');
      for (unsigned j = 0; j < NV; j++) {
        out_sp();
        out_h64(RRS[k].f(V[i], V[j]));
      }
      out_nl();
    }
  }
  imm_ops();
  upper_ops();
  mem_ops();
  cross_page();
  branch_ops();
  jump_ops();
  fence_ops();
  return 0;
}
