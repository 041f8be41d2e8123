// ICMPv4: echo, destination unreachable and fragmentation needed, against messages built by
// Python's struct; the reply to a Linux ping; hostile messages that must be refused.

import { describe, expect, it } from "vitest";
import {
  buildIcmpv4DestinationUnreachable,
  buildIcmpv4Echo,
  buildIcmpv4PacketTooBig,
  ICMPV4_MAX_QUOTE,
  icmpv4EchoReplyFor,
  parseIcmpv4,
} from "../../../worker/net/wire/icmpv4.ts";
import { IPPROTO_ICMP } from "../../../worker/net/wire/ip.ts";
import { buildIpv4, parseIpv4 } from "../../../worker/net/wire/ipv4.ts";
import { parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { type PySpec, pythonBuild, toHex } from "./python.ts";
import { pingData, SAMPLES, V4_HOST, V4_PEER } from "./samples.ts";

/** The ICMP message inside an IPv4 sample. */
function icmpOf(packet: Uint8Array): Uint8Array {
  const ip = parseIpv4(packet);
  if (!ip.ok) throw new Error(ip.error);
  return ip.payload;
}

describe("ICMPv4 against known bytes", () => {
  const data = pingData(1718000000, 123456);
  const echoes = [
    { id: 0x0b7f, seq: 1, size: 56 },
    { id: 0, seq: 0, size: 0 },
    { id: 0xffff, seq: 0xffff, size: 1 },
    { id: 0x1234, seq: 0x8000, size: 1472 },
  ];
  const bytesOf = (size: number) =>
    size === 56 ? data : Uint8Array.from({ length: size }, (_, i) => 255 - (i & 0xff));
  const specs: PySpec[] = echoes.flatMap(({ id, seq, size }) =>
    [8, 0].map(
      (type) =>
        ({ kind: "icmp4", type, word: id * 65536 + seq, payload: toHex(bytesOf(size)) }) as PySpec,
    ),
  );
  specs.push({
    kind: "ipv4",
    src: V4_PEER,
    dst: V4_HOST,
    proto: 1,
    id: 0x9d0f,
    df: false,
    payload: { kind: "icmp4", type: 0, word: (0x0b7f << 16) | 1, payload: toHex(data) },
  });
  const expected = pythonBuild(specs);

  it("builds echo requests and replies as Python does, and parses them back", () => {
    for (const [i, { id, seq, size }] of echoes.entries()) {
      for (const [j, kind] of (["echo-request", "echo-reply"] as const).entries()) {
        const message = buildIcmpv4Echo({ kind, id, seq }, bytesOf(size));
        const want = expected[i * 2 + j]!;
        expect(toHex(message)).toBe(toHex(want));
        const parsed = parseIcmpv4(want);
        expect(parsed).toMatchObject({
          ok: true,
          kind,
          type: kind === "echo-request" ? 8 : 0,
          code: 0,
          id,
          seq,
        });
        expect(parsed.ok && parsed.kind === kind && toHex(parsed.data)).toBe(toHex(bytesOf(size)));
      }
    }
  });

  it("answers a Linux ping: the reply packet equals Python's, byte for byte", () => {
    const ip = parseIpv4(SAMPLES.ping4);
    if (!ip.ok) throw new Error(ip.error);
    expect(ip.protocol).toBe(IPPROTO_ICMP);
    const request = parseIcmpv4(ip.payload);
    if (!request.ok || request.kind !== "echo-request") throw new Error("not an echo request");
    expect(request).toMatchObject({ id: 0x0b7f, seq: 1 });
    expect(toHex(request.data)).toBe(toHex(data));
    const reply = icmpv4EchoReplyFor(request);
    const packet = buildIpv4(
      {
        source: ip.destination,
        destination: ip.source,
        protocol: IPPROTO_ICMP,
        identification: 0x9d0f,
        dontFragment: false,
      },
      reply,
    );
    expect(toHex(packet)).toBe(toHex(expected[expected.length - 1]!));
  });

  it("parses a port unreachable quoting a DNS query, and builds the same message", () => {
    const message = icmpOf(SAMPLES.unreach4);
    const parsed = parseIcmpv4(message);
    if (!parsed.ok || parsed.kind !== "destination-unreachable") throw new Error("not unreachable");
    expect(parsed.code).toBe(3);
    expect(toHex(parsed.original)).toBe(toHex(SAMPLES.dns4));
    const quoted = parseIpv4(parsed.original, { quoted: true });
    expect(quoted).toMatchObject({ ok: true, protocol: 17 });
    expect(toHex(buildIcmpv4DestinationUnreachable({ code: 3 }, SAMPLES.dns4))).toBe(
      toHex(message),
    );
  });

  it("parses fragmentation needed (type 3 code 4) with its MTU as packet-too-big, and builds it", () => {
    const message = icmpOf(SAMPLES.ptb4);
    const parsed = parseIcmpv4(message);
    expect(parsed).toMatchObject({ ok: true, kind: "packet-too-big", type: 3, code: 4, mtu: 1400 });
    expect(parsed.ok && parsed.kind === "packet-too-big" && parsed.original.length).toBe(548);
    // The builder cuts the 1500-byte original to the 548 bytes Python quoted.
    expect(toHex(buildIcmpv4PacketTooBig({ mtu: 1400 }, SAMPLES.tcp4))).toBe(toHex(message));
    expect(ICMPV4_MAX_QUOTE).toBe(548);
  });

  it("returns other types as kind 'other' with the rest of the header and the body", () => {
    const [timestamp] = pythonBuild([
      { kind: "icmp4", type: 13, word: 0x00010002, payload: "0000000100000002" },
    ]);
    expect(parseIcmpv4(timestamp!)).toMatchObject({ ok: true, kind: "other", type: 13, code: 0 });
    const parsed = parseIcmpv4(timestamp!);
    expect(parsed.ok && parsed.kind === "other" && toHex(parsed.rest) + toHex(parsed.body)).toBe(
      "000100020000000100000002",
    );
  });

  it("addresses are not involved: the same message parses from any IPv4 packet", () => {
    const message = buildIcmpv4Echo({ kind: "echo-request", id: 1, seq: 2 }, Uint8Array.of(9));
    const ip = buildIpv4(
      { source: parseAddress("1.2.3.4"), destination: parseAddress("5.6.7.8"), protocol: 1 },
      message,
    );
    expect(parseIcmpv4(icmpOf(ip))).toMatchObject({ ok: true, kind: "echo-request" });
  });
});

describe("ICMPv4 hostile input", () => {
  it("every truncation is refused: too short, or a checksum that no longer adds up", () => {
    for (const sample of [icmpOf(SAMPLES.ping4), icmpOf(SAMPLES.unreach4), icmpOf(SAMPLES.ptb4)]) {
      for (let n = 0; n < Math.min(sample.length, 61); n++) {
        const want = n < 8 ? `icmpv4: message truncated (${n} of 8 bytes)` : "icmpv4: bad checksum";
        expect(parseIcmpv4(sample.subarray(0, n))).toEqual({ ok: false, error: want });
      }
    }
  });

  it("refuses any single damaged byte, and extra bytes", () => {
    const message = icmpOf(SAMPLES.ping4);
    for (let i = 0; i < message.length; i++) {
      const damaged = message.slice();
      damaged[i] = damaged[i]! ^ 0x40;
      expect(parseIcmpv4(damaged)).toEqual({ ok: false, error: "icmpv4: bad checksum" });
    }
    const longer = new Uint8Array(message.length + 2).fill(1);
    longer.set(message);
    expect(parseIcmpv4(longer)).toEqual({ ok: false, error: "icmpv4: bad checksum" });
  });
});
