/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Test module that throws while it loads, before any handshake.

throw new Error("this module fails to load");
