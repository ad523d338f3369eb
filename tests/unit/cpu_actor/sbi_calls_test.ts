// Tests for actors/cpu/sbi.ts: every extension of the table through the ecall hook,
// with a small hart-shaped object (the fields the SBI uses) and a recording
// host; then the same hook plugged into the real cpu/hart.ts, running ecall.

import assert from "../../../testing/assert.ts";
import {
  createSbi,
  DBCN_CHUNK,
  SBI_ERR,
  SBI_EXT,
  SBI_IMPL_ID,
  sbiExtensions,
  type SbiHart,
  type SbiHost,
} from "../../../actors/cpu/sbi.ts";

const RAM_BASE = 0x8000_0000;
const CSR_MIP = 0x344;

class TestHart implements SbiHart {
  x = new BigInt64Array(32);
  stopRequested = false;
  flushes = 0;
  mip = 0n;
  flushTlb() {
    this.flushes++;
  }
  csrRead(csr: number) {
    assert.equal(csr, CSR_MIP);
    return this.mip;
  }
  csrWrite(csr: number, v: bigint) {
    assert.equal(csr, CSR_MIP);
    this.mip = v;
  }
}

function rig(input: number[] = []) {
  const ram = new Uint8Array(64 * 1024);
  const out: number[] = [];
  const timers: bigint[] = [];
  const resets: [string, number][] = [];
  const ipis: [bigint, bigint][] = [];
  let suspends = 0;
  const host: SbiHost = {
    consoleWrite: (b) => out.push(...b),
    consoleRead: (max) => Uint8Array.from(input.splice(0, max)),
    setTimer: (d) => timers.push(d),
    reset: (t, r) => resets.push([t, r]),
    readPhys(addr, len) {
      const o = addr - RAM_BASE;
      return o >= 0 && o + len <= ram.length ? ram.slice(o, o + len) : null;
    },
    writePhys(addr, data) {
      const o = addr - RAM_BASE;
      if (!(o >= 0 && o + data.length <= ram.length)) return false;
      ram.set(data, o);
      return true;
    },
    sendIpi: (m, b) => ipis.push([m, b]),
    suspend: () => suspends++,
  };
  const sbi = createSbi(host);
  const hart = new TestHart();
  /** ecall with a7 = eid, a6 = fid, a0.. = args; returns [a0, a1]. */
  const ecall = (eid: number | bigint, fid: number, ...args: (number | bigint)[]) => {
    hart.x.fill(0x5a5an);
    hart.x[17] = BigInt.asIntN(64, BigInt(eid));
    hart.x[16] = BigInt(fid);
    args.forEach((a, i) => hart.x[10 + i] = BigInt.asIntN(64, BigInt(a)));
    assert.equal(sbi(hart, 1), true, "S-mode ecalls are handled");
    return [hart.x[10], hart.x[11]];
  };
  return { ram, out, timers, resets, ipis, hart, ecall, sbi, suspends: () => suspends };
}

const NOT_SUPPORTED = BigInt(SBI_ERR.NOT_SUPPORTED);
const INVALID_PARAM = BigInt(SBI_ERR.INVALID_PARAM);

Deno.test("sbi: only S-mode ecalls are hypercalls", () => {
  const { sbi, hart } = rig();
  hart.x[17] = BigInt(SBI_EXT.BASE);
  hart.x[10] = 77n;
  assert.equal(sbi(hart, 0), false, "U-mode ecall traps to the kernel");
  assert.equal(sbi(hart, 3), false, "M-mode ecall traps");
  assert.equal(hart.x[10], 77n, "registers untouched");
});

