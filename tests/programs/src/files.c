/* Descriptors as a program sees them (static glibc): a host file created,
 * written, sought, stat'ed, read back and removed in a fresh directory under
 * $TMPDIR (or /tmp); dup and fcntl; a pipe and an eventfd watched by epoll.
 * Prints results, never paths or times. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  const char *tmp = getenv("TMPDIR");
  char dir[256], path[300];
  snprintf(dir, sizeof dir, "%s/actorvm-files-XXXXXX", tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  snprintf(path, sizeof path, "%s/data", dir);

  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  printf("open new: %s\n", fd >= 3 ? "ok" : strerror(errno));
  printf("open again O_EXCL: %s\n", open(path, O_RDWR | O_CREAT | O_EXCL, 0640) < 0 && errno == EEXIST ? "EEXIST" : "?");
  printf("write: %zd\n", write(fd, "hello, file world\n", 18));
  printf("lseek end: %ld, set 7: %ld\n", (long)lseek(fd, 0, SEEK_END), (long)lseek(fd, 7, SEEK_SET));
  char buf[64] = {0};
  printf("read: %zd \"%.*s\"\n", read(fd, buf, sizeof buf), 10, buf);
  struct stat st;
  printf("fstat: %d size %ld mode %o regular %d\n", fstat(fd, &st), (long)st.st_size, st.st_mode & 0777, S_ISREG(st.st_mode));
  printf("stat by path: %d size %ld\n", stat(path, &st), (long)st.st_size);
  int d = dup(fd);
  printf("dup: %s, shares the offset: %ld\n", d > fd ? "higher" : "?", (long)lseek(d, 0, SEEK_CUR));
  printf("cloexec: fd %d, dup %d\n", fcntl(fd, F_GETFD), fcntl(d, F_GETFD));
  close(d);
  close(fd);
  fd = open(path, O_WRONLY | O_APPEND);
  write(fd, "more\n", 5);
  close(fd);
  fd = open(path, O_RDONLY);
  memset(buf, 0, sizeof buf);
  printf("appended: %zd bytes, write to O_RDONLY: %s\n", read(fd, buf, sizeof buf),
         write(fd, "x", 1) < 0 && errno == EBADF ? "EBADF" : "?");
  close(fd);
  printf("open missing: %s\n", open("/nonexistent/actorvm", O_RDONLY) < 0 && errno == ENOENT ? "ENOENT" : "?");
  printf("unlink: %d, again: %s, rmdir: %d\n", unlink(path), unlink(path) < 0 && errno == ENOENT ? "ENOENT" : "?", rmdir(dir));

  int p[2];
  printf("pipe2: %d\n", pipe2(p, O_NONBLOCK | O_CLOEXEC));
  printf("empty nonblocking read: %s\n", read(p[0], buf, 4) < 0 && errno == EAGAIN ? "EAGAIN" : "?");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
  printf("epoll_ctl pipe: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
  struct epoll_event out[4];
  printf("epoll_wait empty: %d\n", epoll_wait(ep, out, 4, 0));
  write(p[1], "ping", 4);
  int n = epoll_wait(ep, out, 4, 100);
  printf("epoll_wait after write: %d events %x data %lx\n", n, out[0].events, (unsigned long)out[0].data.u64);
  printf("read: %zd\n", read(p[0], buf, sizeof buf));
  int efd = eventfd(0, EFD_NONBLOCK);
  ev.data.u64 = 0x5678;
  printf("epoll_ctl eventfd: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  uint64_t v = 3;
  write(efd, &v, 8);
  write(efd, &v, 8);
  n = epoll_wait(ep, out, 4, 100);
  printf("eventfd ready: %d data %lx\n", n, (unsigned long)out[0].data.u64);
  v = 0;
  printf("eventfd read: %zd value %lu, again: %s\n", read(efd, &v, 8), (unsigned long)v,
         read(efd, &v, 8) < 0 && errno == EAGAIN ? "EAGAIN" : "?");
  fd = open("/proc/self/exe", O_RDONLY);
  printf("epoll_ctl regular file: %s\n", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EPERM ? "EPERM" : "?");
  close(p[1]);
  n = epoll_wait(ep, out, 4, 0);
  printf("writer closed: %d events %x, read %zd\n", n, out[0].events, read(p[0], buf, 4));
  return 0;
}
