/* Integer CPU benchmark (and a differential test at a small size): rounds of
 * table-driven crc32, a sieve, quicksort, an open-addressing hash table,
 * integer matrix multiply and gcd (div/rem) — the mix of loads, stores,
 * branches and M-extension work a kernel and busybox do. argv[1] = rounds
 * (default 100, roughly 3 million instructions each); prints a checksum.
 * Read next: bench_fp.c. */
#include "lib/rt.h"

static u64 rng = 0x9e3779b97f4a7c15ull;
static u64 next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static u32 crc_table[256];
static void crc_init(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

#define BUF 16384
static u8 buf[BUF];
static u32 crc32(const u8 *p, int n) {
  u32 c = 0xffffffffu;
  for (int i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

#define SIEVE 32768
static u8 composite[SIEVE];
static u64 sieve(void) {
  memset(composite, 0, sizeof composite);
  u64 count = 0, sum = 0;
  for (u64 i = 2; i < SIEVE; i++) {
    if (composite[i]) continue;
    count++;
    sum += i;
    for (u64 j = i * i; j < SIEVE; j += i) composite[j] = 1;
  }
  return count * 1000003 + sum;
}

#define NSORT 2048
static u32 arr[NSORT];
static void qsort_u32(u32 *a, long lo, long hi) {
  while (lo < hi) {
    u32 p = a[(lo + hi) / 2];
    long i = lo, j = hi;
    while (i <= j) {
      while (a[i] < p) i++;
      while (a[j] > p) j--;
      if (i <= j) {
        u32 t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      qsort_u32(a, lo, j);
      lo = i;
    } else {
      qsort_u32(a, i, hi);
      hi = j;
    }
  }
}
static u64 sort_round(void) {
  for (int i = 0; i < NSORT; i++) arr[i] = (u32)next();
  qsort_u32(arr, 0, NSORT - 1);
  u64 h = 0;
  for (int i = 0; i < NSORT; i += 7) h = h * 31 + arr[i];
  for (int i = 1; i < NSORT; i++)
    if (arr[i - 1] > arr[i]) h ^= 0xdead;
  return h;
}

#define HSIZE 4096
static u64 keys[HSIZE];
static u32 vals[HSIZE];
static u64 hash_round(void) {
  memset(keys, 0, sizeof keys);
  u64 seed = next();
  for (u32 i = 0; i < 2048; i++) {
    u64 k = (seed + i * 0x9e3779b97f4a7c15ull) | 1;
    u64 h = k;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    u32 slot = (u32)h & (HSIZE - 1);
    while (keys[slot] && keys[slot] != k) slot = (slot + 1) & (HSIZE - 1);
    keys[slot] = k;
    vals[slot] = i;
  }
  u64 found = 0;
  for (u32 i = 0; i < 4096; i++) {
    u64 k = (seed + i * 0x9e3779b97f4a7c15ull) | 1;
    u64 h = k;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    u32 slot = (u32)h & (HSIZE - 1);
    while (keys[slot] && keys[slot] != k) slot = (slot + 1) & (HSIZE - 1);
    if (keys[slot]) found += vals[slot] + 1;
  }
  return found;
}

#define MN 24
static i64 ma[MN][MN], mb[MN][MN], mc[MN][MN];
static u64 matmul_round(void) {
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      ma[i][j] = (i64)(next() & 0xffff) - 0x8000;
      mb[i][j] = (i64)(next() & 0xffff) - 0x8000;
    }
  for (int i = 0; i < MN; i++)
    for (int j = 0; j < MN; j++) {
      i64 s = 0;
      for (int k = 0; k < MN; k++) s += ma[i][k] * mb[k][j];
      mc[i][j] = s;
    }
  u64 h = 0;
  for (int i = 0; i < MN; i++) h = h * 131 + (u64)mc[i][(i * 7) % MN];
  return h;
}

static u64 gcd_round(void) {
  u64 s = 0;
  for (int i = 0; i < 300; i++) {
    u64 a = next() >> 20, b = next() >> 30;
    while (b) {
      u64 t = a % b;
      a = b;
      b = t;
    }
    s += a + (u64)((i64)next() / 12345) + (u32)next() / 77u;
  }
  return s;
}

int main(int argc, char **argv) {
  u64 rounds = parse_dec(argc > 1 ? argv[1] : 0, 100);
  crc_init();
  for (int i = 0; i < BUF; i++) buf[i] = (u8)next();
  u64 sum = 0;
  for (u64 r = 0; r < rounds; r++) {
    buf[r % BUF] ^= (u8)r;
    sum = sum * 3 + crc32(buf, BUF);
    if (r % 4 == 0) sum += sieve();
    sum ^= sort_round();
    sum += hash_round();
    sum = sum * 5 + matmul_round();
    sum += gcd_round();
  }
  out_str("bench_int rounds ");
  out_dec(rounds);
  out_str(" checksum ");
  out_h64(sum);
  out_nl();
  return 0;
}
