// The transmit offloads the virtio-net device offers (VIRTIO_NET_F_CSUM,
// HOST_TSO4, HOST_TSO6, HOST_ECN), done in software on the host side: a
// frame whose header says NEEDS_CSUM gets its checksum filled in, and a TCP
// "super-frame" of up to 64 KiB is cut into MSS-sized segments with their
// IPv4/IPv6 and TCP headers fixed up — what a NIC does in hardware. The guest
// (an interpreted CPU) is spared a checksum per byte and a trip through its
// stack per segment. With a backend that carries virtio_net_hdr (the tap)
// the host kernel does this work instead, and the headers crossing in both
// directions are checked here (checkTxHeader, rxHeader): the guest's against
// what it negotiated, the host's against what the guest can take.
// Pure functions over byte arrays, no virtio here.
// Read next: devices/net/net.ts (which calls them from its tx and rx paths).

import type { ReceiveOffloads } from "./backend.ts";

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_TCPV6 = 4;
export const GSO_ECN = 0x80;

/** The one's-complement sum of b[from, to) as big-endian 16-bit words, added to `sum` (unfolded). */
export function sum16(b: Uint8Array, from: number, to: number, sum = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < to) sum += b[i] << 8;
  return sum;
}

/** Fold a sum to 16 bits and complement it: the Internet checksum. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/**
 * NEEDS_CSUM: the checksum over [start, end) — the field already holds the
 * pseudo-header sum, as Linux leaves it — stored at start + offset. False if
 * the positions do not lie inside the frame.
 */
export function completeChecksum(f: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (start < 14 || at + 2 > f.length) return false;
  const c = fold(sum16(f, start, f.length)) || 0xffff;
  f[at] = c >> 8;
  f[at + 1] = c & 255;
  return true;
}

interface TcpLayout {
  v6: boolean;
  /** Offsets: network header, transport header, end of the TCP header. */
  l3: number;
  l4: number;
  end: number;
}

/** Find the IP and TCP headers of an Ethernet frame; a reason string if it is not TCP over IP. */
export function tcpLayout(f: Uint8Array, v6: boolean): TcpLayout | string {
  let l3 = 14;
  let type = (f[12] << 8) | f[13];
  if (type === 0x8100) {
    l3 = 18;
    type = (f[16] << 8) | f[17];
  }
  if (f.length < l3 + 20) return "frame too short for an IP header";
  let l4: number;
  if (!v6) {
    if (type !== 0x0800 || f[l3] >> 4 !== 4) return "TCPV4 segmentation of a non-IPv4 frame";
    const ihl = (f[l3] & 15) * 4;
    if (ihl < 20 || f[l3 + 9] !== 6) return "TCPV4 segmentation of a non-TCP packet";
    l4 = l3 + ihl;
  } else {
    if (type !== 0x86dd || f[l3] >> 4 !== 6) return "TCPV6 segmentation of a non-IPv6 frame";
    // Linux only asks for TSO6 without extension headers.
    if (f[l3 + 6] !== 6) return "TCPV6 segmentation of a non-TCP packet";
    l4 = l3 + 40;
  }
  if (f.length < l4 + 20) return "frame too short for a TCP header";
  const end = l4 + (f[l4 + 12] >> 4) * 4;
  if (end < l4 + 20 || end > f.length) return "bad TCP header length";
  return { v6, l3, l4, end };
}

/** TCP checksum of segment `s` (header at l4, TCP length `len`), written into it. */
function tcpChecksum(s: Uint8Array, t: TcpLayout, len: number): void {
  s[t.l4 + 16] = 0;
  s[t.l4 + 17] = 0;
  let sum = t.v6 ? sum16(s, t.l3 + 8, t.l3 + 40) : sum16(s, t.l3 + 12, t.l3 + 20);
  sum += 6 + (len & 0xffff) + Math.floor(len / 0x10000);
  const c = fold(sum16(s, t.l4, t.l4 + len, sum));
  s[t.l4 + 16] = c >> 8;
  s[t.l4 + 17] = c & 255;
}

/**
 * Cut a TCP super-frame into segments of at most `mss` payload bytes, each
 * no longer than `maxFrame`, and hand each to `emit` (the array is only
 * valid during the call). IPv4 ids count up from the original's, TCP
 * sequence numbers advance, FIN and PSH stay on the last segment and CWR on
 * the first, and every checksum is computed afresh. Returns the number of
 * segments, or a reason string (and emits nothing) for a frame that is not
 * TCP over IPv4/IPv6 or would not fit.
 */
