// The virtio-net header crossing to and from a backend that carries one (the
// tap with IFF_VNET_HDR): the header translation in devices/net/offload.ts
// (checkTxHeader, rxHeader), then the device with such a backend through a
// fake guest — super-frames handed on whole, received super-frames spread over
// merged buffers (MRG_RXBUF) with num_buffers, too few buffers, and hostile
// headers refused by name. The real tap and kernel: tests/e2e/net_e2e_test.ts.
// Read next: devices/net/offload.ts, devices/net/net.ts.

import assert from "../../../testing/assert.ts";
import { RAM_BASE } from "../../../machine/memmap.ts";
import { createControlBlock } from "../../../machine/control.ts";
import { F } from "../../../devices/virtio/constants.ts";
import { MmioTransport, REG } from "../../../devices/virtio/mmio.ts";
import {
  checkTxHeader,
  GSO_ECN,
  GSO_TCPV4,
  GSO_TCPV6,
  HDR,
  rxHeader,
  segmentTcp,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
} from "../../../devices/net/offload.ts";
import {
  createNetState,
  NET_F,
  NET_HDR_LEN,
  NET_RX,
  NET_TX,
  NetDevice,
} from "../../../devices/net/net.ts";
import { MAX_FRAME, type ReceiveOffloads } from "../../../devices/net/backend.ts";
import { FakeNetDriver, RAM_BYTES } from "../../../testing/net_fakeguest.ts";

const ALL: ReceiveOffloads = { csum: true, tso4: true, tso6: true, ecn: true };
const NONE: ReceiveOffloads = { csum: false, tso4: false, tso6: false, ecn: false };

/** A virtio_net_hdr_v1. */
function hdr(
  o: {
    flags?: number;
    gso?: number;
    hdrLen?: number;
    gsoSize?: number;
    start?: number;
    off?: number;
  },
): Uint8Array<ArrayBuffer> {
  const h = new Uint8Array(NET_HDR_LEN);
  const v = new DataView(h.buffer);
  h[HDR.FLAGS] = o.flags ?? 0;
  h[HDR.GSO_TYPE] = o.gso ?? 0;
  v.setUint16(HDR.HDR_LEN, o.hdrLen ?? 0, true);
  v.setUint16(HDR.GSO_SIZE, o.gsoSize ?? 0, true);
  v.setUint16(HDR.CSUM_START, o.start ?? 0, true);
  v.setUint16(HDR.CSUM_OFFSET, o.off ?? 0, true);
  return h;
}

/** A TCP super-frame's header as Linux writes it: NEEDS_CSUM at the TCP checksum. */
const tso = (gso: number, gsoSize = 1448, v6 = false) =>
  hdr({
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gso,
    hdrLen: v6 ? 74 : 54,
    gsoSize,
    start: v6 ? 54 : 34,
    off: 16,
  });

/** Ethernet + IPv4/IPv6 + TCP (20-byte header) + `payload` bytes, checksums left as they fall. */
function tcpFrame(v6: boolean, payload: number, seed = 1): Uint8Array {
  const ip = v6 ? 40 : 20;
  const f = new Uint8Array(14 + ip + 20 + payload);
  f.set([0x02, 0x41, 0x56, 0, 0, 1, 0x02, 0x41, 0x56, 0, 0, 2]);
  if (v6) {
    f.set([0x86, 0xdd], 12);
    f.set([0x60, 0, 0, 0, (20 + payload) >> 8, (20 + payload) & 255, 6, 64], 14);
  } else {
    f.set([0x08, 0x00], 12);
    const total = 20 + 20 + payload;
    f.set([0x45, 0, total >> 8, total & 255, 0, 1, 0x40, 0, 64, 6], 14);
    f.set([10, 213, 0, 2, 10, 213, 0, 1], 26);
  }
  const l4 = 14 + ip;
  f[l4 + 12] = 5 << 4; // data offset: 20 bytes
  f[l4 + 13] = 0x10; // ACK
  for (let i = l4 + 20; i < f.length; i++) f[i] = (i * 13 + seed) & 255;
  return f;
}

