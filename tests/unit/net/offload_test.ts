// The device's software transmit offloads (devices/net/offload.ts): checksum
// completion and TCP segmentation, checked against an independent checksum
// and by reassembling the payload; then the device path with the offload
// features negotiated, through a fake guest. Read next: devices/net/offload.ts.

import assert from "../../../testing/assert.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";
import { completeChecksum, l4ChecksumOk, segmentTcp } from "../../../devices/net/offload.ts";
import { createControlBlock } from "../../../machine/control.ts";
import {
  createNetState,
  NET_F,
  NET_HDR_LEN,
  NET_RX,
  NET_TX,
  NetDevice,
} from "../../../devices/net/net.ts";
import { F } from "../../../devices/virtio/constants.ts";
import { FakeNetDriver, RAM_BYTES } from "../../../testing/net_fakeguest.ts";

/** RFC 1071, written plainly: the 16-bit one's-complement sum of `parts`. */
function onesSum(...parts: number[][]): number {
  const bytes = parts.flat();
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const arr = (b: Uint8Array, from: number, to: number) => Array.from(b.subarray(from, to));
const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const u32 = (b: Uint8Array, at: number) => ((u16(b, at) << 16) | u16(b, at + 2)) >>> 0;

/** A TCP checksum is right when the sum over pseudo-header and segment is 0xffff. */
function tcpOk(f: Uint8Array, v6: boolean): boolean {
  const l3 = 14;
  const l4 = v6 ? l3 + 40 : l3 + (f[l3] & 15) * 4;
  const len = f.length - l4;
  const pseudo = v6
    ? [...arr(f, l3 + 8, l3 + 40), 0, 0, len >> 8, len & 255, 0, 0, 0, 6]
    : [...arr(f, l3 + 12, l3 + 20), 0, 6, len >> 8, len & 255];
  return onesSum(pseudo, arr(f, l4, f.length)) === 0xffff;
}

/** Ethernet + IPv4 or IPv6 + TCP (20-byte header + 12 bytes of options) + payload. */
function tcpFrame(v6: boolean, payload: Uint8Array, flags: number, seq: number): Uint8Array {
  const ipLen = v6 ? 40 : 20;
  const tcpLen = 32;
  const f = new Uint8Array(14 + ipLen + tcpLen + payload.length);
  f.set([0x02, 0x41, 0x56, 0, 0, 1, 0x02, 0x41, 0x56, 0, 0, 2]);
  const l3 = 14, l4 = 14 + ipLen;
  if (v6) {
    f.set([0x86, 0xdd], 12);
    f.set([0x60, 0, 0, 0, 0, 0, 6, 64], l3);
    f.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], l3 + 8);
    f.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], l3 + 24);
  } else {
    f.set([0x08, 0x00], 12);
    f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 213, 0, 2, 10, 213, 0, 1], l3);
  }
  f.set([0x9c, 0x40, 0x13, 0x89], l4); // ports
  f.set([seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255], l4 + 4);
  f.set([0, 0, 0, 1, 0x80, flags, 0xff, 0xff], l4 + 8); // ack, doff 8, flags, window
  f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20); // NOP NOP timestamps
  f.set(payload, l4 + tcpLen);
  return f;
}

function payloadOf(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + (i >> 8)) & 255;
  return p;
}

const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;

for (const v6 of [false, true]) {
  Deno.test(`net offload: TCP/IPv${v6 ? 6 : 4} segmentation fixes every header and checksum`, () => {
    const payload = payloadOf(10_000);
    const seq0 = 0xffff_f000; // wraps during the burst
    const big = tcpFrame(v6, payload, ACK | PSH | FIN | CWR, seq0);
    const segs: Uint8Array[] = [];
    const l4 = 14 + (v6 ? 40 : 20);
    const mss = 1514 - l4 - 32; // 1448 over IPv4, 1428 over IPv6
    const count = Math.ceil(10_000 / mss);
    const n = segmentTcp(big, v6, mss, 1514, (s) => segs.push(s.slice()));
    assert.equal(n, count);
    assert.equal(segs.length, count);
    const data: number[] = [];
    segs.forEach((s, i) => {
      assert.ok(s.length <= 1514);
      const last = i === segs.length - 1;
      assert.equal(s.length - l4 - 32, last ? 10_000 - (count - 1) * mss : mss);
      if (v6) {
        assert.equal(u16(s, 14 + 4), s.length - l4); // payload length
      } else {
        assert.equal(u16(s, 14 + 2), s.length - 14); // total length
        assert.equal(u16(s, 14 + 4), 0x1234 + i); // id
        assert.equal(onesSum(arr(s, 14, 34)), 0xffff, "IPv4 header checksum");
      }
      assert.equal(u32(s, l4 + 4), (seq0 + i * mss) >>> 0);
      const fl = s[l4 + 13];
      assert.equal((fl & (FIN | PSH)) !== 0, last, `FIN/PSH on segment ${i}`);
      assert.equal((fl & CWR) !== 0, i === 0, `CWR on segment ${i}`);
      assert.ok(fl & ACK);
      assert.ok(tcpOk(s, v6), `TCP checksum of segment ${i}`);
      assert.deepEqual(arr(s, l4 + 20, l4 + 32), arr(big, l4 + 20, l4 + 32)); // options kept
      data.push(...arr(s, l4 + 32, s.length));
    });
    assert.deepEqual(new Uint8Array(data), payload);
  });
}

