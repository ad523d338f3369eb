# Sv57 paging (run with --mmu=sv57), from S-mode. Low memory is one 256 TiB
# identity leaf (root[0]); HI = 0xff60_0000_0000_0000 (Linux's linear map, far
# beyond 2^53) goes root[0x160] -> l3 -> l2 -> l1 -> l0 -> frame0, frame1; and
# 2 MiB, 1 GiB, 512 GiB and 256 TiB leaves map RAM above HI too. Checks: satp
# takes mode 10; bytes at HI+0..7 read apart (a double would round them to
# one address: ulp 8 there); stores land on the exact byte; A and D set by the
# hardware on the 4 KiB leaves; each superpage size; a misaligned doubleword
# across two wide pages; AMO and LR/SC there; a non-canonical address and a
# missing level-4 entry fault with the exact address in mtval; sfence.vma of
# a wide page; and the one documented limit: an instruction fetch beyond 2^53
# is refused with an instruction access fault (docs/cpu.md).
# Expected faults: s11 = 1 arms the M-mode handler, which records mcause in
# s9 and mtval in s10, clears s11 and resumes at s8. Any other trap fails.
#include "conf.h"
#define HI 0xff60000000000000
#define PTE_V 0x1
#define LEAF_ALL 0xcf            /* V R W X A D */
#define LEAF_RW 0x07             /* V R W, A and D clear: the hardware sets them */
#define LEAF_R 0x43              /* V R A */

# table[idx] = val (val in a register other than t1/t2)
#define SETPTE(tbl, idx, val) la t1, tbl; li t2, (idx) * 8; add t1, t1, t2; sd val, 0(t1)
#define PTR(tbl, idx, next) la t0, next; srli t0, t0, 12; slli t0, t0, 10; ori t0, t0, PTE_V; SETPTE(tbl, idx, t0)
#define LEAF_SYM(tbl, idx, sym, fl) la t0, sym; srli t0, t0, 12; slli t0, t0, 10; ori t0, t0, fl; SETPTE(tbl, idx, t0)
#define LEAF_PA(tbl, idx, pa, fl) li t0, (((pa) >> 12) << 10) | (fl); SETPTE(tbl, idx, t0)
# The instruction after (cause, tval) must trap with them.
#define EXPECT_FAULT(cause, tval, ...) la s8, 9f; li s11, 1; __VA_ARGS__; 9: bnez s11, fail; EXPECT(s9, cause); EXPECT(s10, tval)

    HTIF_SECTIONS
    .section .text.init
    .globl _start
_start:
    CHECK(1)                       # satp takes Sv57
    la    t0, trap
    csrw  mtvec, t0
    li    s11, 0
    la    t0, root
    srli  t0, t0, 12
    li    t1, 10 << 60
    or    s0, t0, t1
    csrw  satp, s0
    csrr  t0, satp
    bne   t0, s0, fail
    LEAF_PA(root, 0, 0, LEAF_ALL)          # 256 TiB identity: the code, the tables
    PTR(root, 0x160, l3)
    PTR(l3, 0, l2)
    PTR(l2, 0, l1)
    PTR(l1, 0, l0)
    LEAF_SYM(l0, 0, frame0, LEAF_RW)
    LEAF_SYM(l0, 1, frame1, LEAF_RW)
    LEAF_SYM(l0, 2, frame1, LEAF_ALL)      # HI+0x2000: executable
    LEAF_PA(l1, 1, 0x80000000, LEAF_R)     # HI + 2 MiB   -> 0x80000000 (2 MiB leaf)
    LEAF_PA(l2, 1, 0x80000000, LEAF_R)     # HI + 1 GiB   -> 0x80000000 (1 GiB leaf)
    LEAF_PA(l3, 1, 0, LEAF_R)              # HI + 512 GiB -> 0 (512 GiB leaf)
    LEAF_PA(root, 0x161, 0, LEAF_R)        # 0xff61... -> 0 (256 TiB leaf)
    sfence.vma
    # To S-mode at s_main (nothing delegated: every trap comes to M).
    li    t0, 0x1800
    csrc  mstatus, t0
    li    t0, 0x0800
    csrs  mstatus, t0
    la    t0, s_main
    csrw  mepc, t0
    mret