Deno.test("vnet header: transmit headers are checked against the negotiated host offloads", () => {
  const f = tcpFrame(false, 5000);
  assert.equal(checkTxHeader(tso(GSO_TCPV4), f.length, ALL), null);
  assert.equal(checkTxHeader(tso(GSO_TCPV4 | GSO_ECN), f.length, ALL), null);
  assert.equal(checkTxHeader(hdr({}), f.length, NONE), null);
  const refused: [Uint8Array, ReceiveOffloads, RegExp][] = [
    [tso(GSO_TCPV4), { ...ALL, tso4: false }, /GSO type 1 not negotiated/],
    [tso(GSO_TCPV6), { ...ALL, tso6: false }, /GSO type 4 not negotiated/],
    [tso(3), ALL, /GSO type 3 not negotiated/], // UDP fragmentation offload: never offered
    [tso(5), ALL, /GSO type 5 not negotiated/], // GSO_UDP_L4: never offered
    [tso(GSO_TCPV4 | GSO_ECN), { ...ALL, ecn: false }, /GSO_ECN not negotiated/],
    [hdr({ gso: GSO_ECN }), ALL, /GSO_ECN without a GSO type/],
    [hdr({ gso: GSO_TCPV4, gsoSize: 1448 }), ALL, /GSO without NEEDS_CSUM/],
    [tso(GSO_TCPV4, 0), ALL, /segment size of 0/],
    [hdr({ flags: 1, start: 34, off: 16 }), NONE, /NEEDS_CSUM without the checksum offload/],
    [hdr({ flags: 1, start: 34, off: f.length }), ALL, /outside a \d+-byte frame/],
    [hdr({ flags: 1, start: 6, off: 16 }), ALL, /outside/], // inside the Ethernet header
    [hdr({ flags: VIRTIO_NET_HDR_F_DATA_VALID }), ALL, /unknown header flags 0x2/],
    [hdr({ flags: 0x80 }), ALL, /unknown header flags 0x80/],
  ];
  for (const [h, may, why] of refused) assert.match(String(checkTxHeader(h, f.length, may)), why);
});

Deno.test("vnet header: received headers become the guest's, checked against its offloads", () => {
  const out = new Uint8Array(NET_HDR_LEN);
  const big = tcpFrame(false, 30000);
  // A super-frame the guest negotiated: passed on as it is (num_buffers left alone).
  out[HDR.NUM_BUFFERS] = 7;
  assert.equal(rxHeader(tso(GSO_TCPV4), big, ALL, MAX_FRAME, out), null);
  assert.deepEqual(out.subarray(0, HDR.NUM_BUFFERS), tso(GSO_TCPV4).subarray(0, HDR.NUM_BUFFERS));
  assert.equal(out[HDR.NUM_BUFFERS], 7);
  // ...and refused when it did not, or when it is malformed.
  assert.match(
    String(rxHeader(tso(GSO_TCPV4), big, { ...ALL, tso4: false }, MAX_FRAME, out)),
    /not negotiated/,
  );
  assert.match(
    String(rxHeader(tso(GSO_TCPV6, 1428, true), big, { ...ALL, tso6: false }, MAX_FRAME, out)),
    /not negotiated/,
  );
  assert.match(
    String(rxHeader(tso(GSO_TCPV4 | GSO_ECN), big, { ...ALL, ecn: false }, MAX_FRAME, out)),
    /ECN/,
  );
  assert.match(
    String(rxHeader(hdr({ flags: 1, start: 34, off: 16 }), big, NONE, MAX_FRAME, out)),
    /NEEDS_CSUM/,
  );
  assert.match(
    String(rxHeader(hdr({ flags: 4 }), big.subarray(0, 100), ALL, MAX_FRAME, out)),
    /unknown header flags/,
  );
  // A frame over 1514 bytes without GSO is not a frame the guest can take.
  assert.match(String(rxHeader(hdr({}), big, ALL, MAX_FRAME, out)), /without GSO/);
  assert.match(String(rxHeader(undefined, big, ALL, MAX_FRAME, out)), /without GSO/);
  // DATA_VALID from the host kept with GUEST_CSUM, cleared without it (§5.1.6.4).
  const small = tcpFrame(false, 100);
  assert.equal(
    rxHeader(hdr({ flags: VIRTIO_NET_HDR_F_DATA_VALID }), small, ALL, MAX_FRAME, out),
    null,
  );
  assert.equal(out[HDR.FLAGS], VIRTIO_NET_HDR_F_DATA_VALID);
  assert.equal(
    rxHeader(hdr({ flags: VIRTIO_NET_HDR_F_DATA_VALID }), small, NONE, MAX_FRAME, out),
    null,
  );
  assert.equal(out[HDR.FLAGS], 0);
  // No note from the host: the checksum is verified here (a right one is marked, a wrong one not).
  const segs: Uint8Array[] = [];
  segmentTcp(tcpFrame(false, 1000), false, 1400, 1514, (s) => segs.push(s.slice()));
  assert.equal(rxHeader(undefined, segs[0], ALL, MAX_FRAME, out), null);
  assert.equal(out[HDR.FLAGS], VIRTIO_NET_HDR_F_DATA_VALID);
  segs[0][segs[0].length - 1] ^= 1;
  assert.equal(rxHeader(hdr({}), segs[0], ALL, MAX_FRAME, out), null);
  assert.equal(out[HDR.FLAGS], 0);
});

