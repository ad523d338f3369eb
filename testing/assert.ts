// The one import for assertions in tests: node's strict assert under the names
// @std/assert uses (JSR is unreachable here; switching later is one line).
import nodeAssert from "node:assert/strict";

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
