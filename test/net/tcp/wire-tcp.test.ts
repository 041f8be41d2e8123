import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  emitTcp,
  parseTcp,
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  TcpFlag,
  verifyTcpChecksum,
} from "../../../worker/net/wire/tcp.ts";
import { seededBytes, seededInts } from "../../helpers/seeded.ts";

// Built independently with Python's struct: header, options (MSS, NOP+WS, NOP NOP+TS, NOP NOP+SACK x2), payload, and the pseudo-header checksum.
const PY = String.raw`
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def seg(src, dst, payload):
    opts = struct.pack("!BBH", 2, 4, 1380) + bytes([1, 3, 3, 7])
    opts += bytes([1, 1, 8, 10]) + struct.pack("!II", 0xdeadbeef, 0x01020304)
    opts += bytes([1, 1, 5, 18]) + struct.pack("!IIII", 1000, 2000, 0xfffffff0, 0x10)
    hl = 20 + len(opts)
    hdr = struct.pack("!HHIIBBHHH", 40000, 22, 0xfffffffe, 123456789, (hl // 4) << 4, 0x18, 4321, 0, 7)
    body = hdr + opts + payload
    if len(src) == 4: ph = src + dst + struct.pack("!BBH", 0, 6, len(body))
    else: ph = src + dst + struct.pack("!IxxxB", len(body), 6)
    c = csum(ph + body)
    return body[:16] + struct.pack("!H", c) + body[18:]
v4 = seg(bytes([10,0,0,1]), bytes([10,0,0,2]), b"hello, world!")
v6 = seg(bytes([0xfd] + [0]*14 + [1]), bytes([0xfd] + [0]*14 + [2]), bytes(range(256)) * 5)
print(v4.hex()); print(v6.hex())
`;

const A4 = new Uint8Array([10, 0, 0, 1]);
const B4 = new Uint8Array([10, 0, 0, 2]);
const A6 = new Uint8Array([0xfd, ...new Array(14).fill(0), 1]);
const B6 = new Uint8Array([0xfd, ...new Array(14).fill(0), 2]);

function specFor(payload: Uint8Array) {
  return {
    spec: {
      srcPort: 40000,
      dstPort: 22,
      seq: 0xfffffffe,
      ack: 123456789,
      flags: TcpFlag.PSH | TcpFlag.ACK,
      window: 4321,
      urgent: 7,
      options: {
        mss: 1380,
        windowScale: 7,
        timestamp: { value: 0xdeadbeef, echo: 0x01020304 },
        sack: [
          [1000, 2000],
          [0xfffffff0, 0x10],
        ] as [number, number][],
      },
    },
    payload,
  };
}

