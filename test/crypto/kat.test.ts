// Known-answer tests for the wasm crypto core, run against both builds (SIMD and scalar), plus
// the module-level API once. The vectors and their sources are in vectors*.ts.

import { chacha20poly1305, chacha20 as nobleChacha20 } from "@noble/ciphers/chacha.js";
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import { beforeAll, describe, expect, it } from "vitest";
import * as mod from "../../worker/crypto/index.ts";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import {
  aead282,
  aeadA5,
  blake2sAbc,
  blake2sKatKey,
  blake2sKeyedKat,
  blake2sSelftest,
  blake2sUnkeyedKat,
  chacha20Encrypt,
  chacha20Keystream,
  concat,
  counting,
  hchacha20Vector,
  hex,
  kdfVectors,
  poly1305Vectors,
  polyKeyGenVectors,
  selftestSeq,
  toHex,
  xaeadPolyKey,
  xaeadVector,
  xchacha20Vector,
  zeros,
} from "./vectors.ts";

const sealedOf = (v: { ciphertext: string; tag: string }) => concat(hex(v.ciphertext), hex(v.tag));

/** A copy of `b` with bit `bit` of byte `index` flipped (negative index counts from the end). */
function flip(b: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = b.slice();
  const i = index < 0 ? out.length + index : index;
  out[i] = out[i]! ^ (1 << bit);
  return out;
}

/**
 * RFC 7693 Appendix E, blake2s_selftest(): for each outlen in {16, 20, 28, 32} and inlen in
 * {0, 3, 64, 65, 255, 1024}, feed into one BLAKE2s-256 context the unkeyed digest of
 * selftest_seq(in, inlen, inlen) and its digest keyed with selftest_seq(key, outlen, outlen);
 * the digest of that context is the grand hash. The one-shot API has no incremental context,
 * so the fed digests are concatenated and hashed at the end, which is the same computation.
 */
function blake2sSelftestGrandHash(
  b2s: (data: Uint8Array, outLen: number, key?: Uint8Array) => Uint8Array,
): Uint8Array {
  const fed: Uint8Array[] = [];
  for (const outlen of blake2sSelftest.outLens) {
    for (const inlen of blake2sSelftest.inLens) {
      const input = selftestSeq(inlen, inlen); // unkeyed hash
      fed.push(b2s(input, outlen));
      const key = selftestSeq(outlen, outlen); // keyed hash
      fed.push(b2s(input, outlen, key));
    }
  }
  return b2s(concat(...fed), 32);
}

