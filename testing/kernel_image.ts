// Tiny RISC-V `Image` kernels for tests: the 64-byte boot header the loader
// checks (launcher/loader.ts), a jump over it, then the test's own code at
// 0x40. Shared by the fate, signal and hostile-guest tests, which each boot a
// few hand-assembled instructions. Read next: launcher/loader.ts (what reads it).

/** Write the Image header for an image of `imageSize` bytes, starting with `j 0x40`. */
export function writeImageHeader(bytes: Uint8Array, imageSize = bytes.length): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  v.setUint32(0, 0x0400006f, true); // j 0x40: over the header
  v.setBigUint64(8, 0x200000n, true); // text_offset
  v.setBigUint64(16, BigInt(imageSize), true); // image_size
  bytes.set(new TextEncoder().encode("RISCV\0\0\0"), 0x30);
  bytes.set(new TextEncoder().encode("RSC\x05"), 0x38);
}

/** A RISC-V Image: the header, then `code` (32-bit words) at 0x40. */
export function kernelImage(code: number[]): Uint8Array {
  const bytes = new Uint8Array(0x40 + 4 * code.length);
  writeImageHeader(bytes);
  const v = new DataView(bytes.buffer);
  code.forEach((w, i) => v.setUint32(0x40 + 4 * i, w, true));
  return bytes;
}