Deno.test("sbi BASE: version, ids, probe", () => {
  const { ecall } = rig();
  assert.deepEqual(ecall(SBI_EXT.BASE, 0), [0n, 0x0200_0000n], "spec 2.0");
  assert.deepEqual(ecall(SBI_EXT.BASE, 1), [0n, BigInt(SBI_IMPL_ID)]);
  assert.deepEqual(ecall(SBI_EXT.BASE, 2), [0n, 1n]);
  for (const fid of [4, 5, 6]) assert.deepEqual(ecall(SBI_EXT.BASE, fid), [0n, 0n]);
  for (const eid of Object.values(SBI_EXT)) {
    assert.deepEqual(ecall(SBI_EXT.BASE, 3, eid), [0n, 1n], `probe ${eid.toString(16)}`);
  }
  assert.deepEqual(ecall(SBI_EXT.BASE, 3, 0x4e41434c), [0n, 0n], "NACL: absent");
  assert.deepEqual(ecall(SBI_EXT.BASE, 3, 0x9), [0n, 0n], "legacy 9 is reserved");
  assert.deepEqual(ecall(SBI_EXT.BASE, 3, 1n << 40n), [0n, 0n]);
  assert.equal(ecall(SBI_EXT.BASE, 7)[0], NOT_SUPPORTED);
  assert.equal(sbiExtensions().get(SBI_EXT.HSM)?.name, "HSM");
});

Deno.test("sbi: unknown extension or function is NOT_SUPPORTED", () => {
  const { ecall } = rig();
  assert.equal(ecall(0x4e41434c, 0)[0], NOT_SUPPORTED);
  assert.equal(ecall(0x0f, 0)[0], NOT_SUPPORTED);
  assert.equal(ecall(-1n, 0)[0], NOT_SUPPORTED);
  assert.equal(ecall(SBI_EXT.TIME, 1)[0], NOT_SUPPORTED);
  assert.equal(ecall(SBI_EXT.DBCN, 3)[0], NOT_SUPPORTED);
  assert.equal(ecall(SBI_EXT.RFENCE, 3)[0], NOT_SUPPORTED, "no hypervisor fences");
});

Deno.test("sbi TIME and legacy set_timer: deadlines, and 'never'", () => {
  const { ecall, timers } = rig();
  assert.deepEqual(ecall(SBI_EXT.TIME, 0, 123_456_789n), [0n, 0n]);
  ecall(SBI_EXT.TIME, 0, -1n); // Linux's "stop the clock event": 2^64-1
  ecall(SBI_EXT.TIME, 0, 1n << 63n);
  const [a0] = ecall(SBI_EXT.LEGACY_SET_TIMER, 0, 42n);
  assert.equal(a0, 0n);
  assert.deepEqual(timers, [123_456_789n, -1n, -1n, 42n]);
});

Deno.test("sbi IPI and legacy IPI calls: hart masks resolved, bad harts refused", () => {
  const { ecall, ipis, hart } = rig();
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 1n, 0n), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 0n, -1n), [0n, 0n], "base -1: all harts");
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 0n, 0n), [0n, 0n], "empty mask: nobody");
  assert.equal(ecall(SBI_EXT.IPI, 0, 0b10n, 0n)[0], INVALID_PARAM, "hart 1 does not exist");
  assert.equal(ecall(SBI_EXT.IPI, 0, 1n, 1n)[0], INVALID_PARAM, "base past our hart");
  assert.deepEqual(ipis, [[1n, 0n], [1n, 0n]]);
  ecall(SBI_EXT.LEGACY_SEND_IPI, 0, 0x8000_1000n);
  assert.equal(ipis.length, 3);
  hart.mip = 0b10n | (1n << 9n);
  assert.equal(ecall(SBI_EXT.LEGACY_CLEAR_IPI, 0)[0], 0n);
  assert.equal(hart.mip, 1n << 9n, "clear_ipi clears SSIP only");
});

Deno.test("sbi RFENCE: sfence.vma flushes the TLB of a targeted hart", () => {
  const { ecall, hart } = rig();
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 1, 1n, 0n, 0x1000n, 0x1000n), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 2, 0n, -1n, 0n, -1n, 7n), [0n, 0n]);
  assert.equal(hart.flushes, 2);
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 0, 1n, 0n), [0n, 0n], "fence.i: nothing cached");
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 1, 0n, 0n, 0n, 0n), [0n, 0n], "no harts");
  assert.equal(hart.flushes, 2);
  assert.equal(ecall(SBI_EXT.RFENCE, 1, 4n, 0n, 0n, 0n)[0], INVALID_PARAM);
  ecall(SBI_EXT.LEGACY_REMOTE_SFENCE_VMA, 0, 0n, 0n, 0n);
  ecall(SBI_EXT.LEGACY_REMOTE_SFENCE_VMA_ASID, 0, 0n, 0n, 0n, 0n);
  assert.equal(hart.flushes, 4);
  assert.equal(ecall(SBI_EXT.LEGACY_REMOTE_FENCE_I, 0, 0n)[0], 0n);
});

