// virtio numbers shared by the transport, the queue and the devices: feature
// bits, status bits, descriptor and ring flags, device ids (virtio 1.2 spec,
// sections 2.1, 2.7, 6 and 5.x). Only names live here; no logic.
// Read next: devices/virtio/mmio.ts (the transport that uses them).

/** Device status bits (virtio 1.2 §2.1). */
export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** Reserved (transport-independent) feature bits (§6), as bit numbers. */
export const F = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
} as const;

/** A feature bit number as a 64-bit mask. */
export const bit = (n: number): bigint => 1n << BigInt(n);

/** Device ids (§5). */
export const DEVICE_ID = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  P9: 9,
} as const;

/** Descriptor flags (§2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

/** Ring flags (§2.7.7, §2.7.10). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;

/** InterruptStatus bits (§4.2.2). */
export const INT_USED_BUFFER = 1;
export const INT_CONFIG_CHANGE = 2;

/** The largest split queue the spec allows. */
export const MAX_QUEUE_SIZE = 32768;
