// Secrets do not linger in wasm memory: after every one-shot call, no 16-byte window of the
// key, the plaintext, the Poly1305 one-time key, the keystream or a derived secret appears in
// a snapshot of the core's linear memory. Both builds.

import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { concat, toHex, zeros } from "./vectors.ts";

const WINDOW = 16;

/** Whether `needle` occurs anywhere in `haystack`. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).indexOf(needle) >= 0;
}

/** The names and offsets of every 16-byte window of each secret found in `memory`. */
function lingering(memory: Uint8Array, secrets: Record<string, Uint8Array>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    expect(secret.length, name).toBeGreaterThanOrEqual(WINDOW);
    for (let at = 0; at + WINDOW <= secret.length; at++) {
      if (contains(memory, secret.subarray(at, at + WINDOW))) found.push(`${name} at ${at}`);
    }
  }
  return found;
}

/** The HMAC key block XOR a pad (RFC 2104), for computing the inner hash of HMAC-BLAKE2s. */
function padKey(key: Uint8Array, pad: number): Uint8Array {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? nobleBlake2s(key) : key);
  return block.map((x) => x ^ pad);
}

for (const build of ["simd", "scalar"] as const) {
  describe(build, () => {
    let c: CryptoCore;
    const rnd = seededBytes(build === "simd" ? 0x3e1e0001 : 0x3e1e0002);
    beforeAll(async () => {
      c = await loadCryptoCore({ build });
    });

    /** Asserts that no window of the secrets is left in the core's memory. */
    function expectWiped(secrets: Record<string, Uint8Array>): void {
      expect(lingering(c.memorySnapshot(), secrets)).toEqual([]);
    }

    it("the search finds a secret that is in memory (control)", () => {
      const key = rnd(32);
      const batch = c.createAeadBatch({ capacity: 1, maxPacket: 16 });
      batch.setKey(0, key);
      expect(lingering(c.memorySnapshot(), { key })).toHaveLength(17);
      batch.dispose();
      expectWiped({ key });
    });

    for (const len of [64, 300, 1000]) {
      it(`aeadSeal and aeadOpen of ${len} bytes`, () => {
        const key = rnd(32);
        const nonce = rnd(12);
        const pt = rnd(len);
        const ad = rnd(13);
        const otk = c.chacha20(key, nonce, 0, zeros(32));
        const keystream = c.chacha20(key, nonce, 0, zeros(256 + len));
        const secrets = { key, pt, otk, keystream };
        expectWiped(secrets);
        const sealed = c.aeadSeal(key, nonce, pt, ad);
        expectWiped(secrets);
        expect(c.aeadOpen(key, nonce, sealed, ad)?.length).toBe(len);
        expectWiped(secrets);
        const forged = sealed.slice();
        forged[len] = forged[len]! ^ 1;
        expect(c.aeadOpen(key, nonce, forged, ad)).toBeNull();
        expectWiped(secrets);
      });

      it(`xaeadSeal and xaeadOpen of ${len} bytes`, () => {
        const key = rnd(32);
        const nonce = rnd(24);
        const pt = rnd(len);
        const subkey = c.hchacha20(key, nonce.subarray(0, 16));
        const innerNonce = concat(zeros(4), nonce.subarray(16));
        const otk = c.chacha20(subkey, innerNonce, 0, zeros(32));
        const keystream = c.chacha20(subkey, innerNonce, 0, zeros(256 + len));
        const secrets = { key, pt, subkey, otk, keystream };
        const sealed = c.xaeadSeal(key, nonce, pt);
        expectWiped(secrets);
        expect(c.xaeadOpen(key, nonce, sealed)?.length).toBe(len);
        expectWiped(secrets);
        expect(c.xaeadOpen(key, nonce, sealed.subarray(1))).toBeNull();
        expectWiped(secrets);
      });

      it(`chacha20 of ${len} bytes`, () => {
        const key = rnd(32);
        const nonce = rnd(12);
        const pt = rnd(len);
        const keystream = c.chacha20(key, nonce, 5, zeros(len + 256));
        c.chacha20(key, nonce, 5, pt);
        expectWiped({ key, pt, keystream });
      });
    }

    it("hchacha20", () => {
      const key = rnd(32);
      const subkey = c.hchacha20(key, rnd(16));
      expectWiped({ key, subkey });
    });

    it("poly1305", () => {
      const key = rnd(32);
      for (const len of [0, 5, 16, 100]) c.poly1305(key, rnd(len));
      expectWiped({ key });
    });

    it("blake2s, unkeyed and keyed", () => {
      const key = rnd(32);
      const data = rnd(200);
      const digest = c.blake2s(data);
      const mac = c.blake2s(data, 32, key);
      const short = c.blake2s(data.subarray(0, 64), 32, key.subarray(0, 17));
      expectWiped({ key, data, digest, mac, short });
    });

    for (const keyLen of [32, 64, 100]) {
      it(`hmacBlake2s with a ${keyLen}-byte key`, () => {
        const key = rnd(keyLen);
        const data = rnd(64);
        const inner = nobleBlake2s(concat(padKey(key, 0x36), data));
        const secrets: Record<string, Uint8Array> = { key, data, inner };
        if (keyLen > 64) secrets.hashedKey = nobleBlake2s(key);
        secrets.mac = c.hmacBlake2s(key, data);
        // The inner hash searched for is the right one: the outer hash over it is the MAC.
        expect(toHex(nobleBlake2s(concat(padKey(key, 0x5c), inner)))).toBe(toHex(secrets.mac));
        expectWiped(secrets);
      });
    }

    for (const n of [1, 2, 3] as const) {
      it(`kdf${n}`, () => {
        const key = rnd(32);
        const input = rnd(n === 2 ? 32 : 64);
        const prk = c.hmacBlake2s(key, input); // τ0, the pseudo-random key of the KDF
        const outputs = c.kdf(n, key, input);
        const secrets: Record<string, Uint8Array> = { key, input, prk };
        outputs.forEach((o, i) => {
          secrets[`output ${i + 1}`] = o;
        });
        expectWiped(secrets);
      });
    }

    it("batch seal and open leave no one-time key or keystream behind", () => {
      const key = rnd(32);
      const pt = rnd(300);
      const counter = 0x1234_5678_9abcn;
      const nonce = new Uint8Array(12);
      new DataView(nonce.buffer).setBigUint64(4, counter, true);
      const otk = c.chacha20(key, nonce, 0, zeros(32));
      const keystream = c.chacha20(key, nonce, 0, zeros(256 + 320));
      const batch = c.createAeadBatch({ capacity: 2, maxPacket: 300 });
      batch.setKey(0, key);
      batch.input(0).set(pt);
      batch.setPacket(0, 0, counter, pt.length);
      batch.seal(1);
      expectWiped({ otk, keystream });
      batch.input(1).set(batch.result(0, "seal"));
      batch.setPacket(1, 0, counter, pt.length + 16);
      batch.input(0).fill(0);
      expect(batch.open(2)).toBe(1); // packet 0 is now 300 zero bytes: not authentic
      expect(batch.ok(1)).toBe(true);
      expectWiped({ otk, keystream });
      batch.dispose();
      expectWiped({ key, pt, otk, keystream });
    });
  });
}
