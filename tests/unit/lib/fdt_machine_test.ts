// Tests for lib/fdt.ts and launcher/devicetree.ts: the writer round-trips through our own reader and
// through Debian's `dtc`, and the machine tree has what a 6.x kernel reads.

import assert from "../../../testing/assert.ts";
import { buildMachineFdt } from "../../../launcher/devicetree.ts";
import { FdtWriter, type ParsedFdtNode, parseFdt } from "../../../lib/fdt.ts";
import { PLIC_NDEV } from "../../../machine/memmap.ts";

const dec = new TextDecoder();
const cells = (b: Uint8Array) => {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 4 }, (_, i) => v.getUint32(i * 4));
};
const strs = (b: Uint8Array) => dec.decode(b).split("\0").slice(0, -1);
const find = (root: ParsedFdtNode, path: string): ParsedFdtNode => {
  let n = root;
  for (const part of path.split("/").filter(Boolean)) {
    const c = n.children.find((x) => x.name === part);
    if (!c) throw new Error(`no node ${part} in ${path}`);
    n = c;
  }
  return n;
};
const prop = (n: ParsedFdtNode, name: string) => {
  const p = n.props.get(name);
  if (!p) throw new Error(`no property ${name} in ${n.name}`);
  return p;
};

const CFG = {
  ramBytes: 128 << 20,
  bootargs: "console=hvc0 earlycon=sbi",
  initrd: { start: 0x87c0_0000, end: 0x87f1_2345 },
  virtioSlots: [2, 0, 1],
};

Deno.test("fdt writer: header, reservations, strings and phandles round-trip", () => {
  const t = new FdtWriter();
  t.reserve(0x8000_0000, 0x20_0000);
  const a = t.root.child("a@1");
  a.u32("x", 1, 2, 3).u64("y", 0x1_0000_0002n).string("s", "hi").strings("l", "p", "qq");
  a.empty("flag");
  const ph = a.phandle();
  assert.equal(a.phandle(), ph, "phandle is stable");
  t.root.child("b").u32("ref", ph).u32("x", 9); // "x" shared in the strings block
  const blob = t.toBytes(64);
  const v = new DataView(blob.buffer);
  assert.equal(v.getUint32(0), 0xd00dfeed);
  assert.equal(v.getUint32(4), blob.length);
  assert.equal(v.getUint32(20), 17);
  assert.equal(v.getUint32(24), 16);
  assert.equal(blob.length % 8, 0);
  const { root, reservations } = parseFdt(blob);
  assert.deepEqual(reservations, [{ address: 0x8000_0000n, size: 0x20_0000n }]);
  const na = find(root, "a@1");
  assert.deepEqual(cells(prop(na, "x")), [1, 2, 3]);
  assert.deepEqual(cells(prop(na, "y")), [1, 2]);
  assert.deepEqual(strs(prop(na, "s")), ["hi"]);
  assert.deepEqual(strs(prop(na, "l")), ["p", "qq"]);
  assert.equal(prop(na, "flag").length, 0);
  assert.deepEqual(cells(prop(find(root, "b"), "ref")), [ph]);
  // "x" appears once in the strings block.
  const strings = dec.decode(blob.subarray(v.getUint32(12), v.getUint32(12) + v.getUint32(32)));
  assert.equal(strings.split("\0").filter((s) => s === "x").length, 1);
});

Deno.test("fdt writer: bad names and values are errors", () => {
  const t = new FdtWriter();
  assert.throws(() => t.root.child("a/b"), /bad node name/);
  t.root.child("c");
  assert.throws(() => t.root.child("c"), /added twice/);
  assert.throws(() => t.root.u32("x", -1), /not a u32/);
  assert.throws(() => t.root.u32("x", 2 ** 32), /not a u32/);
  assert.throws(() => t.root.string("s", "a\0b"), /NUL/);
  assert.throws(() => t.root.u32("a".repeat(32), 1), /bad property name/);
  assert.throws(() => parseFdt(new Uint8Array(64)), /no FDT magic/);
});

