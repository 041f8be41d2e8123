// Differential tests: the wasm crypto core (both builds) against node:crypto (OpenSSL) and the
// @noble libraries over every length of a range, with seeded random keys, nonces and data.
// Mismatches are collected per loop and asserted once, naming each failing length.

import { createCipheriv, createHash, createHmac } from "node:crypto";
import { chacha20poly1305, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { concat, toHex, zeros } from "./vectors.ts";

const LARGE = [4096, 65535, 65536, 100000, 1048576];
const TWO_32 = 2 ** 32;

/** Empty string when equal, else a short description of the first difference. */
function diff(ours: Uint8Array | null, ref: Uint8Array): string {
  if (ours === null) return "got null";
  if (ours.length !== ref.length) return `length ${ours.length}, want ${ref.length}`;
  for (let i = 0; i < ref.length; i++) {
    if (ours[i] !== ref[i]) {
      const a = toHex(ours.subarray(i, i + 16));
      const b = toHex(ref.subarray(i, i + 16));
      return `byte ${i}: got ${a}.., want ${b}..`;
    }
  }
  return "";
}

/** A copy of `b` with bit `bit` (0..8*length-1) flipped. */
function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3] = out[bit >> 3]! ^ (1 << (bit & 7));
  return out;
}

function nodeAeadSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, ad: Uint8Array) {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: pt.length });
  const ct = concat(c.update(pt), c.final());
  return concat(ct, c.getAuthTag());
}

function nodeChacha20(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array) {
  const iv = new Uint8Array(16);
  new DataView(iv.buffer).setUint32(0, counter, true);
  iv.set(nonce, 4);
  const c = createCipheriv("chacha20", key, iv);
  return concat(c.update(data), c.final());
}

/** Poly1305 (RFC 8439 §2.5.1) in BigInt: an independent, obviously correct reference. */
function refPoly1305(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const le = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  let tag = (acc + s) & ((1n << 128n) - 1n);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++, tag >>= 8n) out[i] = Number(tag & 0xffn);
  return out;
}

/** WireGuard's KDF_n from node:crypto's HMAC-BLAKE2s. */
function refKdf(n: number, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const hmac = (k: Uint8Array, d: Uint8Array) =>
    new Uint8Array(createHmac("blake2s256", k).update(d).digest());
  const prk = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = hmac(prk, concat(prev, Uint8Array.of(i)));
    out.push(prev);
  }
  return out;
}

