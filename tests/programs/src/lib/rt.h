/* Tiny freestanding runtime for the differential test programs: buffered
 * write(2) to stdout, exit, hex/decimal printing. No libc: every program is
 * linked with start.s + rt.c only, so the hart sees nothing but our code.
 * Read next: start.s (the entry), then any test program. */
#ifndef RT_H
#define RT_H

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

long sys_write(int fd, const void *buf, long len);
__attribute__((noreturn)) void sys_exit(int code);       /* exit (93) */
__attribute__((noreturn)) void sys_exit_group(int code); /* exit_group (94) */

void out_flush(void);
void out_ch(char c);
void out_str(const char *s);
void out_hex(u64 v, int digits); /* exactly `digits` hex digits, lower case */
void out_h64(u64 v);             /* 16 digits */
void out_h32(u64 v);             /* 8 digits of the low word */
void out_h8(u64 v);              /* 2 digits of the low byte */
void out_dec(u64 v);
void out_nl(void);
void out_sp(void);

u64 parse_dec(const char *s, u64 dflt); /* dflt if s is null or empty */

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

/* Flushes the buffer and exits with `code`. */
__attribute__((noreturn)) void finish(int code);

int main(int argc, char **argv);

#endif
