// Frames through a byte ring (lib/ring.ts): each frame after its length (2
// bytes, little-endian), written in one piece, so a reader sees a whole frame
// or none of it. Deterministic mode's path for received frames: the net actor
// writes what its backend received, the cpu reads and logs them, and hands
// them back through another such ring at counts it chooses (docs/replay.md).
// SPSC like the ring under it; full means the writer drops and counts.
// Read next: actors/net/net_actor.ts, actors/cpu/deterministic.ts.

import type { ByteRingReader, ByteRingWriter } from "../../lib/ring.ts";
import { MAX_FRAME } from "./backend.ts";

/** Room one frame takes in the ring, at most. */
export const FRAME_SLOT_BYTES = 2 + MAX_FRAME;

/** Write `frame` whole, or nothing (false: no room, or longer than MAX_FRAME). */
export function writeFrame(w: ByteRingWriter, frame: Uint8Array): boolean {
  if (frame.length > MAX_FRAME || w.free < 2 + frame.length) return false;
  const rec = new Uint8Array(2 + frame.length);
  rec[0] = frame.length & 0xff;
  rec[1] = frame.length >>> 8;
  rec.set(frame, 2);
  return w.write(rec) === rec.length;
}

/** The next whole frame (a copy), or null if none is there. */
export function readFrame(r: ByteRingReader): Uint8Array | null {
  if (r.available < 2) return null;
  const len = new Uint8Array(2);
  r.read(len);
  const frame = new Uint8Array(len[0] | (len[1] << 8));
  r.read(frame);
  return frame;
}