Deno.test("sbi HSM: one started hart", () => {
  const { ecall, suspends } = rig();
  assert.equal(ecall(SBI_EXT.HSM, 0, 0n, 0x8020_0000n, 0n)[0], BigInt(SBI_ERR.ALREADY_AVAILABLE));
  assert.equal(ecall(SBI_EXT.HSM, 0, 1n, 0x8020_0000n, 0n)[0], INVALID_PARAM);
  assert.deepEqual(ecall(SBI_EXT.HSM, 2, 0n), [0n, 0n], "STARTED");
  assert.equal(ecall(SBI_EXT.HSM, 2, 5n)[0], INVALID_PARAM);
  assert.equal(ecall(SBI_EXT.HSM, 1)[0], BigInt(SBI_ERR.FAILED), "the last hart stays");
  assert.deepEqual(ecall(SBI_EXT.HSM, 3, 0n, 0n, 0n), [0n, 0n], "retentive suspend");
  assert.equal(suspends(), 1);
  assert.equal(ecall(SBI_EXT.HSM, 3, 0x8000_0000n, 0x8020_0000n, 0n)[0], NOT_SUPPORTED);
  assert.equal(ecall(SBI_EXT.HSM, 3, 0x1000_0000n)[0], NOT_SUPPORTED, "platform type");
  assert.equal(ecall(SBI_EXT.HSM, 3, 5n)[0], INVALID_PARAM, "reserved type");
  assert.equal(suspends(), 1);
});

Deno.test("sbi SRST and legacy shutdown: the host learns the fate, the hart stops", () => {
  for (const [type, name] of [[0, "shutdown"], [1, "cold-reboot"], [2, "warm-reboot"]] as const) {
    const { ecall, resets, hart } = rig();
    assert.deepEqual(ecall(SBI_EXT.SRST, 0, type, 1), [0n, 0n]);
    assert.deepEqual(resets, [[name, 1]]);
    assert.equal(hart.stopRequested, true);
  }
  const { ecall, resets, hart } = rig();
  assert.equal(ecall(SBI_EXT.SRST, 0, 3, 0)[0], INVALID_PARAM, "reserved type");
  assert.equal(ecall(SBI_EXT.SRST, 0, 0xf000_0000, 0)[0], NOT_SUPPORTED, "vendor type");
  assert.equal(ecall(SBI_EXT.SRST, 0, 0, 2)[0], INVALID_PARAM, "reserved reason");
  assert.equal(ecall(SBI_EXT.SRST, 0, 1n << 32n, 0)[0], INVALID_PARAM);
  assert.deepEqual(resets, []);
  assert.equal(hart.stopRequested, false);
  assert.deepEqual(ecall(SBI_EXT.SRST, 0, 0, 0xe000_0001), [0n, 0n], "implementation reason");
  assert.equal(ecall(SBI_EXT.LEGACY_SHUTDOWN, 0)[0], 0n);
  assert.deepEqual(resets, [["shutdown", 0xe000_0001], ["shutdown", 0]]);
});