Deno.test("fdt machine: the tree a 6.x kernel reads, parsed back", () => {
  const { root } = parseFdt(buildMachineFdt({ ...CFG, uart: true, clint: true }));
  assert.deepEqual(cells(prop(root, "#address-cells")), [2]);
  const mem = find(root, "memory@80000000");
  assert.deepEqual(cells(prop(mem, "reg")), [0, 0x8000_0000, 0, 128 << 20]);
  const cpus = find(root, "cpus");
  assert.deepEqual(cells(prop(cpus, "timebase-frequency")), [10_000_000]);
  const cpu = find(root, "cpus/cpu@0");
  assert.deepEqual(strs(prop(cpu, "riscv,isa")), ["rv64imafdc_zicntr_zicsr_zifencei_zihpm_sstc"]);
  assert.deepEqual(strs(prop(cpu, "riscv,isa-base")), ["rv64i"]);
  assert.deepEqual(strs(prop(cpu, "riscv,isa-extensions")), [
    "i",
    "m",
    "a",
    "f",
    "d",
    "c",
    "zicntr",
    "zicsr",
    "zifencei",
    "zihpm",
    "sstc",
  ]);
  assert.deepEqual(strs(prop(cpu, "mmu-type")), ["riscv,sv48"]);
  assert.deepEqual(strs(prop(cpu, "status")), ["okay"]);
  const intc = find(root, "cpus/cpu@0/interrupt-controller");
  assert.deepEqual(strs(prop(intc, "compatible")), ["riscv,cpu-intc"]);
  const intcPh = cells(prop(intc, "phandle"))[0];
  const plic = find(root, "soc/plic@c000000");
  const plicPh = cells(prop(plic, "phandle"))[0];
  assert.notEqual(intcPh, plicPh);
  assert.deepEqual(strs(prop(plic, "compatible")), ["sifive,plic-1.0.0", "riscv,plic0"]);
  assert.deepEqual(cells(prop(plic, "interrupts-extended")), [intcPh, 11, intcPh, 9]);
  assert.deepEqual(cells(prop(plic, "riscv,ndev")), [PLIC_NDEV]);
  assert.deepEqual(cells(prop(plic, "reg")), [0, 0x0c00_0000, 0, 0x60_0000]);
  const soc = find(root, "soc");
  const virtio = soc.children.filter((c) => c.name.startsWith("virtio_mmio@"));
  assert.deepEqual(virtio.map((c) => c.name), [
    "virtio_mmio@10001000",
    "virtio_mmio@10002000",
    "virtio_mmio@10003000",
  ]);
  virtio.forEach((c, i) => {
    assert.deepEqual(cells(prop(c, "interrupts")), [i + 1]);
    assert.deepEqual(cells(prop(c, "interrupt-parent")), [plicPh]);
    assert.deepEqual(cells(prop(c, "reg")), [0, 0x1000_1000 + i * 0x1000, 0, 0x1000]);
  });
  const chosen = find(root, "chosen");
  assert.deepEqual(strs(prop(chosen, "bootargs")), [CFG.bootargs]);
  assert.deepEqual(cells(prop(chosen, "linux,initrd-start")), [0, 0x87c0_0000]);
  assert.deepEqual(cells(prop(chosen, "linux,initrd-end")), [0, 0x87f1_2345]);
  assert.deepEqual(strs(prop(chosen, "stdout-path")), ["/soc/serial@10000000"]);
  assert.equal(prop(chosen, "rng-seed").length, 32, "a random CRNG seed by default");
  assert.deepEqual(cells(prop(find(root, "soc/clint@2000000"), "interrupts-extended")), [
    intcPh,
    3,
    intcPh,
    7,
  ]);
});

Deno.test("fdt machine: options off means nodes absent; bad config is an error", () => {
  const { root } = parseFdt(
    buildMachineFdt({
      ramBytes: 64 << 20,
      bootargs: "",
      virtioSlots: [],
      mmu: "sv48",
      rngSeed: new Uint8Array(0),
    }),
  );
  const chosen = find(root, "chosen");
  assert.equal(chosen.props.has("rng-seed"), false);
  const seeded = parseFdt(buildMachineFdt({ ...CFG, rngSeed: Uint8Array.of(1, 2, 3, 4) }));
  assert.deepEqual([...prop(find(seeded.root, "chosen"), "rng-seed")], [1, 2, 3, 4]);
  assert.equal(chosen.props.has("linux,initrd-start"), false);
  assert.equal(chosen.props.has("stdout-path"), false);
  const soc = find(root, "soc");
  assert.deepEqual(soc.children.map((c) => c.name), ["plic@c000000"]);
  assert.deepEqual(strs(prop(find(root, "cpus/cpu@0"), "mmu-type")), ["riscv,sv48"]);
  const sv57 = parseFdt(buildMachineFdt({ ...CFG, mmu: "sv57", harts: 2 })).root;
  for (const cpu of ["cpus/cpu@0", "cpus/cpu@1"]) {
    assert.deepEqual(strs(prop(find(sv57, cpu), "mmu-type")), ["riscv,sv57"], "--mmu=sv57");
  }
  const base = { ramBytes: 1 << 20, bootargs: "" };
  assert.throws(() => buildMachineFdt({ ...base, virtioSlots: [8] }), /slot 8 out of range/);
  assert.throws(() => buildMachineFdt({ ...base, virtioSlots: [1, 1] }), /listed twice/);
  assert.throws(() => buildMachineFdt({ ...base, ramBytes: 0, virtioSlots: [] }), /bad RAM size/);
});

