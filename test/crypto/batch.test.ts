// The batch interface (docs/crypto-api.md, "The batch interface"): sealing and opening many
// packets in place in wasm memory, checked against the one-shot AEAD, on both builds.

import { beforeAll, describe, expect, it } from "vitest";
import type { AeadBatch } from "../../worker/crypto/index.ts";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { toHex } from "./vectors.ts";

const TAG = 16;
const HEADROOM = 16;
const SENTINEL = 0xa5;
const U64_MAX = (1n << 64n) - 1n;

/** WireGuard's nonce: four zero bytes, then the 64-bit little-endian counter. */
function wgNonce(counter: bigint | number): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, BigInt(counter), true);
  return nonce;
}

/** Whether `needle` occurs in `haystack`. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).indexOf(needle) >= 0;
}

function allEqual(b: Uint8Array, value: number): boolean {
  return b.every((x) => x === value);
}

/** Counters that matter: 0, the 32-bit edge, above 2^32, near 2^64 - 1, as number and bigint. */
const EDGE_COUNTERS: (bigint | number)[] = [
  0,
  1,
  0xffffffff,
  2 ** 32,
  2 ** 32 + 1,
  Number.MAX_SAFE_INTEGER,
  0n,
  0xffffffffn,
  1n << 32n,
  1n << 63n,
  U64_MAX - 1n,
  U64_MAX,
];

interface Packet {
  slot: number;
  counter: bigint | number;
  pt: Uint8Array;
}

