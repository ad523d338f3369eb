// A guest kernel panic must not leave the emulator spinning a core forever in
// silence: with panic=0 (Linux's default) Linux loops with interrupts off, so
// the launcher, which watches hvc0 for the panic line, ends the run with the
// guest's death (status 1); an early panic, on the SBI console before hvc0, is
// seen by the cpu actor; with panic=-1 Linux reboots by itself.
// Read next: launcher/fate.ts (the panic policy: PANIC_LINE, PANIC_END, panicTimeout).
import assert from "../../testing/assert.ts";
import { PANIC_END, panicTimeout } from "../../launcher/fate.ts";
import { OutputWatch } from "../../actors/output.ts";
import { bundledBoot, runMod } from "../../testing/guest_session.ts";

// No init anywhere: Linux panics once hvc0 is up ("VFS: Unable to mount root fs").
const NO_INIT = ["rdinit=/nope", "init=/nope"];

// A bound for a broken build; the expected exits come within seconds.
const run = (args: string[]) => runMod(args, 60_000);

Deno.test("robustness: panicTimeout reads the last panic= of the command line", () => {
  assert.deepEqual(panicTimeout("console=hvc0"), 0);
  assert.deepEqual(panicTimeout("panic=-1 console=hvc0"), -1);
  assert.deepEqual(panicTimeout("console=hvc0 panic=5 panic=0"), 0);
  assert.deepEqual(panicTimeout("oops_panic=3 xpanic=1"), 0);
});

Deno.test("robustness: a kernel panic (panic=0) ends the run as a dead guest", async () => {
  const { code, err } = await run(bundledBoot(NO_INIT, 64));
  assert.deepEqual(code, 1, err);
  assert.ok(err.includes("the guest kernel panicked"), err);
  assert.ok(err.includes("guest died"), err);
});

Deno.test("robustness: with panic=-1 the guest reboots (and --no-reboot ends with 0)", async () => {
  const { code, err } = await run(["--no-reboot", ...bundledBoot([...NO_INIT, "panic=-1"], 64)]);
  assert.deepEqual(code, 0, err);
  assert.ok(err.includes("guest rebooted"), err);
});

Deno.test("robustness: OutputWatch finds the end-of-panic line across chunks", () => {
  const w = new OutputWatch([PANIC_END]);
  const before = new TextEncoder().encode("[ 0.1] caf\u00e9 ");
  const text = new Uint8Array([...before, ...new TextEncoder().encode(`${PANIC_END}: x ]---\n`)]);
  const last = before.length + PANIC_END.length - 1; // the needle's last byte
  const hits: number[] = [];
  for (let i = 0; i < text.length; i += 3) {
    if (w.feed(text.subarray(i, i + 3)).includes(PANIC_END)) hits.push(i);
  }
  assert.deepEqual(hits, [last - (last % 3)], "seen once, in the chunk that completes it");
  assert.deepEqual(
    new OutputWatch([PANIC_END]).feed(new TextEncoder().encode("Kernel panic - not")),
    [],
  );
});

Deno.test("robustness: OutputWatch reports several strings, each once, whole chunk or split", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const w = new OutputWatch(["ready", "Kernel panic", "ready"]);
  assert.deepEqual(w.feed(enc("...rea")), []);
  assert.deepEqual(w.feed(enc("dy\nKernel panic - not syncing")), ["ready", "Kernel panic"]);
  assert.deepEqual(w.watching, false);
  assert.deepEqual(w.feed(enc("ready Kernel panic")), []);
  // A string split over many one-byte chunks; a multi-byte character before it.
  const v = new OutputWatch(["caf\u00e9 ok"]);
  const seen = [...enc("x caf\u00e9 ok")].flatMap((b) => v.feed(new Uint8Array([b])));
  assert.deepEqual(seen, ["caf\u00e9 ok"]);
});

Deno.test("robustness: an early panic (SBI console, before hvc0) ends the run too", async () => {
  // More than 32 x=y parameters: Linux panics in start_kernel ("Too many boot env vars").
  const many = Array.from({ length: 40 }, (_, i) => `x${i}=1`);
  const { code, err } = await run(bundledBoot(many, 64));
  assert.deepEqual(code, 1, err);
  assert.ok(err.includes("the guest kernel panicked (on the SBI console"), err);
});