async function dtcDecompile(blob: Uint8Array): Promise<{ dts: string; warnings: string }> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/m.dtb`, blob);
    const out = await new Deno.Command("dtc", {
      args: ["-I", "dtb", "-O", "dts", `${dir}/m.dtb`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const warnings = dec.decode(out.stderr);
    if (!out.success) throw new Error(`dtc failed: ${warnings}`);
    return { dts: dec.decode(out.stdout), warnings };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const haveDtc = (() => {
  try {
    return new Deno.Command("dtc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "fdt machine: Debian dtc decompiles it cleanly" + (haveDtc ? "" : " (SKIPPED: no dtc)"),
  ignore: !haveDtc,
  fn: async () => {
    const { dts, warnings } = await dtcDecompile(buildMachineFdt({ ...CFG, uart: true }));
    assert.equal(warnings.trim(), "", "dtc has no complaints");
    const want = [
      /memory@80000000 \{\s*device_type = "memory";\s*reg = <0x00 0x80000000 0x00 0x8000000>;/,
      /timebase-frequency = <0x989680>;/,
      /riscv,isa = "rv64imafdc_zicntr_zicsr_zifencei_zihpm_sstc";/,
      /riscv,isa-base = "rv64i";/,
      /riscv,isa-extensions = "i\\0m\\0a\\0f\\0d\\0c\\0zicntr\\0zicsr\\0zifencei\\0zihpm\\0sstc";/,
      /mmu-type = "riscv,sv48";/,
      /compatible = "riscv,cpu-intc";/,
      /compatible = "sifive,plic-1.0.0\\0riscv,plic0";/,
      /riscv,ndev = <0x1f>;/,
      /interrupts-extended = <0x02 0x0b 0x02 0x09>;/,
      /virtio_mmio@10001000 \{\s*compatible = "virtio,mmio";\s*reg = <0x00 0x10001000 0x00 0x1000>;\s*interrupts = <0x01>;\s*interrupt-parent = <0x03>;/,
      /virtio_mmio@10003000/,
      /bootargs = "console=hvc0 earlycon=sbi";/,
      /linux,initrd-start = <0x00 0x87c00000>;/,
      /linux,initrd-end = <0x00 0x87f12345>;/,
      /stdout-path = "\/soc\/serial@10000000";/,
      /serial@10000000 \{\s*compatible = "ns16550a";/,
    ];
    for (const re of want) assert.match(dts, re);
    assert.doesNotMatch(dts, /virtio_mmio@10004000/);
  },
});

Deno.test("fdt machine: --smp=4 lists four harts, each with its PLIC and CLINT contexts", async () => {
  const blob = buildMachineFdt({ ...CFG, harts: 4, clint: true });
  const { root } = parseFdt(blob);
  const intcs: number[] = [];
  for (let h = 0; h < 4; h++) {
    const cpu = find(root, `cpus/cpu@${h}`);
    assert.deepEqual(cells(prop(cpu, "reg")), [h]);
    assert.deepEqual(strs(prop(cpu, "status")), ["okay"]);
    const intc = find(root, `cpus/cpu@${h}/interrupt-controller`);
    intcs.push(cells(prop(intc, "phandle"))[0]);
    const core = find(root, `cpus/cpu-map/cluster0/core${h}`);
    assert.deepEqual(cells(prop(core, "cpu")), cells(prop(cpu, "phandle")));
  }
  assert.equal(new Set(intcs).size, 4);
  assert.throws(() => find(root, "cpus/cpu@4"));
  const plic = find(root, "soc/plic@c000000");
  assert.deepEqual(cells(prop(plic, "interrupts-extended")), intcs.flatMap((p) => [p, 11, p, 9]));
  const clint = find(root, "soc/clint@2000000");
  assert.deepEqual(cells(prop(clint, "interrupts-extended")), intcs.flatMap((p) => [p, 3, p, 7]));
  assert.throws(() => buildMachineFdt({ ...CFG, harts: 9 }), /harts/);
  assert.throws(() => buildMachineFdt({ ...CFG, harts: 0 }), /harts/);
  if (haveDtc) {
    assert.equal((await dtcDecompile(blob)).warnings.trim(), "", "dtc has no complaints");
  }
});
