/* A hosted program: Debian's static glibc and libm, unmodified. Its startup
 * (TLS from AT_PHDR, IRELATIVE relocations, mprotect, getrandom), malloc,
 * stdio formatting, qsort, setjmp/longjmp, strtod and libm exercise a large
 * body of compiler-generated RV64GC code the way the guest's userland will,
 * and the runner's syscall shim along the way. Exits with status 3. */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static jmp_buf jb;
static void deep(int n) {
  if (n < 0) return; /* never: the jump leaves first */
  if (n == 0) longjmp(jb, 42);
  deep(n - 1);
}

int main(int argc, char **argv) {
  printf("hello from glibc, argc=%d argv[1]=%s\n", argc, argc > 1 ? argv[1] : "-");

  /* malloc churn */
  unsigned long sum = 0;
  char *blocks[64] = {0};
  for (int i = 0; i < 4000; i++) {
    int k = (i * 37) % 64;
    free(blocks[k]);
    size_t n = (size_t)((i * 7919) % 5000 + 1);
    blocks[k] = malloc(n);
    memset(blocks[k], i & 0xff, n);
    sum += (unsigned char)blocks[k][n / 2] + n;
  }
  for (int k = 0; k < 64; k++) free(blocks[k]);
  printf("malloc churn %lu\n", sum);

  /* qsort and strings */
  long a[2000];
  for (int i = 0; i < 2000; i++) a[i] = (long)((i * 2654435761u) % 100003) - 50000;
  qsort(a, 2000, sizeof a[0], cmp);
  printf("qsort %ld %ld %ld\n", a[0], a[1000], a[1999]);
  char s[256];
  snprintf(s, sizeof s, "%08.3f|%-6s|%x|%+d|%e|%g|%a|%lld", 3.14159, "ab", 0xbeefu, 17, 6.02214076e23,
           1e-5, 1.0 / 3, -9223372036854775807LL - 1);
  printf("%s (len %zu)\n", s, strlen(s));
  printf("strstr %s strchr %s strcmp %d\n", strstr(s, "ab"), strchr(s, 'e'), strcmp("abc", "abd"));

  /* strtod round trips, printf of doubles */
  const char *nums[] = {"0.1", "1e308", "2.2250738585072014e-308", "4.9e-324", "123456789.987654321",
                        "-0", "inf", "nan", "0x1.fffffffffffffp1023"};
  for (unsigned i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    double d = strtod(nums[i], NULL);
    printf("strtod %s -> %.17g %a\n", nums[i], d, d);
  }

  /* libm across values */
  for (double x = -10.5; x < 11; x += 1.75) {
    printf("x=%g exp %.17g log %.17g sin %.17g cos %.17g tan %.17g atan2 %.17g pow %.17g cbrt %.17g\n", x,
           exp(x), log(fabs(x)), sin(x), cos(x), tan(x), atan2(x, 3.0), pow(fabs(x), 1.37), cbrt(x));
    float f = (float)x;
    printf("  f: expf %.9g logf %.9g sinf %.9g sqrtf %.9g fmaf %.9g\n", expf(f), logf(fabsf(f)),
           sinf(f), sqrtf(fabsf(f)), fmaf(f, f, -1.0f));
  }
  printf("sin(1e22) %.17g lgamma(0.5) %.17g erf(0.3) %.17g\n", sin(1e22), lgamma(0.5), erf(0.3));

  int r = setjmp(jb);
  if (r == 0) deep(100);
  printf("longjmp returned %d\n", r);
  fflush(stdout);
  return 3;
}
