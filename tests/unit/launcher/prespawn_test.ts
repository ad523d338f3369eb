// launcher/prespawn.ts: which command lines start the cpu worker early — every
// one that boots, not --help or --version (which print and exit); an option's
// look-alike among the kernel's arguments or after `--` is not an option.
// Importing it from a test starts nothing (mod.ts is not the program here).

import assert from "../../../testing/assert.ts";
import { asksForBoot } from "../../../launcher/prespawn.ts";
import { isPrespawned } from "../../../actors/runtime/spawn.ts";
import { ROLES } from "../../../actors/roles.ts";

Deno.test("prespawn: a boot's command line starts the cpu early, --help and --version do not", () => {
  assert.ok(asksForBoot([]));
  assert.ok(asksForBoot(["--verbose", "--block=disk.img,ro"]));
  assert.ok(!asksForBoot(["--help"]));
  assert.ok(!asksForBoot(["-h"]));
  assert.ok(!asksForBoot(["--verbose", "--version"]));
  // Kernel arguments, and whatever follows `--`, are not the launcher's options.
  assert.ok(asksForBoot(["128", "Image", "--help"]));
  assert.ok(asksForBoot(["--", "--help"]));
});

Deno.test("prespawn: imported, not run as the program, it starts no worker", () => {
  assert.ok(!isPrespawned(ROLES.cpu.module));
});
