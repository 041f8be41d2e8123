// IPv6: build → parse round trips against packets built by Python's struct, extension-header
// chains, and hostile packets (truncations, lying lengths, overruns, loops) that must be refused.

import { describe, expect, it } from "vitest";
import {
  buildIpv6,
  type Ipv6Fields,
  parseIpv6,
  writeIpv6Header,
} from "../../../worker/net/wire/ipv6.ts";
import { parseUdp } from "../../../worker/net/wire/udp.ts";
import { formatIp, parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { type PySpec, pythonBuild, toHex } from "./python.ts";
import { SAMPLES, SPECS, V6_HOST, V6_PEER } from "./samples.ts";

const payloadOf = (n: number) => Uint8Array.from({ length: n }, (_, k) => (k * 13 + 5) & 0xff);

/** An IPv6 packet with extension headers `ext` (Python's spec) carrying `proto` and `payload`. */
function withExt(ext: object[], proto = 59, payload = ""): PySpec {
  return { kind: "ipv6", src: V6_HOST, dst: V6_PEER, proto, ext, payload };
}

describe("IPv6 against known bytes", () => {
  const combos: Ipv6Fields[] = [];
  const addresses = [
    [V6_HOST, V6_PEER],
    ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    ["2001:db8::1", "::ffff:192.0.2.1"],
  ] as const;
  const variants = [
    { nextHeader: 58, hopLimit: 64, trafficClass: 0, flowLabel: 0 },
    { nextHeader: 17, hopLimit: 1, trafficClass: 0xff, flowLabel: 0xfffff },
    { nextHeader: 6, hopLimit: 255, trafficClass: 0xb8, flowLabel: 0x12345 },
  ];
  for (const [src, dst] of addresses) {
    for (const v of variants)
      combos.push({ ...v, source: parseAddress(src), destination: parseAddress(dst) });
  }
  const sizes = [0, 1, 33, 1232, 65535];
  const cases = combos.flatMap((fields, i) =>
    sizes.filter((s) => s < 2000 || i % 4 === 0).map((size) => ({ fields, size })),
  );
  const expected = pythonBuild(
    cases.map(({ fields: f, size }) => ({
      kind: "ipv6",
      src: formatIp(f.source),
      dst: formatIp(f.destination),
      proto: f.nextHeader,
      hop: f.hopLimit,
      tc: f.trafficClass,
      flow: f.flowLabel,
      payload: toHex(payloadOf(size)),
    })),
  );

  it(`builds ${cases.length} packets byte for byte as Python's struct does, and parses them back`, () => {
    for (const [k, { fields, size }] of cases.entries()) {
      const packet = buildIpv6(fields, payloadOf(size));
      expect(toHex(packet)).toBe(toHex(expected[k]!));
      const parsed = parseIpv6(expected[k]!);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed).toMatchObject({
        version: 6,
        nextHeader: fields.nextHeader,
        protocol: fields.nextHeader,
        hopLimit: fields.hopLimit,
        trafficClass: fields.trafficClass,
        flowLabel: fields.flowLabel,
        payloadLength: size,
        extensionHeaders: 0,
        headerLength: 40,
      });
      expect(formatIp(parsed.source)).toBe(formatIp(fields.source));
      expect(formatIp(parsed.destination)).toBe(formatIp(fields.destination));
      expect(toHex(parsed.payload)).toBe(toHex(payloadOf(size)));
    }
  });

  it("parses the capture-like samples (ping6, DNS over IPv6, packet too big)", () => {
    expect(parseIpv6(SAMPLES.ping6)).toMatchObject({
      ok: true,
      protocol: 58,
      flowLabel: 0x3e1a5,
      payloadLength: 64,
    });
    expect(parseIpv6(SAMPLES.dns6)).toMatchObject({ ok: true, protocol: 17, trafficClass: 0x28 });
    expect(parseIpv6(SAMPLES.ptb6)).toMatchObject({
      ok: true,
      protocol: 58,
      hopLimit: 255,
      payloadLength: 1240,
    });
  });

  it("walks Hop-by-Hop, Destination Options, Routing and AH to the UDP payload", () => {
    const parsed = parseIpv6(SAMPLES.ext6);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed).toMatchObject({
      nextHeader: 0,
      protocol: 17,
      extensionHeaders: 5,
      headerLength: 40 + 8 + 8 + 8 + 24 + 16,
    });
    expect(parsed.payload.byteOffset).toBe(parsed.headerLength);
    const udp = parseUdp(parsed.payload, parsed.source, parsed.destination);
    expect(udp).toMatchObject({ ok: true, sourcePort: 9, destinationPort: 9 });
  });

  it("processes atomic fragments (offset 0, M clear) as whole packets (RFC 6946)", () => {
    const [atomic] = pythonBuild([
      withExt([{ type: 44, offset: 0, m: 0, ident: 7 }], 17, "0009000900084d7b"),
    ]);
    expect(parseIpv6(atomic!)).toMatchObject({
      ok: true,
      protocol: 17,
      extensionHeaders: 1,
      headerLength: 48,
    });
  });

  it("reports No Next Header (59) as the protocol, with what follows as the payload", () => {
    const [none] = pythonBuild([withExt([{ type: 60, data: "010400000000" }], 59, "c0ffee")]);
    expect(parseIpv6(none!)).toMatchObject({ ok: true, protocol: 59, headerLength: 48 });
  });

  it("drops link padding past the payload length", () => {
    const padded = new Uint8Array(SAMPLES.ping6.length + 3).fill(0xee);
    padded.set(SAMPLES.ping6);
    const parsed = parseIpv6(padded);
    expect(parsed.ok && parsed.payload.length).toBe(64);
  });

  it("writeIpv6Header writes in place; impossible packets throw a RangeError", () => {
    const fields: Ipv6Fields = {
      source: parseAddress("fd00::1"),
      destination: parseAddress("fd00::2"),
      nextHeader: 17,
    };
    const buffer = new Uint8Array(2 + 40 + 3);
    buffer.set([7, 8, 9], 42);
    expect(writeIpv6Header(buffer, 2, fields, 3)).toBe(40);
    expect(toHex(buffer.subarray(2))).toBe(toHex(buildIpv6(fields, Uint8Array.of(7, 8, 9))));
    expect(() => buildIpv6({ ...fields, source: new Uint8Array(4) }, new Uint8Array(0))).toThrow(
      /source address must be 16 bytes, got 4/,
    );
    expect(() => buildIpv6(fields, new Uint8Array(65536))).toThrow(
      /payload of 65536 bytes > 65535/,
    );
    expect(() => writeIpv6Header(new Uint8Array(40), 1, fields, 0)).toThrow(/no room/);
  });
});

