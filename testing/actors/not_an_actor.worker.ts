/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test module that loads fine but never answers the handshake.

self.onmessage = () => {};
