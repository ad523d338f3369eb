// The narrow interface between the virtio-net device (devices/net/net.ts) and
// whatever carries its Ethernet frames: a host tap (devices/net/tap.ts) or the
// inter-guest segment (devices/net/sharenet.ts). Frames cross it bare — no virtio
// header — and neither side ever blocks the other: a backend that cannot take
// a frame drops it and counts, and so does the device.
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

/** Receives one frame; the view is only valid during the call (copy it to keep it). */
export type FrameSink = (frame: Uint8Array) => void;

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
   * guest RAM (a SharedArrayBuffer); it is not kept after the call.
   */
  send(frame: Uint8Array): boolean;
  /** Stop receiving and release every host resource; safe to call twice. */
  close(): Promise<void>;
}

/** Largest Ethernet frame without FCS or VLAN tag that a 1500-byte MTU allows. */
export const MAX_FRAME = 1514;
/** Smallest frame with a full Ethernet header. */
export const MIN_FRAME = 14;
