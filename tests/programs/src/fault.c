/* Faults a program cannot handle, one per run (argv[1] names it): the runner
 * must end the process the way qemu-riscv64 does — killed by the signal Linux
 * would send (status 128 + signal) — after the output printed before the
 * fault. Also `exit N` for the plain exit-status path. Read next: args.c. */
#include "lib/rt.h"

static int eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static u64 data_word[4] = {0x0000100f0000100full, 0, 0, 0};

/* A writable and executable buffer for `exec HEX`: one instruction given on
 * the command line, then c.jr ra back to us. */
asm(".pushsection .xbuf,\"awx\",@progbits\n.balign 4096\n.globl xbuf\nxbuf: .skip 64\n.popsection");
extern u16 xbuf[];

static u64 parse_hex(const char *s) {
  u64 v = 0;
  for (; *s; s++) v = v * 16 + (u64)(*s <= '9' ? *s - '0' : (*s | 32) - 'a' + 10);
  return v;
}

static int length(const char *s) {
  int n = 0;
  while (s[n]) n++;
  return n;
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  out_str("fault test: ");
  out_str(what);
  out_nl();
  out_flush();
  if (eq(what, "ill")) {
    asm volatile(".4byte 0xffffffff"); /* not a defined instruction */
  } else if (eq(what, "c.unimp")) {
    asm volatile(".2byte 0x0000"); /* the all-zero 16-bit word is illegal */
  } else if (eq(what, "ebreak")) {
    asm volatile(".option push\n\t.option norvc\n\tebreak\n\t.option pop"); /* 32-bit form */
  } else if (eq(what, "c.ebreak")) {
    asm volatile(".option push\n\t.option rvc\n\tc.ebreak\n\t.option pop");
  } else if (eq(what, "csr-priv")) {
    u64 v;
    asm volatile("csrr %0, mstatus" : "=r"(v)); /* M-mode CSR from U-mode */
  } else if (eq(what, "csr-sstatus")) {
    u64 v;
    asm volatile("csrr %0, sstatus" : "=r"(v)); /* S-mode CSR from U-mode */
  } else if (eq(what, "csr-ro")) {
    asm volatile("csrw cycle, zero"); /* read-only counter */
  } else if (eq(what, "mret")) {
    asm volatile("mret");
  } else if (eq(what, "sret")) {
    asm volatile("sret");
  } else if (eq(what, "frm-bad")) {
    /* Dynamic rounding with a reserved frm value is an illegal instruction. */
    asm volatile("fsrmi 5\n\tfadd.d ft0, ft1, ft2, dyn" ::: "ft0");
  } else if (eq(what, "load-null")) {
    volatile u64 *p = (volatile u64 *)0;
    (void)*p;
  } else if (eq(what, "load-high")) {
    volatile u64 *p = (volatile u64 *)0x3ffffff000ull; /* canonical, unmapped */
    (void)*p;
  } else if (eq(what, "store-text")) {
    *(volatile u32 *)(void *)main = 0; /* code pages are not writable */
  } else if (eq(what, "store-null")) {
    volatile u8 *p = (volatile u8 *)16;
    asm volatile("" : "+r"(p)); /* hide the constant from -Warray-bounds */
    *p = 1;
  } else if (eq(what, "fetch-null")) {
    ((void (*)(void))16)();
  } else if (eq(what, "fetch-data")) {
    ((void (*)(void))(void *)data_word)(); /* data pages are not executable */
  } else if (eq(what, "exec") && argc > 2) {
    /* Runs one encoding (4 hex digits: 16-bit, 8: 32-bit) with a0..a5 and
     * sp usable; "executed" means it did not trap. */
    u64 insn = parse_hex(argv[2]);
    int n = 0;
    xbuf[n++] = (u16)insn;
    if (length(argv[2]) > 4) xbuf[n++] = (u16)(insn >> 16);
    xbuf[n++] = 0x8082; /* c.jr ra */
    asm volatile("fence.i" ::: "memory");
    static u64 scratch[8];
    register u64 a0 asm("a0") = (u64)scratch;
    register u64 a1 asm("a1") = (u64)scratch;
    asm volatile("jalr ra, 0(%2)" : "+r"(a0), "+r"(a1) : "r"(xbuf)
                 : "ra", "a2", "a3", "a4", "a5", "t0", "t1", "t2", "ft0", "ft1", "memory");
    out_str("executed\n");
    return 0;
  } else if (eq(what, "exit")) {
    out_str("exiting with ");
    out_str(argc > 2 ? argv[2] : "0");
    out_nl();
    out_flush();
    sys_exit_group((int)parse_dec(argc > 2 ? argv[2] : "0", 0));
  } else {
    out_str("unknown case\n");
    return 2;
  }
  out_str("not reached\n");
  return 1;
}
