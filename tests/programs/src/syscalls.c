/* The syscall surface the runner serves, checked against qemu-user's Linux:
 * write/writev results and errors (EBADF, EFAULT), brk growth, anonymous
 * mmap/munmap, and -ENOSYS for an unknown number. Only address-independent
 * facts are printed (the two place the heap and mappings differently). */
#include "lib/rt.h"

static long sys6(long nr, long a, long b, long c, long d, long e, long f) {
  register long a0 asm("a0") = a;
  register long a1 asm("a1") = b;
  register long a2 asm("a2") = c;
  register long a3 asm("a3") = d;
  register long a4 asm("a4") = e;
  register long a5 asm("a5") = f;
  register long a7 asm("a7") = nr;
  asm volatile("ecall"
               : "+r"(a0)
               : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7)
               : "memory");
  return a0;
}

static void show(const char *what, long v) {
  out_str(what);
  out_sp();
  out_h64((u64)v);
  out_nl();
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  out_flush();
  show("write 3 bytes", sys6(64, 1, (long)"ok\n", 3, 0, 0, 0));
  show("write bad fd", sys6(64, 1000, (long)"x", 1, 0, 0, 0));
  show("write bad pointer", sys6(64, 1, 16, 4, 0, 0, 0));
  struct {
    const char *p;
    long n;
  } iov[2] = {{"wri", 3}, {"tev\n", 4}};
  show("writev", sys6(66, 1, (long)iov, 2, 0, 0, 0));
  show("unknown syscall", sys6(4000, 0, 0, 0, 0, 0, 0));

  long b0 = sys6(214, 0, 0, 0, 0, 0, 0);
  long b1 = sys6(214, b0 + 100000, 0, 0, 0, 0, 0);
  out_str("brk grows by 100000: ");
  out_ch(b1 == b0 + 100000 ? 'y' : 'n');
  out_nl();
  volatile u8 *heap = (volatile u8 *)b0;
  u64 sum = 0;
  for (long i = 0; i < 100000; i += 1000) heap[i] = (u8)i;
  for (long i = 0; i < 100000; i += 1000) sum += heap[i];
  show("heap sum", (long)sum);

  long m = sys6(222, 0, 3 * 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
  out_str("mmap ok: ");
  out_ch(m > 0 && (m & 4095) == 0 ? 'y' : 'n');
  out_nl();
  volatile u64 *mp = (volatile u64 *)m;
  int zero = 1;
  for (int i = 0; i < 3 * 512; i++) zero &= mp[i] == 0;
  out_str("mmap zeroed: ");
  out_ch(zero ? 'y' : 'n');
  out_nl();
  mp[0] = 5;
  mp[3 * 512 - 1] = 6;
  show("mmap rw", (long)(mp[0] + mp[3 * 512 - 1]));
  show("munmap", sys6(215, m, 3 * 4096, 0, 0, 0, 0));
  return 0;
}