// ---- the device with a backend that carries headers

const bit = (b: number) => 1n << BigInt(b);
const RX_FEATURES = bit(NET_F.MAC) | bit(NET_F.STATUS) | bit(F.VERSION_1) | bit(NET_F.CSUM) |
  bit(NET_F.GUEST_CSUM) | bit(NET_F.HOST_TSO4) | bit(NET_F.HOST_TSO6) | bit(NET_F.HOST_ECN) |
  bit(NET_F.GUEST_TSO4) | bit(NET_F.GUEST_TSO6) | bit(NET_F.GUEST_ECN) | bit(NET_F.MRG_RXBUF);

function setup(features = RX_FEATURES) {
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const control = createControlBlock();
  const state = createNetState(3, new Uint8Array([2, 0x41, 0x56, 0, 0, 1]), {
    receiveOffloads: true,
  });
  const sent: { frame: Uint8Array; hdr?: Uint8Array }[] = [];
  const told: ReceiveOffloads[] = [];
  const logs: string[] = [];
  const backend = {
    offloads: true,
    send: (
      frame: Uint8Array,
      hdr?: Uint8Array,
    ) => (sent.push({ frame: frame.slice(), hdr: hdr?.slice() }), true),
    setReceiveOffloads: (o: ReceiveOffloads) => void told.push({ ...o }),
  };
  const dev = new NetDevice(ram, state, control, { backend, log: (l) => logs.push(l) });
  const drv = new FakeNetDriver(ram, state, control, { features });
  dev.service();
  return { dev, drv, sent, told, logs, state };
}

Deno.test("vnet device: the receive offloads are offered only when asked, and the backend told", () => {
  const features = (state: SharedArrayBuffer) => {
    const m = new MmioTransport(state, createControlBlock());
    m.write(REG.DEVICE_FEATURES_SEL, 4, 0);
    return m.read(REG.DEVICE_FEATURES, 4);
  };
  const mac = new Uint8Array([2, 0, 0, 0, 0, 1]);
  const with_ = features(createNetState(3, mac, { receiveOffloads: true }));
  for (const b of [NET_F.GUEST_TSO4, NET_F.GUEST_TSO6, NET_F.GUEST_ECN, NET_F.MRG_RXBUF]) {
    assert.ok(with_ & (1 << b), `bit ${b} not offered`);
    assert.equal(features(createNetState(3, mac)) & (1 << b), 0, `bit ${b} offered by default`);
    assert.equal(
      features(createNetState(3, mac, { offloads: false, receiveOffloads: true })) & (1 << b),
      0,
    );
  }
  // The driver took everything: the backend hears it once the driver is up.
  const g = setup();
  g.drv.notify(NET_RX);
  g.dev.service();
  assert.deepEqual(g.told.at(-1), ALL);
  // A driver without TSO: only the checksum offload; after a reset, nothing.
  const h = setup(RX_FEATURES & ~bit(NET_F.GUEST_TSO4) & ~bit(NET_F.GUEST_TSO6));
  h.dev.receive(tcpFrame(false, 10));
  assert.deepEqual(h.told.at(-1), { csum: true, tso4: false, tso6: false, ecn: false });
  h.drv.write(REG.STATUS, 0);
  h.dev.service();
  assert.deepEqual(h.told.at(-1), NONE);
});

