/* Freestanding runtime: output buffered in 4 KiB chunks (fewer ecalls, and a
 * program's stdout reaches the runner in the same order as under qemu). */
#include "rt.h"

long sys_write(int fd, const void *buf, long len) {
  register long a0 asm("a0") = fd;
  register long a1 asm("a1") = (long)buf;
  register long a2 asm("a2") = len;
  register long a7 asm("a7") = 64;
  asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
  return a0;
}

void sys_exit(int code) {
  register long a0 asm("a0") = code;
  register long a7 asm("a7") = 93;
  asm volatile("ecall" : : "r"(a0), "r"(a7) : "memory");
  for (;;) {
  }
}

void sys_exit_group(int code) {
  register long a0 asm("a0") = code;
  register long a7 asm("a7") = 94;
  asm volatile("ecall" : : "r"(a0), "r"(a7) : "memory");
  for (;;) {
  }
}

static char obuf[4096];
static int olen;

void out_flush(void) {
  int off = 0;
  while (off < olen) {
    long n = sys_write(1, obuf + off, olen - off);
    if (n <= 0) break;
    off += n;
  }
  olen = 0;
}

void out_ch(char c) {
  if (olen == sizeof obuf) out_flush();
  obuf[olen++] = c;
}

void out_str(const char *s) {
  while (*s) out_ch(*s++);
}

void out_hex(u64 v, int digits) {
  for (int i = digits - 1; i >= 0; i--) out_ch("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

void out_h64(u64 v) { out_hex(v, 16); }
void out_h32(u64 v) { out_hex(v, 8); }
void out_h8(u64 v) { out_hex(v, 2); }
void out_nl(void) { out_ch('\n'); }
void out_sp(void) { out_ch(' '); }

void out_dec(u64 v) {
  char t[24];
  int n = 0;
  do {
    t[n++] = '0' + v % 10;
    v /= 10;
  } while (v);
  while (n) out_ch(t[--n]);
}

u64 parse_dec(const char *s, u64 dflt) {
  if (!s || !*s) return dflt;
  u64 v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0');
  return v;
}

void *memset(void *d, int c, unsigned long n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}

void *memcpy(void *d, const void *s, unsigned long n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

void finish(int code) {
  out_flush();
  sys_exit(code);
}

/* Called by _start with the initial stack pointer (argc, argv..., 0, envp...). */
__attribute__((noreturn)) void rt_start(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  finish(main(argc, argv));
}
