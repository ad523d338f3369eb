// The narrow interface between the virtio-net device (devices/net/net.ts) and
// whatever carries its Ethernet frames: a host tap (devices/net/tap.ts) or the
// inter-guest segment (devices/net/sharenet.ts). Frames cross it bare, except
// with a backend that has `offloads` (the tap, opened with IFF_VNET_HDR): a
// virtio_net_hdr_v1 then travels beside each frame, so TCP super-frames of up
// to 64 KiB cross whole in both directions. Neither side ever blocks the
// other: a backend that cannot take a frame drops it and counts, and so does
// the device.
// Read next: devices/net/tap.ts, devices/net/sharenet.ts.

/** Counters every backend keeps (all monotonic). */
export interface BackendStats {
  /** Frames handed to onFrame. */
  rxFrames: number;
  rxBytes: number;
  /** Frames the host side accepted. */
  txFrames: number;
  txBytes: number;
  /** Frames send() could not deliver (host side full, down or refused). */
  txDropped: number;
  /** Receive-side errors other than "nothing to read". */
  rxErrors: number;
}

export const newStats = (): BackendStats => ({
  rxFrames: 0,
  rxBytes: 0,
  txFrames: 0,
  txBytes: 0,
  txDropped: 0,
  rxErrors: 0,
});

/**
 * Receives one frame and, from a backend with `offloads`, its 12-byte
 * virtio_net_hdr_v1 (flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset; num_buffers unused). The views are only valid during the call
 * (copy them to keep them).
 */
export type FrameSink = (frame: Uint8Array, hdr?: Uint8Array) => void;

/** sizeof(struct virtio_net_hdr_v1), the header beside each frame of a backend with offloads. */
export const VNET_HDR_LEN = 12;

/** The receive offloads a backend with `offloads` may hand the device (tap: TUNSETOFFLOAD). */
export interface ReceiveOffloads {
  /** Frames with a partial checksum (NEEDS_CSUM). Required by the three below. */
  csum: boolean;
  /** TCP/IPv4 super-frames (GSO_TCPV4). */
  tso4: boolean;
  /** TCP/IPv6 super-frames (GSO_TCPV6). */
  tso6: boolean;
  /** Super-frames with CWR set (GSO_ECN). */
  ecn: boolean;
}

export const NO_RECEIVE_OFFLOADS: ReceiveOffloads = {
  csum: false,
  tso4: false,
  tso6: false,
  ecn: false,
};

export interface NetBackend {
  /** For logs and errors, e.g. "tap avm0" or "sharenet /tmp/seg (member 123-ab.sock)". */
  readonly description: string;
  readonly stats: BackendStats;
  /**
   * A string that is stable across runs and unique on this backend's
   * segment (e.g. "tap:avm0", "sharenet:/tmp/seg:1"): the default MAC is
   * derived from it (devices/net/net.ts defaultMac).
   */
  readonly macKey: string;
  /**
   * Start delivering received frames to `onFrame` (called once). Frames are
   * read off the event loop; `onFrame` runs on it. `onError` reports a fatal
   * receive error, after which no more frames arrive. `canTake` says whether
   * the device has room for more frames right now: a backend whose peer can
   * wait (a stream socket: passt) stops reading while it is false, so the
   * peer's own flow control slows the sender instead of frames being dropped;
   * a backend whose frames would be lost anyway (tap, sharenet) ignores it.
   */
  start(onFrame: FrameSink, onError?: (e: Error) => void, canTake?: () => boolean): void;
  /**
   * Send one Ethernet frame. Never blocks; returns false when the frame was
   * dropped (and counted in stats.txDropped). The frame may be a view into
   * guest RAM (a SharedArrayBuffer); it is not kept after the call. `hdr`
   * (only for a backend with `offloads`; absent means "nothing to do") is
   * its checked virtio_net_hdr_v1: a GSO super-frame is then sent whole. A
   * header lying just before the frame in the same buffer saves a copy.
   */
  send(frame: Uint8Array, hdr?: Uint8Array): boolean;
  /**
   * True if frames cross with a virtio_net_hdr_v1 (see FrameSink and send):
   * the device then offers the receive offloads and leaves segmentation and
   * checksums to the host kernel. Absent: false.
   */
  readonly offloads?: boolean;
  /**
   * Say which receive offloads the guest's driver negotiated (all off after
   * a reset): the host must not hand the device anything else. Only for a
   * backend with `offloads`.
   */
  setReceiveOffloads?(o: ReceiveOffloads): void;
  /** Stop receiving and release every host resource; safe to call twice. */
  close(): Promise<void>;
}

/** Largest Ethernet frame without FCS or VLAN tag that a 1500-byte MTU allows. */
export const MAX_FRAME = 1514;
/**
 * A TCP super-frame (TSO/GSO) may be this long: an Ethernet header with a
 * VLAN tag, an IPv6 header and a 64 KiB payload.
 */
export const MAX_GSO_FRAME = 18 + 40 + 65535;
/** Smallest frame with a full Ethernet header. */
export const MIN_FRAME = 14;
