// A probe for tests/unit/cpu/warmup_test.ts, run in a child process with
// V8's --trace-deopt: warm up, give V8 time to optimize the instruction loop,
// then run the warm-up program as a machine with the translator on does (its
// hart checks new code pages against the translated ones). The test reads the
// trace: the loop must not be thrown away for a path the warm-up left out.
import { warmupHart, warmUpJit } from "../cpu/warmup.ts";

warmUpJit();
// Long runs of the warm-up program (a few harts, not thousands: little
// garbage whose collection could drop the optimized loop for reasons of its
// own), for long enough that the concurrent TurboFan compile of the loop
// (~100 ms) lands.
const harts = [];
const until = performance.now() + 1500;
while (performance.now() < until) {
  const plain = warmupHart(2000); // (laps: a 12-bit immediate in the program)
  harts.push(plain);
  while (performance.now() < until && !plain.stopRequested) plain.run(500);
}
console.log("PROBE: optimized phase over");
const h = warmupHart(40);
h.codePages = new Uint8Array(h.ramSize / 4096);
h.stopAtCode = true;
for (let i = 0; i < 1000 && !h.stopRequested; i++) h.run(500);
console.log(`PROBE: done${h.stopRequested ? "" : " (the program did not finish)"}`);
