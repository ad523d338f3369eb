# ASID-tagged translations in Sv39, from S-mode. Two address spaces (ASID 1
# with root R1, ASID 2 with root R2) map the same virtual page X to different
# frames. Checks: each ASID sees only its own mapping; a translation cached
# under ASID 1 survives a switch to ASID 2 and back (this hart keeps a few
# address spaces cached: the page-table change made without a fence is not
# seen yet); `sfence.vma x0, asid` of another ASID leaves it; `sfence.vma
# x0, 1` and `sfence.vma X, 1` drop it; ASID 1 reused with another root never
# sees the old root's entries; cycling through more ASIDs than the hart
# caches never mixes them. Low memory stays mapped by a global gigapage.
#include "conf.h"
#define X 0x40000000
#define PTE_LEAF 0xcf     /* V R W X A D: 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80 */
#define PTE_GLOBAL 0x20
#define PAGE_PTE(pa) (((pa) >> 12) << 10 | PTE_LEAF)
    HTIF_SECTIONS
    .section .text.init
    .globl _start
_start:
    CHECK(1)
    la    t0, trap
    csrw  mtvec, t0
    # Build both trees: root[2] = the gigapage at 0x80000000 (global, kernel-like);
    # root[1] -> L1n; L1n[0] -> L0n; L0n[0] -> the frame of X.
    la    a0, r1
    la    a1, l1_1
    la    a2, l0_1
    la    a3, frame_a
    call  build
    la    a0, r2
    la    a1, l1_2
    la    a2, l0_2
    la    a3, frame_b
    call  build
    # To S-mode at s_main, every exception to M (none delegated: a trap fails).
    li    t0, 0x1800
    csrc  mstatus, t0
    li    t0, 0x0800
    csrs  mstatus, t0              # MPP = S
    la    t0, s_main
    csrw  mepc, t0
    mret

# build(a0 root, a1 l1, a2 l0, a3 frame)
build:
    li    t0, 0x80000000
    srli  t0, t0, 12
    slli  t0, t0, 10
    ori   t0, t0, PTE_LEAF | PTE_GLOBAL
    sd    t0, 16(a0)               # root[2]
    srli  t0, a1, 12
    slli  t0, t0, 10
    ori   t0, t0, 1
    sd    t0, 8(a0)                # root[1] -> l1
    srli  t0, a2, 12
    slli  t0, t0, 10
    ori   t0, t0, 1
    sd    t0, 0(a1)                # l1[0] -> l0
    srli  t0, a3, 12
    slli  t0, t0, 10
    ori   t0, t0, PTE_LEAF
    sd    t0, 0(a2)                # l0[0] -> frame
    ret

# satp for (a0 = asid, a1 = root): Sv39
#define SATP(asid, rootsym) la t0, rootsym; srli t0, t0, 12; li t1, (8 << 60) | ((asid) << 44); or t0, t0, t1; csrw satp, t0

s_main:
    li    s1, X
    CHECK(2)                       # ASID 1 sees frame A
    SATP(1, r1)
    sfence.vma
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    # Point ASID 1's X at frame C, with no fence.
    la    t0, frame_c
    srli  t0, t0, 12
    slli  t0, t0, 10
    ori   t0, t0, PTE_LEAF
    la    t1, l0_1
    sd    t0, 0(t1)
    CHECK(3)                       # ASID 2 sees its own frame B, never A's entry
    SATP(2, r2)
    ld    t2, 0(s1)
    EXPECT(t2, 0xbbbb)
    CHECK(4)                       # back to ASID 1: its cached translation survived
    SATP(1, r1)
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    CHECK(5)                       # a fence of ASID 2 leaves ASID 1's entry
    li    t0, 2
    sfence.vma zero, t0
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    CHECK(6)                       # a fence of ASID 1 drops it: the new mapping
    li    t0, 1
    sfence.vma zero, t0
    ld    t2, 0(s1)
    EXPECT(t2, 0xcccc)
    CHECK(7)                       # fence of one page and one ASID
    la    t0, frame_a
    srli  t0, t0, 12
    slli  t0, t0, 10
    ori   t0, t0, PTE_LEAF
    la    t1, l0_1
    sd    t0, 0(t1)
    ld    t2, 0(s1)
    EXPECT(t2, 0xcccc)             # still cached
    li    t0, 1
    sfence.vma s1, t0
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    CHECK(8)                       # ASID 1 with root R2: R1's entries are not used
    SATP(1, r2)
    ld    t2, 0(s1)
    EXPECT(t2, 0xbbbb)
    CHECK(9)                       # the global gigapage works under every ASID
    SATP(2, r2)
    la    t0, frame_c
    ld    t2, 0(t0)
    EXPECT(t2, 0xcccc)
    CHECK(10)                      # ASID 0x8000 (bit 15): a separate space too
    SATP(0x8000, r1)
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    CHECK(11)                      # more address spaces than the hart caches: each
    SATP(3, r1)                    # new one takes a slot, the least recently used
    ld    t2, 0(s1)                # one is emptied, and no ASID ever sees another's
    EXPECT(t2, 0xaaaa)
    SATP(4, r1)
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    SATP(5, r2)
    ld    t2, 0(s1)
    EXPECT(t2, 0xbbbb)
    SATP(6, r2)
    ld    t2, 0(s1)
    EXPECT(t2, 0xbbbb)
    SATP(7, r1)
    ld    t2, 0(s1)
    EXPECT(t2, 0xaaaa)
    SATP(5, r2)
    ld    t2, 0(s1)
    EXPECT(t2, 0xbbbb)
    j     pass

trap:
    j     fail
    PASS_FAIL

    .data
    .balign 4096
r1:      .space 4096
r2:      .space 4096
l1_1:    .space 4096
l1_2:    .space 4096
l0_1:    .space 4096
l0_2:    .space 4096
frame_a: .dword 0xaaaa
    .balign 4096
frame_b: .dword 0xbbbb
    .balign 4096
frame_c: .dword 0xcccc
    .balign 4096
