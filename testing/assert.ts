// The one import for assertions in tests and benchmarks: node's strict assert,
// as the default export (`assert.equal`, `assert.throws`, ...) and under the
// names @std/assert uses (JSR is unreachable here; switching later is one
// line). No test imports node:assert itself, so a change of library is here.
// Read next: testing/guest_session.ts (the end-to-end tests' handle on a guest).
import nodeAssert from "node:assert/strict";

export default nodeAssert;

export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg);
}
export function assertThrows(fn: () => unknown, re?: RegExp, msg?: string): void {
  if (re) nodeAssert.throws(fn, re, msg);
  else nodeAssert.throws(fn, msg);
}
export async function assertRejects(
  fn: () => Promise<unknown>,
  re?: RegExp,
  msg?: string,
): Promise<void> {
  if (re) await nodeAssert.rejects(fn, re, msg);
  else await nodeAssert.rejects(fn, msg);
}
