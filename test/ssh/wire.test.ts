// RFC 4251 §5 data types: SshReader and SshWriter round trips, the strict cases (mpint
// minimality, name-list rules, bounds), and a seeded fuzz of every read kind.

import { describe, expect, it } from "vitest";
import { mpintToBigInt, SshProtocolError, SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** The RFC 4251 §5 mpint examples. */
const MPINT_EXAMPLES: [bigint, string][] = [
  [0n, "00000000"],
  [0x9a378f9b2e332a7n, "0000000809a378f9b2e332a7"],
  [0x80n, "000000020080"],
  [-0x1234n, "00000002edcc"],
  [-0xdeadbeefn, "00000005ff21524111"],
];

describe("SshWriter and SshReader", () => {
  it("round-trip every type", () => {
    const w = new SshWriter(1);
    w.writeByte(0xfe).writeBoolean(true).writeBoolean(false).writeUint32(0xdeadbeef);
    w.writeUint64((1n << 64n) - 1n)
      .writeString("héllo")
      .writeString(bytes(1, 2, 3));
    w.writeNameList(["curve25519-sha256", "ext-info-c"]).writeNameList([]);
    w.writeMpintBigInt(-129n)
      .writeMpintUnsigned(bytes(0, 0, 0x80, 1))
      .writeRaw(bytes(9));
    const r = new SshReader(w.toBytes());
    expect(r.readByte()).toBe(0xfe);
    expect(r.readBoolean()).toBe(true);
    expect(r.readBoolean()).toBe(false);
    expect(r.readUint32()).toBe(0xdeadbeef);
    expect(r.readUint64()).toBe((1n << 64n) - 1n);
    expect(r.readUtf8()).toBe("héllo");
    expect(hex(r.readString())).toBe("010203");
    expect(r.readNameList()).toEqual(["curve25519-sha256", "ext-info-c"]);
    expect(r.readNameList()).toEqual([]);
    expect(r.readMpintBigInt()).toBe(-129n);
    expect(hex(r.readMpint())).toBe("008001");
    expect(hex(r.readRaw(1))).toBe("09");
    expect(r.remaining).toBe(0);
    r.expectEnd();
  });

  it("encodes and decodes the RFC 4251 mpint examples", () => {
    for (const [value, encoded] of MPINT_EXAMPLES) {
      expect(hex(new SshWriter().writeMpintBigInt(value).toBytes())).toBe(encoded);
      expect(new SshReader(Buffer.from(encoded, "hex")).readMpintBigInt()).toBe(value);
    }
  });

  it("round-trips random bigints through mpint", () => {
    const int = seededInts(0x77);
    for (let i = 0; i < 2000; i++) {
      let v = 0n;
      const words = int(6);
      for (let j = 0; j < words; j++) v = (v << 32n) | BigInt(int(2 ** 32));
      if (int(2) === 1) v = -v;
      const enc = new SshWriter().writeMpintBigInt(v).toBytes();
      expect(new SshReader(enc).readMpintBigInt()).toBe(v);
      const tc = new SshReader(enc).readMpint();
      const padded = new Uint8Array(tc.length + 2).fill(v < 0n ? 0xff : 0);
      padded.set(tc, 2);
      expect(hex(new SshWriter().writeMpint(padded).toBytes())).toBe(hex(enc));
    }
  });

  it("rejects non-minimal mpints", () => {
    for (const bad of [
      "0000000100",
      "000000020001",
      "0000000200 7f",
      "00000002ff80",
      "00000003ffff80",
    ]) {
      const r = new SshReader(Buffer.from(bad.replace(" ", ""), "hex"));
      expect(() => r.readMpint()).toThrow(SshProtocolError);
      expect(r.offset).toBe(0);
    }
    expect(mpintToBigInt(bytes(0xff))).toBe(-1n);
    expect(new SshReader(Buffer.from("00000001ff", "hex")).readMpintBigInt()).toBe(-1n);
  });

  it("rejects bad name-lists", () => {
    const cases = ["a,,b", ",a", "a,", "a b", "a\u0000", "caf\u00e9", "a\tb"];
    for (const text of cases) {
      const enc = new SshWriter().writeString(text).toBytes();
      expect(() => new SshReader(enc).readNameList(), text).toThrow(SshProtocolError);
    }
    expect(() => new SshWriter().writeNameList(["a,b"])).toThrow(RangeError);
    expect(() => new SshWriter().writeNameList([""])).toThrow(RangeError);
  });

  it("names the field and offset and never reads past the end", () => {
    const r = new SshReader(bytes(0, 0, 0, 9, 1, 2));
    try {
      r.readString("server host key");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SshProtocolError);
      const err = e as SshProtocolError;
      expect(err.field).toBe("server host key");
      expect(err.offset).toBe(0);
      expect(err.message).toMatch(/server host key.*offset 0/);
    }
    expect(r.offset).toBe(0);
    expect(() => new SshReader(bytes(1, 2, 3)).readUint32("len")).toThrow(/len: needs 4 bytes/);
    expect(() => new SshReader(bytes()).readByte()).toThrow(SshProtocolError);
    expect(() => new SshReader(bytes(1)).expectEnd("KEXINIT")).toThrow(/KEXINIT: 1 unexpected/);
    expect(() => new SshReader(bytes(1)).readRaw(-1)).toThrow(SshProtocolError);
    const bad = new SshWriter().writeString(bytes(0xc3, 0x28)).toBytes();
    expect(() => new SshReader(bad).readUtf8()).toThrow(/invalid UTF-8/);
    // A view into a larger buffer must not see the bytes around it.
    const big = bytes(0xaa, 0, 0, 0, 2, 0xbb, 0xcc);
    expect(() => new SshReader(big.subarray(1, 6)).readString()).toThrow(SshProtocolError);
  });

  it("refuses out-of-range writes", () => {
    const w = new SshWriter();
    expect(() => w.writeByte(256)).toThrow(RangeError);
    expect(() => w.writeUint32(-1)).toThrow(RangeError);
    expect(() => w.writeUint32(2 ** 32)).toThrow(RangeError);
    expect(() => w.writeUint64(-1n)).toThrow(RangeError);
    expect(() => w.writeUint64(1n << 64n)).toThrow(RangeError);
    expect(w.length).toBe(0);
  });
});