Deno.test("net offload: bad super-frames are refused with a reason, nothing emitted", () => {
  const big = tcpFrame(false, payloadOf(3000), ACK, 1);
  const none = () => assert.fail("emitted");
  assert.match(String(segmentTcp(big, true, 1448, 1514, none)), /non-IPv6/);
  assert.match(String(segmentTcp(big, false, 1500, 1514, none)), /does not fit/);
  assert.match(String(segmentTcp(big, false, 0, 1514, none)), /does not fit/);
  const udp = big.slice();
  udp[14 + 9] = 17;
  assert.match(String(segmentTcp(udp, false, 1448, 1514, none)), /non-TCP/);
  assert.match(String(segmentTcp(big.subarray(0, 40), false, 1448, 1514, none)), /too short/);
});

Deno.test("net offload: NEEDS_CSUM completes a UDP checksum seeded with the pseudo-header", () => {
  const f = new Uint8Array(14 + 20 + 8 + 11);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 39, 0, 0, 0, 0, 64, 17, 0, 0, 10, 213, 0, 2, 10, 213, 0, 1], 14);
  f.set([0x30, 0x39, 0x00, 0x35, 0, 19, 0, 0], 34);
  f.set(new TextEncoder().encode("hello world"), 42);
  // What Linux leaves in the field for CHECKSUM_PARTIAL: the folded pseudo-header sum.
  const pseudo = onesSum([10, 213, 0, 2, 10, 213, 0, 1, 0, 17, 0, 19]);
  f[40] = pseudo >> 8;
  f[41] = pseudo & 255;
  assert.ok(completeChecksum(f, 34, 6));
  const check = onesSum([10, 213, 0, 2, 10, 213, 0, 1, 0, 17, 0, 19], arr(f, 34, f.length));
  assert.equal(check, 0xffff);
  assert.equal(completeChecksum(f, 34, 100), false); // field outside the frame
  assert.equal(completeChecksum(f, 4, 6), false); // inside the Ethernet header
});

Deno.test("net offload: the device segments a TSO chain from the guest, leaving guest RAM alone", () => {
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const control = createControlBlock();
  const state = createNetState(3, new Uint8Array([2, 0x41, 0x56, 0, 0, 1]));
  const sent: Uint8Array[] = [];
  const dev = new NetDevice(ram, state, control, {
    backend: { send: (f) => (sent.push(f.slice()), true) },
  });
  const feat = (b: number) => 1n << BigInt(b);
  const drv = new FakeNetDriver(ram, state, control, {
    features: feat(NET_F.MAC) | feat(NET_F.CSUM) | feat(NET_F.HOST_TSO4) | feat(F.VERSION_1),
  });
  dev.service();
  const payload = payloadOf(5000);
  const big = tcpFrame(false, payload, ACK | PSH, 1000);
  const hdr = new Uint8Array(NET_HDR_LEN);
  hdr[0] = 1; // NEEDS_CSUM
  hdr[1] = 1; // GSO_TCPV4
  new DataView(hdr.buffer).setUint16(4, 1448, true); // gso_size
  new DataView(hdr.buffer).setUint16(6, 34, true); // csum_start
  new DataView(hdr.buffer).setUint16(8, 16, true); // csum_offset
  // Header alone, then the frame split in two buffers.
  drv.bytes.set(hdr, 0x10000);
  drv.bytes.set(big.subarray(0, 66), 0x11000);
  drv.bytes.set(big.subarray(66), 0x12000);
  drv.tx.add([
    { addr: RAM_BASE + 0x10000, len: NET_HDR_LEN },
    { addr: RAM_BASE + 0x11000, len: 66 },
    { addr: RAM_BASE + 0x12000, len: big.length - 66 },
  ]);
  // A TSO6 frame: not negotiated, so dropped.
  const hdr6 = hdr.slice();
  hdr6[1] = 4;
  drv.transmit(0x20000, tcpFrame(true, payloadOf(3000), ACK, 5), hdr6);
  drv.notify(NET_TX);
  dev.service();
  assert.equal(sent.length, 4);
  assert.ok(sent.every((s) => tcpOk(s, false)));
  assert.deepEqual(
    new Uint8Array(sent.flatMap((s) => arr(s, 66, s.length))),
    payload,
  );
  assert.equal(dev.stats.txSegmented, 1);
  assert.equal(dev.stats.txFrames, 4);
  assert.equal(dev.stats.txDroppedHeader, 1);
  assert.deepEqual(drv.tx.takeUsed().map((u) => u.len), [0, 0]);
  // The guest's buffers are as it wrote them.
  assert.deepEqual(drv.bytes.slice(0x12000, 0x12000 + big.length - 66), big.subarray(66));
  assert.deepEqual(drv.bytes.slice(0x11000, 0x11000 + 66), big.subarray(0, 66));
});

