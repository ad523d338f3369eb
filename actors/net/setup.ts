// The launcher's side of the network: turn `--tunnet`, `--net=user`,
// `--forward`, `--sharenet` and `--mac` into opened backends (a configured
// tap, a checked passt to start, a sharenet membership) and
// the MAC each device will show, before the guest boots — so a bad option is
// a clear error with nothing left behind. The launcher then creates each
// device's transport state (createNetState) and starts a net worker with the
// spec (actors/net/protocol.ts); it calls release() when the emulator exits.
// Read next: actors/net/net_actor.ts.

import { defaultMac, parseMac } from "../../devices/net/net.ts";
import type { NetBackendSpec } from "./protocol.ts";
import { openTunnet, parseTunnet } from "../../devices/net/netcfg.ts";
import { joinSharenet, leaveSharenet, sharenetMacKey } from "../../devices/net/sharenet.ts";
import { tapMacKey } from "../../devices/net/tap.ts";
import {
  checkForwardPorts,
  findPasst,
  makeSocketDir,
  newPasstLive,
  parseForward,
  passtArgs,
  type PasstSpec,
  reapPasst,
  USER_MAC_KEY,
  USER_NET,
} from "../../devices/net/passt.ts";

export interface PreparedNet {
  spec: NetBackendSpec;
  mac: Uint8Array;
  /** For logs: "tap avm0 (10.0.2.1/24)", "sharenet /tmp/seg (member 1)". */
  description: string;
  /** Close the tap (removing it) or leave the segment. Safe to call twice. */
  release(): void;
}

export interface NetLaunchOptions {
  tunnet: string | null;
  sharenet: string | null;
  mac: string | null;
  /** --net=user: a user network through passt. */
  user?: boolean;
  /** --forward specs (only with user). */
  forwards?: string[];
}

/**
 * Open the backends the options ask for: a tap first (the guest's eth0), then
 * the user network, then the sharenet segment, in that order of devices.
 * `--mac` sets the first device's MAC; every other MAC is the stable default
 * for its backend.
 */
export async function prepareNet(o: NetLaunchOptions): Promise<PreparedNet[]> {
  const givenMac = o.mac === null ? null : parseMac(o.mac);
  const tunnet = o.tunnet === null ? null : named("tunnet", o.tunnet, () => parseTunnet(o.tunnet!));
  const forwards = (o.forwards ?? []).map((f) => named("forward", f, () => parseForward(f)));
  if (forwards.length > 0 && !o.user) {
    throw new Error(`--forward=${o.forwards![0]}: forwarding needs --net=user`);
  }
  const passt = o.user ? named("net", "user", () => findPasst()) : null;
  if (passt !== null) checkForwardPorts(forwards);
  const out: PreparedNet[] = [];
  try {
    if (tunnet !== null) {
      const tap = await namedAsync("tunnet", o.tunnet!, () => openTunnet(tunnet));
      let open = true;
      out.push({
        spec: { kind: "tap", fd: tap.fd, name: tap.name },
        mac: defaultMac(tapMacKey(tap.name)),
        description: `tap ${tap.name} (${
          tunnet.kind === "address"
            ? `${tunnet.address}/${tunnet.prefix}`
            : `bridge ${tunnet.bridge}`
        })`,
        release() {
          if (open) tap.close();
          open = false;
        },
      });
    }
    if (passt !== null) {
      const sockets = named("net", "user", () => makeSocketDir());
      const spec: PasstSpec = {
        binary: passt,
        socketDir: sockets.dir,
        args: [...sockets.args, ...passtArgs(forwards)],
        live: newPasstLive(),
      };
      let open = true;
      const fwd = forwards.map((f) => `${f.proto} ${f.hostAddr}:${f.hostPort}->${f.guestPort}`);
      out.push({
        spec: { kind: "user", passt: spec },
        mac: defaultMac(USER_MAC_KEY),
        description: `passt user network (guest ${USER_NET.address}, gateway ${USER_NET.gateway}` +
          `${fwd.length > 0 ? `, forwarding ${fwd.join(", ")}` : ""})`,
        release() {
          if (!open) return;
          open = false;
          reapPasst(spec);
          try {
            Deno.removeSync(spec.socketDir, { recursive: true });
          } catch { /* already gone */ }
        },
      });
    }
    if (o.sharenet !== null) {
      const member = named("sharenet", o.sharenet, () => joinSharenet(o.sharenet!));
      let joined = true;
      out.push({
        spec: { kind: "sharenet", member },
        mac: defaultMac(sharenetMacKey(member)),
        description: `sharenet ${member.dir} (member ${member.slot})`,
        release() {
          if (joined) leaveSharenet(member);
          joined = false;
        },
      });
    }
  } catch (e) {
    for (const p of out) p.release();
    throw e;
  }
  if (givenMac !== null && out.length > 0) out[0].mac = givenMac;
  return out;
}

/** Errors name the option they came from: "--sharenet=<dir>: ...", unless they already do. */
function withOption(option: string, value: string, e: unknown): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(msg.startsWith(`--${option}`) ? msg : `--${option}=${value}: ${msg}`);
}

function named<T>(option: string, value: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw withOption(option, value, e);
  }
}

async function namedAsync<T>(option: string, value: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw withOption(option, value, e);
  }
}
