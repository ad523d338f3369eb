// The one import for assertions in tests and benchmarks, and the one style:
// node's strict assert (`assert.equal`, `assert.deepEqual`, `assert.ok`,
// `assert.match`, `assert.throws`, `assert.rejects`, ...), all comparisons
// strict. No test imports node:assert itself, so changing the library (say to
// @std/assert, once JSR is reachable here) is a change to this file.
// Read next: testing/guest_session.ts (the end-to-end tests' handle on a guest).
import nodeAssert from "node:assert/strict";

export default nodeAssert;