Deno.test("net offload: receive checksums are verified for TCP/UDP over IPv4 and IPv6 only", () => {
  for (const v6 of [false, true]) {
    const segs: Uint8Array[] = [];
    segmentTcp(tcpFrame(v6, payloadOf(1000), ACK, 7), v6, 1400, 1514, (s) => segs.push(s.slice()));
    const good = segs[0];
    assert.ok(tcpOk(good, v6));
    assert.equal(l4ChecksumOk(good), true, `good IPv${v6 ? 6 : 4}`);
    const bad = good.slice();
    bad[bad.length - 1] ^= 1;
    assert.equal(l4ChecksumOk(bad), false, `corrupt IPv${v6 ? 6 : 4}`);
    // Ethernet padding after the IP packet is not part of the sum.
    const padded = new Uint8Array(good.length + 6);
    padded.set(good);
    padded.fill(0xee, good.length);
    assert.equal(l4ChecksumOk(padded), true, "padded");
    assert.equal(l4ChecksumOk(good.subarray(0, good.length - 1)), false, "truncated");
  }
  const frag = tcpFrame(false, payloadOf(100), ACK, 1);
  segmentTcp(frag, false, 1400, 1514, (s) => frag.set(s));
  assert.equal(l4ChecksumOk(frag), true);
  frag[14 + 6] |= 0x20; // More Fragments
  assert.equal(l4ChecksumOk(frag), false, "a fragment");
  const arp = new Uint8Array(42);
  arp.set([0x08, 0x06], 12);
  assert.equal(l4ChecksumOk(arp), false, "ARP");
});

Deno.test("net offload: with GUEST_CSUM, good received frames are marked DATA_VALID, bad ones not", () => {
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const control = createControlBlock();
  const state = createNetState(3, new Uint8Array([2, 0x41, 0x56, 0, 0, 1]));
  const dev = new NetDevice(ram, state, control, { backend: { send: () => true } });
  const feat = (b: number) => 1n << BigInt(b);
  const drv = new FakeNetDriver(ram, state, control, {
    features: feat(NET_F.MAC) | feat(NET_F.GUEST_CSUM) | feat(F.VERSION_1),
  });
  dev.service();
  for (let i = 0; i < 3; i++) {
    drv.rx.add([{ addr: RAM_BASE + 0x40000 + i * 0x800, len: 1526, write: true }]);
  }
  drv.notify(NET_RX);
  dev.service();
  const segs: Uint8Array[] = [];
  segmentTcp(
    tcpFrame(false, payloadOf(500), ACK, 7),
    false,
    1400,
    1514,
    (s) => segs.push(s.slice()),
  );
  const bad = segs[0].slice();
  bad[100] ^= 0xff;
  const arp = new Uint8Array(60);
  arp.set([0x08, 0x06], 12);
  dev.receive(segs[0]);
  dev.receive(bad);
  dev.receive(arp);
  assert.equal(drv.rx.takeUsed().length, 3);
  assert.deepEqual([0, 1, 2].map((i) => drv.bytes[0x40000 + i * 0x800]), [2, 0, 0]);
  assert.equal(dev.stats.rxChecksumValid, 1);
});
