// The SHA-256 of some bytes as lowercase hex, as `sha256sum` prints it: the
// one digest helper for tests, benchmarks and the chaos/soak scripts that
// compare what a guest read or wrote with what the host holds.
// Read next: testing/block_tools.ts (the disk images those digests check).

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}
