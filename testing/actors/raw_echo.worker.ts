/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
// Bare worker that posts every message straight back: the postMessage
// baseline for the runtime benchmark, with no envelope at all.

self.onmessage = (e) => self.postMessage(e.data);
