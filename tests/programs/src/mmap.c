/* mmap as a program sees it (static glibc): the address hint is honoured when
 * the range is free, MAP_FIXED replaces what is there, MAP_FIXED_NOREPLACE
 * refuses to, munmap leaves a hole, mprotect keeps the data, MADV_DONTNEED
 * zeroes, first touch of a large reservation is paged in. Prints relations,
 * never addresses (qemu's layout differs from ours). With argument "segv" it
 * touches a PROT_NONE page and dies by SIGSEGV. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PG 4096UL
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void *map(void *hint, size_t len, int prot, int flags) {
  errno = 0;
  return mmap(hint, len, prot, flags, -1, 0);
}

static const char *err(void *p) {
  return p != MAP_FAILED ? "ok" : errno == EEXIST ? "EEXIST" : errno == EINVAL ? "EINVAL" : errno == ENOMEM ? "ENOMEM" : "other";
}

int main(int argc, char **argv) {
  char *hint = (char *)0x7000000000UL; /* above Sv39's 256 GiB: needs Sv48 */
  if (argc > 1 && strcmp(argv[1], "segv") == 0) {
    char *p = map(hint, PG, PROT_NONE, ANON);
    printf("reserved %s, touching it\n", p == hint ? "at the hint" : "elsewhere");
    fflush(stdout);
    return p[0];
  }
  char *a = map(hint, 16 * PG, RW, ANON);
  printf("hint free: %s\n", a == hint ? "honoured" : "ignored");
  for (unsigned i = 0; i < 16 * PG; i++) a[i] = (char)(i / PG + 1);

  char *b = map(hint, 4 * PG, RW, ANON);
  printf("hint taken: %s, %s\n", b == MAP_FAILED ? "failed" : b == hint ? "same address!" : "elsewhere",
         b != MAP_FAILED && (b + 4 * PG <= a || b >= a + 16 * PG) ? "no overlap" : "overlap");

  char *c = map(hint + 4 * PG, 2 * PG, RW, ANON | MAP_FIXED);
  printf("MAP_FIXED over pages 4-5: %s, page 4 now %d, page 3 still %d, page 6 still %d\n",
         c == hint + 4 * PG ? "at the address" : "moved", c[0], a[3 * PG], a[6 * PG]);

  char *d = map(hint + 8 * PG, PG, RW, ANON | MAP_FIXED_NOREPLACE);
  /* Linux (4.17+) says EEXIST; qemu-riscv64 7.2 passes the flag on as a mere hint and maps
   * elsewhere. Either way the page is not replaced. */
  printf("MAP_FIXED_NOREPLACE over page 8: %s, page 8 still %d\n",
         d == hint + 8 * PG ? "replaced!" : "not replaced", a[8 * PG]);
  printf("MAP_FIXED unaligned: %s\n", err(map(hint + 1, PG, RW, ANON | MAP_FIXED)));
  printf("length 0: %s\n", err(map(NULL, 0, RW, ANON)));

  printf("munmap page 10: %d\n", munmap(hint + 10 * PG, PG));
  char *e = map(hint + 10 * PG, PG, RW, ANON | MAP_FIXED_NOREPLACE);
  printf("NOREPLACE into the hole: %s, reads %d\n", e == hint + 10 * PG ? "at the address" : err(e), e[0]);
  char *g = map(hint + 9 * PG, 3 * PG, RW, ANON | MAP_FIXED_NOREPLACE);
  printf("NOREPLACE over 9-11: %s\n", g == hint + 9 * PG ? "replaced!" : "not replaced");

  printf("mprotect none: %d, back to rw: %d, page 12 still %d\n", mprotect(hint + 12 * PG, PG, PROT_NONE),
         mprotect(hint + 12 * PG, PG, RW), a[12 * PG]);
  errno = 0;
  int r = mprotect(hint + 15 * PG, 2 * PG, PROT_READ);
  printf("mprotect past the end: %d %s\n", r, errno == ENOMEM ? "ENOMEM" : "?");
  printf("madvise DONTNEED page 13: %d, reads %d, page 14 still %d\n", madvise(hint + 13 * PG, PG, MADV_DONTNEED),
         a[13 * PG], a[14 * PG]);

  /* A large reservation, then pieces made usable, as Go's heap does. */
  size_t big = 1UL << 30;
  char *res = map(NULL, big, PROT_NONE, ANON);
  char *piece = map(res + (big / 2), 64 * PG, RW, ANON | MAP_FIXED);
  long sum = 0;
  for (unsigned i = 0; i < 64 * PG; i += PG) piece[i] = 1, sum += piece[i];
  printf("1 GiB reserved: %s, a piece committed: %s, sum %ld\n", err(res),
         piece == res + big / 2 ? "at the address" : "moved", sum);
  printf("munmap all: %d %d\n", munmap(res, big), munmap(hint, 16 * PG));
  char *f = map(hint, PG, RW, ANON);
  printf("hint free again: %s, reads %d\n", f == hint ? "honoured" : "ignored", f[0]);
  return 0;
}
