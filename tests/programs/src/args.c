/* The process start: argc, argv strings, the envp terminator and the auxv
 * entries a static program relies on (AT_PAGESZ, AT_RANDOM pointing at 16
 * readable bytes) — laid out by the runner as Linux lays them out. The
 * environment itself is not printed (qemu-user passes the host's). The exit
 * status is argc + 40, so the status path is checked too. Read next: fp.c. */
#include "lib/rt.h"

#define AT_NULL 0
#define AT_PAGESZ 6
#define AT_RANDOM 25

int main(int argc, char **argv) {
  out_str("argc ");
  out_dec((u64)argc);
  out_nl();
  for (int i = 1; i < argc; i++) { /* argv[0] is the path, which differs */
    out_str("argv[");
    out_dec((u64)i);
    out_str("] \"");
    out_str(argv[i]);
    out_str("\"\n");
  }
  out_str("argv[argc] == 0: ");
  out_ch(argv[argc] == 0 ? 'y' : 'n');
  out_nl();
  char **envp = argv + argc + 1;
  while (*envp) envp++;
  u64 *auxv = (u64 *)(envp + 1);
  u64 pagesz = 0, random = 0;
  for (; auxv[0] != AT_NULL; auxv += 2) {
    if (auxv[0] == AT_PAGESZ) pagesz = auxv[1];
    if (auxv[0] == AT_RANDOM) random = auxv[1];
  }
  out_str("AT_PAGESZ ");
  out_h64(pagesz);
  out_nl();
  out_str("AT_RANDOM present: ");
  out_ch(random ? 'y' : 'n');
  out_nl();
  if (random) {
    u8 x = 0;
    for (int i = 0; i < 16; i++) x |= ((volatile u8 *)random)[i];
    out_str("AT_RANDOM readable\n");
  }
  u64 sp;
  asm volatile("mv %0, sp" : "=r"(sp));
  out_str("sp 16-aligned: ");
  out_ch(sp % 16 == 0 ? 'y' : 'n');
  out_nl();
  return argc + 40;
}
