// mip read-modify-write: CSRRS/CSRRC on mip use only the software-writable
// bits (priv spec 3.1.9). OpenSBI raises STIP with `csrs mip` while the PLIC
// may be driving SEIP; before this was fixed SEIP became a sticky software
// bit and Linux took an endless stream of empty external interrupts.
// Read next: cpu/csr.ts, docs/firmware.md ("A hart bug the firmware found").

import assert from "../../../testing/assert.ts";
import { A, BASE, load, makeHart, runToExit } from "../../../testing/cpu_harness.ts";

const MIP = 0x344;
const SEIP = 1n << 9n;
const STIP = 1n << 5n;

Deno.test("cpu: csrs mip while SEIP is driven from outside leaves SEIP external", () => {
  const h = makeHart();
  load(h, BASE, [A.addi(5, 0, 32), A.csrrs(6, MIP, 5), ...A.exit()]);
  h.externalMip = Number(SEIP);
  runToExit(h);
  assert.equal(BigInt.asUintN(64, h.x[6]) & SEIP, SEIP, "the read shows the external SEIP");
  h.externalMip = 0; // the PLIC drops the line
  assert.equal(h.csrRead(MIP), STIP, "only STIP was set; SEIP did not stick");
});

Deno.test("cpu: csrc mip clears software bits without latching external ones", () => {
  const h = makeHart();
  load(h, BASE, [A.addi(5, 0, 32), A.csrrc(0, MIP, 5), ...A.exit()]);
  h.setMipSoftware(Number(STIP), true);
  h.externalMip = Number(SEIP);
  runToExit(h);
  h.externalMip = 0;
  assert.equal(h.csrRead(MIP), 0n);
});
