/* One static glibc binary for the hosted POSIX programs (mmap.c, files.c,
 * signals.c, pthread.c, each built with its main renamed): `posix <program>
 * [args]` runs that program's main with argv shifted, so four programs cost
 * one copy of static glibc (~420 KB) instead of four. */
#include <stdio.h>
#include <string.h>

int mmap_main(int argc, char **argv);
int files_main(int argc, char **argv);
int signals_main(int argc, char **argv);
int pthread_main(int argc, char **argv);

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*main)(int, char **);
  } programs[] = {
      {"mmap", mmap_main}, {"files", files_main}, {"signals", signals_main}, {"pthread", pthread_main}};
  for (unsigned i = 0; argc > 1 && i < sizeof programs / sizeof programs[0]; i++) {
    if (strcmp(argv[1], programs[i].name) == 0) return programs[i].main(argc - 1, argv + 1);
  }
  fprintf(stderr, "usage: posix mmap|files|signals|pthread [args]\n");
  return 2;
}