export function segmentTcp(
  f: Uint8Array,
  v6: boolean,
  mss: number,
  maxFrame: number,
  emit: (segment: Uint8Array) => void,
): number | string {
  const t = tcpLayout(f, v6);
  if (typeof t === "string") return t;
  const payload = f.length - t.end;
  if (!(mss >= 1) || t.end + Math.min(mss, payload) > maxFrame) {
    return `segment size ${mss} does not fit a ${maxFrame}-byte frame`;
  }
  const count = Math.max(1, Math.ceil(payload / mss));
  const seq0 = ((f[t.l4 + 4] << 24) | (f[t.l4 + 5] << 16) | (f[t.l4 + 6] << 8) | f[t.l4 + 7]) >>>
    0;
  const id0 = (f[t.l3 + 4] << 8) | f[t.l3 + 5];
  const flags = f[t.l4 + 13];
  const seg = new Uint8Array(t.end + Math.min(mss, payload));
  for (let i = 0; i < count; i++) {
    const off = i * mss;
    const n = Math.min(mss, payload - off);
    const s = seg.subarray(0, t.end + n);
    s.set(f.subarray(0, t.end));
    s.set(f.subarray(t.end + off, t.end + off + n), t.end);
    const tcpLen = t.end - t.l4 + n;
    if (t.v6) {
      s[t.l3 + 4] = tcpLen >> 8;
      s[t.l3 + 5] = tcpLen & 255;
    } else {
      const total = t.l4 - t.l3 + tcpLen;
      s[t.l3 + 2] = total >> 8;
      s[t.l3 + 3] = total & 255;
      const id = (id0 + i) & 0xffff;
      s[t.l3 + 4] = id >> 8;
      s[t.l3 + 5] = id & 255;
      s[t.l3 + 10] = 0;
      s[t.l3 + 11] = 0;
      const h = fold(sum16(s, t.l3, t.l4));
      s[t.l3 + 10] = h >> 8;
      s[t.l3 + 11] = h & 255;
    }
    const seq = (seq0 + off) >>> 0;
    s[t.l4 + 4] = seq >>> 24;
    s[t.l4 + 5] = (seq >>> 16) & 255;
    s[t.l4 + 6] = (seq >>> 8) & 255;
    s[t.l4 + 7] = seq & 255;
    let fl = flags;
    if (i < count - 1) fl &= ~0x09; // FIN and PSH only on the last segment
    if (i > 0) fl &= ~0x80; // CWR only on the first (RFC 3168 §6.1.2)
    s[t.l4 + 13] = fl;
    tcpChecksum(s, t, tcpLen);
    emit(s);
  }
  return count;
}

export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

/** Byte offsets in struct virtio_net_hdr_v1 (12 bytes, little-endian fields). */
export const HDR = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  NUM_BUFFERS: 10,
} as const;

const u16 = (h: Uint8Array, at: number) => h[at] | (h[at + 1] << 8);

/**
 * The common checks of a header's offload request, either direction:
 * only known flags, NEEDS_CSUM inside the frame, a GSO type that `may`
 * allows with a segment size and NEEDS_CSUM (Linux always sets it with GSO),
 * ECN only with GSO. Null if fine, else why not.
 */
function checkOffloads(
  h: Uint8Array,
  len: number,
  may: ReceiveOffloads,
  extra: number,
): string | null {
  const flags = h[HDR.FLAGS];
  if (flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | extra)) {
    return `unknown header flags 0x${flags.toString(16)}`;
  }
  const needsCsum = (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  if (needsCsum) {
    if (!may.csum) return "NEEDS_CSUM without the checksum offload";
    const start = u16(h, HDR.CSUM_START);
    if (start < 14 || start + u16(h, HDR.CSUM_OFFSET) + 2 > len) {
      return `checksum at ${start}+${u16(h, HDR.CSUM_OFFSET)} outside a ${len}-byte frame`;
    }
  }
  const type = h[HDR.GSO_TYPE];
  const gso = type & ~GSO_ECN;
  if (gso === GSO_NONE) {
    if (type & GSO_ECN) return "GSO_ECN without a GSO type";
    return null;
  }
  if (gso === GSO_TCPV4 ? !may.tso4 : gso === GSO_TCPV6 ? !may.tso6 : true) {
    return `GSO type ${gso} not negotiated`;
  }
  if ((type & GSO_ECN) && !may.ecn) return "GSO_ECN not negotiated";
  if (!needsCsum) return "GSO without NEEDS_CSUM";
  if (u16(h, HDR.GSO_SIZE) === 0) return "GSO with a segment size of 0";
  return null;
}

