# The riscv-tests-style environment of actorvm's conformance programs: the
# machine starts in M-mode at _start (a --bios ELF at 0x80000000), gp holds
# the number of the check under way, and the result goes to Spike's HTIF:
# tohost = 1 passes, (gp << 1) | 1 fails with status gp. An unexpected trap
# fails with the number of the check it happened in. Built by
# scripts/build-test-programs.sh; run by tests/e2e/conformance_test.ts.
# Read next: devices/htif.ts, docs/cpu.md.

#define CHECK(n) li gp, n

# Fail unless register r equals the 64-bit constant v (t6 is scratch).
#define EXPECT(r, v) li t6, v; bne r, t6, fail

# One CSR read-back: write w, expect r.
#define CSR_WARL(csr, w, r) li t5, w; csrw csr, t5; csrr t4, csr; EXPECT(t4, r)

    .macro HTIF_SECTIONS
    .section .tohost, "aw", @progbits
    .balign 64
    .globl tohost
tohost: .dword 0
    .balign 64
    .globl fromhost
fromhost: .dword 0
    .text
    .endm

    .macro PASS_FAIL
pass:
    li    t6, 1
    la    t5, tohost
    sd    t6, 0(t5)
1:  j     1b
fail:
    slli  t6, gp, 1
    ori   t6, t6, 1
    la    t5, tohost
    sd    t6, 0(t5)
1:  j     1b
    .endm