for (const build of ["simd", "scalar"] as const) {
  describe(`crypto core (${build})`, () => {
    let c: CryptoCore;
    beforeAll(async () => {
      c = await loadCryptoCore({ build });
    });

    it("reports its build", () => {
      expect(c.build).toBe(build);
    });

    describe("ChaCha20 (RFC 8439)", () => {
      for (const v of chacha20Keystream) {
        it(`keystream: ${v.name}`, () => {
          const ks = hex(v.keystream);
          const out = c.chacha20(hex(v.key), hex(v.nonce), v.counter, zeros(ks.length));
          expect(toHex(out)).toBe(toHex(ks));
        });
      }
      for (const v of chacha20Encrypt) {
        it(`encrypt: ${v.name}`, () => {
          const out = c.chacha20(hex(v.key), hex(v.nonce), v.counter, hex(v.plaintext));
          expect(toHex(out)).toBe(toHex(hex(v.ciphertext)));
          const back = c.chacha20(hex(v.key), hex(v.nonce), v.counter, out);
          expect(toHex(back)).toBe(toHex(hex(v.plaintext)));
        });
      }
      it("agrees with @noble/ciphers across lengths and counters", () => {
        const key = counting(32);
        const nonce = hex("000000090000004a00000000");
        for (const len of [
          0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 4099,
        ]) {
          for (const counter of [0, 1, 7, 0xfffffff0]) {
            // The block counter is 32 bits (RFC 8439 2.4); noble also refuses block 2^32 - 1.
            if (counter + Math.ceil(len / 64) > 2 ** 32 - 1) continue;
            const data = selftestSeq(len, len + counter);
            const want = nobleChacha20(key, nonce, data, undefined, counter);
            expect(toHex(c.chacha20(key, nonce, counter, data)), `len ${len} ctr ${counter}`).toBe(
              toHex(want),
            );
          }
        }
      });
    });

    describe("Poly1305 (RFC 8439)", () => {
      for (const v of poly1305Vectors) {
        it(v.name, () => {
          expect(toHex(c.poly1305(hex(v.key), hex(v.message)))).toBe(toHex(hex(v.tag)));
        });
      }
      for (const v of polyKeyGenVectors) {
        it(`one-time key generation: ${v.name}`, () => {
          const otk = c.chacha20(hex(v.key), hex(v.nonce), 0, zeros(32));
          expect(toHex(otk)).toBe(toHex(hex(v.oneTimeKey)));
        });
      }
    });

    describe("ChaCha20-Poly1305 (RFC 8439)", () => {
      it(aead282.name, () => {
        const v = aead282;
        const sealed = c.aeadSeal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad));
        expect(toHex(sealed)).toBe(toHex(sealedOf(v)));
        const opened = c.aeadOpen(hex(v.key), hex(v.nonce), sealed, hex(v.aad));
        expect(opened && toHex(opened)).toBe(toHex(hex(v.plaintext)));
      });

      it(`${aeadA5.name}: decrypts, and a flipped tag bit fails`, () => {
        const v = aeadA5;
        const sealed = sealedOf(v);
        const opened = c.aeadOpen(hex(v.key), hex(v.nonce), sealed, hex(v.aad));
        expect(opened && toHex(opened)).toBe(toHex(hex(v.plaintext)));
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), flip(sealed, -1), hex(v.aad))).toBeNull();
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), flip(sealed, -16, 7), hex(v.aad))).toBeNull();
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), flip(sealed, 0), hex(v.aad))).toBeNull();
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), sealed, flip(hex(v.aad), 11))).toBeNull();
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), sealed)).toBeNull();
        expect(toHex(c.aeadSeal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad)))).toBe(
          toHex(sealed),
        );
      });

      it("seals an empty plaintext with the default empty AD to a bare tag", () => {
        const v = aead282;
        const sealed = c.aeadSeal(hex(v.key), hex(v.nonce), new Uint8Array(0));
        expect(sealed.length).toBe(16);
        expect(toHex(sealed)).toBe(
          toHex(chacha20poly1305(hex(v.key), hex(v.nonce)).encrypt(new Uint8Array(0))),
        );
        expect(c.aeadOpen(hex(v.key), hex(v.nonce), sealed)?.length).toBe(0);
      });

      it("agrees with @noble/ciphers across plaintext and AD lengths", () => {
        const key = hex(aead282.key);
        const nonce = hex(aead282.nonce);
        for (const len of [1, 15, 16, 17, 64, 255, 256, 257, 1024, 1500]) {
          for (const adLen of [0, 1, 13, 16, 33]) {
            const pt = selftestSeq(len, len);
            const ad = selftestSeq(adLen, adLen + 1);
            const want = chacha20poly1305(key, nonce, ad).encrypt(pt);
            const sealed = c.aeadSeal(key, nonce, pt, ad);
            expect(toHex(sealed), `len ${len} ad ${adLen}`).toBe(toHex(want));
            expect(toHex(c.aeadOpen(key, nonce, sealed, ad) ?? zeros(0))).toBe(toHex(pt));
          }
        }
      });
    });

    describe("XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03)", () => {
      it(hchacha20Vector.name, () => {
        const v = hchacha20Vector;
        expect(toHex(c.hchacha20(hex(v.key), hex(v.nonce)))).toBe(toHex(hex(v.subkey)));
      });

      it(`${xaeadVector.name}: seal and open`, () => {
        const v = xaeadVector;
        const sealed = c.xaeadSeal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad));
        expect(toHex(sealed)).toBe(toHex(sealedOf(v)));
        const opened = c.xaeadOpen(hex(v.key), hex(v.nonce), sealed, hex(v.aad));
        expect(opened && toHex(opened)).toBe(toHex(hex(v.plaintext)));
        expect(c.xaeadOpen(hex(v.key), hex(v.nonce), flip(sealed, -1), hex(v.aad))).toBeNull();
        expect(c.xaeadOpen(hex(v.key), flip(hex(v.nonce), 23), sealed, hex(v.aad))).toBeNull();
      });

      it(`${xaeadVector.name}: Poly1305 key = chacha20(hchacha20(key, n[0..16]), 0^4 || n[16..24])`, () => {
        const n = hex(xaeadVector.nonce);
        const subkey = c.hchacha20(hex(xaeadVector.key), n.subarray(0, 16));
        const otk = c.chacha20(subkey, concat(zeros(4), n.subarray(16)), 0, zeros(32));
        expect(toHex(otk)).toBe(toHex(hex(xaeadPolyKey)));
      });

      it(`${xchacha20Vector.name}: XChaCha20 stream via hchacha20 + chacha20`, () => {
        const v = xchacha20Vector;
        const n = hex(v.nonce);
        const subkey = c.hchacha20(hex(v.key), n.subarray(0, 16));
        const nonce12 = concat(zeros(4), n.subarray(16));
        const out = c.chacha20(subkey, nonce12, v.counter, hex(v.plaintext));
        expect(toHex(out)).toBe(toHex(hex(v.ciphertext)));
      });
    });

    describe("BLAKE2s (RFC 7693, BLAKE2 KAT)", () => {
      it('RFC 7693 Appendix B: BLAKE2s-256("abc")', () => {
        expect(toHex(c.blake2s(hex(blake2sAbc.input)))).toBe(blake2sAbc.digest);
        expect(toHex(c.blake2s(hex(blake2sAbc.input), 32))).toBe(blake2sAbc.digest);
      });

      it("RFC 7693 Appendix E: blake2s_selftest() grand hash", () => {
        const grand = blake2sSelftestGrandHash((d, n, k) => c.blake2s(d, n, k));
        expect(toHex(grand)).toBe(blake2sSelftest.grandHash);
      });

      for (const v of blake2sUnkeyedKat) {
        it(`blake2s_kat[${v.inLen}] (unkeyed)`, () => {
          expect(toHex(c.blake2s(counting(v.inLen), 32))).toBe(v.digest);
        });
      }
      for (const v of blake2sKeyedKat) {
        it(`blake2s_keyed_kat[${v.inLen}]`, () => {
          expect(toHex(c.blake2s(counting(v.inLen), 32, hex(blake2sKatKey)))).toBe(v.digest);
        });
      }

      it("agrees with @noble/hashes for every outLen and key length", () => {
        const data = selftestSeq(200, 9);
        for (let outLen = 1; outLen <= 32; outLen++) {
          for (const keyLen of [0, 1, 16, 31, 32]) {
            const key = keyLen ? selftestSeq(keyLen, keyLen) : undefined;
            const want = nobleBlake2s(data, key ? { dkLen: outLen, key } : { dkLen: outLen });
            expect(toHex(c.blake2s(data, outLen, key)), `out ${outLen} key ${keyLen}`).toBe(
              toHex(want),
            );
          }
        }
      });
    });

    describe("HMAC-BLAKE2s and KDF (wireguard-go device/kdf_test.go)", () => {
      it("HMAC-BLAKE2s agrees with @noble/hashes hmac(blake2s)", () => {
        for (const keyLen of [0, 1, 32, 64, 65, 100]) {
          for (const len of [0, 1, 64, 65, 300]) {
            const key = selftestSeq(keyLen, keyLen + 3);
            const data = selftestSeq(len, len + 5);
            const want = nobleHmac(nobleBlake2s, key, data);
            expect(toHex(c.hmacBlake2s(key, data)), `key ${keyLen} data ${len}`).toBe(toHex(want));
          }
        }
      });

      kdfVectors.forEach((v, i) => {
        it(`vector ${i + 1}: HMAC-BLAKE2s chain gives t0, t1, t2`, () => {
          const t0k = c.hmacBlake2s(hex(v.key), hex(v.input));
          const t0 = c.hmacBlake2s(t0k, Uint8Array.of(1));
          const t1 = c.hmacBlake2s(t0k, concat(t0, Uint8Array.of(2)));
          const t2 = c.hmacBlake2s(t0k, concat(t1, Uint8Array.of(3)));
          expect([toHex(t0), toHex(t1), toHex(t2)]).toEqual([v.t0, v.t1, v.t2]);
        });

        it(`vector ${i + 1}: kdf(3), kdf(2), kdf(1)`, () => {
          const out3 = c.kdf(3, hex(v.key), hex(v.input));
          expect(out3.map(toHex)).toEqual([v.t0, v.t1, v.t2]);
          const out2 = c.kdf(2, hex(v.key), hex(v.input));
          expect(out2.map(toHex)).toEqual([v.t0, v.t1]);
          const out1 = c.kdf(1, hex(v.key), hex(v.input));
          expect(out1.map(toHex)).toEqual([v.t0]);
        });
      });
    });

    describe("bad input", () => {
      const k32 = zeros(32);
      const n12 = zeros(12);
      const n24 = zeros(24);
      const pt = zeros(5);

      it("rejects keys of 31 and 33 bytes", () => {
        for (const len of [31, 33]) {
          const k = zeros(len);
          expect(() => c.chacha20(k, n12, 0, pt)).toThrow(TypeError);
          expect(() => c.chacha20(k, n12, 0, pt)).toThrow(/key must be 32 bytes/);
          expect(() => c.poly1305(k, pt)).toThrow(/key must be 32 bytes/);
          expect(() => c.aeadSeal(k, n12, pt)).toThrow(/key must be 32 bytes/);
          expect(() => c.aeadOpen(k, n12, zeros(32))).toThrow(/key must be 32 bytes/);
          expect(() => c.hchacha20(k, zeros(16))).toThrow(/key must be 32 bytes/);
          expect(() => c.xaeadSeal(k, n24, pt)).toThrow(/key must be 32 bytes/);
          expect(() => c.xaeadOpen(k, n24, zeros(32))).toThrow(/key must be 32 bytes/);
        }
      });

      it("rejects AEAD nonces of 11 and 13 bytes", () => {
        for (const len of [11, 13]) {
          const n = zeros(len);
          expect(() => c.aeadSeal(k32, n, pt)).toThrow(TypeError);
          expect(() => c.aeadSeal(k32, n, pt)).toThrow(/nonce must be 12 bytes/);
          expect(() => c.aeadOpen(k32, n, zeros(32))).toThrow(/nonce must be 12 bytes/);
          expect(() => c.chacha20(k32, n, 0, pt)).toThrow(/nonce must be 12 bytes/);
        }
      });

      it("rejects an XAEAD nonce of 23 bytes and an HChaCha20 nonce of 15", () => {
        expect(() => c.xaeadSeal(k32, zeros(23), pt)).toThrow(TypeError);
        expect(() => c.xaeadSeal(k32, zeros(23), pt)).toThrow(/nonce must be 24 bytes/);
        expect(() => c.xaeadOpen(k32, zeros(23), zeros(32))).toThrow(/nonce must be 24 bytes/);
        expect(() => c.hchacha20(k32, zeros(15))).toThrow(/nonce must be 16 bytes/);
      });

      it("rejects BLAKE2s outLen 0 and 33 and a 33-byte key", () => {
        expect(() => c.blake2s(pt, 0)).toThrow(TypeError);
        expect(() => c.blake2s(pt, 0)).toThrow(/outLen/);
        expect(() => c.blake2s(pt, 33)).toThrow(/outLen/);
        expect(() => c.blake2s(pt, 32, zeros(33))).toThrow(TypeError);
        expect(() => c.blake2s(pt, 32, zeros(33))).toThrow(/key.*32/);
      });

      it("opens input shorter than a tag to null", () => {
        for (const len of [0, 1, 15]) {
          expect(c.aeadOpen(k32, n12, zeros(len))).toBeNull();
          expect(c.xaeadOpen(k32, n24, zeros(len))).toBeNull();
        }
      });
    });
  });
}