/**
 * A transmit header from the guest, for a frame of `len` bytes, against the
 * host offloads it negotiated (CSUM, HOST_TSO4/6, HOST_ECN): null if the
 * device may act on it, else why it is refused.
 */
export function checkTxHeader(h: Uint8Array, len: number, host: ReceiveOffloads): string | null {
  return checkOffloads(h, len, host, 0);
}

/**
 * The header the guest gets for a received frame, written into `out`
 * (num_buffers left for the device): from a backend's header `h` if it has
 * one — checked against the guest's receive offloads (GUEST_CSUM,
 * GUEST_TSO4/6, GUEST_ECN), DATA_VALID kept only with GUEST_CSUM — or made
 * here. A frame without GSO and without a checksum note has its TCP/UDP
 * checksum verified in software (l4ChecksumOk) and is marked DATA_VALID if
 * right. Returns null, or why the frame must be dropped.
 */
export function rxHeader(
  h: Uint8Array | undefined,
  frame: Uint8Array,
  guest: ReceiveOffloads,
  maxFrame: number,
  out: Uint8Array,
): string | null {
  out.fill(0, 0, HDR.NUM_BUFFERS);
  if (h !== undefined) {
    const why = checkOffloads(h, frame.length, guest, VIRTIO_NET_HDR_F_DATA_VALID);
    if (why !== null) return why;
    out.set(h.subarray(0, HDR.NUM_BUFFERS));
    if (!guest.csum) out[HDR.FLAGS] &= ~VIRTIO_NET_HDR_F_DATA_VALID;
  }
  if (out[HDR.GSO_TYPE] === GSO_NONE && frame.length > maxFrame) {
    return `a ${frame.length}-byte frame without GSO`;
  }
  if (out[HDR.FLAGS] === 0 && guest.csum && l4ChecksumOk(frame)) {
    out[HDR.FLAGS] = VIRTIO_NET_HDR_F_DATA_VALID;
  }
  return null;
}

/**
 * Receive side (VIRTIO_NET_F_GUEST_CSUM): true if `f` is TCP or UDP over
 * IPv4 (not a fragment) or IPv6 (no extension headers) and its transport
 * checksum is right, so the guest may skip checking it (DATA_VALID). False
 * for anything else: the guest then checks as usual.
 */
export function l4ChecksumOk(f: Uint8Array): boolean {
  let l3 = 14;
  let type = (f[12] << 8) | f[13];
  if (type === 0x8100) {
    l3 = 18;
    type = (f[16] << 8) | f[17];
  }
  let l4: number, end: number, proto: number, sum: number;
  if (type === 0x0800) {
    if (f.length < l3 + 20 || f[l3] >> 4 !== 4) return false;
    const ihl = (f[l3] & 15) * 4;
    end = l3 + ((f[l3 + 2] << 8) | f[l3 + 3]);
    // Fragments (MF set or an offset) cannot be checked alone.
    if (ihl < 20 || end > f.length || end < l3 + ihl || ((f[l3 + 6] & 0x3f) | f[l3 + 7]) !== 0) {
      return false;
    }
    proto = f[l3 + 9];
    l4 = l3 + ihl;
    sum = sum16(f, l3 + 12, l3 + 20);
  } else if (type === 0x86dd) {
    if (f.length < l3 + 40 || f[l3] >> 4 !== 6) return false;
    proto = f[l3 + 6];
    l4 = l3 + 40;
    end = l4 + ((f[l3 + 4] << 8) | f[l3 + 5]);
    if (end > f.length) return false;
    sum = sum16(f, l3 + 8, l3 + 40);
  } else {
    return false;
  }
  const len = end - l4;
  if (proto === 6) {
    if (len < 20) return false;
  } else if (proto === 17) {
    if (len < 8) return false;
    // IPv4 UDP without a checksum: nothing to check.
    if (type === 0x0800 && f[l4 + 6] === 0 && f[l4 + 7] === 0) return true;
  } else {
    return false;
  }
  sum += proto + len;
  return fold(sum16(f, l4, end, sum)) === 0;
}