describe("IPv6 hostile input", () => {
  it("every truncation of every sample is refused with the exact reason", () => {
    for (const sample of [SAMPLES.ping6, SAMPLES.dns6, SAMPLES.ext6]) {
      for (let n = 0; n < Math.min(sample.length, 120); n++) {
        let want: string;
        if (n === 0) want = "ipv6: empty packet";
        else if (n < 40) want = `ipv6: header truncated (${n} of 40 bytes)`;
        else
          want = `ipv6: payload length ${sample.length - 40} exceeds the ${n - 40} bytes after the header`;
        expect(parseIpv6(sample.subarray(0, n))).toEqual({ ok: false, error: want });
      }
    }
  });

  it("refuses other versions and lying payload lengths", () => {
    const p = SAMPLES.dns6.slice();
    p[0] = 0x42;
    expect(parseIpv6(p)).toEqual({ ok: false, error: "ipv6: version 4, expected 6" });
    const lie = SAMPLES.dns6.slice();
    lie[4] = 0xff;
    expect(parseIpv6(lie)).toEqual({
      ok: false,
      error: `ipv6: payload length ${0xff2a} exceeds the 42 bytes after the header`,
    });
  });

  it("refuses extension headers that are truncated or overrun the payload", () => {
    // The payload length cuts the chain short, whatever the buffer holds.
    const cut = (packet: Uint8Array, payloadLength: number) => {
      const p = packet.slice();
      p[4] = payloadLength >> 8;
      p[5] = payloadLength & 0xff;
      return p;
    };
    const ext = SAMPLES.ext6;
    expect(parseIpv6(cut(ext, 0))).toEqual({
      ok: false,
      error: "ipv6: hop-by-hop options header truncated at byte 40",
    });
    expect(parseIpv6(cut(ext, 5))).toEqual({
      ok: false,
      error: "ipv6: hop-by-hop options header (8 bytes at byte 40) overruns the payload",
    });
    expect(parseIpv6(cut(ext, 9))).toEqual({
      ok: false,
      error: "ipv6: destination options header truncated at byte 48",
    });
    expect(parseIpv6(cut(ext, 10))).toEqual({
      ok: false,
      error: "ipv6: destination options header (8 bytes at byte 48) overruns the payload",
    });
    expect(parseIpv6(cut(ext, 18))).toEqual({
      ok: false,
      error: "ipv6: routing header truncated at byte 56",
    });
    expect(parseIpv6(cut(ext, 20))).toEqual({
      ok: false,
      error: "ipv6: routing header (8 bytes at byte 56) overruns the payload",
    });
    expect(parseIpv6(cut(ext, 25))).toEqual({
      ok: false,
      error: "ipv6: authentication header truncated at byte 64",
    });
    expect(parseIpv6(cut(ext, 40))).toEqual({
      ok: false,
      error: "ipv6: authentication header (24 bytes at byte 64) overruns the payload",
    });
    expect(parseIpv6(cut(ext, 56))).toEqual({
      ok: false,
      error: "ipv6: destination options header (16 bytes at byte 88) overruns the payload",
    });
    // The payload may end right after the last extension header: an empty UDP payload.
    expect(parseIpv6(cut(ext, 64))).toMatchObject({
      ok: true,
      protocol: 17,
      payload: new Uint8Array(0),
    });
    const [frag] = pythonBuild([withExt([{ type: 44 }], 17, "")]);
    expect(parseIpv6(cut(frag!, 7))).toEqual({
      ok: false,
      error: "ipv6: fragment header truncated at byte 40",
    });
    // A header length byte that claims more than is there.
    const big = ext.slice();
    big[41] = 200;
    expect(parseIpv6(big)).toEqual({
      ok: false,
      error: "ipv6: hop-by-hop options header (1608 bytes at byte 40) overruns the payload",
    });
  });

  it("refuses fragments with fragment: true, and walks a first fragment only in quoted mode", () => {
    const frag = { ok: false, error: "fragment", fragment: true };
    const [first, middle, last] = pythonBuild([
      withExt([{ type: 44, offset: 0, m: 1, ident: 1 }], 17, "0009000900084d7b"),
      withExt([{ type: 44, offset: 1448, m: 1, ident: 1 }], 17, "00"),
      withExt(
        [
          { type: 0, data: "010400000000" },
          { type: 44, offset: 8, m: 0, ident: 1 },
        ],
        17,
        "00",
      ),
    ]);
    expect(parseIpv6(first!)).toEqual(frag);
    expect(parseIpv6(middle!)).toEqual(frag);
    expect(parseIpv6(last!)).toEqual(frag);
    expect(parseIpv6(first!, { quoted: true })).toMatchObject({ ok: true, protocol: 17 });
    expect(parseIpv6(middle!, { quoted: true })).toEqual(frag);
  });

  it("refuses Hop-by-Hop after the first header, a Routing header with segments left, and header loops", () => {
    const pad = "010400000000";
    const hbh = { type: 0, data: pad };
    const dst = { type: 60, data: pad };
    const [late, loop, routed, eight, nine] = pythonBuild([
      withExt([dst, hbh]),
      withExt([hbh, hbh]),
      withExt([{ type: 43, routingType: 4, segmentsLeft: 2, data: "00000000" }]),
      withExt(Array(8).fill(dst)),
      withExt(Array(9).fill(dst)),
    ]);
    const notFirst = {
      ok: false,
      error: "ipv6: hop-by-hop options header not directly after the fixed header",
    };
    expect(parseIpv6(late!)).toEqual(notFirst);
    expect(parseIpv6(loop!)).toEqual(notFirst);
    expect(parseIpv6(routed!)).toEqual({
      ok: false,
      error: "ipv6: routing header with 2 segments left (not forwarded)",
    });
    expect(parseIpv6(eight!)).toMatchObject({ ok: true, extensionHeaders: 8, protocol: 59 });
    expect(parseIpv6(nine!)).toEqual({ ok: false, error: "ipv6: more than 8 extension headers" });
    // A chain as long as the largest payload allows, all Destination Options: stops at the cap.
    const longest = new Uint8Array(40 + 65535);
    longest.set(SAMPLES.ping6.subarray(0, 40));
    longest[4] = 0xff;
    longest[5] = 0xff;
    longest[6] = 60;
    for (let i = 40; i + 8 <= longest.length; i += 8) longest[i] = 60;
    expect(parseIpv6(longest)).toEqual({ ok: false, error: "ipv6: more than 8 extension headers" });
  });

  it("checks the options inside Hop-by-Hop and Destination Options headers", () => {
    const cases: [string, string | null][] = [
      ["000000000000", null], // Pad1 × 6
      ["1e0400000000", null], // unrecognized, action 00: skipped
      ["050200000100", null], // Router Alert, then PadN
      ["010500000000", "destination option 0x01 at byte 42 (length 5) overruns its header"],
      ["000000000001", "destination option 0x01 at byte 47 has no length byte"],
      [
        "5e0400000000",
        "destination option 0x5e is unrecognized and asks for the packet to be dropped",
      ],
      [
        "9e0400000000",
        "destination option 0x9e is unrecognized and asks for the packet to be dropped",
      ],
      [
        "de0400000000",
        "destination option 0xde is unrecognized and asks for the packet to be dropped",
      ],
      ["c20400010000", "jumbo payload option not supported"],
    ];
    const built = pythonBuild(cases.map(([data]) => withExt([{ type: 60, data }])));
    for (const [i, [, error]] of cases.entries()) {
      const result = parseIpv6(built[i]!);
      if (error === null) expect(result).toMatchObject({ ok: true, protocol: 59 });
      else expect(result).toEqual({ ok: false, error: `ipv6: ${error}` });
    }
    const [hopByHop] = pythonBuild([withExt([{ type: 0, data: "8e0400000000" }])]);
    expect(parseIpv6(hopByHop!)).toEqual({
      ok: false,
      error: "ipv6: hop-by-hop option 0x8e is unrecognized and asks for the packet to be dropped",
    });
  });

  it("quoted mode reads a cut-short original", () => {
    const quote = SAMPLES.tcp6.subarray(0, 48);
    expect(parseIpv6(quote).ok).toBe(false);
    const parsed = parseIpv6(quote, { quoted: true });
    expect(parsed).toMatchObject({ ok: true, protocol: 6, payloadLength: 1440 });
    expect(parsed.ok && toHex(parsed.payload)).toBe("c351005000000001");
    expect(SPECS.tcp6.proto).toBe(6);
  });
});
