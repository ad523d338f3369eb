// For the actor runtime's tests: the Failure an ActorFailure carries, from a
// promise that must reject with one (anything else fails the test).
// Read next: actors/runtime/protocol.ts (ActorFailure, Failure).

import assert from "../assert.ts";
import { ActorFailure, type Failure } from "../../actors/runtime/protocol.ts";

export async function failureOf(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ActorFailure, `expected ActorFailure, got ${e}`);
    return e.failure;
  }
  assert.fail("expected a failure");
}
