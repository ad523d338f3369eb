// The guest's fate decides the exit status, as lguest's lg->dead did. Tiny
// hand-assembled RISC-V `Image` kernels each meet one fate: power off and
// reboot through SBI SRST, a hart stuck in wfi with every interrupt disabled,
// and a double fault (a trap vector that cannot be fetched) — the emulator
// must report each clearly and never hang.
// Read next: actors/cpu/cpu_actor.ts (where each fate is found), mod.ts.
import { runMod } from "../../testing/guest_session.ts";
import assert from "../../testing/assert.ts";
import { kernelImage as image } from "../../testing/kernel_image.ts";

const LI_A7_SRST = [0x535258b7, 0x35488893]; // lui a7,0x53525; addi a7,a7,0x354
const LI_A6_0 = 0x00000813; // li a6,0 (system_reset)
const LI_A1_0 = 0x00000593; // li a1,0 (reason: none; a1 held the device tree address)
const LI_A0_0 = 0x00000513; // li a0,0 (shutdown)
const LI_A0_1 = 0x00100513; // li a0,1 (cold reboot)
const ECALL = 0x00000073;
const LOOP = 0x0000006f; // j .
const CSRW_SIE_ZERO = 0x10401073; // csrw sie,zero
const WFI = 0x10500073;
const CSRW_STVEC_ZERO = 0x10501073; // csrw stvec,zero
const ILLEGAL = 0x00000000;

const KERNELS = {
  poweroff: image([...LI_A7_SRST, LI_A6_0, LI_A1_0, LI_A0_0, ECALL, LOOP]),
  reboot: image([...LI_A7_SRST, LI_A6_0, LI_A1_0, LI_A0_1, ECALL, LOOP]),
  stuck: image([CSRW_SIE_ZERO, WFI, LOOP]),
  doubleFault: image([CSRW_STVEC_ZERO, ILLEGAL]),
};

async function boot(kernel: Uint8Array, extra: string[] = []) {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/Image`, kernel);
    const { code, err } = await runMod([...extra, "32", `${dir}/Image`], 30_000);
    return { code, stderr: err };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("fate: SBI shutdown is a poweroff, exit 0", async () => {
  const r = await boot(KERNELS.poweroff);
  assert.deepEqual(r.code, 0, r.stderr);
});

Deno.test("fate: SBI cold reboot with --no-reboot exits 0 and says so", async () => {
  const r = await boot(KERNELS.reboot, ["--no-reboot"]);
  assert.deepEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, /rebooted/);
});

Deno.test("fate: wfi with every interrupt disabled is a stuck hart, exit 1", async () => {
  const r = await boot(KERNELS.stuck);
  assert.deepEqual(r.code, 1, r.stderr);
  assert.match(r.stderr, /guest died: hart stuck: wfi at 0x80200044 with every interrupt disabled/);
});

Deno.test("fate: a trap vector that cannot be fetched is a double fault, exit 1", async () => {
  const r = await boot(KERNELS.doubleFault, ["--trace-on-crash"]);
  assert.deepEqual(r.code, 1, r.stderr);
  assert.match(r.stderr, /guest died: double fault: the trap vector 0x0 cannot be fetched/);
  assert.match(r.stderr, /last \d+ PCs/);
});
