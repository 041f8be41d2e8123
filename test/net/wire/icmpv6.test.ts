// ICMPv6: echo, destination unreachable and packet too big, against messages built by Python's
// struct (checksums over the IPv6 pseudo-header); the reply to ping6; hostile messages.

import { describe, expect, it } from "vitest";
import {
  buildIcmpv6DestinationUnreachable,
  buildIcmpv6Echo,
  buildIcmpv6PacketTooBig,
  ICMPV6_MAX_QUOTE,
  icmpv6EchoReplyFor,
  parseIcmpv6,
} from "../../../worker/net/wire/icmpv6.ts";
import { IPPROTO_ICMPV6 } from "../../../worker/net/wire/ip.ts";
import { buildIpv6, parseIpv6 } from "../../../worker/net/wire/ipv6.ts";
import { parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { type PySpec, pythonBuild, toHex } from "./python.ts";
import { pingData, SAMPLES, V6_HOST, V6_PEER } from "./samples.ts";

const HOST = parseAddress(V6_HOST);
const PEER = parseAddress(V6_PEER);

/** The parsed IPv6 packet of a sample (its payload is the ICMPv6 message). */
function ipOf(packet: Uint8Array) {
  const ip = parseIpv6(packet);
  if (!ip.ok) throw new Error(ip.error);
  return ip;
}

describe("ICMPv6 against known bytes", () => {
  const data = pingData(1718000001, 654321);
  const echoes = [
    { id: 0x0b80, seq: 3, size: 56 },
    { id: 0, seq: 0, size: 0 },
    { id: 0xffff, seq: 0xffff, size: 3 },
    { id: 0x4321, seq: 0x8001, size: 1232 },
  ];
  const bytesOf = (size: number) =>
    size === 56 ? data : Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff);
  const specs: PySpec[] = echoes.flatMap(({ id, seq, size }) =>
    [128, 129].map(
      (type) =>
        ({
          kind: "icmp6",
          src: V6_HOST,
          dst: V6_PEER,
          type,
          word: id * 65536 + seq,
          payload: toHex(bytesOf(size)),
        }) as PySpec,
    ),
  );
  specs.push({
    kind: "ipv6",
    src: V6_PEER,
    dst: V6_HOST,
    proto: 58,
    hop: 64,
    payload: { kind: "icmp6", type: 129, word: (0x0b80 << 16) | 3, payload: toHex(data) },
  });
  const expected = pythonBuild(specs);

  it("builds echo requests and replies as Python does, and parses them back", () => {
    for (const [i, { id, seq, size }] of echoes.entries()) {
      for (const [j, kind] of (["echo-request", "echo-reply"] as const).entries()) {
        const message = buildIcmpv6Echo(
          { source: HOST, destination: PEER, kind, id, seq },
          bytesOf(size),
        );
        const want = expected[i * 2 + j]!;
        expect(toHex(message)).toBe(toHex(want));
        const parsed = parseIcmpv6(want, HOST, PEER);
        expect(parsed).toMatchObject({
          ok: true,
          kind,
          type: kind === "echo-request" ? 128 : 129,
          code: 0,
          id,
          seq,
        });
        expect(parsed.ok && parsed.kind === kind && toHex(parsed.data)).toBe(toHex(bytesOf(size)));
      }
    }
  });

  it("answers ping6: the reply packet equals Python's, byte for byte", () => {
    const ip = ipOf(SAMPLES.ping6);
    expect(ip.protocol).toBe(IPPROTO_ICMPV6);
    const request = parseIcmpv6(ip.payload, ip.source, ip.destination);
    if (!request.ok || request.kind !== "echo-request") throw new Error("not an echo request");
    expect(request).toMatchObject({ id: 0x0b80, seq: 3 });
    const reply = icmpv6EchoReplyFor(request, { source: ip.destination, destination: ip.source });
    const packet = buildIpv6(
      { source: ip.destination, destination: ip.source, nextHeader: IPPROTO_ICMPV6 },
      reply,
    );
    expect(toHex(packet)).toBe(toHex(expected[expected.length - 1]!));
  });

  it("parses packet too big with its MTU and the quoted packet, and builds the same message", () => {
    const ip = ipOf(SAMPLES.ptb6);
    const parsed = parseIcmpv6(ip.payload, ip.source, ip.destination);
    if (!parsed.ok || parsed.kind !== "packet-too-big") throw new Error("not packet too big");
    expect(parsed).toMatchObject({ type: 2, code: 0, mtu: 1280 });
    expect(parsed.original.length).toBe(ICMPV6_MAX_QUOTE);
    expect(parseIpv6(parsed.original, { quoted: true })).toMatchObject({ ok: true, protocol: 6 });
    const built = buildIcmpv6PacketTooBig(
      { source: ip.source, destination: ip.destination, mtu: 1280 },
      SAMPLES.tcp6,
    );
    expect(toHex(built)).toBe(toHex(ip.payload));
    // The whole error fits the IPv6 minimum MTU.
    expect(SAMPLES.ptb6.length).toBe(1280);
  });

  it("parses and builds destination unreachable, and a 32-bit MTU", () => {
    const [unreachable, big] = pythonBuild([
      { kind: "icmp6", src: V6_PEER, dst: V6_HOST, type: 1, code: 4, payload: toHex(SAMPLES.dns6) },
      { kind: "icmp6", src: V6_PEER, dst: V6_HOST, type: 2, word: 0xfffffff0, payload: "60" },
    ]);
    const parsed = parseIcmpv6(unreachable!, PEER, HOST);
    expect(parsed).toMatchObject({ ok: true, kind: "destination-unreachable", code: 4 });
    expect(parsed.ok && parsed.kind === "destination-unreachable" && toHex(parsed.original)).toBe(
      toHex(SAMPLES.dns6),
    );
    const built = buildIcmpv6DestinationUnreachable(
      { source: PEER, destination: HOST, code: 4 },
      SAMPLES.dns6,
    );
    expect(toHex(built)).toBe(toHex(unreachable!));
    expect(parseIcmpv6(big!, PEER, HOST)).toMatchObject({
      ok: true,
      kind: "packet-too-big",
      mtu: 0xfffffff0,
    });
    expect(
      toHex(
        buildIcmpv6PacketTooBig(
          { source: PEER, destination: HOST, mtu: 0xfffffff0 },
          Uint8Array.of(0x60),
        ),
      ),
    ).toBe(toHex(big!));
  });

  it("returns other types (a neighbor solicitation) as kind 'other'", () => {
    const [ns] = pythonBuild([
      { kind: "icmp6", src: V6_HOST, dst: V6_PEER, type: 135, payload: toHex(PEER) },
    ]);
    const parsed = parseIcmpv6(ns!, HOST, PEER);
    expect(parsed).toMatchObject({ ok: true, kind: "other", type: 135 });
    expect(parsed.ok && parsed.kind === "other" && toHex(parsed.body)).toBe(toHex(PEER));
  });

  it("building with addresses that are not 16 bytes throws a RangeError", () => {
    const bad = {
      source: new Uint8Array(4),
      destination: PEER,
      kind: "echo-request" as const,
      id: 1,
      seq: 1,
    };
    expect(() => buildIcmpv6Echo(bad, new Uint8Array(0))).toThrow(
      /addresses must be 16 bytes, got 4 and 16/,
    );
  });
});

