// The role table (actors/roles.ts): one row per role, each naming a worker
// module that exists and speaks that role's protocol, with a sane restart
// policy; the registry built from it knows exactly the machine's roles.
// Read next: actors/roles.ts, launcher/boot.ts.

import assert from "../../../testing/assert.ts";
import {
  DEFAULT_MODULES,
  MACHINE_ROLES,
  machineRegistry,
  parseActorOption,
  ROLE_POLICIES,
  ROLES,
} from "../../../actors/roles.ts";

Deno.test("roles: one row per role, each with its own protocol and an existing worker", () => {
  assert.deepEqual(Object.keys(ROLES).sort(), [...MACHINE_ROLES].sort());
  for (const role of MACHINE_ROLES) {
    const spec = ROLES[role];
    assert.equal(spec.descriptor.role, role, `${role}: the descriptor names another role`);
    assert.ok(Deno.statSync(spec.module).isFile, `${role}: ${spec.module} missing`);
    assert.equal(DEFAULT_MODULES[role], spec.module);
    assert.equal(ROLE_POLICIES[role], spec.policy);
    assert.ok(spec.policy.maxRestarts >= 0 && spec.policy.windowMs > 0);
    // A role whose first crash ends the run is never restarted.
    if (spec.failure === "crash-ends-run") assert.equal(spec.policy.maxRestarts, 0);
  }
  // The cpu is never restarted (its fault layer only delays IPIs); devices resume.
  assert.equal(ROLES.cpu.faultLayer, "ipi"); // its IPIs, with --smp
  assert.equal(ROLES.cpu.policy.maxRestarts, 0);
  assert.equal(ROLES.block.failure, "device-needs-reset");
  assert.equal(ROLES.irq.failure, "crash-ends-run");
});

Deno.test("roles: the machine registry knows exactly the table's roles", () => {
  const reg = machineRegistry();
  assert.deepEqual(reg.roles, [...MACHINE_ROLES]);
  assert.deepEqual(reg.entries().map(([r]) => r), [...MACHINE_ROLES]);
  assert.throws(() => parseActorOption("gpu=x.ts"), /unknown role "gpu"/);
});
