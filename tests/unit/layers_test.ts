// The house's import order, as a test: every import in the tree points down
// the layers (tests → scripts → testing → mod.ts/examples → launcher/usermode →
// actors/<role> → actors/runtime → faults → devices → machine → cpu, lib), and
// the checker itself catches what it must. `deno task check` runs the same
// check. Read next: scripts/check-layers.ts (the order and its reasons).

import assert from "../../testing/assert.ts";
import { checkLayers, specifiers, violation } from "../../scripts/check-layers.ts";

Deno.test("layers: no import in the tree points up", async () => {
  const bad = await checkLayers();
  assert.deepEqual(bad, [], `imports that point up:\n${bad.join("\n")}`);
});

Deno.test("layers: an upward import is caught", () => {
  // The hart knows no device; lib/ knows no machine.
  assert.notEqual(violation("cpu/hart.ts", "devices/plic.ts"), null);
  assert.notEqual(violation("lib/fdt.ts", "machine/memmap.ts"), null);
  // Devices sit below the actors that run them and the fault layers they pass through.
  assert.notEqual(violation("devices/console.ts", "actors/output.ts"), null);
  assert.notEqual(violation("devices/block/block.ts", "faults/engine.ts"), null);
  assert.notEqual(violation("machine/control.ts", "devices/plic.ts"), null);
  // The generic runtime names no role, and imports nothing above lib/.
  assert.notEqual(violation("actors/runtime/spawn.ts", "actors/cpu/protocol.ts"), null);
  assert.notEqual(violation("actors/runtime/registry.ts", "machine/control.ts"), null);
  // Nothing outside tests/ imports from tests/; the launcher does not import testing/.
  assert.notEqual(violation("testing/guest_session.ts", "tests/e2e/boot_e2e_test.ts"), null);
  assert.notEqual(violation("scripts/chaos.ts", "tests/unit/faults/plan_test.ts"), null);
  assert.notEqual(violation("launcher/cli.ts", "testing/assert.ts"), null);
});

Deno.test("layers: a downward or same-folder import is allowed", () => {
  assert.equal(violation("actors/cpu/cpu_actor.ts", "cpu/hart.ts"), null);
  assert.equal(violation("actors/cpu/cpu_actor.ts", "actors/runtime/protocol.ts"), null);
  assert.equal(violation("actors/cpu/cpu_actor.ts", "actors/cpu/sbi.ts"), null);
  assert.equal(violation("actors/runtime/spawn.ts", "lib/ring.ts"), null);
  assert.equal(violation("devices/virtio/mmio.ts", "machine/control.ts"), null);
  assert.equal(violation("launcher/cli.ts", "actors/runtime/registry.ts"), null);
  assert.equal(violation("tests/unit/layers_test.ts", "scripts/check-layers.ts"), null);
  assert.equal(violation("scripts/bench/boot.ts", "testing/guest_session.ts"), null);
});

Deno.test("layers: specifiers finds static, dynamic and worker imports", () => {
  const text = [
    `import { a } from "../lib/ring.ts";`,
    `export * from './b.ts';`,
    `const m = await import("../devices/plic.ts");`,
    `new Worker(new URL("./cpu.worker.ts", import.meta.url), { type: "module" });`,
    `import "npm:xstate";`,
  ].join("\n");
  assert.deepEqual(specifiers(text), [
    "../lib/ring.ts",
    "./b.ts",
    "../devices/plic.ts",
    "./cpu.worker.ts",
  ]);
});
