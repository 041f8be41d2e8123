// The binary packet protocol: framing rules, round trips for "none" and
// chacha20-poly1305@openssh.com, hostile lengths, padding and tags, sequence numbers, and a
// seeded fuzz of hostile streams into PacketReader.

import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { ChachaPolyOpenssh } from "../../worker/ssh/chacha-poly.ts";
import {
  buildPacket,
  PACKET_MAX_SIZE,
  PacketReader,
  PacketWriter,
} from "../../worker/ssh/packet.ts";
import { SshProtocolError } from "../../worker/ssh/wire.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Drains every payload the reader has; rethrows SshProtocolError only. */
function drain(reader: PacketReader): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let guard = 0; guard < 1_000_000; guard++) {
    const p = reader.next();
    if (p === null) return out;
    out.push(p);
  }
  throw new Error("reader looped");
}

function readError(bytes: Uint8Array, cipher: ChachaPolyOpenssh | null = null): string {
  const r = new PacketReader();
  r.setCipher(cipher);
  r.push(bytes);
  try {
    drain(r);
  } catch (e) {
    expect(e).toBeInstanceOf(SshProtocolError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

/** A copy of `b` with the low bit of byte `at` flipped. */
function flipped(b: Uint8Array, at: number): Uint8Array {
  const out = b.slice();
  out[at]! ^= 1;
  return out;
}

let core: CryptoCore;
beforeAll(async () => {
  core = await loadCryptoCore();
});

describe("buildPacket", () => {
  it("aligns the whole packet for none and packet_length alone for AEAD", () => {
    const rand = seededBytes(0x9ac001);
    for (let n = 0; n < 300; n++) {
      for (const block of [8, 16]) {
        const plain = buildPacket(rand(n), block, rand);
        const len = new DataView(plain.buffer).getUint32(0, false);
        expect(len + 4).toBe(plain.length);
        expect(plain.length % block).toBe(0);
        expect(plain[4]!).toBeGreaterThanOrEqual(4);
        const aead = buildPacket(rand(n), block, rand, true);
        const alen = new DataView(aead.buffer).getUint32(0, false);
        expect(alen % block).toBe(0);
        expect(aead[4]!).toBeGreaterThanOrEqual(4);
        expect(aead[4]!).toBeLessThan(4 + block);
      }
    }
    expect(() => buildPacket(new Uint8Array(PACKET_MAX_SIZE), 8, rand)).toThrow(RangeError);
  });
});

describe("PacketReader and PacketWriter", () => {
  const sizes = (int: (b: number) => number): number[] => {
    const out: number[] = [];
    for (let n = 0; n < 64; n++) out.push(n);
    for (let i = 0; i < 30; i++) out.push(int(70001));
    out.push(70000, 35000, 32768);
    return out;
  };

  for (const mode of ["none", "chacha"] as const) {
    it(`round-trips payloads of 0..70000 bytes (${mode}), whole and in random pieces`, () => {
      const rand = seededBytes(mode === "none" ? 0x9ac002 : 0x9ac003);
      const int = seededInts(0x9ac004);
      const key = rand(64);
      const writer = new PacketWriter(rand);
      const reader = new PacketReader();
      if (mode === "chacha") {
        writer.setCipher(new ChachaPolyOpenssh(core, key));
        reader.setCipher(new ChachaPolyOpenssh(core, key));
      }
      const payloads = sizes(int).map((n) => rand(n));
      const wire = concat(payloads.map((p) => writer.write(p)));
      const got: Uint8Array[] = [];
      for (let at = 0; at < wire.length; ) {
        const step = 1 + int(9000);
        reader.push(wire.subarray(at, at + step));
        got.push(...drain(reader));
        at += step;
      }
      expect(got.length).toBe(payloads.length);
      for (let i = 0; i < payloads.length; i++) expect(got[i]).toEqual(payloads[i]);
      expect(reader.sequence).toBe(payloads.length);
      expect(writer.sequence).toBe(payloads.length);
      expect(reader.buffered).toBe(0);
      console.log(
        `packet ${mode}: ${payloads.length} payloads, ${wire.length} bytes round-tripped`,
      );
    });

    it(`reassembles byte-at-a-time (${mode})`, () => {
      const rand = seededBytes(0x9ac005);
      const key = rand(64);
      const writer = new PacketWriter(rand);
      const reader = new PacketReader();
      if (mode === "chacha") {
        writer.setCipher(new ChachaPolyOpenssh(core, key));
        reader.setCipher(new ChachaPolyOpenssh(core, key));
      }
      const payloads = [0, 1, 100, 5000, 70000].map((n) => rand(n));
      const wire = concat(payloads.map((p) => writer.write(p)));
      const got: Uint8Array[] = [];
      for (let i = 0; i < wire.length; i++) {
        reader.push(wire.subarray(i, i + 1));
        got.push(...drain(reader));
      }
      expect(got).toEqual(payloads);
    });
  }

  it("switches cipher between packets, as at NEWKEYS, and resets sequence numbers", () => {
    const rand = seededBytes(0x9ac006);
    const key = rand(64);
    const writer = new PacketWriter(rand);
    const reader = new PacketReader();
    const first = writer.write(new Uint8Array([21]));
    writer.setCipher(new ChachaPolyOpenssh(core, key));
    writer.resetSequence();
    const second = writer.write(new Uint8Array([5, 1, 2]));
    reader.push(concat([first, second]));
    expect(reader.next()).toEqual(new Uint8Array([21]));
    reader.setCipher(new ChachaPolyOpenssh(core, key));
    reader.resetSequence();
    expect(reader.next()).toEqual(new Uint8Array([5, 1, 2]));
    expect(reader.sequence).toBe(1);
  });

  it("wraps sequence numbers at 2^32", () => {
    const rand = seededBytes(0x9ac007);
    const key = rand(64);
    const writer = new PacketWriter(rand, 0xfffffffe);
    const reader = new PacketReader(0xfffffffe);
    writer.setCipher(new ChachaPolyOpenssh(core, key));
    reader.setCipher(new ChachaPolyOpenssh(core, key));
    for (let i = 0; i < 4; i++) reader.push(writer.write(new Uint8Array([i])));
    expect(drain(reader)).toEqual([0, 1, 2, 3].map((i) => new Uint8Array([i])));
    expect(reader.sequence).toBe(2);
    expect(writer.sequence).toBe(2);
    expect(() => new PacketReader(2 ** 32)).toThrow(RangeError);
  });

  it("rejects bad lengths, padding and tags with clear errors", () => {
    const rand = seededBytes(0x9ac008);
    expect(readError(u32(0))).toMatch(/packet 0: bad packet length 0 \(allowed 5\.\.262144\)/);
    expect(readError(u32(PACKET_MAX_SIZE + 4))).toMatch(/bad packet length 262148/);
    expect(readError(u32(0xffffffff))).toMatch(/bad packet length 4294967295/);
    expect(readError(u32(13))).toMatch(/not a multiple of the block size 8/);
    expect(readError(concat([u32(12), new Uint8Array([3]), rand(11)]))).toMatch(
      /too little padding: 3/,
    );
    expect(readError(concat([u32(12), new Uint8Array([12]), rand(11)]))).toMatch(
      /padding length 12 exceeds packet length 12/,
    );
    // The largest packet is accepted.
    const big = buildPacket(rand(PACKET_MAX_SIZE - 12), 8, rand);
    const r = new PacketReader();
    r.push(big);
    expect(r.next()!.length).toBe(PACKET_MAX_SIZE - 12);

    const key = rand(64);
    const seal = new ChachaPolyOpenssh(core, key);
    const good = seal.seal(0, buildPacket(rand(20), 8, rand, true));
    for (const at of [0, 4, good.length - 1]) {
      const bad = good.slice();
      bad[at]! ^= 1;
      const message = readError(bad, new ChachaPolyOpenssh(core, key));
      expect(message).toMatch(
        /packet 0: (message authentication failed|bad packet length|packet length)/,
      );
    }
    expect(readError(flipped(good, 5), new ChachaPolyOpenssh(core, key))).toMatch(/bad tag/);
    // A length that is a multiple of 8 only with the length field is refused under AEAD.
    const misaligned = seal.seal(0, buildPacket(rand(20), 8, rand));
    expect(readError(misaligned, new ChachaPolyOpenssh(core, key))).toMatch(/not a multiple/);
    // Tags are bound to the sequence number.
    const other = new PacketReader(1);
    other.setCipher(new ChachaPolyOpenssh(core, key));
    other.push(good);
    expect(() => drain(other)).toThrow(SshProtocolError);
    // Errors stick.
    expect(() => other.next()).toThrow(/packet 1:/);
    expect(() => other.push(good)).toThrow(SshProtocolError);
  });

  it("survives a seeded fuzz of hostile streams", () => {
    const rand = seededBytes(0x9ac009);
    const int = seededInts(0x9ac00a);
    const key = rand(64);
    const counts = { streams: 0, payloads: 0, needMore: 0, rejected: 0 };
    for (let i = 0; i < 24000; i++) {
      const chacha = i % 3 === 2;
      let bytes: Uint8Array;
      if (i % 4 === 0) {
        bytes = rand(int(400));
      } else {
        const writer = new PacketWriter(rand);
        if (chacha) writer.setCipher(new ChachaPolyOpenssh(core, key));
        const parts: Uint8Array[] = [];
        const n = 1 + int(4);
        for (let j = 0; j < n; j++) parts.push(writer.write(rand(int(300))));
        bytes = concat(parts);
        const flips = int(4);
        for (let f = 0; f < flips; f++) bytes[int(bytes.length)]! ^= 1 << int(8);
        if (int(3) === 0) bytes = bytes.subarray(0, int(bytes.length + 1));
      }
      const reader = new PacketReader();
      if (chacha) reader.setCipher(new ChachaPolyOpenssh(core, key));
      counts.streams++;
      try {
        for (let at = 0; at < bytes.length; ) {
          const step = 1 + int(200);
          reader.push(bytes.subarray(at, at + step));
          counts.payloads += drain(reader).length;
          at += step;
        }
        counts.needMore++;
      } catch (e) {
        if (!(e instanceof SshProtocolError)) throw e;
        counts.rejected++;
      }
    }
    console.log(`packet fuzz: ${JSON.stringify(counts)}`);
    expect(counts.streams).toBe(24000);
    expect(counts.payloads).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(0);
  });
});