Deno.test("vnet device: a received super-frame spreads over merged buffers, published at once", () => {
  const g = setup();
  const f = tcpFrame(false, 20000);
  const h = tso(GSO_TCPV4);
  // Three 4 KiB buffers: too few for 20 KiB. The frame waits, the buffers stay posted.
  for (let i = 0; i < 3; i++) {
    g.drv.rx.add([{ addr: RAM_BASE + 0x20000 + i * 0x1000, len: 4096, write: true }]);
  }
  g.drv.notify(NET_RX);
  g.dev.service();
  g.dev.receive(f, h);
  assert.equal(g.dev.held, 1);
  assert.equal(g.drv.rx.usedIdx(), 0, "buffers used before the frame fitted");
  // Two more (one in two pieces): now it fits in five.
  g.drv.rx.add([{ addr: RAM_BASE + 0x23000, len: 4096, write: true }]);
  g.drv.rx.add([
    { addr: RAM_BASE + 0x24000, len: 100, write: true },
    { addr: RAM_BASE + 0x24800, len: 4000, write: true },
  ]);
  g.drv.notify(NET_RX);
  g.dev.service();
  assert.equal(g.dev.held, 0);
  const used = g.drv.rx.takeUsed();
  const need = NET_HDR_LEN + f.length;
  assert.deepEqual(used.map((u) => u.len), [4096, 4096, 4096, 4096, need - 4 * 4096]);
  assert.deepEqual(used.map((u) => u.id), [0, 1, 2, 3, 4]);
  // The header: the host's, with num_buffers = 5.
  const got = g.drv.bytes.slice(0x20000, 0x20000 + NET_HDR_LEN);
  const want = h.slice();
  want[HDR.NUM_BUFFERS] = 5;
  assert.deepEqual(got, want);
  // The frame, read back across the buffers.
  const parts = [
    g.drv.bytes.subarray(0x20000 + NET_HDR_LEN, 0x21000),
    g.drv.bytes.subarray(0x21000, 0x22000),
    g.drv.bytes.subarray(0x22000, 0x23000),
    g.drv.bytes.subarray(0x23000, 0x24000),
    g.drv.bytes.subarray(0x24000, 0x24000 + 100),
    g.drv.bytes.subarray(0x24800, 0x24800 + used[4].len - 100),
  ];
  const back = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (back.set(p, at), at + p.length), 0);
  assert.deepEqual(back, f);
  assert.equal(g.dev.stats.rxSuperFrames, 1);
  assert.equal(g.dev.stats.rxMerged, 1);
  // A small frame takes one buffer, num_buffers = 1.
  g.drv.rx.add([{ addr: RAM_BASE + 0x30000, len: 4096, write: true }]);
  g.dev.receive(tcpFrame(false, 50), hdr({}));
  assert.deepEqual(g.drv.rx.takeUsed().map((u) => u.len), [NET_HDR_LEN + 14 + 40 + 50]);
  assert.equal(g.drv.bytes[0x30000 + HDR.NUM_BUFFERS], 1);
});

