// UDP over IPv4 and IPv6: datagrams against Python's struct, the pseudo-header checksum
// (zero = none over IPv4, mandatory over IPv6, a computed 0 sent as 0xffff), zero-copy
// building in place, and hostile datagrams that must be refused.

import { describe, expect, it } from "vitest";
import { IPPROTO_UDP } from "../../../worker/net/wire/ip.ts";
import { buildIpv4, parseIpv4, writeIpv4Header } from "../../../worker/net/wire/ipv4.ts";
import { buildIpv6, parseIpv6, writeIpv6Header } from "../../../worker/net/wire/ipv6.ts";
import {
  buildUdp,
  parseUdp,
  type UdpFields,
  writeUdpHeader,
} from "../../../worker/net/wire/udp.ts";
import { parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { type PySpec, pythonBuild, toHex } from "./python.ts";
import { dnsQuery, SAMPLES, V4_HOST, V4_PEER, V6_HOST, V6_PEER } from "./samples.ts";

const payloadOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 17 + 3) & 0xff);

/** The parsed IP packet of a sample (its payload is the UDP datagram). */
function ipOf(packet: Uint8Array) {
  const ip = packet[0]! >> 4 === 4 ? parseIpv4(packet) : parseIpv6(packet);
  if (!ip.ok) throw new Error(ip.error);
  return ip;
}

describe("UDP against known bytes", () => {
  const cases: { src: string; dst: string; sport: number; dport: number; size: number }[] = [];
  for (const [src, dst] of [
    [V4_HOST, V4_PEER],
    ["0.0.0.0", "255.255.255.255"],
    [V6_HOST, V6_PEER],
    ["::", "::1"],
  ] as const) {
    for (const [sport, dport] of [
      [53211, 53],
      [0, 65535],
      [65535, 1],
    ] as const) {
      for (const size of [0, 1, 2, 512, 1392, 65527]) {
        if (size > 2000 && sport !== 0) continue;
        cases.push({ src, dst, sport, dport, size });
      }
    }
  }
  const expected = pythonBuild(
    cases.map(
      ({ src, dst, sport, dport, size }) =>
        ({ kind: "udp", src, dst, sport, dport, payload: toHex(payloadOf(size)) }) as PySpec,
    ),
  );

  it(`builds ${cases.length} datagrams over IPv4 and IPv6 as Python does, and parses them back`, () => {
    for (const [k, { src, dst, sport, dport, size }] of cases.entries()) {
      const fields: UdpFields = {
        source: parseAddress(src),
        destination: parseAddress(dst),
        sourcePort: sport,
        destinationPort: dport,
      };
      expect(toHex(buildUdp(fields, payloadOf(size)))).toBe(toHex(expected[k]!));
      const parsed = parseUdp(expected[k]!, fields.source, fields.destination);
      if (!parsed.ok) throw new Error(parsed.error);
      expect(parsed).toMatchObject({ sourcePort: sport, destinationPort: dport, length: 8 + size });
      expect(toHex(parsed.payload)).toBe(toHex(payloadOf(size)));
    }
  });

  it("parses a DNS query over IPv4 and one over IPv6 (capture-like samples)", () => {
    for (const [sample, query, port] of [
      [SAMPLES.dns4, dnsQuery(0xabcd, "example.com", 1), 53211],
      [SAMPLES.dns6, dnsQuery(0x1234, "corridor.example", 28), 40001],
    ] as const) {
      const ip = ipOf(sample);
      expect(ip.protocol).toBe(IPPROTO_UDP);
      const udp = parseUdp(ip.payload, ip.source, ip.destination);
      expect(udp).toMatchObject({ ok: true, sourcePort: port, destinationPort: 53 });
      expect(udp.ok && toHex(udp.payload)).toBe(toHex(query));
      expect(udp.ok && udp.payload.buffer).toBe(sample.buffer);
    }
  });

  it("sends a computed checksum of 0 as 0xffff (over IPv4 and IPv6), as Python does", () => {
    for (const [src, dst] of [
      [V4_HOST, V4_PEER],
      [V6_HOST, V6_PEER],
    ] as const) {
      const fields: UdpFields = {
        source: parseAddress(src),
        destination: parseAddress(dst),
        sourcePort: 7,
        destinationPort: 7,
      };
      // A payload word equal to the checksum without it makes the sum 0xffff: checksum 0.
      const zero = buildUdp(fields, new Uint8Array(2));
      const payload = zero.slice(6, 8);
      const [python] = pythonBuild([
        { kind: "udp", src, dst, sport: 7, dport: 7, payload: toHex(payload) },
      ]);
      const datagram = buildUdp(fields, payload);
      expect(toHex(datagram.subarray(6, 8))).toBe("ffff");
      expect(toHex(datagram)).toBe(toHex(python!));
      expect(parseUdp(datagram, fields.source, fields.destination).ok).toBe(true);
    }
  });

  it("accepts a zero checksum (none) over IPv4 only", () => {
    const [none4, none6] = pythonBuild([
      {
        kind: "udp",
        src: V4_HOST,
        dst: V4_PEER,
        sport: 1,
        dport: 2,
        payload: "abcdef",
        noChecksum: true,
      },
      {
        kind: "udp",
        src: V6_HOST,
        dst: V6_PEER,
        sport: 1,
        dport: 2,
        payload: "abcdef",
        noChecksum: true,
      },
    ]);
    expect(parseUdp(none4!, parseAddress(V4_HOST), parseAddress(V4_PEER))).toMatchObject({
      ok: true,
      checksum: 0,
    });
    expect(parseUdp(none6!, parseAddress(V6_HOST), parseAddress(V6_PEER))).toEqual({
      ok: false,
      error: "udp: zero checksum over IPv6",
    });
  });

  it("builds a whole IPv4 or IPv6 datagram in one buffer, without copying the payload", () => {
    const payload = payloadOf(100);
    for (const [src, dst, header] of [
      [V4_HOST, V4_PEER, 20],
      [V6_HOST, V6_PEER, 40],
    ] as const) {
      const source = parseAddress(src);
      const destination = parseAddress(dst);
      const fields: UdpFields = { source, destination, sourcePort: 4000, destinationPort: 5000 };
      const packet = new Uint8Array(header + 8 + payload.length);
      packet.set(payload, header + 8);
      expect(writeUdpHeader(packet, header, fields, payload.length)).toBe(8);
      const ip = { source, destination, protocol: IPPROTO_UDP, nextHeader: IPPROTO_UDP };
      if (header === 20) writeIpv4Header(packet, 0, ip, 8 + payload.length);
      else writeIpv6Header(packet, 0, ip, 8 + payload.length);
      const separate =
        header === 20
          ? buildIpv4(ip, buildUdp(fields, payload))
          : buildIpv6(ip, buildUdp(fields, payload));
      expect(toHex(packet)).toBe(toHex(separate));
    }
  });

  it("refuses to emit impossible datagrams with a RangeError", () => {
    const fields: UdpFields = {
      source: parseAddress(V4_HOST),
      destination: parseAddress(V6_PEER),
      sourcePort: 1,
      destinationPort: 2,
    };
    expect(() => buildUdp(fields, new Uint8Array(0))).toThrow(
      /must both be 4 or both 16 bytes, got 4 and 16/,
    );
    const v4 = { ...fields, destination: parseAddress(V4_PEER) };
    expect(() => buildUdp(v4, new Uint8Array(65528))).toThrow(/datagram of 65536 bytes > 65535/);
    expect(() => writeUdpHeader(new Uint8Array(10), 0, v4, 3)).toThrow(
      /no room for a 11-byte datagram/,
    );
  });
});

