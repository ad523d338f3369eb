/* Several harts on shared memory (docs/smp.md), for the --smp end-to-end
 * tests; static glibc with POSIX threads, so it also runs under qemu-riscv64
 * for its expected output. The output never depends on the interleaving.
 *
 *   smp counters [threads] [iterations]
 *     each thread adds 1 to five shared counters, iterations times each: with
 *     amoadd.w, amoadd.d, an lr.w/sc.w loop, an lr.d/sc.d loop, and a plain
 *     increment under a pthread mutex; a lost update anywhere shows in the totals.
 *   smp litmus [iterations]
 *     two threads, two RVWMO litmus shapes per iteration, and the count of
 *     outcomes the model forbids (must be 0):
 *     MP (message passing): data = i; fence w,w; flag = i  ||  flag == i; fence r,r; data ?
 *        forbidden: the reader sees flag i and data older than i.
 *     SB (store buffering): x = 1; fence rw,rw; r0 = y  ||  y = 1; fence rw,rw; r1 = x
 *        forbidden: r0 == 0 && r1 == 0.
 *     The threads meet at a spinning barrier between rounds: run it where the
 *     two threads have a hart each (--smp >= 2), or it crawls. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long iterations;
static int threads;

/* --- counters --- */
static int amo_w;
static long amo_d;
static int lrsc_w;
static long lrsc_d;
static long locked;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void lrsc_add_w(int *p, int v) {
  int old, fail;
  __asm__ volatile("1: lr.w %0, (%2)\n"
                   "   add %0, %0, %3\n"
                   "   sc.w %1, %0, (%2)\n"
                   "   bnez %1, 1b\n"
                   : "=&r"(old), "=&r"(fail)
                   : "r"(p), "r"(v)
                   : "memory");
}

static void lrsc_add_d(long *p, long v) {
  long old, fail;
  __asm__ volatile("1: lr.d %0, (%2)\n"
                   "   add %0, %0, %3\n"
                   "   sc.d %1, %0, (%2)\n"
                   "   bnez %1, 1b\n"
                   : "=&r"(old), "=&r"(fail)
                   : "r"(p), "r"(v)
                   : "memory");
}

static void *counter_worker(void *arg) {
  (void)arg;
  for (long i = 0; i < iterations; i++) {
    __asm__ volatile("amoadd.w zero, %1, (%0)" : : "r"(&amo_w), "r"(1) : "memory");
    __asm__ volatile("amoadd.d zero, %1, (%0)" : : "r"(&amo_d), "r"(1L) : "memory");
    lrsc_add_w(&lrsc_w, 1);
    lrsc_add_d(&lrsc_d, 1);
    pthread_mutex_lock(&lock);
    locked++;
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static int counters(void) {
  pthread_t t[64];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, counter_worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  long want = threads * iterations;
  int ok = amo_w == want && amo_d == want && lrsc_w == want && lrsc_d == want && locked == want;
  printf("counters: %d threads x %ld: amoadd.w %d amoadd.d %ld lr/sc.w %d lr/sc.d %ld mutex %ld: %s\n",
         threads, iterations, amo_w, amo_d, lrsc_w, lrsc_d, locked, ok ? "ok" : "LOST UPDATES");
  return ok ? 0 : 1;
}

/* --- litmus --- */
static volatile long data, flag, x, y;
static volatile long r0, r1;
static volatile int arrived, sense;
static long mp_forbidden, sb_forbidden;

/* A sense-reversing barrier for two threads, on AMOs. */
static void meet(int *local) {
  *local = !*local;
  if (__atomic_add_fetch(&arrived, 1, __ATOMIC_ACQ_REL) == 2) {
    arrived = 0;
    __atomic_store_n(&sense, *local, __ATOMIC_RELEASE);
  } else {
    while (__atomic_load_n(&sense, __ATOMIC_ACQUIRE) != *local) {
    }
  }
}

static void *litmus_a(void *arg) {
  (void)arg;
  int local = 0;
  for (long i = 1; i <= iterations; i++) {
    meet(&local);
    /* MP writer */
    data = i;
    __asm__ volatile("fence w, w" ::: "memory");
    flag = i;
    /* SB left */
    x = 1;
    __asm__ volatile("fence rw, rw" ::: "memory");
    r0 = y;
    meet(&local);
    if (r0 == 0 && r1 == 0) sb_forbidden++;
    meet(&local);
    x = 0;
    y = 0;
    meet(&local);
  }
  return NULL;
}

static void *litmus_b(void *arg) {
  (void)arg;
  int local = 0;
  for (long i = 1; i <= iterations; i++) {
    meet(&local);
    /* MP reader: wait for this round's flag, then data must be at least as new. */
    while (flag != i) {
    }
    __asm__ volatile("fence r, r" ::: "memory");
    if (data != i) mp_forbidden++;
    /* SB right */
    y = 1;
    __asm__ volatile("fence rw, rw" ::: "memory");
    r1 = x;
    meet(&local);
    meet(&local);
    meet(&local);
  }
  return NULL;
}

static int litmus(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, litmus_a, NULL);
  pthread_create(&b, NULL, litmus_b, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("litmus: %ld iterations: MP forbidden %ld, SB forbidden %ld: %s\n", iterations,
         mp_forbidden, sb_forbidden, mp_forbidden == 0 && sb_forbidden == 0 ? "ok" : "VIOLATION");
  return mp_forbidden == 0 && sb_forbidden == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "counters") == 0) {
    threads = argc > 2 ? atoi(argv[2]) : 4;
    iterations = argc > 3 ? atol(argv[3]) : 20000;
    if (threads < 1 || threads > 64 || iterations < 1) return 2;
    return counters();
  }
  if (argc >= 2 && strcmp(argv[1], "litmus") == 0) {
    iterations = argc > 2 ? atol(argv[2]) : 100000;
    if (iterations < 1) return 2;
    return litmus();
  }
  fprintf(stderr, "usage: smp counters [threads] [iterations] | smp litmus [iterations]\n");
  return 2;
}