Deno.test("vnet device: headers the guest did not negotiate, too few and bad buffers: dropped, counted", () => {
  const g = setup(RX_FEATURES & ~bit(NET_F.GUEST_TSO6));
  for (let i = 0; i < 8; i++) {
    g.drv.rx.add([{ addr: RAM_BASE + 0x20000 + i * 0x100, len: 200, write: true }]);
  }
  g.drv.notify(NET_RX);
  g.dev.service();
  // A TSO6 frame the guest said it cannot take: dropped by name.
  g.dev.receive(tcpFrame(true, 3000), tso(GSO_TCPV6, 1428, true));
  assert.equal(g.dev.stats.rxDroppedHeader, 1);
  assert.ok(
    g.logs.some((l) => /received frame of \d+ bytes dropped: GSO type 4 not negotiated/.test(l)),
  );
  // A frame larger than the whole ring's buffers (8 x 200): dropped, the buffers stay posted.
  g.dev.receive(tcpFrame(false, 3000), tso(GSO_TCPV4));
  assert.equal(g.dev.stats.rxDroppedTooBig, 1);
  assert.equal(g.dev.held, 0);
  assert.equal(g.drv.rx.usedIdx(), 0);
  // A device-readable buffer after two good ones: it and those taken before
  // it go back empty; the frame waits for good buffers after them.
  const m = setup();
  m.drv.rx.add([{ addr: RAM_BASE + 0x20000, len: 300, write: true }]);
  m.drv.rx.add([{ addr: RAM_BASE + 0x21000, len: 300, write: true }]);
  m.drv.rx.add([{ addr: RAM_BASE + 0x22000, len: 600 }]);
  m.drv.rx.add([{ addr: RAM_BASE + 0x23000, len: 4096, write: true }]);
  m.drv.notify(NET_RX);
  m.dev.service();
  const f = tcpFrame(false, 1000);
  m.dev.receive(f, tso(GSO_TCPV4));
  assert.equal(m.dev.stats.malformedChains, 1);
  assert.deepEqual(m.drv.rx.takeUsed(), [
    { id: 0, len: 0 },
    { id: 1, len: 0 },
    { id: 2, len: 0 },
    { id: 3, len: NET_HDR_LEN + f.length },
  ]);
  assert.equal(m.dev.broken, false);
  // More than 1514 bytes without GSO, and a frame over 64 KiB: not frames at all.
  g.dev.receive(tcpFrame(false, 3000), hdr({}));
  g.dev.receive(new Uint8Array(70000), tso(GSO_TCPV4));
  assert.equal(g.dev.stats.rxDroppedHeader, 2);
  assert.equal(g.dev.stats.rxDroppedBad, 1);
});

Deno.test("vnet device: the guest's super-frames go to the backend whole, bad headers refused by name", () => {
  const g = setup();
  const f = tcpFrame(false, 30000);
  const h = tso(GSO_TCPV4);
  // The header alone, then the frame in two pieces (how Linux sends a TSO skb).
  g.drv.bytes.set(h, 0x10000);
  g.drv.bytes.set(f.subarray(0, 1000), 0x11000);
  g.drv.bytes.set(f.subarray(1000), 0x12000);
  g.drv.tx.add([
    { addr: RAM_BASE + 0x10000, len: NET_HDR_LEN },
    { addr: RAM_BASE + 0x11000, len: 1000 },
    { addr: RAM_BASE + 0x12000, len: f.length - 1000 },
  ]);
  // A plain frame: its (zero) header goes along.
  const plain = tcpFrame(false, 100);
  g.drv.transmit(0x20000, plain);
  // Hostile: a GSO type never offered, a UDP "super-frame" claiming TCPV4,
  // a checksum outside the frame, TSO6 without HOST_TSO6 (negotiated here, but the frame is v4).
  g.drv.transmit(0x30000, tcpFrame(false, 3000), tso(3));
  const udp = tcpFrame(false, 3000);
  udp[14 + 9] = 17;
  g.drv.transmit(0x40000, udp, tso(GSO_TCPV4));
  g.drv.transmit(0x50000, tcpFrame(false, 100), hdr({ flags: 1, start: 34, off: 500 }));
  g.drv.transmit(0x60000, tcpFrame(false, 3000), tso(GSO_TCPV6));
  g.drv.notify(NET_TX);
  g.dev.service();
  assert.equal(g.sent.length, 2);
  assert.deepEqual(g.sent[0].frame, f);
  assert.deepEqual(g.sent[0].hdr, h);
  assert.deepEqual(g.sent[1].frame, plain);
  assert.deepEqual(g.sent[1].hdr, new Uint8Array(NET_HDR_LEN));
  assert.equal(g.dev.stats.txSuperFrames, 1);
  assert.equal(g.dev.stats.txSegmented, 0);
  assert.equal(g.dev.stats.txDroppedHeader, 4);
  const refusals = g.logs.filter((l) => /bad virtio-net header/.test(l));
  assert.equal(refusals.length, 4);
  assert.match(refusals[0], /GSO type 3 not negotiated/);
  assert.match(refusals[1], /non-TCP packet/);
  assert.match(refusals[2], /outside a \d+-byte frame/);
  assert.match(refusals[3], /non-IPv6 frame/);
  assert.equal(g.drv.tx.takeUsed().length, 6);
  assert.equal(g.dev.broken, false);
});
