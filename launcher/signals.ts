// Which signals end a run, and SIGUSR1 kept from opening a debugger. Every
// signal whose default action would end the process (and that Deno lets a
// program listen for) stops the machine the same way: terminal restored,
// status 130. Without a listener such a signal kills Deno with the terminal
// left raw (docs/deno-facts.md). SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE cannot be
// listened for; SIGPIPE and SIGBUS are already ignored or handled by Deno.
// Read next: launcher/terminal.ts (which installs the listeners), mod.ts.

/**
 * The signals that stop the emulator (status 130). SIGPROF is among them
 * unless V8's own sampler may be using it (see profilerMayRun). SIGUSR1 is
 * ignored first (ignoreSigusr1), or stops the run where it cannot be.
 */
export function stopSignals(): Deno.Signal[] {
  ignoreSigusr1();
  const sigs: Deno.Signal[] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGTRAP",
    "SIGABRT",
    "SIGUSR2",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
  ];
  if (!profilerMayRun()) sigs.push("SIGPROF");
  // Where SIGUSR1 could not be ignored, it stops the run rather than leave a
  // running emulator with Deno's inspector listening.
  if (!usr1Ignored) sigs.push("SIGUSR1");
  return sigs;
}

/**
 * V8's CPU sampler signals its threads with SIGPROF (`deno run --cpu-prof`, a
 * profile taken over `--inspect`): a listener would take every sample for a
 * request to stop. Deno's own flags are not in Deno.args, so read them from
 * /proc.
 */
function profilerMayRun(): boolean {
  let cmdline: string[];
  try {
    cmdline = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch {
    return false; // not Linux, or no read permission: assume no profiler
  }
  // Deno's flags come before the script (a guest's arguments come after it).
  const script = cmdline.findIndex((a, i) => i > 0 && /\.[cm]?[jt]s$|:\/\//.test(a));
  const flags = cmdline.slice(1, script > 0 ? script : undefined);
  return flags.some((f) =>
    f.startsWith("--cpu-prof") || f.startsWith("--inspect") ||
    (f.startsWith("--v8-flags") && f.includes("prof"))
  );
}

let usr1Ignored = false;

/**
 * Make SIGUSR1 do nothing. Since 2.9.2 Deno opens a V8 inspector on
 * 127.0.0.1:9229 (no authentication: any local user may attach and run code
 * as us, often root for a tap) when sent SIGUSR1, and a JS listener does not
 * stop it: every listener of a signal runs. So the signal is ignored in the
 * kernel (SIG_IGN). Order matters: a listener first makes Deno install its own
 * handler for SIGUSR1, which it then never installs again (its inspector task
 * only adds itself to that handler's list), so SIG_IGN stays in force.
 * Ignored signals are inherited across exec: the `ip` commands we run ignore
 * SIGUSR1 too, which they never use. Returns false (and SIGUSR1 then stops
 * the run, see stopSignals) where FFI is not allowed or this is not Linux.
 */
export function ignoreSigusr1(): boolean {
  if (usr1Ignored) return true;
  if (Deno.build.os !== "linux") return false;
  try {
    const noop = () => {};
    Deno.addSignalListener("SIGUSR1", noop);
    const lib = Deno.dlopen("libc.so.6", {
      signal: { parameters: ["i32", "pointer"], result: "pointer" },
    });
    const SIGUSR1 = 10, SIG_IGN = Deno.UnsafePointer.create(1n), SIG_ERR = -1n;
    const prev = lib.symbols.signal(SIGUSR1, SIG_IGN);
    lib.close();
    // Deno's table keeps SIGUSR1's entry once made: dropping the listener
    // does not put a handler back.
    Deno.removeSignalListener("SIGUSR1", noop);
    usr1Ignored = prev === null || BigInt.asIntN(64, Deno.UnsafePointer.value(prev)) !== SIG_ERR;
  } catch {
    usr1Ignored = false; // no --allow-ffi
  }
  return usr1Ignored;
}
