/* Process entry for the freestanding test programs: set gp (the linker relaxes
 * globals against it), hand the initial stack (argc, argv, envp, auxv) to
 * rt_start in rt.c, which calls main and exits with its status. */
	.file	"start.s"
	.section .text._start
	.globl _start
	.type _start, @function
_start:
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	mv	a0, sp
	andi	sp, sp, -16
	call	rt_start
1:	j	1b
	.size _start, .-_start
