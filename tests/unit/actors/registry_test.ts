// The registry: `--actor <role>=<path>` parsing, a role swapped for another
// module through the option and through the API (seen by what the running
// actor answers), and modules with the wrong role or protocol version refused
// with a message naming the module, the role and both versions.
// Read next: actors/runtime/registry.ts.

import assert from "../../../testing/assert.ts";
import { fileURLToPath } from "node:url";
import { ActorFailure } from "../../../actors/runtime/protocol.ts";
import { probeModule, Registry, resolveModule } from "../../../actors/runtime/registry.ts";
import { MACHINE_ROLES, type MachineRole, parseActorOption } from "../../../actors/roles.ts";
import { Supervisor } from "../../../actors/runtime/supervisor.ts";
import { ECHO, type EchoProtocol } from "../../../testing/actors/echo_protocol.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const testing = (f: string) => new URL(`../../../testing/actors/${f}`, import.meta.url);

/** A registry whose defaults are all the echo test actor. */
function testRegistry(): Registry<MachineRole> {
  const defaults = Object.fromEntries(MACHINE_ROLES.map((r) => [r, testing("echo.worker.ts")]));
  return new Registry(defaults as Record<MachineRole, URL>);
}

async function whoPlaysConsole(reg: Registry<MachineRole>): Promise<string> {
  const sup = new Supervisor<EchoProtocol>({
    descriptor: ECHO,
    url: reg.get("console"),
    buffers: { mem: new SharedArrayBuffer(64) },
    config: {},
  });
  await sup.start();
  try {
    return await sup.request({ kind: "who" });
  } finally {
    await sup.stop();
  }
}

Deno.test("--actor values parse to a role and a file URL", () => {
  const rel = parseActorOption("console=testing/actors/echo_b.worker.ts", ROOT);
  assert.equal(rel.role, "console");
  assert.equal(rel.url.href, testing("echo_b.worker.ts").href);
  const abs = parseActorOption(`block=${fileURLToPath(testing("echo.worker.ts"))}`, "/");
  assert.equal(abs.url.href, testing("echo.worker.ts").href);
  const url = parseActorOption(`irq=${testing("echo.worker.ts").href}`, "/");
  assert.equal(url.url.href, testing("echo.worker.ts").href);
  assert.equal(resolveModule("a b.ts", "/x").href, "file:///x/a%20b.ts");
});

Deno.test("bad --actor values are clear errors", () => {
  assert.throws(
    () => parseActorOption("console", ROOT),
    /--actor wants <role>=<module>, got "console" \(roles: cpu, waker, console, net, block, irq, share\)/,
  );
  assert.throws(() => parseActorOption("console=", ROOT), /wants <role>=<module>/);
  assert.throws(() => parseActorOption("=x.ts", ROOT), /wants <role>=<module>/);
  assert.throws(() => parseActorOption("gpu=x.ts", ROOT), /unknown role "gpu" \(roles: cpu, waker/);
  assert.throws(
    () => parseActorOption("console=actors/testing/nope.ts", ROOT),
    /module for role console not found: .*actors\/testing\/nope\.ts/,
  );
});

Deno.test("a role swapped through --actor runs the other module", async () => {
  const reg = testRegistry();
  assert.equal(await whoPlaysConsole(reg), "echo-a");
  reg.applyActorOptions(["console=testing/actors/echo_b.worker.ts"], ROOT);
  assert.equal(reg.isSwapped("console"), true);
  assert.equal(reg.isSwapped("net"), false);
  assert.equal(await whoPlaysConsole(reg), "echo-b");
});

Deno.test("a role swapped through the API runs the other module; reset undoes it", async () => {
  const reg = testRegistry();
  reg.set("console", testing("echo_b.worker.ts"));
  assert.equal(await whoPlaysConsole(reg), "echo-b");
  reg.reset("console");
  assert.equal(await whoPlaysConsole(reg), "echo-a");
  assert.throws(
    () => reg.set("gpu" as MachineRole, testing("echo.worker.ts")),
    /unknown role "gpu"/,
  );
});

Deno.test("all --actor values are checked before any is applied", () => {
  const reg = testRegistry();
  assert.throws(
    () => reg.applyActorOptions(["console=testing/actors/echo_b.worker.ts", "net"], ROOT),
    /wants <role>=<module>/,
  );
  assert.equal(reg.isSwapped("console"), false);
});

Deno.test("a missing default module is a clear error", () => {
  const defaults = Object.fromEntries(MACHINE_ROLES.map((r) => [r, testing(`${r}_missing.ts`)]));
  const reg = new Registry(defaults as Record<MachineRole, URL>);
  assert.throws(() => reg.get("cpu"), /module for role cpu not found: .*cpu_missing\.ts/);
});

Deno.test("a swap to a module of another role is refused, naming both", async () => {
  const reg = testRegistry();
  reg.applyActorOptions(["console=testing/actors/wrong_role.worker.ts"], ROOT);
  await assert.rejects(probeModule(reg.get("console"), ECHO), (err) => {
    assert.ok(err instanceof ActorFailure && err.failure.kind === "handshake");
    assert.match(
      err.message,
      /module file:\/\/.*wrong_role\.worker\.ts answered the handshake as role "net" protocol v1; role "console" needs protocol v1/,
    );
    return true;
  });
  await assert.rejects(whoPlaysConsole(reg), /answered the handshake as role "net"/);
});

Deno.test("a swap to another protocol version is refused, naming both", async () => {
  const reg = testRegistry();
  reg.set("console", "testing/actors/wrong_version.worker.ts", ROOT);
  await assert.rejects(
    probeModule(reg.get("console"), ECHO),
    /wrong_version\.worker\.ts answered the handshake as role "console" protocol v2; role "console" needs protocol v1/,
  );
  // And a good module passes the probe.
  await probeModule(testing("echo_b.worker.ts"), ECHO);
});
