// chacha20-poly1305@openssh.com against an independent reference built here from
// node:crypto's original-layout ChaCha20 and @noble/ciphers' Poly1305, on both wasm builds.

import { createCipheriv } from "node:crypto";
import { poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { ChachaPolyOpenssh } from "../../worker/ssh/chacha-poly.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** Original ChaCha20 (64-bit counter, 64-bit nonce) via node: IV = counter LE64 ‖ nonce. */
function refChacha(key: Uint8Array, seq: number, counter: number, data: Uint8Array): Uint8Array {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64LE(BigInt(counter), 0);
  iv.writeBigUInt64BE(BigInt(seq), 8);
  const cipher = createCipheriv("chacha20", key, iv);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}

/** The construction of PROTOCOL.chacha20poly1305, written independently. */
function refSeal(key64: Uint8Array, seq: number, plain: Uint8Array): Uint8Array {
  const k2 = key64.subarray(0, 32);
  const k1 = key64.subarray(32, 64);
  const encLen = refChacha(k1, seq, 0, plain.subarray(0, 4));
  const encBody = refChacha(k2, seq, 1, plain.subarray(4));
  const polyKey = refChacha(k2, seq, 0, new Uint8Array(32));
  const authed = new Uint8Array([...encLen, ...encBody]);
  return new Uint8Array([...authed, ...noblePoly1305(authed, polyKey)]);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function lengthPrefixed(n: number, rand: (n: number) => Uint8Array): Uint8Array {
  const plain = rand(4 + n);
  new DataView(plain.buffer).setUint32(0, n, false);
  return plain;
}

for (const build of ["scalar", "simd"] as const) {
  describe(`chacha20-poly1305@openssh.com (${build})`, () => {
    let core: CryptoCore;
    beforeAll(async () => {
      core = await loadCryptoCore({ build });
    });

    it("matches the independent reference for random keys, sequence numbers and lengths", () => {
      const rand = seededBytes(0x5eed01);
      const int = seededInts(0x5eed02);
      const seqs = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
      let compared = 0;
      const mismatches: string[] = [];
      for (let i = 0; i < 400; i++) {
        const key = rand(64);
        const seq =
          i < seqs.length ? seqs[i]! : i % 3 === 0 ? 0xffffffff - int(1000) : int(2 ** 31) * 2;
        const n = i < 130 ? i : int(i % 10 === 0 ? 70000 : 2000);
        const plain = lengthPrefixed(n, rand);
        const cipher = new ChachaPolyOpenssh(core, key);
        const ours = cipher.seal(seq, plain);
        const ref = refSeal(key, seq, plain);
        if (hex(ours) !== hex(ref)) mismatches.push(`seq=${seq} n=${n}`);
        const opened = cipher.open(seq, ours);
        if (opened === null || hex(opened) !== hex(plain.subarray(4))) {
          mismatches.push(`open seq=${seq} n=${n}`);
        }
        if (cipher.decryptLength(seq, ours.subarray(0, 4)) !== n) {
          mismatches.push(`length seq=${seq} n=${n}`);
        }
        compared++;
      }
      console.log(`chacha-poly ${build}: ${compared} packets compared with the reference`);
      expect(mismatches).toEqual([]);
    });

    it("uses K_2 = first 32 bytes for the payload and K_1 = last 32 for the length", () => {
      const rand = seededBytes(0x5eed03);
      const key = rand(64);
      const plain = lengthPrefixed(40, rand);
      const sealed = new ChachaPolyOpenssh(core, key).seal(7, plain);
      expect(hex(sealed.subarray(0, 4))).toBe(
        hex(refChacha(key.subarray(32), 7, 0, plain.subarray(0, 4))),
      );
      expect(hex(sealed.subarray(4, 44))).toBe(
        hex(refChacha(key.subarray(0, 32), 7, 1, plain.subarray(4))),
      );
    });

    it("rejects every single-bit change of a short packet and wrong sequence numbers", () => {
      const rand = seededBytes(0x5eed04);
      const cipher = new ChachaPolyOpenssh(core, rand(64));
      const plain = lengthPrefixed(12, rand);
      const sealed = cipher.seal(42, plain);
      let rejected = 0;
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const bad = sealed.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        if (cipher.open(42, bad) === null) rejected++;
      }
      expect(rejected).toBe(sealed.length * 8);
      expect(cipher.open(41, sealed)).toBeNull();
      expect(cipher.open(43, sealed)).toBeNull();
      expect(cipher.open(42, sealed.subarray(0, sealed.length - 1))).toBeNull();
      expect(cipher.open(42, sealed.subarray(0, 19))).toBeNull();
      expect(new ChachaPolyOpenssh(core, rand(64)).open(42, sealed)).toBeNull();
      expect(cipher.open(42, sealed)).not.toBeNull();
    });

    it("decrypts lengths independently of the payload", () => {
      const rand = seededBytes(0x5eed05);
      const key = rand(64);
      const cipher = new ChachaPolyOpenssh(core, key);
      for (const n of [0, 1, 8, 35000, 262144, 0xffffffff]) {
        const len = new Uint8Array(4);
        new DataView(len.buffer).setUint32(0, n, false);
        const enc = refChacha(key.subarray(32), 0xfffffff0, 0, len);
        expect(cipher.decryptLength(0xfffffff0, enc)).toBe(n);
      }
    });

    it("refuses bad keys, sequence numbers and packets", () => {
      expect(() => new ChachaPolyOpenssh(core, new Uint8Array(32))).toThrow(RangeError);
      const cipher = new ChachaPolyOpenssh(core, new Uint8Array(64));
      expect(() => cipher.seal(-1, new Uint8Array(8))).toThrow(RangeError);
      expect(() => cipher.seal(2 ** 32, new Uint8Array(8))).toThrow(RangeError);
      expect(() => cipher.seal(1.5, new Uint8Array(8))).toThrow(RangeError);
      expect(() => cipher.seal(0, new Uint8Array(3))).toThrow(RangeError);
      expect(() => cipher.decryptLength(0, new Uint8Array(3))).toThrow(RangeError);
    });
  });
}