s_main:
    li    s1, HI
    CHECK(2)                       # HI+0..7: eight different bytes
    lbu   t0, 0(s1)
    EXPECT(t0, 0x10)
    lbu   t0, 1(s1)
    EXPECT(t0, 0x11)
    lbu   t0, 2(s1)
    EXPECT(t0, 0x12)
    lbu   t0, 3(s1)
    EXPECT(t0, 0x13)
    lbu   t0, 4(s1)
    EXPECT(t0, 0x14)
    lbu   t0, 5(s1)
    EXPECT(t0, 0x15)
    lbu   t0, 6(s1)
    EXPECT(t0, 0x16)
    lbu   t0, 7(s1)
    EXPECT(t0, 0x17)
    CHECK(3)                       # from a base that is not exact as a double
    addi  s2, s1, 5
    lbu   t0, 0(s2)
    EXPECT(t0, 0x15)
    lh    t0, 1(s2)
    EXPECT(t0, 0x1716)
    ld    t0, -5(s2)
    EXPECT(t0, 0x1716151413121110)
    CHECK(4)                       # stores land on their byte
    li    t0, 0xee
    sb    t0, 3(s1)
    la    t1, frame0
    ld    t2, 0(t1)
    EXPECT(t2, 0x17161514ee121110)
    li    t0, 0x0123456789abcdef
    sd    t0, 8(s1)
    ld    t2, 8(t1)
    EXPECT(t2, 0x0123456789abcdef)
    sh    t0, 17(s1)               # misaligned, inside the page
    lhu   t2, 17(s1)
    EXPECT(t2, 0xcdef)
    CHECK(5)                       # a doubleword across frame0's end into frame1
    li    s3, HI + 0xffc
    ld    t0, 0(s3)
    EXPECT(t0, 0x23222120fffefdfc)
    li    t0, 0x8877665544332211
    sd    t0, 0(s3)
    la    t1, frame1
    lwu   t2, 0(t1)
    EXPECT(t2, 0x88776655)
    CHECK(6)                       # A and D: frame0 loaded and stored, frame1 too
    la    t1, l0
    ld    t2, 0(t1)
    andi  t2, t2, 0xc0
    EXPECT(t2, 0xc0)
    li    t0, HI + 0x1000          # a fresh view: reset frame1's A/D, fence, load
    ld    t2, 8(t1)
    andi  t2, t2, ~0xc0
    sd    t2, 8(t1)
    sfence.vma t0
    ld    t3, 8(t0)
    ld    t2, 8(t1)
    andi  t2, t2, 0xc0
    EXPECT(t2, 0x40)               # A set, D still clear
    CHECK(7)                       # the superpages reach the same frame0 byte
    la    t4, frame0
    li    t5, 0x80000000
    sub   t4, t4, t5               # frame0's offset in RAM
    li    t0, HI + (1 << 21)
    add   t0, t0, t4
    lbu   t2, 1(t0)
    EXPECT(t2, 0x11)
    li    t0, HI + (1 << 30)
    add   t0, t0, t4
    lbu   t2, 2(t0)
    EXPECT(t2, 0x12)
    la    t4, frame0               # the 512 GiB and 256 TiB leaves map from 0
    li    t0, HI + (1 << 39)
    add   t0, t0, t4
    lbu   t2, 4(t0)
    EXPECT(t2, 0x14)
    li    t0, 0xff61000000000000
    add   t0, t0, t4
    lbu   t2, 6(t0)
    EXPECT(t2, 0x16)
    CHECK(8)                       # AMO and LR/SC beyond 2^53
    addi  s2, s1, 0x20
    li    t0, 40
    sd    t0, 0(s2)
    li    t1, 2
    amoadd.d t2, t1, (s2)
    EXPECT(t2, 40)
    lr.d  t2, (s2)
    EXPECT(t2, 42)
    li    t1, 7
    sc.d  t3, t1, (s2)
    EXPECT(t3, 0)
    la    t1, frame0
    ld    t2, 0x20(t1)
    EXPECT(t2, 7)
    CHECK(9)                       # faults name the exact address
    li    s2, 0x0100000000000000   # bit 56 set, 63..57 clear: not canonical
    EXPECT_FAULT(13, 0x0100000000000009, ld t0, 9(s2))
    li    s2, 0xfe00000000000008
    EXPECT_FAULT(15, 0xfe00000000000007, sw zero, -1(s2))
    li    s2, 0xff70000000000abc   # root[0x170] is empty: the walk stops at level 4
    EXPECT_FAULT(13, 0xff70000000000abd, lbu t0, 1(s2))
    li    s2, HI + (1 << 21) + 3   # a read-only 2 MiB leaf
    EXPECT_FAULT(15, HI + (1 << 21) + 3, sb zero, 0(s2))
    li    s2, HI + 0x2ffe          # the page after HI+0x2000 is missing
    EXPECT_FAULT(13, HI + 0x3000, lw t0, 0(s2))
    CHECK(10)                      # sfence.vma of a wide page drops it
    ld    t0, 0(s1)                # cached now
    la    t1, l0
    la    t2, frame1
    srli  t2, t2, 12
    slli  t2, t2, 10
    ori   t2, t2, LEAF_RW | 0xc0
    sd    t2, 0(t1)                # HI -> frame1
    sfence.vma s1
    lwu   t0, 0(s1)
    EXPECT(t0, 0x88776655)
    CHECK(11)                      # fetch beyond 2^53: refused (instruction access fault)
    li    s2, HI + 0x2004
    EXPECT_FAULT(1, HI + 0x2004, jalr ra, 0(s2))
    j     pass

trap:
    beqz  s11, fail
    csrr  s9, mcause
    csrr  s10, mtval
    li    s11, 0
    csrw  mepc, s8
    mret
    PASS_FAIL

    .data
    .balign 4096
root:    .space 4096
l3:      .space 4096
l2:      .space 4096
l1:      .space 4096
l0:      .space 4096
frame0:  .byte 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17
         .space 4096 - 8 - 4
         .byte 0xfc, 0xfd, 0xfe, 0xff
frame1:  .byte 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27
         .space 4096 - 8