Deno.test("sbi DBCN: write, read, write_byte on guest physical buffers", () => {
  const { ecall, ram, out } = rig([0x61, 0x62, 0x63]);
  ram.set(new TextEncoder().encode("hello, world"), 0x100);
  assert.deepEqual(ecall(SBI_EXT.DBCN, 0, 5, RAM_BASE + 0x100, 0), [0n, 5n]);
  assert.deepEqual(ecall(SBI_EXT.DBCN, 2, 0x121), [0n, 0n]); // '!' (low byte only)
  assert.equal(new TextDecoder().decode(Uint8Array.from(out)), "hello!");
  assert.deepEqual(ecall(SBI_EXT.DBCN, 0, 0, RAM_BASE, 0), [0n, 0n], "zero bytes");
  // A huge count is served a chunk at a time; the guest loops.
  assert.deepEqual(ecall(SBI_EXT.DBCN, 0, -1n, RAM_BASE, 0), [0n, BigInt(DBCN_CHUNK)]);
  // Outside RAM, straddling its end, or with a high half: INVALID_PARAM, nothing written.
  const before = out.length;
  assert.equal(ecall(SBI_EXT.DBCN, 0, 4, 0x1000, 0)[0], INVALID_PARAM);
  assert.equal(ecall(SBI_EXT.DBCN, 0, 16, RAM_BASE + ram.length - 8, 0)[0], INVALID_PARAM);
  assert.equal(ecall(SBI_EXT.DBCN, 0, 4, RAM_BASE, 1)[0], INVALID_PARAM);
  assert.equal(ecall(SBI_EXT.DBCN, 0, 4, -1n, 0)[0], INVALID_PARAM);
  assert.equal(out.length, before);
  // Read: a bad buffer consumes no input; a good one gets what is there.
  assert.equal(ecall(SBI_EXT.DBCN, 1, 2, RAM_BASE + ram.length - 1, 0)[0], INVALID_PARAM);
  assert.deepEqual(ecall(SBI_EXT.DBCN, 1, 2, RAM_BASE + 0x200, 0), [0n, 2n]);
  assert.deepEqual([...ram.subarray(0x200, 0x203)], [0x61, 0x62, 0]);
  assert.deepEqual(ecall(SBI_EXT.DBCN, 1, 8, RAM_BASE + 0x300, 0), [0n, 1n]);
  assert.deepEqual(ecall(SBI_EXT.DBCN, 1, 8, RAM_BASE + 0x300, 0), [0n, 0n], "no input: 0");
});

Deno.test("sbi legacy console: putchar and getchar (-1 when nothing)", () => {
  const { ecall, out } = rig([0x7a]);
  assert.equal(ecall(SBI_EXT.LEGACY_CONSOLE_PUTCHAR, 0, 0x41)[0], 0n);
  assert.deepEqual(out, [0x41]);
  assert.equal(ecall(SBI_EXT.LEGACY_CONSOLE_GETCHAR, 0)[0], 0x7an);
  assert.equal(ecall(SBI_EXT.LEGACY_CONSOLE_GETCHAR, 0)[0], -1n);
});

// The same hook in the real hart, when cpu/hart.ts is there: ecall from S
// returns to the next instruction with a0/a1 set; from U it traps.
const hartMod = await import("../../../cpu/hart.ts").catch(() => null);

Deno.test({
  name: "sbi in the real hart" + (hartMod ? "" : " (SKIPPED: cpu/hart.ts missing)"),
  ignore: !hartMod,
  fn: () => {
    const { Hart } = hartMod!;
    const ram = new SharedArrayBuffer(1 << 20);
    const mem = new DataView(ram);
    mem.setUint32(0, 0x0000_0073, true); // ecall
    mem.setUint32(4, 0x0000_0073, true); // ecall
    new Uint8Array(ram).set(new TextEncoder().encode("hi from DBCN"), 0x800);
    const out: number[] = [];
    const hart = new Hart({ ram, ramBase: RAM_BASE });
    const host: SbiHost = {
      consoleWrite: (b) => out.push(...b),
      consoleRead: () => new Uint8Array(0),
      setTimer: () => {},
      reset: () => {},
      readPhys(addr, len) {
        const buf = new Uint8Array(len);
        return hart.readPhys(addr, buf) ? buf : null;
      },
      writePhys: (addr, data) => hart.writePhys(addr, data),
      sendIpi: () => {},
    };
    hart.onEcall = createSbi(host);
    hart.priv = 1;
    hart.pc = BigInt(RAM_BASE);
    hart.x[17] = BigInt(SBI_EXT.BASE);
    hart.x[16] = 0n;
    hart.run(1);
    assert.equal(hart.pc, BigInt(RAM_BASE + 4));
    assert.equal(hart.x[10], 0n);
    assert.equal(hart.x[11], 0x0200_0000n);
    hart.x[17] = BigInt(SBI_EXT.DBCN);
    hart.x[16] = 0n;
    hart.x[10] = 12n;
    hart.x[11] = BigInt(RAM_BASE + 0x800);
    hart.x[12] = 0n;
    hart.run(1);
    assert.equal(hart.x[11], 12n);
    assert.equal(new TextDecoder().decode(Uint8Array.from(out)), "hi from DBCN");
    // From U-mode the hook declines: the hart takes an ecall trap instead.
    hart.priv = 0;
    hart.pc = BigInt(RAM_BASE);
    hart.run(1);
    assert.notEqual(hart.pc, BigInt(RAM_BASE + 4));
    assert.equal(hart.priv, 3, "undelegated ecall from U goes to M");
  },
});

