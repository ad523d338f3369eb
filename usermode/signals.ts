// Signal delivery for the user-mode runner, as Linux does it on RISC-V: a
// handled signal pushes an rt_sigframe (siginfo, then a ucontext holding the
// registers, the FP state and the old mask) on the thread's stack — or its
// sigaltstack, with SA_ONSTACK —, and enters the handler with a0 = signal,
// a1 = &info, a2 = &uc and ra = a trampoline (`li a7, 139; ecall`: the
// kernel's vDSO provides one; we map one page for it). rt_sigreturn reads the
// ucontext back, so a handler may change the registers (Go's async
// preemption rewrites pc). Used by usermode/syscalls.ts and the runner.
// Read next: usermode/runner.ts.

import type { Hart } from "../cpu/hart.ts";
import type { AddressSpace } from "./memory.ts";
import type { Thread } from "./threads.ts";

/** Where the sigreturn trampoline page is mapped (R+X, below the main stack's guard gap). */
export const TRAMPOLINE = 0x3f_ffff_8000;
/** `li a7, 139` (rt_sigreturn); `ecall`. */
export const TRAMPOLINE_CODE = [0x08b00893, 0x00000073];

export const SA_SIGINFO = 4, SA_ONSTACK = 0x08000000, SA_RESTART = 0x10000000;
export const SA_NODEFER = 0x40000000;
export const SA_RESETHAND = 0x80000000;
const SS_ONSTACK = 1, SS_DISABLE = 2;

// struct rt_sigframe (arch/riscv/kernel/signal.c): siginfo (128) + ucontext.
const INFO = 0, UC = 128;
// struct ucontext: flags, link, uc_stack (24), uc_sigmask (8 + 120 unused), uc_mcontext at 176 (16-aligned).
const UC_STACK = 16, UC_SIGMASK = 40, UC_MCONTEXT = 176;
// struct sigcontext: sc_regs (pc, x1..x31), then the FP state (f0..f31 as doubles, fcsr; 528 bytes).
const SC_FP = 256, SC_FCSR = 256 + 256;
const FRAME = UC + UC_MCONTEXT + 256 + 528; // 1088, a multiple of 16

/** What a signal's siginfo says. */
export interface SigInfo {
  signo: number;
  code: number;
  /** si_pid/si_uid for a sent signal (SI_USER 0, SI_TKILL -6), or si_addr for a fault. */
  pid?: number;
  addr?: number;
}

/**
 * Builds the frame for `info` on the current thread (loaded on the hart) and
 * enters the handler `action` (the kernel sigaction's 24 bytes). False if the
 * frame cannot be written (Linux then kills the process with SIGSEGV).
 */
export function enterHandler(
  h: Hart,
  mem: AddressSpace,
  t: Thread,
  info: SigInfo,
  action: DataView,
): boolean {
  const handler = action.getBigUint64(0, true);
  const flags = Number(action.getBigUint64(8, true) & 0xffffffffn);
  const saMask = action.getBigUint64(16, true);
  const alt = new DataView(t.altstack.buffer, t.altstack.byteOffset, 24);
  const ssSp = Number(alt.getBigUint64(0, true)), ssSize = Number(alt.getBigUint64(16, true));
  const ssFlags = alt.getInt32(8, true);
  let sp = Number(BigInt.asUintN(64, h.x[2]));
  const onAlt = ssFlags !== SS_DISABLE && sp > ssSp && sp <= ssSp + ssSize;
  if (flags & SA_ONSTACK && ssFlags !== SS_DISABLE && !onAlt) sp = ssSp + ssSize;
  const frame = Math.floor((sp - FRAME) / 16) * 16;

  const b = new Uint8Array(FRAME);
  const dv = new DataView(b.buffer);
  dv.setInt32(INFO, info.signo, true);
  dv.setInt32(INFO + 8, info.code, true);
  if (info.addr !== undefined) dv.setBigUint64(INFO + 16, BigInt(info.addr), true);
  else dv.setInt32(INFO + 16, info.pid ?? 0, true);
  dv.setBigUint64(UC + UC_STACK, BigInt(ssSp), true);
  dv.setInt32(
    UC + UC_STACK + 8,
    ssFlags === SS_DISABLE ? SS_DISABLE : onAlt ? SS_ONSTACK : 0,
    true,
  );
  dv.setBigUint64(UC + UC_STACK + 16, BigInt(ssSize), true);
  dv.setBigUint64(UC + UC_SIGMASK, t.sigmask, true);
  const mc = UC + UC_MCONTEXT;
  dv.setBigUint64(mc, h.pc, true);
  for (let r = 1; r < 32; r++) dv.setBigInt64(mc + 8 * r, h.x[r], true);
  for (let r = 0; r < 32; r++) dv.setBigInt64(mc + SC_FP + 8 * r, h.fpu.bits[r], true);
  dv.setUint32(mc + SC_FCSR, (h.fpu.frm << 5) | h.fpu.fflags, true);
  if (!mem.write(frame, b)) return false;

  t.sigmask |= saMask | (flags & SA_NODEFER ? 0n : 1n << BigInt(info.signo - 1));
  t.sigmask &= ~((1n << 8n) | (1n << 18n)); // SIGKILL, SIGSTOP
  h.x[2] = BigInt(frame);
  h.x[1] = BigInt(TRAMPOLINE);
  h.x[10] = BigInt(info.signo);
  h.x[11] = BigInt(frame + INFO);
  h.x[12] = BigInt(frame + UC);
  h.pc = handler;
  return true;
}

/** rt_sigreturn: restores the registers, FP state and mask from the frame at sp. False = bad frame. */
export function sigreturn(h: Hart, mem: AddressSpace, t: Thread): boolean {
  const frame = Number(BigInt.asUintN(64, h.x[2]));
  const b = mem.read(frame, FRAME);
  if (b === null) return false;
  const dv = new DataView(b.buffer);
  const mc = UC + UC_MCONTEXT;
  for (let r = 1; r < 32; r++) h.x[r] = dv.getBigInt64(mc + 8 * r, true);
  for (let r = 0; r < 32; r++) h.fpu.bits[r] = dv.getBigInt64(mc + SC_FP + 8 * r, true);
  const fcsr = dv.getUint32(mc + SC_FCSR, true);
  h.fpu.frm = (fcsr >>> 5) & 7;
  h.fpu.fflags = fcsr & 0x1f;
  t.sigmask = dv.getBigUint64(UC + UC_SIGMASK, true) & ~((1n << 8n) | (1n << 18n));
  h.pc = dv.getBigUint64(mc, true);
  return true;
}
