/* Bad arguments to the syscalls the runner serves for threads, time, files,
 * memory and signals: each must fail with Linux's errno (as qemu-user returns
 * it) and change nothing — unmapped or read-only pointers, bad
 * descriptors, bad lengths, flags and signal numbers, a futex whose word
 * changed, a futex wait that times out. */
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
  out_str(": ");
  if (v < 0) {
    out_ch('-');
    out_dec((u64)-v);
  } else {
    out_dec((u64)v);
  }
  out_nl();
}

static volatile u32 word = 7;

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  const long BAD = 16; /* never mapped */
  struct {
    long sec, nsec;
  } ms1 = {0, 1000000}, badns = {0, 2000000000};

  show("futex wait, bad address", sys6(98, BAD, 0x80 /* WAIT|PRIVATE */, 0, 0, 0, 0));
  show("futex wait, word changed", sys6(98, (long)&word, 0x80, 6, 0, 0, 0));
  show("futex wait, 1 ms timeout", sys6(98, (long)&word, 0x80, 7, (long)&ms1, 0, 0));
  show("futex wait, bad timeout", sys6(98, (long)&word, 0x80, 7, (long)&badns, 0, 0));
  show("futex wake, nobody", sys6(98, (long)&word, 0x81 /* WAKE|PRIVATE */, 1, 0, 0, 0));
  show("futex wait_bitset, bitset 0", sys6(98, (long)&word, 0x89, 7, 0, 0, 0));
  show("word unchanged", word);

  show("clock_gettime, bad pointer", sys6(113, 1, BAD, 0, 0, 0, 0));
  show("clock_gettime, into the code", sys6(113, 1, (long)main, 0, 0, 0, 0));
  show("nanosleep, nsec too big", sys6(101, (long)&badns, 0, 0, 0, 0, 0));
  /* (nanosleep with a bad pointer: Linux says EFAULT, as the runner does; qemu 7.2 EINVAL.) */

  show("openat, bad path", sys6(56, -100, BAD, 0, 0, 0, 0));
  show("openat, missing", sys6(56, -100, (long)"/nonexistent/actorvm", 0, 0, 0, 0));
  show("close, bad fd", sys6(57, 999, 0, 0, 0, 0, 0));
  show("read, bad fd", sys6(63, 999, (long)&word, 4, 0, 0, 0));
  show("read, negative fd", sys6(63, -1, (long)&word, 4, 0, 0, 0));
  show("pipe2, bad pointer", sys6(59, BAD, 0, 0, 0, 0, 0));
  show("pipe2, into the code", sys6(59, (long)main, 0, 0, 0, 0, 0));
  show("epoll_ctl, not an epoll fd", sys6(21, 1, 1, 0, (long)&word, 0, 0));
  long ep = sys6(20, 0, 0, 0, 0, 0, 0);
  show("epoll_pwait, maxevents 0", sys6(22, ep, (long)&word, 0, 0, 0, 0));
  show("epoll_ctl, bad fd", sys6(21, ep, 1, 999, (long)&word, 0, 0));
  show("fcntl, bad fd", sys6(25, 999, 1, 0, 0, 0, 0));

  show("mmap, length 0", sys6(222, 0, 0, 3, 0x22, -1, 0));
  show("mmap, huge", sys6(222, 0, 1L << 60, 3, 0x22, -1, 0));
  show("mmap fixed, unaligned", sys6(222, 0x7000000001L, 4096, 3, 0x32, -1, 0));
  show("munmap, unaligned", sys6(215, 0x7000000001L, 4096, 0, 0, 0, 0));
  show("mprotect, unmapped", sys6(226, 0x7000000000L, 4096, 1, 0, 0, 0));
  show("madvise, unaligned", sys6(233, 0x7000000001L, 4096, 4, 0, 0, 0));

  show("rt_sigaction, signal 0", sys6(134, 0, 0, 0, 8, 0, 0));
  show("rt_sigaction, signal 65", sys6(134, 65, 0, 0, 8, 0, 0));
  long act[3] = {1, 0, 0}; /* SIG_IGN */
  show("rt_sigaction, SIGKILL", sys6(134, 9, (long)act, 0, 8, 0, 0));
  show("rt_sigaction, bad act", sys6(134, 10, BAD, 0, 8, 0, 0));
  long mask = 0;
  show("rt_sigprocmask, bad how", sys6(135, 7, (long)&mask, 0, 8, 0, 0));
  show("rt_sigprocmask, bad set", sys6(135, 0, BAD, 0, 8, 0, 0));
  show("sigaltstack, bad old", sys6(132, 0, BAD, 0, 0, 0, 0));
  show("tgkill, no such thread", sys6(131, sys6(172, 0, 0, 0, 0, 0, 0), 0x7ffffff0, 0, 0, 0, 0));
  show("tgkill, signal 0 to self", sys6(131, sys6(172, 0, 0, 0, 0, 0, 0), sys6(178, 0, 0, 0, 0, 0, 0), 0, 0, 0, 0));

  show("sched_getaffinity, short", sys6(123, 0, 4, (long)&mask, 0, 0, 0));
  show("prlimit64, resource 99", sys6(261, 0, 99, 0, (long)&mask, 0, 0));
  show("getrandom, bad pointer", sys6(278, BAD, 8, 0, 0, 0, 0));
  show("clone, CLONE_THREAD without CLONE_SIGHAND", sys6(220, 0x10000 | 0x100, 0, 0, 0, 0, 0));
  show("clone, CLONE_SIGHAND without CLONE_VM", sys6(220, 0x800, 0, 0, 0, 0, 0));
  return 0;
}