describe("module-level API", () => {
  beforeAll(async () => {
    const core = await mod.initCrypto();
    expect(["simd", "scalar"]).toContain(core.build);
  });

  it("runs every one-shot function on a known answer", () => {
    const v = aead282;
    expect(toHex(mod.aeadSeal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad)))).toBe(
      toHex(sealedOf(v)),
    );
    const a5 = aeadA5;
    const opened = mod.aeadOpen(hex(a5.key), hex(a5.nonce), sealedOf(a5), hex(a5.aad));
    expect(opened && toHex(opened)).toBe(toHex(hex(a5.plaintext)));
    expect(
      mod.aeadOpen(hex(a5.key), hex(a5.nonce), flip(sealedOf(a5), -1), hex(a5.aad)),
    ).toBeNull();

    const x = xaeadVector;
    const xs = mod.xaeadSeal(hex(x.key), hex(x.nonce), hex(x.plaintext), hex(x.aad));
    expect(toHex(xs)).toBe(toHex(sealedOf(x)));
    expect(toHex(mod.xaeadOpen(hex(x.key), hex(x.nonce), xs, hex(x.aad)) ?? zeros(0))).toBe(
      toHex(hex(x.plaintext)),
    );

    const e = chacha20Encrypt[0]!;
    expect(toHex(mod.chacha20(hex(e.key), hex(e.nonce), e.counter, hex(e.plaintext)))).toBe(
      toHex(hex(e.ciphertext)),
    );
    const h = hchacha20Vector;
    expect(toHex(mod.hchacha20(hex(h.key), hex(h.nonce)))).toBe(toHex(hex(h.subkey)));
    const p = poly1305Vectors[0]!;
    expect(toHex(mod.poly1305(hex(p.key), hex(p.message)))).toBe(toHex(hex(p.tag)));
    expect(toHex(mod.blake2s(hex(blake2sAbc.input)))).toBe(blake2sAbc.digest);
    const grand = blake2sSelftestGrandHash((d, n, k) => mod.blake2s(d, n, k));
    expect(toHex(grand)).toBe(blake2sSelftest.grandHash);
    const kv = blake2sKeyedKat[3]!;
    expect(toHex(mod.blake2s(counting(kv.inLen), 32, hex(blake2sKatKey)))).toBe(kv.digest);
    const k = kdfVectors[0]!;
    expect(mod.kdf(3, hex(k.key), hex(k.input)).map(toHex)).toEqual([k.t0, k.t1, k.t2]);
    const t0k = mod.hmacBlake2s(hex(k.key), hex(k.input));
    expect(toHex(mod.hmacBlake2s(t0k, Uint8Array.of(1)))).toBe(k.t0);
  });

  it("throws TypeError naming the parameter", () => {
    expect(() => mod.aeadSeal(zeros(31), zeros(12), zeros(1))).toThrow(/key must be 32 bytes/);
    expect(() => mod.aeadSeal(zeros(32), zeros(13), zeros(1))).toThrow(/nonce must be 12 bytes/);
  });
});
