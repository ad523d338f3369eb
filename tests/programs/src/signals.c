/* Signals as a glibc program sees them: a handler entered with siginfo and a
 * ucontext, a signal blocked then delivered on unblocking, a handler on a
 * sigaltstack, SA_RESETHAND, a SIGSEGV handler that siglongjmps out of a
 * fault (with si_addr), a thread's blocking pipe read restarted after an
 * SA_RESTART handler ran (pthread_kill), and, with argument "abort", death by
 * SIGABRT. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int got, code, onalt;
static char alt[16384];
static sigjmp_buf jb;
static void *fault_addr;

static void on_usr1(int sig, siginfo_t *si, void *uc) {
  got = sig;
  code = si->si_code;
  char here;
  onalt = &here >= alt && &here < alt + sizeof alt;
  (void)uc;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  fault_addr = si->si_addr;
  siglongjmp(jb, 1);
}

static int pfd[2];
static volatile int alarms;
static void on_alrm(int sig) { alarms += sig == SIGALRM; }
static void *reader(void *arg) {
  (void)arg;
  char c[8];
  return (void *)read(pfd[0], c, sizeof c);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "abort") == 0) {
    printf("aborting\n");
    fflush(stdout);
    abort();
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  raise(SIGUSR1);
  printf("handler: sig %d, si_code %d (SI_TKILL -6), on altstack %d\n", got, code, onalt);

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, &old);
  got = 0;
  raise(SIGUSR1);
  printf("blocked: handler ran %d\n", got);
  sigprocmask(SIG_SETMASK, &old, NULL);
  printf("unblocked: handler ran %d\n", got);

  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigaction(SIGUSR1, &sa, NULL);
  got = 0;
  raise(SIGUSR1);
  printf("altstack: ran %d, on altstack %d\n", got, onalt);
  struct sigaction now;
  sigaction(SIGUSR1, NULL, &now);
  printf("SA_RESETHAND: handler now default %d\n", now.sa_handler == SIG_DFL);

  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  volatile int *bad = (int *)0x123458;
  if (sigsetjmp(jb, 1) == 0) {
    *bad = 1;
    printf("no fault?\n");
  } else {
    printf("SIGSEGV caught at the faulting address: %d\n", fault_addr == (void *)bad);
  }
  if (sigsetjmp(jb, 1) == 0) {
    *bad = 2;
  } else {
    printf("and again (the mask was restored by siglongjmp): %d\n", fault_addr == (void *)bad);
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alrm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  pipe(pfd);
  pthread_t t;
  pthread_create(&t, NULL, reader, NULL);
  struct timespec nap = {0, 20 * 1000 * 1000};
  nanosleep(&nap, NULL); /* the reader is blocked in read by now */
  pthread_kill(t, SIGALRM);
  nanosleep(&nap, NULL);
  write(pfd[1], "data", 4);
  void *got_bytes;
  pthread_join(t, &got_bytes);
  printf("SA_RESTART: handler ran %d, the read went on and got %ld bytes\n", alarms, (long)got_bytes);

  signal(SIGUSR2, SIG_IGN);
  raise(SIGUSR2);
  printf("ignored SIGUSR2: still here\n");
  return 0;
}
