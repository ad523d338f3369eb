/* A threaded hosted program: Debian's static glibc with POSIX threads. Four
 * workers wait on a condition variable, then take a mutex 50,000 times each;
 * each keeps a thread-local sum (TLS through tp, set by clone's CLONE_SETTLS);
 * a timed wait times out (FUTEX_WAIT_BITSET with an absolute time), a barrier
 * and pthread_join (CLONE_CHILD_CLEARTID's futex wake) finish. The output does
 * not depend on the interleaving. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define THREADS 4
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int ready;
static __thread long mine;

static void *worker(void *arg) {
  long id = (long)arg;
  pthread_mutex_lock(&lock);
  while (!ready) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < 50000; i++) {
    mine += id;
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
  }
  pthread_barrier_wait(&barrier);
  return (void *)(mine * 10 + id);
}

int main(void) {
  pthread_t t[THREADS];
  pthread_barrier_init(&barrier, NULL, THREADS);
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);

  /* Nobody signals this one: it must time out after ~20 ms. */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 20 * 1000 * 1000;
  if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
  pthread_mutex_lock(&lock);
  int r = pthread_cond_timedwait(&cond, &lock, &until);
  printf("timed wait: %s\n", r == ETIMEDOUT ? "timed out" : "woken?");
  ready = 1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);

  struct timespec nap = {0, 5 * 1000 * 1000};
  nanosleep(&nap, NULL);
  for (int i = 0; i < THREADS; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    printf("thread %d returned %ld\n", i, (long)ret);
  }
  printf("counter %ld, main's tls %ld\n", counter, mine);
  return 0;
}
