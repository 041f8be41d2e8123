// Asserting the error a user gets: the message of the TypeError `fn` throws.

import { expect } from "vitest";

/** Runs `fn`, expects a TypeError, and returns its message (fails when nothing is thrown). */
export function typeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TypeError);
    return (e as TypeError).message;
  }
  throw new Error("expected a TypeError, nothing was thrown");
}
