// X25519 providers (worker/crypto/x25519.ts and the Node one in server/crypto) against
// RFC 7748 and against each other. Vectors and sources are in vectors-x25519.ts.

import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { selectX25519Provider, x25519Providers } from "../../worker/crypto/x25519.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { hex, toHex, x25519Dh, x25519Iterated, x25519Vectors, zeros } from "./vectors.ts";

type Provider = Awaited<ReturnType<typeof selectX25519Provider>>;

const providers: Provider[] = [...x25519Providers(), nodeX25519];

/** 50 seeded private-key pairs with the shared secrets @noble/curves computes for them. */
const pairs = (() => {
  const rand = seededBytes(0x7748);
  return Array.from({ length: 50 }, () => {
    const a = rand(32);
    const b = rand(32);
    const aPub = nobleX25519.getPublicKey(a);
    const bPub = nobleX25519.getPublicKey(b);
    return { a, b, aPub, bPub, shared: nobleX25519.getSharedSecret(a, bPub) };
  });
})();

/** u-coordinates whose X25519 output is all zeros: 0, and p = 2^255 - 19 (0 mod p). */
const zeroOutputPoints = [
  { name: "u = 0", u: zeros(32) },
  { name: "u = p", u: hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") },
];

describe("reference (@noble/curves) reproduces RFC 7748", () => {
  it("5.2 vectors, 6.1 Diffie-Hellman and the iterated test (1, 1000)", () => {
    for (const v of x25519Vectors) {
      expect(toHex(nobleX25519.scalarMult(hex(v.scalar), hex(v.u)))).toBe(v.output);
    }
    expect(toHex(nobleX25519.getPublicKey(hex(x25519Dh.alicePrivate)))).toBe(x25519Dh.alicePublic);
    expect(toHex(nobleX25519.getPublicKey(hex(x25519Dh.bobPrivate)))).toBe(x25519Dh.bobPublic);
    const k = nobleX25519.getSharedSecret(hex(x25519Dh.alicePrivate), hex(x25519Dh.bobPublic));
    expect(toHex(k)).toBe(x25519Dh.shared);
    let key = hex(x25519Iterated.start);
    let u = key;
    for (let i = 1; i <= 1000; i++) {
      const r = nobleX25519.scalarMult(key, u);
      u = key;
      key = r;
      if (i === 1) expect(toHex(key)).toBe(x25519Iterated.after1);
    }
    expect(toHex(key)).toBe(x25519Iterated.after1000);
  });
});

it("the Node provider is available in Node", async () => {
  expect(await nodeX25519.available()).toBe(true);
});

// Every provider must be usable here (Node 20 has WebCrypto X25519): one that is not is
// skipped with the reason printed outside CI, and fails under CI (helpers/prereq.ts).
const availability = await Promise.all(providers.map((p) => p.available()));

for (const [index, p] of providers.entries()) {
  const usable = prereq(check(`X25519 provider "${p.name}" in this runtime`, availability[index]!));
  describeWithPrereq(usable, `X25519 provider "${p.name}"`, () => {
    it("RFC 7748 5.2: sharedSecret(scalar, u) gives the output u-coordinate", async () => {
      for (const v of x25519Vectors) {
        expect(toHex(await p.sharedSecret(hex(v.scalar), hex(v.u)))).toBe(v.output);
      }
    });

    it("RFC 7748 6.1: public keys and the shared secret", async () => {
      const d = x25519Dh;
      expect(toHex(await p.publicKey(hex(d.alicePrivate)))).toBe(d.alicePublic);
      expect(toHex(await p.publicKey(hex(d.bobPrivate)))).toBe(d.bobPublic);
      expect(toHex(await p.sharedSecret(hex(d.alicePrivate), hex(d.bobPublic)))).toBe(d.shared);
      expect(toHex(await p.sharedSecret(hex(d.bobPrivate), hex(d.alicePublic)))).toBe(d.shared);
    });

    it("RFC 7748 5.2: the iterated test, 1 and 1000 iterations", async () => {
      let k = hex(x25519Iterated.start);
      let u = k;
      for (let i = 1; i <= 1000; i++) {
        const r = await p.sharedSecret(k, u);
        u = k;
        k = r;
        if (i === 1) expect(toHex(k)).toBe(x25519Iterated.after1);
      }
      expect(toHex(k)).toBe(x25519Iterated.after1000);
    });

    it("agrees with @noble/curves on 50 seeded key pairs", async () => {
      for (const [i, pair] of pairs.entries()) {
        expect(toHex(await p.publicKey(pair.a)), `pair ${i} a`).toBe(toHex(pair.aPub));
        expect(toHex(await p.publicKey(pair.b)), `pair ${i} b`).toBe(toHex(pair.bPub));
        expect(toHex(await p.sharedSecret(pair.a, pair.bPub)), `pair ${i} ab`).toBe(
          toHex(pair.shared),
        );
        expect(toHex(await p.sharedSecret(pair.b, pair.aPub)), `pair ${i} ba`).toBe(
          toHex(pair.shared),
        );
      }
    });

    for (const { name, u } of zeroOutputPoints) {
      it(`rejects an all-zero shared secret (${name})`, async () => {
        await expect(p.sharedSecret(hex(x25519Dh.alicePrivate), u)).rejects.toBeInstanceOf(Error);
        await expect(p.sharedSecret(pairs[0]!.a, u)).rejects.toBeInstanceOf(Error);
      });
    }

    it("does not modify its inputs", async () => {
      const priv = hex(x25519Dh.alicePrivate);
      const pub = hex(x25519Dh.bobPublic);
      await p.publicKey(priv);
      await p.sharedSecret(priv, pub);
      expect(toHex(priv)).toBe(x25519Dh.alicePrivate);
      expect(toHex(pub)).toBe(x25519Dh.bobPublic);
    });
  });
}

describe("selectX25519Provider", () => {
  it("returns an available provider from x25519Providers()", async () => {
    const p = await selectX25519Provider();
    expect(await p.available()).toBe(true);
    expect(x25519Providers().map((q) => q.name)).toContain(p.name);
    const d = x25519Dh;
    expect(toHex(await p.sharedSecret(hex(d.alicePrivate), hex(d.bobPublic)))).toBe(d.shared);
  });
});
