// Host-side configuration of the tap, as lguest's `--tunnet` did it:
// `--tunnet=<ipv4>[/<prefix>]` gives the host end that address and brings it
// up; `--tunnet=bridge:<name>` attaches the tap to an existing bridge. The
// work is done by `ip` (iproute2), run in the emulator's own network namespace.
// openTunnet() is what the launcher calls: tap opened and configured, or a
// clear error and nothing left behind. Read next: devices/net/net.ts.

import { checkIfName, DEFAULT_TAP_NAME, Tap } from "./tap.ts";

/** A parsed `--tunnet` value. */
export type TunnetSpec =
  | { kind: "address"; address: string; prefix: number }
  | { kind: "bridge"; bridge: string };

/** Parse one dotted-quad IPv4 address strictly; null if it is not one. */
export function parseIpv4(s: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  const parts = m.slice(1).map(Number);
  // No leading zeros ("010" reads as octal to some tools) and no octet > 255.
  if (m.slice(1).some((p, i) => parts[i] > 255 || (p.length > 1 && p[0] === "0"))) return null;
  return parts;
}

/**
 * Parse the value of `--tunnet`: `<ipv4>` (a /24), `<ipv4>/<prefix>`, or
 * `bridge:<name>`. Throws an Error that says what was wrong and what is allowed.
 */
export function parseTunnet(value: string): TunnetSpec {
  const usage = "expected --tunnet=<ipv4>[/<prefix>] (e.g. 10.0.2.1 or 10.0.2.1/24) " +
    "or --tunnet=bridge:<name>";
  if (value.startsWith("bridge:")) {
    const bridge = value.slice("bridge:".length);
    if (bridge === "") throw new Error(`--tunnet=${value}: no bridge name; ${usage}`);
    try {
      checkIfName(bridge);
    } catch (e) {
      throw new Error(`--tunnet=${value}: ${(e as Error).message}`);
    }
    return { kind: "bridge", bridge };
  }
  const slash = value.indexOf("/");
  const addr = slash < 0 ? value : value.slice(0, slash);
  const parts = parseIpv4(addr);
  if (parts === null) {
    throw new Error(`--tunnet=${value}: "${addr}" is not an IPv4 address; ${usage}`);
  }
  let prefix = 24;
  if (slash >= 0) {
    const p = value.slice(slash + 1);
    if (!/^\d{1,2}$/.test(p) || Number(p) < 1 || Number(p) > 30) {
      throw new Error(`--tunnet=${value}: prefix "${p}" must be a number from 1 to 30; ${usage}`);
    }
    prefix = Number(p);
  }
  if (parts[0] === 0 || parts[0] === 127 || parts[0] >= 224) {
    throw new Error(
      `--tunnet=${value}: ${addr} cannot be a host address (zero, loopback or multicast)`,
    );
  }
  const host = (((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0) &
    (prefix === 32 ? 0 : (0xffffffff >>> prefix));
  if (host === 0 || host === (0xffffffff >>> prefix)) {
    throw new Error(
      `--tunnet=${value}: ${addr} is the network or broadcast address of its /${prefix}`,
    );
  }
  return { kind: "address", address: parts.join("."), prefix };
}

/** Run `ip` with the arguments; throws with its message (or a missing-`ip` hint). */
async function ip(args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ip", { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error("cannot configure the tap: the `ip` command (iproute2) is not installed");
    }
    throw e;
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim() || `exit ${out.code}`;
    throw new Error(`ip ${args.join(" ")}: ${msg}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** What kind of link `name` is ("bridge", "veth", "" for plain), or null if there is none. */
export async function linkKind(name: string): Promise<string | null> {
  let text: string;
  try {
    text = await ip(["-j", "-d", "link", "show", "dev", name]);
  } catch (e) {
    if (/does not exist/i.test((e as Error).message)) return null;
    throw e;
  }
  const links = JSON.parse(text) as { linkinfo?: { info_kind?: string } }[];
  if (links.length === 0) return null;
  return links[0].linkinfo?.info_kind ?? "";
}

/** Configure an open tap's host end per `spec` and bring it up. */
export async function configureTap(tapName: string, spec: TunnetSpec): Promise<void> {
  if (spec.kind === "address") {
    await ip(["addr", "add", `${spec.address}/${spec.prefix}`, "dev", tapName]);
  } else {
    const kind = await linkKind(spec.bridge);
    if (kind === null) {
      throw new Error(`--tunnet=bridge:${spec.bridge}: bridge "${spec.bridge}" does not exist`);
    }
    if (kind !== "bridge") {
      throw new Error(
        `--tunnet=bridge:${spec.bridge}: "${spec.bridge}" is not a bridge (it is ${
          kind === "" ? "a plain interface" : `a ${kind} link`
        })`,
      );
    }
    await ip(["link", "set", "dev", tapName, "master", spec.bridge]);
  }
  await ip(["link", "set", "dev", tapName, "up"]);
}

/**
 * Open a tap and configure it per `--tunnet`. On any failure the tap is
 * closed (and so removed) before the error is thrown: nothing is left behind.
 */
export async function openTunnet(spec: TunnetSpec, name = DEFAULT_TAP_NAME): Promise<Tap> {
  const tap = Tap.open(name);
  try {
    await configureTap(tap.name, spec);
  } catch (e) {
    tap.close();
    throw e;
  }
  return tap;
}