describe("wire/tcp", () => {
  const [v4hex, v6hex] = execFileSync("python3", ["-c", PY], { encoding: "utf8" })
    .trim()
    .split("\n");
  const py4 = Buffer.from(v4hex!, "hex");
  const py6 = Buffer.from(v6hex!, "hex");
  const p4 = new TextEncoder().encode("hello, world!");
  const p6 = new Uint8Array(1280).map((_, i) => i & 0xff);

  it("emits the bytes Python's struct builds (IPv4 and IPv6 pseudo-headers)", () => {
    const a = specFor(p4);
    expect(Buffer.from(emitTcp(a.spec, A4, B4, a.payload)).toString("hex")).toBe(v4hex);
    const b = specFor(p6);
    expect(Buffer.from(emitTcp(b.spec, A6, B6, b.payload)).toString("hex")).toBe(v6hex);
  });

  it("parses them back, checksum verified", () => {
    for (const [bytes, src, dst, payload] of [
      [py4, A4, B4, p4],
      [py6, A6, B6, p6],
    ] as const) {
      const seg = new Uint8Array(bytes);
      expect(verifyTcpChecksum(src, dst, seg)).toBe(true);
      expect(verifyTcpChecksum(dst, new Uint8Array(src.length), seg)).toBe(false);
      const h = parseTcp(seg);
      if (!h.ok) throw new Error(h.error);
      expect(h.srcPort).toBe(40000);
      expect(h.dstPort).toBe(22);
      expect(h.seq).toBe(0xfffffffe);
      expect(h.ack).toBe(123456789);
      expect(h.flags).toBe(TcpFlag.PSH | TcpFlag.ACK);
      expect(h.window).toBe(4321);
      expect(h.urgent).toBe(7);
      expect(h.dataOffset).toBe(60);
      expect(h.options).toEqual(specFor(payload).spec.options);
      expect(Buffer.from(h.payload).equals(Buffer.from(payload))).toBe(true);
      expect(h.payload.buffer).toBe(seg.buffer); // a view, not a copy
      const flipped = seg.slice();
      flipped[flipped.length - 1]! ^= 1;
      expect(verifyTcpChecksum(src, dst, flipped)).toBe(false);
    }
  });

  it("round-trips random segments", () => {
    const bytes = seededBytes(3);
    const ints = seededInts(4);
    for (let i = 0; i < 500; i++) {
      const payload = bytes(ints(1500));
      const spec = {
        srcPort: ints(65536),
        dstPort: ints(65536),
        seq: ints(2 ** 32),
        ack: ints(2 ** 32),
        flags: ints(256),
        window: ints(65536),
        options: ints(2)
          ? { mss: ints(65536), sack: [[ints(2 ** 32), ints(2 ** 32)]] as [number, number][] }
          : undefined,
      };
      const seg = emitTcp(spec, A4, B4, payload);
      expect(verifyTcpChecksum(A4, B4, seg)).toBe(true);
      const h = parseTcp(seg);
      if (!h.ok) throw new Error(h.error);
      expect([h.srcPort, h.dstPort, h.seq, h.ack, h.flags, h.window]).toEqual([
        spec.srcPort,
        spec.dstPort,
        spec.seq,
        spec.ack,
        spec.flags,
        spec.window,
      ]);
      expect(h.options).toEqual(spec.options ?? {});
      expect(h.payload.length).toBe(payload.length);
    }
  });

  it("rejects hostile segments without throwing", () => {
    const bytes = seededBytes(11);
    for (let len = 0; len <= 60; len++) {
      for (let k = 0; k < 200; k++) {
        const seg = bytes(len);
        const r = parseTcp(seg);
        if (r.ok) expect(r.dataOffset).toBeLessThanOrEqual(len);
        else expect(typeof r.error).toBe("string");
      }
    }
    const base = emitTcp({ srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0 }, A4, B4);
    for (let off = 0; off < 16; off++) {
      const seg = new Uint8Array(60);
      seg.set(base);
      seg[12] = off << 4;
      const r = parseTcp(seg.subarray(0, 40));
      expect(r.ok).toBe(off >= 5 && off <= 10);
    }
    const withOpts = (opts: number[]) => {
      const seg = new Uint8Array(20 + opts.length);
      seg.set(base);
      seg[12] = ((20 + opts.length) / 4) << 4;
      seg.set(opts, 20);
      return parseTcp(seg);
    };
    expect(withOpts([2, 0, 0, 0]).ok).toBe(false); // length 0 would loop forever
    expect(withOpts([2, 1, 0, 0]).ok).toBe(false); // length 1 likewise
    expect(withOpts([1, 1, 1, 2]).ok).toBe(false); // length byte missing
    expect(withOpts([8, 10, 0, 0]).ok).toBe(false); // overruns the header
    expect(withOpts([1, 1, 1, 1]).ok).toBe(true);
    expect(withOpts([1, 1, 4, 2]).ok && withOpts([1, 1, 4, 2])).toMatchObject({
      options: { sackPermitted: true },
    });
    expect(withOpts([0, 2, 0, 0]).ok).toBe(true); // end of list: the rest ignored
    expect(withOpts([2, 3, 0, 0]).ok).toBe(true); // odd MSS length: skipped
    const r = withOpts([5, 3, 0, 0]);
    expect(r.ok && r.options.sack).toBe(undefined);
  });

  it("fits SACK blocks into the 40 bytes of option space", () => {
    const sack: [number, number][] = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ];
    const seg = emitTcp(
      {
        srcPort: 1,
        dstPort: 2,
        seq: 0,
        ack: 0,
        flags: 0,
        window: 0,
        options: { timestamp: { value: 1, echo: 2 }, sack },
      },
      A4,
      B4,
    );
    const h = parseTcp(seg);
    if (!h.ok) throw new Error(h.error);
    expect(h.options.sack).toEqual(sack.slice(0, 3));
    expect(h.dataOffset).toBeLessThanOrEqual(60);
  });

  it("compares sequence numbers modulo 2^32", () => {
    expect(seqAdd(0xffffffff, 2)).toBe(1);
    expect(seqDiff(1, 0xffffffff)).toBe(2);
    expect(seqLt(0xfffffff0, 5)).toBe(true);
    expect(seqGt(5, 0xfffffff0)).toBe(true);
    expect(seqLe(7, 7) && seqGe(7, 7)).toBe(true);
    expect(seqLt(0, 0x7fffffff)).toBe(true);
    expect(seqLt(0x80000001, 0)).toBe(true);
  });
});
