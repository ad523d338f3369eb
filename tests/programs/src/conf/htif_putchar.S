# HTIF's console and exit: prints a line through device 1 (putchar, waiting
# for each answer in fromhost as Spike's programs do), then exits with the
# status in EXIT_CODE (0 = pass). Uses no CSR, so it runs in M-mode (--bios)
# and in S-mode (as the kernel) alike.
#include "conf.h"
    HTIF_SECTIONS
    .section .text.init
    .globl _start
_start:
    la    s0, message
1:  lbu   a0, 0(s0)
    beqz  a0, 3f
    li    t0, 0x0101000000000000   # device 1, command 1: putchar
    or    t0, t0, a0
    la    t1, tohost
    sd    t0, 0(t1)
    la    t1, fromhost
2:  ld    t2, 0(t1)                # wait for the answer: 0x100 | char
    beqz  t2, 2b
    sd    zero, 0(t1)
    li    t3, 0x0101000000000000
    xor   t2, t2, t3
    ori   t4, a0, 0x100
    bne   t2, t4, 4f
    addi  s0, s0, 1
    j     1b
3:  li    t0, (EXIT_CODE << 1) | 1
    la    t1, tohost
    sd    t0, 0(t1)
5:  j     5b
4:  li    t0, (99 << 1) | 1        # a wrong answer: status 99
    la    t1, tohost
    sd    t0, 0(t1)
    j     5b
    .data
message: .asciz "htif: hello from putchar\n"