/** 16 little-endian bytes of a 128-bit value. */
function le128(v: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

for (const build of ["simd", "scalar"] as const) {
  describe(build, () => {
    let c: CryptoCore;
    beforeAll(async () => {
      c = await loadCryptoCore({ build });
    });

    describe("ChaCha20-Poly1305", () => {
      /** Seals with ours, node and noble; returns the mismatches for this length. */
      function check(n: number, rnd: (n: number) => Uint8Array, adLen = n % 41): string[] {
        const key = rnd(32);
        const nonce = rnd(12);
        const pt = rnd(n);
        const ad = rnd(adLen);
        const ours = c.aeadSeal(key, nonce, pt, ad);
        const bad: string[] = [];
        const vsNode = diff(ours, nodeAeadSeal(key, nonce, pt, ad));
        if (vsNode) bad.push(`len ${n} ad ${adLen} vs node: ${vsNode}`);
        const vsNoble = diff(ours, chacha20poly1305(key, nonce, ad).encrypt(pt));
        if (vsNoble) bad.push(`len ${n} ad ${adLen} vs noble: ${vsNoble}`);
        const opened = diff(c.aeadOpen(key, nonce, ours, ad), pt);
        if (opened) bad.push(`len ${n} ad ${adLen} open: ${opened}`);
        return bad;
      }

      it("seal agrees with node:crypto and @noble/ciphers for every length 0..1500", () => {
        const rnd = seededBytes(0xc4a0001);
        const bad: string[] = [];
        for (let n = 0; n <= 1500; n++) bad.push(...check(n, rnd));
        expect(bad).toEqual([]);
      });

      it(`seal agrees for sizes ${LARGE.join(", ")}, 24 random in 1501..31500, long AD`, () => {
        const rnd = seededBytes(0xc4a0002);
        const bad: string[] = [];
        const ri = seededInts(0xc4a0003);
        const middle = Array.from({ length: 24 }, () => 1501 + ri(30000));
        for (const n of [...LARGE, ...middle]) bad.push(...check(n, rnd));
        for (const adLen of [64, 255, 1000, 4097, 65536])
          bad.push(...check(adLen % 300, rnd, adLen));
        expect(bad).toEqual([]);
      });
    });

    describe("XChaCha20-Poly1305", () => {
      it("seal agrees with @noble/ciphers for lengths 0..300 and large sizes", () => {
        const rnd = seededBytes(0x8c4a0001);
        const bad: string[] = [];
        const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1500, 4096, 65536, 100000];
        for (const n of lengths) {
          const key = rnd(32);
          const nonce = rnd(24);
          const pt = rnd(n);
          const ad = rnd(n % 37);
          const ours = c.xaeadSeal(key, nonce, pt, ad);
          const d = diff(ours, xchacha20poly1305(key, nonce, ad).encrypt(pt));
          if (d) bad.push(`len ${n} vs noble: ${d}`);
          const opened = diff(c.xaeadOpen(key, nonce, ours, ad), pt);
          if (opened) bad.push(`len ${n} open: ${opened}`);
        }
        expect(bad).toEqual([]);
      });
    });

    describe("BLAKE2s", () => {
      it("BLAKE2s-256 agrees with node:crypto and @noble/hashes for lengths 0..1500 and 1 MiB", () => {
        const rnd = seededBytes(0xb2500001);
        const bad: string[] = [];
        for (const n of [...Array.from({ length: 1501 }, (_, i) => i), 1048576]) {
          const data = rnd(n);
          const ours = c.blake2s(data);
          const vsNode = diff(ours, createHash("blake2s256").update(data).digest());
          if (vsNode) bad.push(`len ${n} vs node: ${vsNode}`);
          const vsNoble = diff(ours, nobleBlake2s(data));
          if (vsNoble) bad.push(`len ${n} vs noble: ${vsNoble}`);
        }
        expect(bad).toEqual([]);
      });

      it("keyed BLAKE2s agrees with @noble/hashes for key lengths 1..32 and outLen 1..32", () => {
        const rnd = seededBytes(0xb2500002);
        const ri = seededInts(0xb2500003);
        const bad: string[] = [];
        for (let keyLen = 1; keyLen <= 32; keyLen++) {
          for (let outLen = 1; outLen <= 32; outLen++) {
            // Lengths around the 64-byte block boundary come up often.
            const n = ri(4) === 0 ? 63 + ri(3) : ri(300);
            const key = rnd(keyLen);
            const data = rnd(n);
            const d = diff(
              c.blake2s(data, outLen, key),
              nobleBlake2s(data, { key, dkLen: outLen }),
            );
            if (d) bad.push(`key ${keyLen} out ${outLen} len ${n}: ${d}`);
          }
        }
        // Unkeyed digests of every output length, too.
        for (let outLen = 1; outLen <= 32; outLen++) {
          const data = rnd(outLen * 5);
          const d = diff(c.blake2s(data, outLen), nobleBlake2s(data, { dkLen: outLen }));
          if (d) bad.push(`unkeyed out ${outLen}: ${d}`);
        }
        expect(bad).toEqual([]);
      });

      it("HMAC-BLAKE2s agrees with node:crypto for lengths 0..300 and key lengths 0..100", () => {
        const rnd = seededBytes(0x4ac00001);
        const bad: string[] = [];
        const data = rnd(300);
        const keys = rnd(100);
        for (let keyLen = 0; keyLen <= 100; keyLen++) {
          const key = keys.subarray(0, keyLen);
          for (let n = 0; n <= 300; n++) {
            const msg = data.subarray(0, n);
            const d = diff(
              c.hmacBlake2s(key, msg),
              createHmac("blake2s256", key).update(msg).digest(),
            );
            if (d) bad.push(`key ${keyLen} len ${n}: ${d}`);
          }
        }
        expect(bad).toEqual([]);
      });
    });

    describe("ChaCha20", () => {
      it("agrees with node:crypto for lengths 0..600 with random counters", () => {
        const rnd = seededBytes(0xc4a20001);
        const ri = seededInts(0xc4a20002);
        const bad: string[] = [];
        for (let n = 0; n <= 600; n++) {
          const blocks = Math.ceil(n / 64);
          const key = rnd(32);
          const nonce = rnd(12);
          const data = rnd(n);
          // Mostly random counters; every 8th length runs right up to the last block.
          let counter = n % 8 === 0 ? TWO_32 - 1 - blocks : ri(TWO_32);
          if (counter + blocks >= TWO_32) counter = TWO_32 - 1 - blocks;
          const d = diff(
            c.chacha20(key, nonce, counter, data),
            nodeChacha20(key, nonce, counter, data),
          );
          if (d) bad.push(`len ${n} counter ${counter}: ${d}`);
        }
        expect(bad).toEqual([]);
      });
    });

    describe("Poly1305", () => {
      it("agrees with a BigInt reference for lengths 0..600 with random keys", () => {
        const rnd = seededBytes(0x90110001);
        const bad: string[] = [];
        for (let n = 0; n <= 600; n++) {
          const key = rnd(32);
          const msg = rnd(n);
          const d = diff(c.poly1305(key, msg), refPoly1305(key, msg));
          if (d) bad.push(`len ${n}: ${d}`);
        }
        expect(bad).toEqual([]);
      });

      it("agrees at the limb bounds: largest r, all-ones message and s", () => {
        const bad: string[] = [];
        const ones = new Uint8Array(4096).fill(0xff);
        const rMax = concat(le128(0x0ffffffc0ffffffc0ffffffc0fffffffn), ones.subarray(0, 16));
        const rMaxS0 = concat(rMax.subarray(0, 16), zeros(16));
        for (const key of [rMax, rMaxS0, ones.subarray(0, 32)]) {
          for (const n of [1, 15, 16, 17, 31, 32, 33, 64, 1000, 4096]) {
            const msg = ones.subarray(0, n);
            const d = diff(c.poly1305(key, msg), refPoly1305(key, msg));
            if (d) bad.push(`key ${toHex(key.subarray(0, 4))}.. len ${n}: ${d}`);
          }
        }
        expect(bad).toEqual([]);
      });

      it("reduces correctly when the accumulator lands next to p = 2^130 - 5", () => {
        // With r = 1 the accumulator of three 16-byte blocks is their sum plus 3 * 2^128, so
        // m1 = 2^128 - 5 + k, m2 = m3 = 0 puts it at exactly p + k.
        const bad: string[] = [];
        const one = le128(1n);
        for (const s of [zeros(16), new Uint8Array(16).fill(0xff), le128(5n)]) {
          const key = concat(one, s);
          for (let k = -6n; k <= 8n; k++) {
            const msg = concat(le128((1n << 128n) - 5n + k), zeros(32));
            const d = diff(c.poly1305(key, msg), refPoly1305(key, msg));
            if (d) bad.push(`p ${k >= 0n ? "+" : ""}${k} s ${toHex(s.subarray(0, 1))}: ${d}`);
          }
        }
        expect(bad).toEqual([]);
      });
    });

    describe("KDF", () => {
      it("KDF1..3 agree with node:crypto HMAC-BLAKE2s for input lengths 0..100", () => {
        const rnd = seededBytes(0x6df00001);
        const bad: string[] = [];
        for (let len = 0; len <= 100; len++) {
          const key = rnd(len % 3 === 0 ? 32 : len % 70);
          const input = rnd(len);
          for (const n of [1, 2, 3] as const) {
            const ours = c.kdf(n, key, input);
            const ref = refKdf(n, key, input);
            if (ours.length !== n) bad.push(`len ${len} n ${n}: ${ours.length} outputs`);
            for (let i = 0; i < n; i++) {
              const d = diff(ours[i] ?? null, ref[i]!);
              if (d) bad.push(`len ${len} n ${n} output ${i}: ${d}`);
            }
          }
        }
        expect(bad).toEqual([]);
      });
    });

    describe("tamper", () => {
      const ad = seededBytes(0x7a3e0001)(13);

      for (const n of [0, 1, 64, 100]) {
        it(`ChaCha20-Poly1305, ${n}-byte message: every bit flip of sealed bytes and AD fails`, () => {
          const rnd = seededBytes(0x7a3e0100 + n);
          const key = rnd(32);
          const nonce = rnd(12);
          const pt = rnd(n);
          const sealed = c.aeadSeal(key, nonce, pt, ad);
          expect(toHex(c.aeadOpen(key, nonce, sealed, ad) ?? zeros(0))).toBe(toHex(pt));
          const accepted: string[] = [];
          for (let bit = 0; bit < sealed.length * 8; bit++) {
            if (c.aeadOpen(key, nonce, flipBit(sealed, bit), ad) !== null)
              accepted.push(`sealed bit ${bit}`);
          }
          for (let bit = 0; bit < ad.length * 8; bit++) {
            if (c.aeadOpen(key, nonce, sealed, flipBit(ad, bit)) !== null)
              accepted.push(`ad bit ${bit}`);
          }
          for (let bit = 0; bit < 96; bit++) {
            if (c.aeadOpen(key, flipBit(nonce, bit), sealed, ad) !== null)
              accepted.push(`nonce bit ${bit}`);
          }
          for (let bit = 0; bit < 256; bit++) {
            if (c.aeadOpen(flipBit(key, bit), nonce, sealed, ad) !== null)
              accepted.push(`key bit ${bit}`);
          }
          if (c.aeadOpen(key, nonce, sealed) !== null) accepted.push("AD dropped");
          if (c.aeadOpen(key, nonce, concat(sealed, zeros(1)), ad) !== null)
            accepted.push("extended by a byte");
          expect(accepted).toEqual([]);
        });
      }

      it("XChaCha20-Poly1305, 64-byte message: every bit flip of sealed, AD, nonce, key fails", () => {
        const rnd = seededBytes(0x7a3e0200);
        const key = rnd(32);
        const nonce = rnd(24);
        const pt = rnd(64);
        const sealed = c.xaeadSeal(key, nonce, pt, ad);
        expect(toHex(c.xaeadOpen(key, nonce, sealed, ad) ?? zeros(0))).toBe(toHex(pt));
        const accepted: string[] = [];
        for (let bit = 0; bit < sealed.length * 8; bit++) {
          if (c.xaeadOpen(key, nonce, flipBit(sealed, bit), ad) !== null)
            accepted.push(`sealed bit ${bit}`);
        }
        for (let bit = 0; bit < ad.length * 8; bit++) {
          if (c.xaeadOpen(key, nonce, sealed, flipBit(ad, bit)) !== null)
            accepted.push(`ad bit ${bit}`);
        }
        for (let bit = 0; bit < 24 * 8; bit++) {
          if (c.xaeadOpen(key, flipBit(nonce, bit), sealed, ad) !== null)
            accepted.push(`nonce bit ${bit}`);
        }
        for (let bit = 0; bit < 256; bit++) {
          if (c.xaeadOpen(flipBit(key, bit), nonce, sealed, ad) !== null)
            accepted.push(`key bit ${bit}`);
        }
        expect(accepted).toEqual([]);
      });

      it("truncated sealed inputs of a 64-byte message give null and never throw", () => {
        const rnd = seededBytes(0x7a3e0300);
        const key = rnd(32);
        const nonce = rnd(12);
        const xnonce = rnd(24);
        const pt = rnd(64);
        const sealed = c.aeadSeal(key, nonce, pt, ad);
        const xsealed = c.xaeadSeal(key, xnonce, pt, ad);
        const accepted: string[] = [];
        for (let len = 0; len < sealed.length; len++) {
          if (c.aeadOpen(key, nonce, sealed.subarray(0, len), ad) !== null)
            accepted.push(`prefix ${len}`);
          if (c.aeadOpen(key, nonce, sealed.subarray(sealed.length - len), ad) !== null)
            accepted.push(`suffix ${len}`);
          if (c.xaeadOpen(key, xnonce, xsealed.subarray(0, len), ad) !== null)
            accepted.push(`xchacha prefix ${len}`);
        }
        expect(accepted).toEqual([]);
      });
    });
  });
}