describe("ICMPv6 hostile input", () => {
  it("every truncation is refused: too short, or a checksum that no longer adds up", () => {
    for (const sample of [SAMPLES.ping6, SAMPLES.ptb6]) {
      const ip = ipOf(sample);
      for (let n = 0; n < Math.min(ip.payload.length, 61); n++) {
        const want = n < 8 ? `icmpv6: message truncated (${n} of 8 bytes)` : "icmpv6: bad checksum";
        expect(parseIcmpv6(ip.payload.subarray(0, n), ip.source, ip.destination)).toEqual({
          ok: false,
          error: want,
        });
      }
    }
  });

  it("refuses damaged bytes, the wrong addresses, and addresses that are not 16 bytes", () => {
    const ip = ipOf(SAMPLES.ping6);
    for (let i = 0; i < ip.payload.length; i++) {
      const damaged = ip.payload.slice();
      damaged[i] = damaged[i]! ^ 0x02;
      expect(parseIcmpv6(damaged, ip.source, ip.destination)).toEqual({
        ok: false,
        error: "icmpv6: bad checksum",
      });
    }
    expect(parseIcmpv6(ip.payload, ip.destination, ip.source).ok).toBe(true); // the sum is symmetric
    expect(parseIcmpv6(ip.payload, ip.source, parseAddress("fd7a:115c:a1e0::3"))).toEqual({
      ok: false,
      error: "icmpv6: bad checksum",
    });
    expect(parseIcmpv6(ip.payload, new Uint8Array(4), ip.destination)).toEqual({
      ok: false,
      error: "icmpv6: addresses must be 16 bytes",
    });
    expect(parseIcmpv6(new Uint8Array(0), ip.source, new Uint8Array(0))).toEqual({
      ok: false,
      error: "icmpv6: addresses must be 16 bytes",
    });
  });
});
