// The AES packet ciphers (aes*-gcm@openssh.com, aes*-ctr with HMAC-SHA2 in both MAC
// orders) and the cipher-suite factory: byte-for-byte agreement with an independent
// construction on node:crypto (OpenSSL) in both directions, round trips through
// PacketWriter/PacketReader across the 2^32 sequence wrap and counter carries, every
// single-bit flip rejected, a seeded fuzz of hostile streams, and argument checking.

import {
  type Cipher,
  type CipherGCMTypes,
  createCipheriv,
  createDecipheriv,
  createHmac,
  type Decipher,
} from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { AesCtrHmac } from "../../worker/ssh/aes-ctr-hmac.ts";
import { AesGcmOpenssh } from "../../worker/ssh/aes-gcm.ts";
import { ChachaPolyOpenssh } from "../../worker/ssh/chacha-poly.ts";
import type { PacketCipher } from "../../worker/ssh/cipher.ts";
import {
  CIPHERS,
  createPacketCipher,
  DEFAULT_CIPHERS,
  DEFAULT_MACS,
  MACS,
} from "../../worker/ssh/cipher-suites.ts";
import {
  buildPacket,
  PACKET_MAX_SIZE,
  PacketReader,
  PacketWriter,
} from "../../worker/ssh/packet.ts";
import { SshProtocolError } from "../../worker/ssh/wire.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** A negotiated cipher and MAC with this direction's keys. */
interface Suite {
  cipher: string;
  mac: string | null;
  key: Uint8Array;
  iv: Uint8Array;
  macKey: Uint8Array | null;
}

/** The reference construction's view of one direction. */
interface RefCipher {
  seal(seq: number, plain: Uint8Array): Uint8Array;
  open(seq: number, wire: Uint8Array): Uint8Array | null;
}

const GCM = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];
const CTR = ["aes128-ctr", "aes256-ctr"];
const COMBOS: [string, string | null][] = [
  ...GCM.map((c): [string, null] => [c, null]),
  ...CTR.flatMap((c) => DEFAULT_MACS.map((m): [string, string] => [c, m])),
];
const label = ([c, m]: [string, string | null]) => (m === null ? c : `${c}+${m}`);

/** Keys for a combo; `edge` puts the IV's counter just below a multi-byte carry. */
function suite(combo: [string, string | null], seed: number, edge = false): Suite {
  const [cipher, mac] = combo;
  const rand = seededBytes(seed);
  const spec = CIPHERS[cipher]!;
  const iv = rand(spec.ivBytes);
  // GCM: invocation counter 0x00000000fffffffd; CTR: low 64 bits all but wrapped.
  if (edge && spec.ivBytes === 12) iv.set([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfd], 4);
  if (edge && spec.ivBytes === 16) iv.fill(0xff, 7).fill(0xfe, 15);
  const macKey = mac === null ? null : rand(MACS[mac]!.keyBytes);
  return { cipher, mac, key: rand(spec.keyBytes), iv, macKey };
}

function ours(s: Suite): PacketCipher {
  return createPacketCipher(core, s.cipher, s.key, s.iv, s.mac, s.macKey);
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, false);
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** RFC 5647 / RFC 4253 §6.4 / OpenSSH EtM, written independently on OpenSSL. */
function reference(s: Suite): RefCipher {
  const bits = s.key.length * 8;
  if (s.mac === null) {
    const algorithm = `aes-${bits}-gcm` as CipherGCMTypes;
    let invocation = new DataView(s.iv.buffer, s.iv.byteOffset).getBigUint64(4, false);
    const nonce = () => {
      const n = Buffer.alloc(12);
      n.set(s.iv.subarray(0, 4));
      n.writeBigUInt64BE(invocation, 4);
      invocation = (invocation + 1n) & 0xffffffffffffffffn;
      return n;
    };
    return {
      seal(_seq, plain) {
        const c = createCipheriv(algorithm, s.key, nonce());
        c.setAAD(plain.subarray(0, 4));
        const body = Buffer.concat([c.update(plain.subarray(4)), c.final()]);
        return concat([plain.subarray(0, 4), body, c.getAuthTag()]);
      },
      open(_seq, wire) {
        const d = createDecipheriv(algorithm, s.key, nonce());
        d.setAAD(wire.subarray(0, 4));
        d.setAuthTag(wire.subarray(wire.length - 16));
        try {
          return concat([d.update(wire.subarray(4, wire.length - 16)), d.final()]);
        } catch {
          return null;
        }
      },
    };
  }
  const etm = s.mac.includes("-etm@");
  const hash = s.mac.includes("512") ? "sha512" : "sha256";
  const macLen = hash === "sha512" ? 64 : 32;
  // One long-lived OpenSSL context per direction: its keystream is continuous by nature.
  const enc: Cipher = createCipheriv(`aes-${bits}-ctr`, s.key, s.iv);
  const dec: Decipher = createDecipheriv(`aes-${bits}-ctr`, s.key, s.iv);
  const mac = (seq: number, data: Uint8Array) =>
    createHmac(hash, s.macKey!).update(u32(seq)).update(data).digest();
  return {
    seal(seq, plain) {
      if (!etm) return concat([enc.update(plain), mac(seq, plain)]);
      const wire = concat([plain.subarray(0, 4), enc.update(plain.subarray(4))]);
      return concat([wire, mac(seq, wire)]);
    },
    open(seq, wire) {
      const end = wire.length - macLen;
      const tag = Buffer.from(wire.subarray(end));
      if (etm) {
        if (!mac(seq, wire.subarray(0, end)).equals(tag)) return null;
        return new Uint8Array(dec.update(wire.subarray(4, end)));
      }
      const plain = dec.update(wire.subarray(0, end));
      return mac(seq, plain).equals(tag) ? new Uint8Array(plain.subarray(4)) : null;
    },
  };
}

