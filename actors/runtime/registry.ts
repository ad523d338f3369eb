// Which module plays each role: role → module URL, with the defaults the
// launcher starts and the swaps asked for by `--actor <role>=<path>` or by the
// library API (`registry.set`). Generic: the roles and their default modules
// are the caller's table (the machine's is actors/roles.ts). `probeModule`
// runs only the handshake, so a swapped module with the wrong role or version
// is refused before boot.
// Read next: actors/runtime/supervisor.ts, which starts what the registry names.

import { fileURLToPath, pathToFileURL } from "node:url";
import { resolve } from "node:path";
import type { RoleDescriptor } from "./protocol.ts";
import { spawnActor } from "./spawn.ts";

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
    throw new Error(
      `module for role ${role} not found: ${
        url.protocol === "file:" ? fileURLToPath(url) : url.href
      }`,
    );
  }
}

/**
 * Parse one `--actor` value, `<role>=<path-or-url>`, where role is one of
 * `roles`. Throws a clear error on bad input.
 */
export function parseRoleOption<R extends string>(
  spec: string,
  roles: readonly R[],
  cwd = Deno.cwd(),
): { role: R; url: URL } {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) {
    throw new Error(
      `--actor wants <role>=<module>, got ${JSON.stringify(spec)} (roles: ${roles.join(", ")})`,
    );
  }
  const role = spec.slice(0, eq).trim();
  if (!(roles as readonly string[]).includes(role)) {
    throw new Error(`--actor ${spec}: unknown role "${role}" (roles: ${roles.join(", ")})`);
  }
  const url = resolveModule(spec.slice(eq + 1).trim(), cwd);
  checkFile(role, url);
  return { role: role as R, url };
}

/** role → module URL. One per launcher; tests make their own. */
export class Registry<R extends string = string> {
  private readonly modules = new Map<R, URL>();
  /** The roles this registry knows, in the order of its defaults. */
  readonly roles: readonly R[];

  /** `defaults`: the module each role runs unless swapped (the machine's: actors/roles.ts). */
  constructor(private readonly defaults: Readonly<Record<R, URL>>) {
    this.roles = Object.keys(defaults) as R[];
  }

  /** The module for `role`: a swap if one was set, else the default. Checks a local file exists. */
  get(role: R): URL {
    const url = this.modules.get(role) ?? this.defaults[role];
    checkFile(role, url);
    return url;
  }

  /** Play `role` with another module (a URL, or a path relative to `cwd`). */
  set(role: R, module: URL | string, cwd = Deno.cwd()): void {
    if (!this.roles.includes(role)) {
      throw new Error(`unknown role "${role}" (roles: ${this.roles.join(", ")})`);
    }
    const url = module instanceof URL ? module : resolveModule(module, cwd);
    checkFile(role, url);
    this.modules.set(role, url);
  }

  /** Back to the default module. */
  reset(role: R): void {
    this.modules.delete(role);
  }

  /** Whether `role` runs a module other than its default. */
  isSwapped(role: R): boolean {
    return this.modules.has(role);
  }

  /** Apply every `--actor` value; all are parsed before any is applied. */
  applyActorOptions(specs: readonly string[], cwd = Deno.cwd()): void {
    const parsed = specs.map((s) => parseRoleOption(s, this.roles, cwd));
    for (const { role, url } of parsed) this.modules.set(role, url);
  }

  /** Every role with its module URL (swapped or default), unchecked. */
  entries(): [R, URL][] {
    return this.roles.map((r) => [r, this.modules.get(r) ?? this.defaults[r]]);
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