describe("UDP hostile input", () => {
  const ip4 = ipOf(SAMPLES.dns4);
  const ip6 = ipOf(SAMPLES.dns6);

  it("every truncation is refused with the exact reason", () => {
    for (const ip of [ip4, ip6]) {
      const datagram = ip.payload;
      for (let n = 0; n < Math.min(datagram.length, 61); n++) {
        const want =
          n < 8
            ? `udp: header truncated (${n} of 8 bytes)`
            : `udp: length ${datagram.length} exceeds the ${n} bytes received`;
        expect(parseUdp(datagram.subarray(0, n), ip.source, ip.destination)).toEqual({
          ok: false,
          error: `${want}`,
        });
      }
    }
  });

  it("refuses lying length fields and ignores bytes past an honest one", () => {
    const withLength = (length: number, extra = 0) => {
      const d = new Uint8Array(ip4.payload.length + extra).fill(0x33);
      d.set(ip4.payload);
      d[4] = length >> 8;
      d[5] = length & 0xff;
      return d;
    };
    const n = ip4.payload.length;
    expect(parseUdp(withLength(n + 1), ip4.source, ip4.destination)).toEqual({
      ok: false,
      error: `udp: length ${n + 1} exceeds the ${n} bytes received`,
    });
    expect(parseUdp(withLength(7), ip4.source, ip4.destination)).toEqual({
      ok: false,
      error: "udp: length 7 is shorter than the header",
    });
    expect(parseUdp(withLength(0), ip4.source, ip4.destination)).toEqual({
      ok: false,
      error: "udp: length 0 is shorter than the header",
    });
    // A shorter length moves the end, so the checksum no longer covers the same bytes.
    expect(parseUdp(withLength(n - 1), ip4.source, ip4.destination)).toEqual({
      ok: false,
      error: "udp: bad checksum",
    });
    // Bytes after the length (here 5 of them) are not part of the datagram.
    const padded = parseUdp(withLength(n, 5), ip4.source, ip4.destination);
    expect(padded.ok && padded.payload.length).toBe(n - 8);
  });

  it("refuses damaged bytes, a pseudo-header with other addresses, and bad address lengths", () => {
    for (const ip of [ip4, ip6]) {
      for (let i = 0; i < ip.payload.length; i++) {
        if (i === 4 || i === 5) continue; // the length field fails first
        const damaged = ip.payload.slice();
        damaged[i] = damaged[i]! ^ 0x10;
        expect(parseUdp(damaged, ip.source, ip.destination)).toEqual({
          ok: false,
          error: "udp: bad checksum",
        });
      }
    }
    expect(parseUdp(ip4.payload, ip4.source, parseAddress("100.64.0.54"))).toEqual({
      ok: false,
      error: "udp: bad checksum",
    });
    const mixed = { ok: false, error: "udp: addresses must both be 4 or both 16 bytes" };
    expect(parseUdp(ip4.payload, ip4.source, ip6.destination)).toEqual(mixed);
    expect(parseUdp(ip4.payload, new Uint8Array(0), new Uint8Array(0))).toEqual(mixed);
  });
});