/** Payload sizes covering empty, block edges, a 32 KiB channel packet, and random ones. */
function sizes(count: number, int: (n: number) => number): number[] {
  const fixed = [0, 1, 7, 10, 11, 12, 15, 16, 17, 31, 32, 33, 255, 256, 1000, 32768];
  return Array.from({ length: count }, (_, i) => fixed[i] ?? int(i % 5 === 0 ? 5000 : 300));
}

/** Drains every payload the reader has (SshProtocolError propagates). */
function drain(reader: PacketReader, out: Uint8Array[]): void {
  for (let guard = 0; guard < 100_000; guard++) {
    const p = reader.next();
    if (p === null) return;
    out.push(p);
  }
  throw new Error("reader looped");
}

/** Pushes `bytes` in random chunks, collecting payloads; SshProtocolError propagates. */
function feed(reader: PacketReader, bytes: Uint8Array, int: (n: number) => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const step = 1 + int(int(2) === 0 ? 20 : 3000);
    reader.push(bytes.subarray(at, at + step));
    drain(reader, out);
    at += step;
  }
  return out;
}

let core: CryptoCore;
beforeAll(async () => {
  core = await loadCryptoCore();
});

describe.each(COMBOS.map((c) => [label(c), c] as const))("%s", (_name, combo) => {
  it.each([false, true])("agrees with node:crypto both ways (edge IV: %s)", (edge) => {
    const int = seededInts(0xae5001);
    const rand = seededBytes(0xae5002);
    const s = suite(combo, 0xae5000 + (edge ? 1 : 0), edge);
    const [sealer, opener, refSealer, refOpener] = [ours(s), ours(s), reference(s), reference(s)];
    // Sequence numbers cross 2^32 and start unrelated to the GCM invocation counter.
    let seq = 0xffffffe0;
    for (const n of sizes(70, int)) {
      const plain = buildPacket(rand(n), sealer.blockSize, rand, sealer.lengthIsAad);
      const wire = sealer.seal(seq, plain);
      const theirs = refSealer.seal(seq, plain);
      expect(wire).toEqual(theirs);
      expect(refOpener.open(seq, wire)).toEqual(plain.subarray(4));
      // The reverse: bytes built by OpenSSL open with ours.
      expect(opener.decryptLength(seq, theirs.subarray(0, opener.headBytes))).toBe(
        plain.length - 4,
      );
      expect(opener.open(seq, theirs)).toEqual(plain.subarray(4));
      seq = (seq + 1) % 2 ** 32;
    }
  });

  it("round-trips through PacketWriter/PacketReader across the sequence wrap", () => {
    const int = seededInts(0xae5101);
    const rand = seededBytes(0xae5102);
    for (const edge of [false, true]) {
      const s = suite(combo, 0xae5100, edge);
      const start = 2 ** 32 - 40;
      const writer = new PacketWriter(rand, start);
      const reader = new PacketReader(start);
      writer.setCipher(ours(s));
      reader.setCipher(ours(s));
      const payloads = sizes(90, int).map((n) => rand(n));
      const wire = concat(payloads.map((p) => writer.write(p)));
      expect(feed(reader, wire, int)).toEqual(payloads);
      expect(reader.sequence).toBe(50);
      expect(writer.sequence).toBe(50);
      expect(reader.buffered).toBe(0);
    }
  });

  it("rejects every single-bit flip of two sealed packets", () => {
    const rand = seededBytes(0xae5201);
    const s = suite(combo, 0xae5200);
    const writer = new PacketWriter(rand, 2 ** 32 - 1);
    writer.setCipher(ours(s));
    const payloads = [rand(20), rand(37)];
    const first = writer.write(payloads[0]!);
    const stream = concat([first, writer.write(payloads[1]!)]);
    const messages = new Map<string, number>();
    for (let bit = 0; bit < stream.length * 8; bit++) {
      const bad = stream.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const reader = new PacketReader(2 ** 32 - 1);
      reader.setCipher(ours(s));
      const got: Uint8Array[] = [];
      let message = "";
      try {
        reader.push(bad);
        drain(reader, got);
        // A flipped length can ask for more bytes than were sent: supply them.
        reader.push(new Uint8Array(PACKET_MAX_SIZE + 128));
        drain(reader, got);
      } catch (e) {
        expect(e).toBeInstanceOf(SshProtocolError);
        message = (e as Error).message;
      }
      expect(message, `bit ${bit} was accepted`).toMatch(
        /^packet \d+: (message authentication failed \(bad tag or MAC, \S+\) on packet \d+|bad packet length \d+ \(allowed|packet length \d+ is not a multiple of the block size 16)/,
      );
      // Never a wrong payload: only the untouched first packet may come out.
      expect(got).toEqual(bit < first.length * 8 ? [] : payloads.slice(0, 1));
      const kind = message.replace(/\d+/g, "N").slice(0, 40);
      messages.set(kind, (messages.get(kind) ?? 0) + 1);
    }
    expect([...messages.keys()].some((m) => m.includes("authentication failed"))).toBe(true);
    expect([...messages.keys()].some((m) => m.includes("length"))).toBe(true);
  });

  // 5,000 inputs per combo (50,000 over the ten combos): a quarter pure random bytes, the
  // rest valid streams of 1..4 packets with bits flipped, bytes overwritten or inserted,
  // packets reordered or the stream truncated.
  it("survives a seeded fuzz of 5,000 hostile streams", () => {
    const FUZZ_INPUTS = 5000;
    const int = seededInts(0xae5301);
    const rand = seededBytes(0xae5302);
    const s = suite(combo, 0xae5300);
    const counts = { inputs: 0, payloads: 0, needMore: 0, rejected: 0 };
    for (let i = 0; i < FUZZ_INPUTS; i++) {
      let bytes: Uint8Array;
      let payloads: Uint8Array[] = [];
      if (i % 4 === 0) {
        bytes = rand(int(600));
      } else {
        const writer = new PacketWriter(rand);
        writer.setCipher(ours(s));
        payloads = Array.from({ length: 1 + int(4) }, () => rand(int(200)));
        const packets = payloads.map((p) => writer.write(p));
        if (int(8) === 0 && packets.length > 1) packets.reverse();
        bytes = concat(packets);
        for (let f = int(4); f > 0; f--) bytes[int(bytes.length)]! ^= 1 << int(8);
        if (int(6) === 0) bytes[int(bytes.length)] = int(256);
        if (int(6) === 0) {
          const at = int(bytes.length + 1);
          bytes = concat([bytes.subarray(0, at), rand(1 + int(40)), bytes.subarray(at)]);
        }
        if (int(4) === 0) bytes = bytes.subarray(0, int(bytes.length + 1));
      }
      const reader = new PacketReader();
      reader.setCipher(ours(s));
      counts.inputs++;
      let got: Uint8Array[] = [];
      try {
        got = feed(reader, bytes, int);
        counts.needMore++;
      } catch (e) {
        if (!(e instanceof SshProtocolError)) throw e;
        counts.rejected++;
      }
      // Whatever comes out is an untouched prefix of what was sent, never a forgery.
      expect(got).toEqual(payloads.slice(0, got.length));
      counts.payloads += got.length;
    }
    console.log(`aes fuzz ${label(combo)}: ${JSON.stringify(counts)}`);
    expect(counts.inputs).toBe(FUZZ_INPUTS);
    expect(counts.payloads).toBeGreaterThan(0);
    expect(counts.rejected).toBeGreaterThan(FUZZ_INPUTS / 2);
  });
});

describe("AES-GCM nonce", () => {
  it("counts invocations, not sequence numbers", () => {
    const s = suite(["aes128-gcm@openssh.com", null], 0xae5401);
    const plain = buildPacket(new Uint8Array(9), 16, seededBytes(1), true);
    const a = ours(s);
    const b = ours(s);
    expect(a.seal(5, plain)).toEqual(b.seal(900, plain));
    expect(a.seal(6, plain)).not.toEqual(ours(s).seal(6, plain));
  });
});

describe("createPacketCipher and the suite tables", () => {
  const k = (n: number) => new Uint8Array(n);

  it("builds each class and lists every default", () => {
    for (const name of DEFAULT_CIPHERS) expect(CIPHERS[name]).toBeDefined();
    for (const name of DEFAULT_MACS) expect(MACS[name]).toBeDefined();
    expect(createPacketCipher(core, DEFAULT_CIPHERS[0]!, k(64), k(0), null, null)).toBeInstanceOf(
      ChachaPolyOpenssh,
    );
    const gcm = createPacketCipher(core, "aes256-gcm@openssh.com", k(32), k(12), null, null);
    expect(gcm).toBeInstanceOf(AesGcmOpenssh);
    expect([gcm.name, gcm.macBytes, gcm.headBytes, gcm.lengthIsAad]).toEqual([
      "aes256-gcm@openssh.com",
      16,
      4,
      true,
    ]);
    const etm = createPacketCipher(core, "aes128-ctr", k(16), k(16), DEFAULT_MACS[1]!, k(64));
    expect(etm).toBeInstanceOf(AesCtrHmac);
    expect([etm.name, etm.macBytes, etm.headBytes, etm.lengthIsAad]).toEqual([
      "aes128-ctr+hmac-sha2-512-etm@openssh.com",
      64,
      4,
      true,
    ]);
    const eam = createPacketCipher(core, "aes256-ctr", k(32), k(16), "hmac-sha2-256", k(32));
    expect([eam.macBytes, eam.headBytes, eam.lengthIsAad, eam.blockSize]).toEqual([
      32,
      16,
      false,
      16,
    ]);
  });

  it.each([
    ["aes192-ctr", k(24), k(16), "hmac-sha2-256", k(32), 'unknown cipher "aes192-ctr"'],
    ["aes128-ctr", k(16), k(16), "hmac-sha1", k(20), 'unknown MAC "hmac-sha1"'],
    [
      "aes128-ctr",
      k(32),
      k(16),
      "hmac-sha2-256",
      k(32),
      "aes128-ctr: key must be 16 bytes, got 32",
    ],
    [
      "aes256-ctr",
      k(16),
      k(16),
      "hmac-sha2-256",
      k(32),
      "aes256-ctr: key must be 32 bytes, got 16",
    ],
    ["aes128-ctr", k(16), k(12), "hmac-sha2-256", k(32), "aes128-ctr: IV must be 16 bytes, got 12"],
    ["aes128-ctr", k(16), k(16), "hmac-sha2-256", k(64), "MAC key must be 32 bytes, got 64"],
    [
      "aes128-ctr",
      k(16),
      k(16),
      "hmac-sha2-512-etm@openssh.com",
      k(32),
      "must be 64 bytes, got 32",
    ],
    ["aes128-ctr", k(16), k(16), null, null, "aes128-ctr needs a MAC and a MAC key"],
    ["aes128-ctr", k(16), k(16), "hmac-sha2-256", null, "aes128-ctr needs a MAC and a MAC key"],
    ["aes128-gcm@openssh.com", k(32), k(12), null, null, "key must be 16 bytes, got 32"],
    ["aes256-gcm@openssh.com", k(16), k(12), null, null, "key must be 32 bytes, got 16"],
    ["aes256-gcm@openssh.com", k(32), k(16), null, null, "IV must be 12 bytes, got 16"],
    [
      "aes256-gcm@openssh.com",
      k(32),
      k(12),
      "hmac-sha2-256",
      k(32),
      "AEAD cipher and takes no MAC",
    ],
    ["chacha20-poly1305@openssh.com", k(32), k(0), null, null, "key must be 64 bytes, got 32"],
    ["chacha20-poly1305@openssh.com", k(64), k(8), null, null, "IV must be 0 bytes, got 8"],
  ])("%s with bad arguments throws RangeError", (cipher, key, iv, mac, macKey, message) => {
    expect(() => createPacketCipher(core, cipher, key, iv, mac, macKey)).toThrow(RangeError);
    expect(() => createPacketCipher(core, cipher, key, iv, mac, macKey)).toThrow(message);
  });

  it("the classes check names and lengths themselves", () => {
    expect(() => new AesGcmOpenssh("aes128-gcm", k(16), k(12))).toThrow(
      new RangeError('aes-gcm: unknown cipher name "aes128-gcm"'),
    );
    expect(() => new AesGcmOpenssh("aes128-gcm@openssh.com", k(16), k(11))).toThrow(
      new RangeError("aes128-gcm@openssh.com: IV must be 12 bytes, got 11"),
    );
    expect(() => new AesCtrHmac("aes128-cbc", k(16), k(16), "hmac-sha2-256", k(32))).toThrow(
      new RangeError('aes-ctr: unknown cipher name "aes128-cbc"'),
    );
    expect(() => new AesCtrHmac("aes128-ctr", k(16), k(16), "hmac-md5", k(16))).toThrow(
      new RangeError('aes-ctr: unknown MAC name "hmac-md5"'),
    );
    const ctr = new AesCtrHmac("aes128-ctr", k(16), k(16), "hmac-sha2-256", k(32));
    expect(() => ctr.seal(0, k(20))).toThrow(RangeError);
    expect(() => ctr.seal(-1, k(32))).toThrow(RangeError);
  });
});
