// How a run ends, in one place: the outcome and its exit status, the lines the
// launcher watches the guest's consoles for (ready, panic), the panic policy,
// and the watchdog on the cpu. The consoles are watched by actors (the console
// actor for hvc0, the cpu for the SBI console and the UART, both with the one
// watcher in actors/output.ts); they report "seen", and this file decides.
// Read next: launcher/boot.ts (which wires these to the supervisors).

import {
  beatWord,
  CTL,
  FATE,
  HART,
  hartCount,
  hartWord,
  hsmState,
  idleWord,
  publishedInstret,
} from "../machine/control.ts";
import type { CpuConfig } from "../actors/cpu/protocol.ts";

/** How a run ended. */
export interface MachineOutcome {
  /** A value of FATE (machine/control.ts). */
  fate: number;
  /** What happened, in words. */
  reason: string;
  /** The exit status the CLI ends with (exitCodeFor). */
  exitCode: number;
  /** Instructions the guest retired. */
  instret: number;
  /** Recent PCs when the guest died and --trace-on-crash was given. */
  pcs?: string[];
  /** pc samples [hex pc, count] when --profile was given. */
  profile?: [string, number][];
}

/** Exit status for each fate. */
export function exitCodeFor(fate: number): number {
  switch (fate) {
    case FATE.POWEROFF:
    case FATE.REBOOT:
      return 0;
    case FATE.STOPPED:
      return 130;
    default:
      return 1;
  }
}

/** The outcome of a run the launcher ends itself (the cpu reports its own with its fate). */
export function endedBy(fate: number, reason: string, ctl: Int32Array): MachineOutcome {
  return { fate, reason, exitCode: exitCodeFor(fate), instret: publishedInstret(ctl) };
}

/** The line the bundled guest prints when its shell is about to start (docs/guest.md). */
export const READY_LINE = "actorvm-guest: ready";

/**
 * What the bundled guest's self-check prints when a check failed (docs/guest.md).
 * Watched on every run, not only when the launcher's command line has
 * `actorvm.selfcheck=1`: firmware (U-Boot) may set the kernel's command line.
 */
export const SELFCHECK_FAIL = "actorvm-selfcheck: FAIL";

/**
 * What Linux prints when it panics (kernel/panic.c). With panic=0 it then
 * loops forever with interrupts off (no wfi, so the cpu burns a core).
 */
export const PANIC_LINE = "Kernel panic - not syncing";
/** The last line of Linux's panic report. */
export const PANIC_END = "---[ end Kernel panic - not syncing";
/** Time for the rest of the panic report (the stack, the end marker) to reach the console. */
export const PANIC_GRACE_MS = 2000;
const PANIC_HINT = "boot it with panic=-1 to reboot instead";

/** The guest kernel's panic timeout from its command line (0, Linux's default, if none). */
export function panicTimeout(cmdline: string): number {
  const m = [...cmdline.matchAll(/(?:^|\s)panic=(-?\d+)(?=\s|$)/g)].at(-1);
  return m ? Number(m[1]) : 0;
}

/**
 * The panic policy. Any panic= other than 0 reboots by itself: nothing to do.
 * With panic=0 the run ends as a dead guest:
 * - on the cpu's consoles (SBI console, UART: an early panic, before hvc0),
 *   the cpu stops itself at the end-of-panic line (`cpuStopOn`);
 * - on hvc0, the console actor reports PANIC_LINE and the launcher ends the
 *   run PANIC_GRACE_MS later, once the report is out (said then: a line now
 *   would land in the middle of the guest's).
 * A swapped console that never reports "seen" leaves only the first
 * (docs/faults.md, "What the launcher sees").
 */
export class PanicPolicy {
  readonly spins: boolean;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(cmdline: string, private readonly end: (o: MachineOutcome) => void) {
    this.spins = panicTimeout(cmdline) === 0;
  }

  /** The strings the consoles must watch for this policy. */
  get watch(): string[] {
    return [PANIC_LINE];
  }

  /** What the cpu actor stops on (CpuConfig.stopOn); undefined when Linux reboots by itself. */
  get cpuStopOn(): CpuConfig["stopOn"] {
    if (!this.spins) return undefined;
    return { text: PANIC_END, reason: `the guest kernel panicked (on the {where}; ${PANIC_HINT})` };
  }

  /** A console reported `text`; `ctl` gives the instruction count when the run ends. */
  seen(text: string, ctl: Int32Array): void {
    if (text !== PANIC_LINE || !this.spins || this.timer !== undefined) return;
    this.timer = setTimeout(
      () => this.end(endedBy(FATE.CRASHED, `the guest kernel panicked (${PANIC_HINT})`, ctl)),
      PANIC_GRACE_MS,
    );
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/** How long the cpu may go without finishing a batch while not in wfi (a batch takes ~1 ms). */
export const CPU_WATCHDOG_MS = 10_000;

/**
 * The launcher's watchdog on the cpu actor: a hung cpu (an emulator bug, or a
 * swapped-in cpu that stopped) would otherwise go unnoticed, because the cpu
 * never answers messages while it runs. It reads the heartbeat words of the
 * control block; a cpu asleep in wfi owes no beat. Returns the stop function.
 */
/** With several harts, each one's HSM state, heartbeat and idle word, for a hang's reason. */
function describeHarts(ctl: Int32Array): string {
  const n = hartCount(ctl);
  if (n === 1) return "";
  const each = Array.from(
    { length: n },
    (_, h) =>
      `hart ${h}: hsm ${hsmState(ctl, h)} beat ${Atomics.load(ctl, beatWord(h))} idle ${
        Atomics.load(ctl, idleWord(h))
      } fences asked ${Atomics.load(ctl, hartWord(h, HART.FENCE_REQ))} done ${
        Atomics.load(ctl, hartWord(h, HART.FENCE_DONE))
      }`,
  );
  return ` (${each.join("; ")})`;
}

export function watchCpu(ctl: Int32Array, hung: (reason: string) => void): () => void {
  let beat = Atomics.load(ctl, CTL.CPU_BEAT);
  let since = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const b = Atomics.load(ctl, CTL.CPU_BEAT);
    if (b !== beat || Atomics.load(ctl, CTL.CPU_IDLE) === 1) {
      beat = b;
      since = now;
    } else if (now - since >= CPU_WATCHDOG_MS) {
      clearInterval(timer);
      hung(
        `the cpu actor stopped making progress: no instruction batch finished in ${
          Math.round((now - since) / 1000)
        } s and it is not waiting in wfi` + describeHarts(ctl),
      );
    }
  }, 1000);
  return () => clearInterval(timer);
}