describe("SshReader fuzz", () => {
  it("throws only SshProtocolError on 20,000+ seeded random buffers", () => {
    const rand = seededBytes(0xf022);
    const int = seededInts(0xf023);
    const kinds = [
      "byte",
      "boolean",
      "uint32",
      "uint64",
      "string",
      "utf8",
      "mpint",
      "name-list",
      "raw",
    ] as const;
    const ok: Record<string, number> = {};
    const rejected: Record<string, number> = {};
    const other: string[] = [];
    const buffers = 25000;
    for (let i = 0; i < buffers; i++) {
      const buf = rand(int(48));
      // Bias some buffers to plausible short lengths so the deeper checks run.
      if (buf.length >= 4 && i % 2 === 0) buf.set([0, 0, 0, int(buf.length)], 0);
      if (buf.length > 4 && i % 4 === 0) for (let j = 4; j < buf.length; j++) buf[j]! &= 0x7f;
      if (buf.length > 4 && i % 4 === 2) {
        for (let j = 4; j < buf.length; j++) buf[j] = int(6) === 0 ? 0x2c : 0x61 + int(26);
      }
      const r = new SshReader(buf.subarray(0, buf.length));
      for (let step = 0; step < 8; step++) {
        const kind = kinds[int(kinds.length)]!;
        const before = r.offset;
        try {
          switch (kind) {
            case "byte":
              r.readByte();
              break;
            case "boolean":
              r.readBoolean();
              break;
            case "uint32":
              r.readUint32();
              break;
            case "uint64":
              r.readUint64();
              break;
            case "string":
              r.readString();
              break;
            case "utf8":
              r.readUtf8();
              break;
            case "mpint":
              r.readMpintBigInt();
              break;
            case "name-list":
              r.readNameList();
              break;
            case "raw":
              r.readRaw(int(8));
              break;
          }
          ok[kind] = (ok[kind] ?? 0) + 1;
        } catch (e) {
          if (!(e instanceof SshProtocolError)) other.push(`${i}/${kind}: ${String(e)}`);
          else if (r.offset !== before) other.push(`${i}/${kind}: moved on error`);
          rejected[kind] = (rejected[kind] ?? 0) + 1;
        }
        if (r.offset > buf.length) other.push(`${i}: offset past end`);
      }
    }
    console.log(`SshReader fuzz: ${buffers} buffers; ok`, ok, "rejected", rejected);
    expect(other).toEqual([]);
    for (const kind of kinds) {
      expect(ok[kind] ?? 0).toBeGreaterThan(0);
      expect(rejected[kind] ?? 0).toBeGreaterThan(0);
    }
  });
});