Deno.test("sbi: several harts — IPI/RFENCE masks resolve to hart ids, HSM goes to the host", () => {
  const ipis: bigint[] = [];
  const fences: [bigint, boolean][] = [];
  const starts: [number, bigint, bigint][] = [];
  const ram = new Uint8Array(4096);
  const host: SbiHost = {
    consoleWrite: () => {},
    consoleRead: () => new Uint8Array(0),
    setTimer: () => {},
    reset: () => {},
    readPhys: (addr, len) =>
      addr >= RAM_BASE && addr + len <= RAM_BASE + ram.length ? ram.slice(0, len) : null,
    writePhys: () => false,
    sendIpi: (m) => ipis.push(m),
    startHart: (h, addr, opaque) => {
      starts.push([h, addr, opaque]);
      return h === 2 ? SBI_ERR.ALREADY_AVAILABLE : SBI_ERR.SUCCESS;
    },
    stopHart: () => SBI_ERR.SUCCESS,
    hartStatus: (h) => h,
    remoteFence: (m, i) => fences.push([m, i]),
  };
  const sbi = createSbi(host, { hartId: 1, harts: 4 });
  const hart = new TestHart();
  const ecall = (eid: number, fid: number, ...args: (number | bigint)[]) => {
    hart.x.fill(0n);
    hart.x[17] = BigInt(eid);
    hart.x[16] = BigInt(fid);
    args.forEach((a, i) => hart.x[10 + i] = BigInt.asIntN(64, BigInt(a)));
    sbi(hart, 1);
    return [hart.x[10], hart.x[11]];
  };
  // send_ipi(mask, base): bit i of mask is hart base+i; base -1 is every hart.
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 0b11, 1), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 0, -1), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 0b100, 2), [INVALID_PARAM, 0n], "hart 4 does not exist");
  assert.deepEqual(ecall(SBI_EXT.IPI, 0, 1, 4), [INVALID_PARAM, 0n]);
  assert.deepEqual(ipis, [0b110n, 0b1111n]);
  // remote fence.i and sfence.vma(.asid) to harts 0 and 3.
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 0, 0b1001, 0), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 1, 0b1001, 0, 0, -1), [0n, 0n]);
  assert.deepEqual(ecall(SBI_EXT.RFENCE, 2, 0b1001, 0, 0, -1, 7), [0n, 0n]);
  assert.deepEqual(fences, [[0b1001n, true], [0b1001n, false], [0b1001n, false]]);
  // HSM: start checks the hart and the address; status comes from the host.
  assert.deepEqual(ecall(SBI_EXT.HSM, 0, 3, RAM_BASE + 0x100, 42), [0n, 0n]);
  assert.deepEqual(starts, [[3, BigInt(RAM_BASE + 0x100), 42n]]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 0, 2, RAM_BASE, 0), [BigInt(SBI_ERR.ALREADY_AVAILABLE), 0n]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 0, 4, RAM_BASE, 0), [INVALID_PARAM, 0n]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 0, 3, 0x1000, 0), [BigInt(SBI_ERR.INVALID_ADDRESS), 0n]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 2, 3), [0n, 3n]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 2, 9), [INVALID_PARAM, 0n]);
  assert.deepEqual(ecall(SBI_EXT.HSM, 1), [0n, 0n]);
});
