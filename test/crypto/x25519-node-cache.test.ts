// node:crypto's X25519 keeps the KeyObject of a private key passed as the same array again
// (server/crypto/x25519-node.ts): reusing it must never give a stale answer, also when the
// caller rewrites the array in place between calls.

import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { seededBytes } from "../helpers/seeded.ts";

describe("node:crypto X25519 with a reused private key array", () => {
  it("matches @noble/curves for many peers of one key, and after the key is rewritten in place", async () => {
    const rand = seededBytes(0x25519);
    const mine = rand(32);
    let tried = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) {
        const peer = nobleX25519.getPublicKey(rand(32));
        expect(await nodeX25519.sharedSecret(mine, peer)).toEqual(
          nobleX25519.getSharedSecret(mine, peer),
        );
        tried++;
      }
      expect(await nodeX25519.publicKey(mine)).toEqual(nobleX25519.getPublicKey(mine));
      // The same array now holds another key: the next answers are for the new one.
      mine.set(rand(32));
    }
    expect(tried).toBe(100);
  });

  it("tells two arrays with the same bytes and different arrays apart", async () => {
    const rand = seededBytes(7);
    const a = rand(32);
    const b = rand(32);
    const peer = nobleX25519.getPublicKey(rand(32));
    const fromA = await nodeX25519.sharedSecret(a, peer);
    expect(await nodeX25519.sharedSecret(b, peer)).toEqual(nobleX25519.getSharedSecret(b, peer));
    expect(await nodeX25519.sharedSecret(Uint8Array.from(a), peer)).toEqual(fromA);
    expect(fromA).toEqual(nobleX25519.getSharedSecret(a, peer));
  });
});
