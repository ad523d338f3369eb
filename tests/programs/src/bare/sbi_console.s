# A bare-metal S-mode guest whose only console is the SBI's: it proves typed
# input reaches legacy console_getchar and DBCN console_read (actorvm's
# "polled consoles", docs/machine.md "Who gets typed input"). Booted as the
# kernel on the direct path (entry 0x80200000, S-mode, no MMU).
#   1. prints "sbi: getchar>" with legacy putchar, reads a line with legacy
#      console_getchar (polling: -1 means none yet), prints "legacy: <line>";
#   2. prints "sbi: dbcn>" with DBCN write, reads a line with DBCN
#      console_read into a buffer, prints "dbcn: <line>" with DBCN write;
#   3. shuts down through SRST (exit 0).
# Built by scripts/build-test-programs.sh into tests/programs/bin/sbi_console.
# Read next: actors/cpu/sbi.ts, actors/cpu/polled_input.ts.

    .section .text
    .globl _start
_start:
    la    sp, stack_top
    la    a0, p_legacy
    call  puts_legacy
    la    s0, line            # s0 = where the next byte goes
1:  li    a7, 2               # legacy console_getchar
    ecall
    bltz  a0, 1b              # nothing typed yet: poll again
    li    t0, 13
    beq   a0, t0, 1b          # ignore CR (a terminal sends CR or LF)
    sb    a0, 0(s0)
    addi  s0, s0, 1
    li    t0, 10
    bne   a0, t0, 1b
    la    a0, p_got_legacy
    call  puts_legacy
    la    a0, line
    sb    zero, 0(s0)
    call  puts_legacy

    # DBCN: write the prompt, then read until a newline arrives.
    la    a0, p_dbcn
    call  puts_dbcn
    la    s0, line
2:  li    a7, 0x4442434E      # DBCN
    li    a6, 1               # console_read(num_bytes, base_lo, base_hi)
    li    a0, 64
    mv    a1, s0
    li    a2, 0
    ecall
    bnez  a0, fail            # an SBI error
    add   s0, s0, a1          # a1 = bytes read (0 when none)
    beqz  a1, 2b
    lbu   t1, -1(s0)
    li    t0, 10
    bne   t1, t0, 2b
    sb    zero, 0(s0)
    la    a0, p_got_dbcn
    call  puts_dbcn
    la    a0, line
    call  puts_dbcn

    li    a7, 0x53525354      # SRST: shutdown, no reason
    li    a6, 0
    li    a0, 0
    li    a1, 0
    ecall
fail:
    li    a7, 0x53525354      # SRST: shutdown, system failure
    li    a6, 0
    li    a0, 0
    li    a1, 1
    ecall
3:  j     3b

# puts_legacy(a0 = NUL-terminated string): one legacy console_putchar a byte.
puts_legacy:
    mv    t2, a0
1:  lbu   a0, 0(t2)
    beqz  a0, 2f
    li    a7, 1
    ecall
    addi  t2, t2, 1
    j     1b
2:  ret

# puts_dbcn(a0 = NUL-terminated string): one DBCN console_write.
puts_dbcn:
    mv    t2, a0
    mv    t3, a0
1:  lbu   t0, 0(t3)
    beqz  t0, 2f
    addi  t3, t3, 1
    j     1b
2:  sub   a0, t3, t2          # num_bytes
    mv    a1, t2              # base_lo (physical: no MMU)
    li    a2, 0
    li    a7, 0x4442434E
    li    a6, 0
    ecall
    ret

    .section .rodata
p_legacy:     .asciz "sbi: getchar>\n"
p_got_legacy: .asciz "legacy: "
p_dbcn:       .asciz "sbi: dbcn>\n"
p_got_dbcn:   .asciz "dbcn: "

    .section .bss
    .balign 16
line:   .space 4096
    .space 4096
stack_top:
