/* Code for fencei.c, in a writable and executable section (qemu-user maps it
 * RWX like Linux; the runner gives the page U+R+W+X): a buffer the C side
 * writes instructions into, a routine that rewrites its own next instruction,
 * and a 32-bit instruction that straddles a page boundary. */
	.file	"fencei_code.s"
	.section .smc, "awx", @progbits
	.option norelax
	.balign 4096
	.globl smc_buf
smc_buf:
	.skip 256

/* long smc_self(long insn): stores insn over the instruction at 1:, fence.i,
 * then executes it. The old instruction there sets a0 = 1. */
	.globl smc_self
smc_self:
	.option push
	.option norvc	/* the patched instruction must be 4 bytes */
	la	t0, 1f
	sw	a0, 0(t0)
	fence.i
1:	addi	a0, zero, 1
	ret
	.option pop

/* long straddle(void): the addi at 4094 crosses into the next page. */
	.balign 4096
	.skip 4090
	.globl straddle
straddle:
	.option push
	.option rvc
	c.li	a0, 0
	c.nop
	.option norvc
	addi	a0, a0, 0x123
	addi	a0, a0, 0x100
	.option pop
	ret