for (const build of ["simd", "scalar"] as const) {
  describe(build, () => {
    let c: CryptoCore;
    beforeAll(async () => {
      c = await loadCryptoCore({ build });
    });

    /** Random packets for a batch: lengths 0..maxPacket (ends included), slots and counters. */
    function makePackets(seed: number, count: number, maxPacket: number, slots: number): Packet[] {
      const rnd = seededBytes(seed);
      const ri = seededInts(seed + 1);
      return Array.from({ length: count }, (_, i) => {
        const pick = ri(8);
        const len = pick === 0 ? 0 : pick === 1 ? maxPacket : ri(maxPacket + 1);
        let counter: bigint | number;
        if (i < EDGE_COUNTERS.length && ri(2) === 0) counter = EDGE_COUNTERS[i]!;
        else if (ri(2) === 0)
          counter = ri(2 ** 31) * 4096 + ri(4096); // a number, up to 2^43
        else {
          const b = rnd(8);
          counter = new DataView(b.buffer).getBigUint64(0, true);
        }
        return { slot: ri(slots), counter, pt: rnd(len) };
      });
    }

    /** Seals `packets` in `batch`, checking each against the one-shot aeadSeal. */
    function sealAndCheck(batch: AeadBatch, keys: Uint8Array[], packets: Packet[]): Uint8Array[] {
      packets.forEach((p, i) => {
        batch.input(i).set(p.pt);
        batch.output(i).fill(SENTINEL);
        batch.setPacket(i, p.slot, p.counter, p.pt.length);
      });
      batch.seal(packets.length);
      const sealed: Uint8Array[] = [];
      const bad: string[] = [];
      packets.forEach((p, i) => {
        const want = c.aeadSeal(keys[p.slot]!, wgNonce(p.counter), p.pt);
        const got = batch.result(i, "seal");
        if (!batch.ok(i)) bad.push(`packet ${i}: not ok`);
        if (toHex(got) !== toHex(want))
          bad.push(`packet ${i} (len ${p.pt.length}, ctr ${p.counter}): sealed bytes differ`);
        const out = batch.output(i);
        if (!allEqual(out.subarray(0, HEADROOM), SENTINEL))
          bad.push(`packet ${i}: headroom written`);
        if (!allEqual(out.subarray(HEADROOM + want.length), SENTINEL))
          bad.push(`packet ${i}: bytes after the sealed packet written`);
        sealed.push(got.slice());
      });
      expect(bad).toEqual([]);
      return sealed;
    }

    /**
     * A rejected packet's output: zeroes where its plaintext (input length - 16) would have
     * gone, the sentinel everywhere else (headroom, and past the plaintext).
     */
    function rejectedOutputOk(batch: AeadBatch, i: number): boolean {
      const out = batch.output(i);
      const plain = Math.max(batch.packetLength(i) - TAG, 0);
      const start = batch.headroom;
      return (
        allEqual(out.subarray(0, start), SENTINEL) &&
        allEqual(out.subarray(start, start + plain), 0) &&
        allEqual(out.subarray(start + plain), SENTINEL)
      );
    }

    /** Loads sealed packets into the inputs for open; fills the outputs with the sentinel. */
    function loadForOpen(batch: AeadBatch, packets: Packet[], sealed: Uint8Array[]): void {
      packets.forEach((p, i) => {
        batch.input(i).set(sealed[i]!);
        batch.output(i).fill(SENTINEL);
        batch.setPacket(i, p.slot, p.counter, sealed[i]!.length);
      });
    }

    function randomKeys(seed: number, n: number): Uint8Array[] {
      const rnd = seededBytes(seed);
      return Array.from({ length: n }, () => rnd(32));
    }

    for (const [capacity, maxPacket, slots] of [
      [8, 1440, 1],
      [13, 100, 3],
      [31, 1500, 4],
      [32, 64, 2],
      [47, 0, 2],
      [64, 1440, 5],
      [9, 65535, 2],
    ] as const) {
      describe(`capacity ${capacity}, maxPacket ${maxPacket}, ${slots} key slot(s)`, () => {
        const seed = capacity * 1000 + maxPacket;
        const keys = randomKeys(seed, slots);
        let batch: AeadBatch;
        let packets: Packet[];
        let sealed: Uint8Array[];

        beforeAll(() => {
          batch = c.createAeadBatch({ capacity, maxPacket, keySlots: slots, headroom: HEADROOM });
          keys.forEach((k, s) => {
            batch.setKey(s, k);
          });
          packets = makePackets(seed + 7, capacity, maxPacket, slots);
          return () => batch.dispose();
        });

        it("buffers have the documented sizes", () => {
          expect(batch.input(0).length).toBe(maxPacket + TAG);
          expect(batch.output(capacity - 1).length).toBeGreaterThanOrEqual(
            HEADROOM + maxPacket + TAG,
          );
        });

        it("seal equals the one-shot aeadSeal with nonce 0^4 ‖ counter LE64", () => {
          sealed = sealAndCheck(batch, keys, packets);
        });

        it("seal of fewer packets than the capacity touches only those", () => {
          const n = Math.max(1, capacity >> 1);
          batch.output(n).fill(SENTINEL);
          sealAndCheck(batch, keys, packets.slice(0, n));
          expect(allEqual(batch.output(n), SENTINEL)).toBe(true);
        });

        it("open gives back every plaintext", () => {
          loadForOpen(batch, packets, sealed);
          expect(batch.open(capacity)).toBe(0);
          const bad: string[] = [];
          packets.forEach((p, i) => {
            if (!batch.ok(i)) bad.push(`packet ${i}: not ok`);
            if (toHex(batch.result(i, "open")) !== toHex(p.pt)) bad.push(`packet ${i}: plaintext`);
            if (!allEqual(batch.output(i).subarray(0, HEADROOM), SENTINEL))
              bad.push(`packet ${i}: headroom written`);
          });
          expect(bad).toEqual([]);
        });

        it("open counts and flags exactly the corrupted packets and leaves no plaintext for them", () => {
          const ri = seededInts(seed + 11);
          let total = 0;
          for (let round = 0; round < 4; round++) {
            loadForOpen(batch, packets, sealed);
            const corrupted = new Set<number>();
            packets.forEach((p, i) => {
              if (ri(3) !== 0) return;
              corrupted.add(i);
              const len = sealed[i]!.length;
              const input = batch.input(i);
              switch (ri(5)) {
                case 0: // a bit of the ciphertext, or of the tag when there is none
                case 1: {
                  const at = len > TAG && ri(2) === 0 ? ri(len - TAG) : len - TAG + ri(TAG);
                  input[at] = input[at]! ^ (1 << ri(8));
                  break;
                }
                case 2: // shorter than a tag
                  batch.setPacket(i, p.slot, p.counter, ri(TAG));
                  break;
                case 3: // another counter
                  batch.setPacket(i, p.slot, BigInt(p.counter) ^ (1n << BigInt(ri(64))), len);
                  break;
                default: // another key
                  if (slots > 1) batch.setPacket(i, (p.slot + 1) % slots, p.counter, len);
                  else batch.setPacket(i, p.slot, p.counter, len - 1 + (len === TAG ? 2 : 0));
              }
            });
            total += corrupted.size;
            expect(batch.open(capacity), `round ${round}`).toBe(corrupted.size);
            const bad: string[] = [];
            packets.forEach((p, i) => {
              const failed = corrupted.has(i);
              if (batch.ok(i) === failed) bad.push(`round ${round} packet ${i}: ok ${batch.ok(i)}`);
              if (failed && !rejectedOutputOk(batch, i))
                bad.push(`round ${round} packet ${i}: output of a rejected packet`);
              if (!failed && toHex(batch.result(i, "open")) !== toHex(p.pt))
                bad.push(`round ${round} packet ${i}: plaintext`);
            });
            expect(bad).toEqual([]);
          }
          expect(total).toBeGreaterThan(0);
        });

        it("result() is a view of output() after the headroom", () => {
          loadForOpen(batch, packets, sealed);
          batch.open(capacity);
          const out = batch.output(0);
          const r = batch.result(0, "open");
          expect(r.buffer).toBe(out.buffer);
          expect(r.byteOffset).toBe(out.byteOffset + HEADROOM);
          expect(r.length).toBe(packets[0]!.pt.length);
          batch.setPacket(0, packets[0]!.slot, packets[0]!.counter, packets[0]!.pt.length);
          expect(batch.result(0, "seal").length).toBe(packets[0]!.pt.length + TAG);
        });
      });
    }

    it("number and bigint counters give the same nonce", () => {
      const batch = c.createAeadBatch({ capacity: 8, maxPacket: 64, headroom: HEADROOM });
      const key = randomKeys(99, 1)[0]!;
      batch.setKey(0, key);
      const pt = seededBytes(100)(40);
      const counters = [0, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER];
      counters.forEach((n, j) => {
        batch.input(2 * j).set(pt);
        batch.setPacket(2 * j, 0, n, pt.length);
        batch.input(2 * j + 1).set(pt);
        batch.setPacket(2 * j + 1, 0, BigInt(n), pt.length);
      });
      batch.seal(8);
      counters.forEach((n, j) => {
        const want = toHex(c.aeadSeal(key, wgNonce(n), pt));
        expect(toHex(batch.result(2 * j, "seal")), `counter ${n}`).toBe(want);
        expect(toHex(batch.result(2 * j + 1, "seal")), `counter ${n}n`).toBe(want);
      });
      batch.dispose();
    });

    describe("errors", () => {
      let batch: AeadBatch;
      beforeAll(() => {
        batch = c.createAeadBatch({ capacity: 8, maxPacket: 100, keySlots: 2, headroom: 16 });
        batch.setKey(0, new Uint8Array(32).fill(1));
        return () => batch.dispose();
      });

      it("setKey with a 31-byte key, or a slot out of range", () => {
        expect(() => batch.setKey(0, new Uint8Array(31))).toThrow(TypeError);
        expect(() => batch.setKey(0, new Uint8Array(31))).toThrow(/key must be 32 bytes/);
        expect(() => batch.setKey(2, new Uint8Array(32))).toThrow(/slot must be an integer/);
        expect(() => batch.clearKey(-1)).toThrow(/slot must be an integer/);
      });

      it("setPacket with a bad length, key slot, index or counter", () => {
        expect(() => batch.setPacket(0, 0, 0, 117)).toThrow(
          /length must be an integer from 0 to 116/,
        );
        expect(() => batch.setPacket(0, 0, 0, -1)).toThrow(/length/);
        expect(() => batch.setPacket(0, 2, 0, 10)).toThrow(
          /keySlot must be an integer from 0 to 1/,
        );
        expect(() => batch.setPacket(8, 0, 0, 10)).toThrow(/packet index/);
        expect(() => batch.setPacket(0, 0, -1, 10)).toThrow(/counter/);
        expect(() => batch.setPacket(0, 0, 1.5, 10)).toThrow(/counter/);
        expect(() => batch.setPacket(0, 0, -1n, 10)).toThrow(RangeError);
        expect(() => batch.setPacket(0, 0, 1n << 64n, 10)).toThrow(/counter out of 64-bit range/);
      });

      it("packet indexes out of range", () => {
        for (const i of [-1, 8, 1.5, Number.NaN]) {
          expect(() => batch.input(i), `input(${i})`).toThrow(/packet index must be an integer/);
          expect(() => batch.output(i)).toThrow(/packet index/);
          expect(() => batch.ok(i)).toThrow(/packet index/);
          expect(() => batch.result(i, "open")).toThrow(/packet index/);
        }
      });

      it("seal and open of more than the capacity, or of bad packets", () => {
        expect(() => batch.seal(9)).toThrow(/count must be an integer from 0 to 8/);
        expect(() => batch.open(9)).toThrow(/count/);
        expect(() => batch.seal(-1)).toThrow(/count/);
        batch.setPacket(0, 0, 0, 101); // fine to open, too long to seal
        expect(() => batch.seal(1)).toThrow(/packet 0 is 101 bytes, over 100/);
        expect(batch.open(1)).toBe(1);
        batch.setPacket(0, 0, 0, 10);
        expect(() => batch.seal(2)).toThrow(/packet 1 was not set up/);
        expect(() => batch.seal(0)).not.toThrow();
      });

      it("every method throws after dispose()", () => {
        const b = c.createAeadBatch({ capacity: 2, maxPacket: 10 });
        b.dispose();
        b.dispose(); // twice is harmless
        const key = new Uint8Array(32);
        const uses: [string, () => unknown][] = [
          ["setKey", () => b.setKey(0, key)],
          ["clearKey", () => b.clearKey(0)],
          ["input", () => b.input(0)],
          ["output", () => b.output(0)],
          ["setPacket", () => b.setPacket(0, 0, 0, 0)],
          ["seal", () => b.seal(1)],
          ["open", () => b.open(1)],
          ["ok", () => b.ok(0)],
          ["result", () => b.result(0, "seal")],
        ];
        for (const [name, use] of uses) expect(use, name).toThrow(/after dispose/);
      });
    });

    it("views survive the wasm memory growing under them", () => {
      const rnd = seededBytes(0x960001);
      const key = rnd(32);
      const pt = rnd(1000);
      const batch = c.createAeadBatch({ capacity: 4, maxPacket: 1440, headroom: HEADROOM });
      batch.setKey(0, key);
      const stale = batch.input(0);
      const before = c.memorySnapshot().length;
      const big = rnd(2 * 1024 * 1024);
      const bigSealed = c.aeadSeal(key, wgNonce(1), big);
      expect(c.memorySnapshot().length).toBeGreaterThan(before);
      expect(stale.length).toBe(0); // the old ArrayBuffer was detached by memory.grow
      batch.input(0).set(pt);
      batch.setPacket(0, 0, 7n, pt.length);
      batch.seal(1);
      expect(toHex(batch.result(0, "seal"))).toBe(toHex(c.aeadSeal(key, wgNonce(7), pt)));
      expect(c.aeadOpen(key, wgNonce(1), bigSealed)?.length).toBe(big.length);
      batch.dispose();
    });

    it("one-shot calls accept a batch buffer as input", () => {
      const rnd = seededBytes(0x960002);
      const [key, pt] = [rnd(32), rnd(100)];
      const batch = c.createAeadBatch({ capacity: 1, maxPacket: 100 });
      batch.input(0).set(pt);
      const sealed = c.aeadSeal(key, wgNonce(3), batch.input(0).subarray(0, 100));
      expect(toHex(sealed)).toBe(toHex(c.aeadSeal(key, wgNonce(3), pt)));
      batch.dispose();
    });

    // BUG, reported rather than fixed here: CryptoCore.place() grows the memory for its
    // scratch area before it copies the inputs, which detaches an input that is a view of the
    // core's own memory (batch.input/output/result): the call throws "Cannot perform
    // %TypedArray%.prototype.set on a detached ArrayBuffer", and the inputs copied before it
    // (the key) stay in scratch because finish() never runs. Remove `.fails` once fixed.
    it("one-shot calls accept a batch buffer as input when the call grows memory", () => {
      const rnd = seededBytes(0x960003);
      const [key, pt] = [rnd(32), rnd(100)];
      const batch = c.createAeadBatch({ capacity: 1, maxPacket: 100 });
      batch.input(0).set(pt);
      const ad = new Uint8Array(c.memorySnapshot().length + (1 << 20)); // forces memory.grow
      let sealed: Uint8Array | undefined;
      try {
        sealed = c.aeadSeal(key, wgNonce(3), batch.input(0).subarray(0, 100), ad);
      } finally {
        expect(contains(c.memorySnapshot(), key), "key left in wasm memory").toBe(false);
        batch.dispose();
      }
      expect(toHex(sealed)).toBe(toHex(c.aeadSeal(key, wgNonce(3), pt, ad)));
    });

    it("clearKey and dispose wipe the key and packets from wasm memory", () => {
      const rnd = seededBytes(0xd15e0001);
      const [k0, k1] = [rnd(32), rnd(32)];
      const pt = rnd(64);
      const batch = c.createAeadBatch({ capacity: 4, maxPacket: 256, keySlots: 2, headroom: 16 });
      batch.setKey(0, k0);
      batch.setKey(1, k1);
      batch.input(0).set(pt);
      batch.setPacket(0, 1, 5, pt.length);
      batch.seal(1);
      expect(contains(c.memorySnapshot(), k0)).toBe(true);
      expect(contains(c.memorySnapshot(), pt)).toBe(true);
      batch.clearKey(0);
      expect(contains(c.memorySnapshot(), k0)).toBe(false);
      expect(contains(c.memorySnapshot(), k1)).toBe(true);
      batch.dispose();
      const mem = c.memorySnapshot();
      for (let at = 0; at + 16 <= 32; at++) {
        expect(contains(mem, k1.subarray(at, at + 16)), `key window at ${at}`).toBe(false);
      }
      expect(contains(mem, pt.subarray(0, 16))).toBe(false);
    });
  });
}
