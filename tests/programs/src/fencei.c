/* Zifencei: code written into memory with ordinary stores runs after
 * fence.i — a fresh routine, the same routine rewritten after it has run
 * a thousand times (a decode cache must notice), 16-bit code, a routine that
 * rewrites its own next instruction, and a 32-bit instruction that straddles
 * a page boundary. Read next: fault.c. */
#include "lib/rt.h"

extern u32 smc_buf[];
extern long smc_self(long insn);
extern long straddle(void);

typedef long (*fn)(long);

/* I-type encoding: opcode 0x13 (OP-IMM), funct3 0 = addi. */
static u32 addi(int rd, int rs1, int imm) {
  return ((u32)(imm & 0xfff) << 20) | ((u32)rs1 << 15) | ((u32)rd << 7) | 0x13;
}
#define RET 0x00008067u /* jalr x0, 0(ra) */
#define A0 10

static void show(const char *what, long v) {
  out_str(what);
  out_sp();
  out_h64((u64)v);
  out_nl();
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fn f = (fn)(void *)smc_buf;
  smc_buf[0] = addi(A0, A0, 1);
  smc_buf[1] = RET;
  asm volatile("fence.i" ::: "memory");
  show("fresh addi 1 (10)", f(10));
  long acc = 0;
  for (int i = 0; i < 1000; i++) acc += f(i);
  show("hot sum", acc);
  smc_buf[0] = addi(A0, A0, 7);
  asm volatile("fence.i" ::: "memory");
  show("rewritten addi 7 (10)", f(10));
  /* Two instructions, the second rewritten alone. */
  smc_buf[0] = addi(A0, A0, 100);
  smc_buf[1] = addi(A0, A0, 20);
  smc_buf[2] = RET;
  asm volatile("fence.i" ::: "memory");
  show("two (0)", f(0));
  smc_buf[1] = addi(A0, A0, -20);
  asm volatile("fence.i" ::: "memory");
  show("second rewritten (0)", f(0));
  /* 16-bit code: c.addi a0, 3 ; c.jr ra. */
  u16 *h = (u16 *)smc_buf;
  h[0] = 0x050d; /* c.addi a0, 3 */
  h[1] = 0x8082; /* c.jr ra */
  asm volatile("fence.i" ::: "memory");
  show("compressed c.addi 3 (10)", f(10));
  h[0] = 0x157d; /* c.addi a0, -1 */
  asm volatile("fence.i" ::: "memory");
  show("compressed c.addi -1 (10)", f(10));
  /* A 32-bit instruction at a 2-byte boundary written with halfword stores. */
  u32 w = addi(A0, A0, 0x55);
  h[0] = 0x0001; /* c.nop */
  h[1] = (u16)w;
  h[2] = (u16)(w >> 16);
  h[3] = 0x8082;
  asm volatile("fence.i" ::: "memory");
  show("misaligned addi 0x55 (0)", f(0));
  show("self-modifying (addi a0, zero, 42)", smc_self(addi(A0, 0, 42)));
  show("self-modifying again (addi a0, zero, -3)", smc_self(addi(A0, 0, -3)));
  show("page-straddling addi", straddle());
  return 0;
}
