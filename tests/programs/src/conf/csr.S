# Every CSR's width and WARL behaviour, as this hart implements them
# (docs/cpu.md): the 64-bit counters with the write-replaces-increment rule,
# the trigger CSRs of a hart with no triggers, satp's modes and 16 ASID bits
# (Sv57 is not offered: its write is ignored), menvcfg/STCE, stimecmp, the
# counter enables, the delegation and interrupt masks, xtvec/xepc, PMP
# address width, mcountinhibit stopping and restarting the counters. M-mode throughout; any trap fails the check under way.
#include "conf.h"
    HTIF_SECTIONS
    .section .text.init
    .globl _start
_start:
    CHECK(1)
    la    t0, trap
    csrw  mtvec, t0

    # --- counters: all 64 bits, and the written value is what the next instruction reads
    CHECK(2)
    li    t0, 0x8000000000000000
    csrw  minstret, t0
    csrr  t1, minstret
    bne   t1, t0, fail
    CHECK(3)
    li    t0, 0xfedcba9876543210
    csrw  mcycle, t0
    csrr  t1, mcycle
    bne   t1, t0, fail
    CHECK(4)                       # wraps at 2^64: -1, one more instruction, reads 0
    li    t0, -1
    csrw  minstret, t0
    nop
    csrr  t1, minstret
    EXPECT(t1, 0)
    CHECK(5)                       # back to back: one apart; the user views agree
    csrr  t1, minstret
    csrr  t2, minstret
    sub   t3, t2, t1
    EXPECT(t3, 1)
    csrr  t1, minstret
    csrr  t2, instret
    sub   t3, t2, t1
    EXPECT(t3, 1)
    CHECK(6)                       # csrrw returns the old value, the new one sticks
    li    t0, 1000
    csrw  minstret, t0
    csrrw t1, minstret, zero       # reads 1000 (written just before), writes 0
    csrr  t2, minstret             # the next instruction reads 0
    EXPECT(t1, 1000)
    EXPECT(t2, 0)
    CHECK(7)                       # hpm counters exist and read 0; writes stick as 0
    csrr  t1, 0xc03
    EXPECT(t1, 0)
    CSR_WARL(0xb03, -1, 0)
    CSR_WARL(0xb1f, -1, 0)
    CSR_WARL(0x323, -1, 0)

    # --- triggers: a hart with none (debug spec: tselect holds 0, tdata1 type 0, tinfo 1)
    CHECK(8)
    CSR_WARL(tselect, 0, 0)
    CSR_WARL(tselect, 1, 0)
    CHECK(9)
    CSR_WARL(tdata1, -1, 0)
    CSR_WARL(tdata2, -1, 0)
    CSR_WARL(tdata3, -1, 0)
    CHECK(10)
    csrr  t1, 0x7a4                # tinfo
    EXPECT(t1, 1)

    # --- satp: Sv39, Sv48 and 16 ASID bits; Sv57 and reserved modes leave it unchanged
    CHECK(11)
    CSR_WARL(satp, 0x8ffff00000080123, 0x8ffff00000080123)
    CSR_WARL(satp, 0x9000100000080456, 0x9000100000080456)
    CSR_WARL(satp, 0xa000000000080000, 0x9000100000080456)
    CSR_WARL(satp, 0x1000000000080000, 0x9000100000080456)
    CSR_WARL(satp, 0, 0)

    # --- menvcfg: FIOM and STCE; senvcfg: FIOM; stimecmp: 64 bits
    CHECK(12)
    CSR_WARL(0x30a, -1, 0x8000000000000001)
    CSR_WARL(0x30a, 0, 0)
    CSR_WARL(0x10a, -1, 1)
    CHECK(13)
    CSR_WARL(0x14d, -1, -1)
    CSR_WARL(0x14d, 0x123456789abcdef0, 0x123456789abcdef0)
    CSR_WARL(0x14d, -1, -1)

    # --- counter enables: 32 bits each
    CHECK(14)
    CSR_WARL(mcounteren, -1, 0xffffffff)
    CSR_WARL(scounteren, -1, 0xffffffff)

    # --- delegation, enables, pending
    CHECK(15)
    CSR_WARL(medeleg, -1, 0xb3ff)
    CSR_WARL(mideleg, -1, 0x222)
    CSR_WARL(mie, -1, 0xaaa)
    CSR_WARL(mip, -1, 0x222)
    CSR_WARL(mip, 0, 0)
    CSR_WARL(mideleg, 0, 0)
    CSR_WARL(medeleg, 0, 0)
    CSR_WARL(mie, 0, 0)

    # --- misa, mstatus's fixed fields, xtvec and xepc alignment, PMP address width
    CHECK(16)
    csrr  t1, misa
    EXPECT(t1, 0x800000000014112d)
    CSR_WARL(misa, 0, 0x800000000014112d)
    CHECK(17)
    csrr  t1, mstatus
    srli  t1, t1, 32
    andi  t1, t1, 0xf
    EXPECT(t1, 0xa)                # UXL = SXL = 2
    CHECK(18)
    CSR_WARL(stvec, 0x80001003, 0x80001001)
    CSR_WARL(sepc, 0x80001003, 0x80001002)
    CSR_WARL(mscratch, -1, -1)
    CSR_WARL(sscratch, 0x5555aaaa5555aaaa, 0x5555aaaa5555aaaa)
    CHECK(19)
    CSR_WARL(pmpaddr0, -1, 0x003fffffffffffff)
    CSR_WARL(pmpaddr0, 0, 0)
    CHECK(20)
    csrr  t1, mvendorid
    EXPECT(t1, 0)
    csrr  t1, mhartid
    EXPECT(t1, 0)

    # --- mcountinhibit: CY and IR stop mcycle and minstret (hpm bits: nothing to stop)
    CHECK(21)
    CSR_WARL(mcountinhibit, -1, 5)
    csrr  t1, minstret
    nop
    csrr  t2, minstret
    bne   t1, t2, fail             # stopped
    csrr  t1, mcycle
    nop
    csrr  t2, mcycle
    bne   t1, t2, fail
    CHECK(22)                      # written while stopped: holds the value
    li    t0, 50
    csrw  minstret, t0
    csrr  t1, minstret
    EXPECT(t1, 50)
    CHECK(23)                      # restarted: counts on from there
    csrw  mcountinhibit, zero
    csrr  t1, minstret
    csrr  t2, minstret
    EXPECT(t1, 50)
    EXPECT(t2, 51)
    j     pass

trap:
    j     fail
    PASS_FAIL
