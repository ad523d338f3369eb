// Test helper: build and parse the few Ethernet frames the network tests
// exchange with a real kernel (ARP and ICMP echo over IPv4), so a backend can
// be checked against the host stack without a guest. Used by tests/net_*_test.ts.

export type Mac = number[];

export const BROADCAST: Mac = [255, 255, 255, 255, 255, 255];

export function macText(m: ArrayLike<number>): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, "0")).join(":");
}

export function parseMacText(s: string): Mac {
  return s.split(":").map((h) => parseInt(h, 16));
}

export function ipText(b: ArrayLike<number>): string {
  return Array.from(b).join(".");
}

const ip = (s: string) => s.split(".").map(Number);

/** An ARP request "who has `targetIp`? tell `senderIp` (at `senderMac`)". */
export function arpRequest(senderMac: Mac, senderIp: string, targetIp: string): Uint8Array {
  return new Uint8Array([
    ...BROADCAST,
    ...senderMac,
    0x08,
    0x06,
    0,
    1,
    8,
    0,
    6,
    4,
    0,
    1,
    ...senderMac,
    ...ip(senderIp),
    0,
    0,
    0,
    0,
    0,
    0,
    ...ip(targetIp),
  ]);
}

/** An ARP reply from `senderMac`/`senderIp` to `targetMac`/`targetIp`. */
export function arpReply(
  senderMac: Mac,
  senderIp: string,
  targetMac: Mac,
  targetIp: string,
): Uint8Array {
  return new Uint8Array([
    ...targetMac,
    ...senderMac,
    0x08,
    0x06,
    0,
    1,
    8,
    0,
    6,
    4,
    0,
    2,
    ...senderMac,
    ...ip(senderIp),
    ...targetMac,
    ...ip(targetIp),
  ]);
}

export interface Arp {
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** Parse an Ethernet ARP frame, or null if it is not one. */
export function parseArp(f: Uint8Array): Arp | null {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return null;
  return {
    op: (f[20] << 8) | f[21],
    senderMac: macText(f.subarray(22, 28)),
    senderIp: ipText(f.subarray(28, 32)),
    targetMac: macText(f.subarray(32, 38)),
    targetIp: ipText(f.subarray(38, 42)),
  };
}

function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length & 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP echo request in IPv4 in Ethernet, with correct checksums. */
export function icmpEcho(
  srcMac: Mac,
  dstMac: Mac,
  srcIp: string,
  dstIp: string,
  id: number,
  seq: number,
  payload: Uint8Array,
): Uint8Array {
  const icmp = new Uint8Array(8 + payload.length);
  icmp.set([8, 0, 0, 0, id >> 8, id & 255, seq >> 8, seq & 255]);
  icmp.set(payload, 8);
  const c = checksum(icmp);
  icmp[2] = c >> 8;
  icmp[3] = c & 255;
  const ipHdr = new Uint8Array(20);
  const total = 20 + icmp.length;
  ipHdr.set([0x45, 0, total >> 8, total & 255, 0, 0, 0x40, 0, 64, 1, 0, 0]);
  ipHdr.set(ip(srcIp), 12);
  ipHdr.set(ip(dstIp), 16);
  const h = checksum(ipHdr);
  ipHdr[10] = h >> 8;
  ipHdr[11] = h & 255;
  const f = new Uint8Array(14 + total);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  f.set([0x08, 0x00], 12);
  f.set(ipHdr, 14);
  f.set(icmp, 34);
  return f;
}

export interface Icmp {
  type: number;
  srcIp: string;
  dstIp: string;
  id: number;
  seq: number;
  payload: Uint8Array;
}

/** Parse an IPv4 ICMP echo frame (request or reply), or null. */
export function parseIcmp(f: Uint8Array): Icmp | null {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 1) return null;
  const ihl = (f[14] & 15) * 4;
  const total = (f[16] << 8) | f[17];
  const o = 14 + ihl;
  return {
    type: f[o],
    srcIp: ipText(f.subarray(26, 30)),
    dstIp: ipText(f.subarray(30, 34)),
    id: (f[o + 4] << 8) | f[o + 5],
    seq: (f[o + 6] << 8) | f[o + 7],
    payload: f.slice(o + 8, 14 + total),
  };
}

/** Collects frames from a backend and lets a test wait for one that matches. */
export class FrameCatcher {
  readonly frames: Uint8Array[] = [];
  #waiters: { match: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }[] = [];

  readonly sink = (f: Uint8Array): void => {
    const copy = f.slice();
    this.frames.push(copy);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(copy)) return true;
      w.resolve(copy);
      return false;
    });
  };

  /** Resolves with the first frame (seen already or later) that matches; rejects after ms. */
  wait(match: (f: Uint8Array) => boolean, what: string, ms = 5000): Promise<Uint8Array> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what} (${this.frames.length} frames seen)`));
      }, ms);
      const done = (f: Uint8Array) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }
}
