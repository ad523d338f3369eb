// Which module plays each role: role → module URL, with the defaults the
// launcher starts and the swaps asked for by `--actor <role>=<path>` or by the
// library API (`registry.set`). `probeModule` runs only the handshake, so a
// swapped module with the wrong role or version is refused before boot.
// Read next: actors/runtime/supervisor.ts, which starts what the registry names.

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { isMachineRole, MACHINE_ROLES, type MachineRole, type RoleDescriptor } from "./protocol.ts";
import { spawnActor } from "./spawn.ts";

/**
 * Where each role's actor worker is expected to live. These files are written
 * by the issues that build each actor; until one exists, `get` on that role
 * says so clearly. The launcher may also `set` them.
 */
export const DEFAULT_MODULES: Record<MachineRole, URL> = {
  cpu: new URL("../cpu/cpu.worker.ts", import.meta.url),
  waker: new URL("../waker/waker.worker.ts", import.meta.url),
  console: new URL("../console/console.worker.ts", import.meta.url),
  net: new URL("../net/net.worker.ts", import.meta.url),
  block: new URL("../block/block.worker.ts", import.meta.url),
  irq: new URL("../irq/irq.worker.ts", import.meta.url),
};

/** `path` (relative to `cwd`, absolute, or already a URL) as a module URL. */
export function resolveModule(path: string, cwd = Deno.cwd()): URL {
  if (path === "") throw new Error("empty module path");
  // A scheme of two or more letters is a URL (one letter would be a drive).
  if (/^[a-z][a-z0-9+.-]+:/i.test(path)) return new URL(path);
  return pathToFileURL(resolve(cwd, path));
}

function checkFile(role: string, url: URL): void {
  if (url.protocol !== "file:") return;
  let ok = false;
  try {
    ok = Deno.statSync(url).isFile;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new Error(`module for role ${role} not found: ${decodeURIComponent(url.pathname)}`);
  }
}

/** Parse one `--actor` value, `<role>=<path-or-url>`. Throws a clear error on bad input. */
export function parseActorOption(spec: string, cwd = Deno.cwd()): { role: MachineRole; url: URL } {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) {
    throw new Error(
      `--actor wants <role>=<module>, got ${JSON.stringify(spec)} (roles: ${
        MACHINE_ROLES.join(", ")
      })`,
    );
  }
  const role = spec.slice(0, eq).trim();
  if (!isMachineRole(role)) {
    throw new Error(
      `--actor ${spec}: unknown role "${role}" (roles: ${MACHINE_ROLES.join(", ")})`,
    );
  }
  const url = resolveModule(spec.slice(eq + 1).trim(), cwd);
  checkFile(role, url);
  return { role, url };
}

/** role → module URL. One per launcher; tests make their own. */
export class Registry {
  private readonly modules = new Map<MachineRole, URL>();

  constructor(private readonly defaults: Record<MachineRole, URL> = DEFAULT_MODULES) {}

  /** The module for `role`: a swap if one was set, else the default. Checks a local file exists. */
  get(role: MachineRole): URL {
    const url = this.modules.get(role) ?? this.defaults[role];
    checkFile(role, url);
    return url;
  }

  /** Play `role` with another module (a URL, or a path relative to `cwd`). */
  set(role: MachineRole, module: URL | string, cwd = Deno.cwd()): void {
    if (!isMachineRole(role)) {
      throw new Error(`unknown role "${role}" (roles: ${MACHINE_ROLES.join(", ")})`);
    }
    const url = module instanceof URL ? module : resolveModule(module, cwd);
    checkFile(role, url);
    this.modules.set(role, url);
  }

  /** Back to the default module. */
  reset(role: MachineRole): void {
    this.modules.delete(role);
  }

  isSwapped(role: MachineRole): boolean {
    return this.modules.has(role);
  }

  /** Apply every `--actor` value; all are parsed before any is applied. */
  applyActorOptions(specs: readonly string[], cwd = Deno.cwd()): void {
    const parsed = specs.map((s) => parseActorOption(s, cwd));
    for (const { role, url } of parsed) this.modules.set(role, url);
  }

  /** Every role with its module URL (swapped or default), unchecked. */
  entries(): [MachineRole, URL][] {
    return MACHINE_ROLES.map((r) => [r, this.modules.get(r) ?? this.defaults[r]]);
  }
}

/**
 * Start `url` just long enough to hear its handshake, then end it. Resolves
 * if it answers as `descriptor`; rejects with an ActorFailure naming the
 * module, the role and both versions if not. No buffers are handed over.
 */
export async function probeModule(
  url: URL | string,
  descriptor: RoleDescriptor,
  timeoutMs = 20_000,
): Promise<void> {
  const link = await spawnActor({
    url,
    descriptor,
    buffers: {},
    config: undefined,
    startTimeoutMs: timeoutMs,
    handshakeOnly: true,
  });
  link.terminate("probe done");
}
