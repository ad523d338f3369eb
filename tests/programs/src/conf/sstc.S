# Sstc: stimecmp raises the supervisor timer interrupt with no SBI call.
# M-mode: with menvcfg.STCE clear, S-mode's access to stimecmp is illegal
# (the M handler then sets STCE and resumes); with it set, mip.STIP is the
# comparison time >= stimecmp and a write to mip cannot change it. S-mode:
# arm stimecmp 2 ms ahead, sleep in wfi, take the delegated interrupt
# (scause = interrupt 5), and clear it by moving stimecmp to the far future.
#include "conf.h"
#define STIMECMP 0x14d
#define MENVCFG 0x30a
#define STIP 0x20
    HTIF_SECTIONS
    .section .text.init
    .globl _start
_start:
    CHECK(1)
    la    t0, m_trap
    csrw  mtvec, t0
    CHECK(2)                       # STCE on: STIP follows the comparison
    li    t0, 0x8000000000000000
    csrs  MENVCFG, t0
    csrw  STIMECMP, zero
    csrr  t1, mip
    andi  t1, t1, STIP
    EXPECT(t1, STIP)
    CHECK(3)
    li    t0, -1
    csrw  STIMECMP, t0
    csrr  t1, mip
    andi  t1, t1, STIP
    EXPECT(t1, 0)
    CHECK(4)                       # ... and is read-only in mip
    li    t0, STIP
    csrs  mip, t0
    csrr  t1, mip
    andi  t1, t1, STIP
    EXPECT(t1, 0)
    # Now to S-mode with STCE clear: its first stimecmp access traps to M.
    li    t0, 0x8000000000000000
    csrc  MENVCFG, t0
    li    t0, 2                    # mcounteren.TM: S may read time (and stimecmp)
    csrw  mcounteren, t0
    li    t0, STIP
    csrw  mideleg, t0
    la    t0, s_trap
    csrw  stvec, t0
    li    t0, 0x1800
    csrc  mstatus, t0
    li    t0, 0x0800
    csrs  mstatus, t0
    la    t0, s_main
    csrw  mepc, t0
    li    s2, 0                    # illegal traps seen
    mret

s_main:
    CHECK(5)
probe:
    csrr  t0, STIMECMP             # illegal while STCE is clear
    EXPECT(s2, 1)                  # the M handler counted it, set STCE and skipped it
    CHECK(6)                       # STCE set: stimecmp is S's
    csrr  t0, STIMECMP
    EXPECT(t0, -1)
    CHECK(7)                       # arm 2 ms ahead (10 MHz timebase) and wait for it
    csrr  s3, time
    li    t0, 20000
    add   s3, s3, t0
    csrw  STIMECMP, s3
    li    t0, STIP
    csrs  sie, t0
    csrsi sstatus, 2               # SIE
1:  wfi
    j     1b

s_trap:
    CHECK(8)
    csrr  t0, scause
    EXPECT(t0, 0x8000000000000005)
    CHECK(9)                       # not early: time has reached stimecmp
    csrr  t0, time
    bltu  t0, s3, fail
    CHECK(10)                      # the far future clears it
    li    t0, -1
    csrw  STIMECMP, t0
    csrr  t1, sip
    andi  t1, t1, STIP
    EXPECT(t1, 0)
    j     pass

m_trap:
    csrr  t0, mcause
    li    t1, 2
    bne   t0, t1, fail             # only the expected illegal instruction
    csrr  t0, mepc
    la    t1, probe
    bne   t0, t1, fail
    addi  s2, s2, 1
    addi  t0, t0, 4
    csrw  mepc, t0
    li    t0, 0x8000000000000000
    csrs  MENVCFG, t0
    mret
    PASS_FAIL
