// Seeded fuzz of every wire parser: random bytes, and mutations of the capture-like samples
// (bit flips, boundary values in length fields, truncations, extensions, insertions), half of
// them with their checksums fixed up so the mutations reach past the checksum checks. No
// parser may throw; a refusal names its reason; an accepted packet's views stay inside the
// bytes given.

import { describe, expect, it } from "vitest";
import { checksum, transportChecksum } from "../../../worker/net/wire/checksum.ts";
import { parseIcmpv4 } from "../../../worker/net/wire/icmpv4.ts";
import { parseIcmpv6 } from "../../../worker/net/wire/icmpv6.ts";
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_UDP,
  type IpPacket,
  parseIp,
  type WireError,
} from "../../../worker/net/wire/ip.ts";
import { parseIpv4 } from "../../../worker/net/wire/ipv4.ts";
import { parseIpv6 } from "../../../worker/net/wire/ipv6.ts";
import { parseUdp } from "../../../worker/net/wire/udp.ts";
import { parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { seededBytes, seededInts } from "../../helpers/seeded.ts";
import { SAMPLES } from "./samples.ts";

const A4 = parseAddress("100.64.0.1");
const B4 = parseAddress("100.64.0.2");
const A6 = parseAddress("fd7a:115c:a1e0::1");
const B6 = parseAddress("fd7a:115c:a1e0::2");

const stats = {
  inputs: 0,
  random: 0,
  mutated: 0,
  calls: 0,
  ipAccepted: 0,
  upperAccepted: 0,
  quotedAccepted: 0,
};

/** Checks a parser's result: a named refusal, or views that lie inside `input`. */
function check(input: Uint8Array, result: { ok: true } | WireError): boolean {
  stats.calls += 1;
  if (!result.ok) {
    if (typeof result.error !== "string" || result.error.length === 0)
      throw new Error("refusal without a reason");
    if ((result.error === "fragment") !== (result.fragment === true))
      throw new Error("fragment flag mismatch");
    return false;
  }
  for (const value of Object.values(result as Record<string, unknown>)) {
    if (!(value instanceof Uint8Array)) continue;
    const start = value.byteOffset - input.byteOffset;
    if (value.buffer !== input.buffer || start < 0 || start + value.length > input.length) {
      throw new Error("a view reaches outside the input");
    }
  }
  return true;
}

/** The upper-layer parsers for an accepted IP packet, with its own addresses. */
function parseUpper(ip: IpPacket, input: Uint8Array): void {
  const { payload, source, destination } = ip;
  if (ip.protocol === IPPROTO_UDP && check(input, parseUdp(payload, source, destination)))
    stats.upperAccepted += 1;
  if (ip.protocol === IPPROTO_ICMP || ip.protocol === IPPROTO_ICMPV6) {
    const message =
      ip.version === 4 ? parseIcmpv4(payload) : parseIcmpv6(payload, source, destination);
    if (!check(input, message) || !message.ok) return;
    stats.upperAccepted += 1;
    if (message.kind === "destination-unreachable" || message.kind === "packet-too-big") {
      if (check(input, parseIp(message.original, { quoted: true }))) stats.quotedAccepted += 1;
    }
  }
}

/** Every parser over `input`, as any kind of packet. */
function parseEverything(input: Uint8Array): void {
  stats.inputs += 1;
  const ip = parseIp(input);
  if (check(input, ip) && ip.ok) {
    stats.ipAccepted += 1;
    if (ip.version === 4 && (ip.totalLength < ip.headerLength || ip.totalLength > input.length))
      throw new Error("bad totalLength");
    parseUpper(ip, input);
  }
  check(input, parseIp(input, { quoted: true }));
  check(input, parseIpv4(input));
  check(input, parseIpv6(input, { quoted: true }));
  check(input, parseIcmpv4(input));
  check(input, parseIcmpv6(input, A6, B6));
  check(input, parseUdp(input, A4, B4));
  check(input, parseUdp(input, A6, B6));
}

/** Recomputes the IPv4 header checksum and the transport checksum, where they can be found. */
function fixChecksums(p: Uint8Array): void {
  const version = p[0]! >> 4;
  if (version === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < 20 || ihl > p.length) return;
    p[10] = 0;
    p[11] = 0;
    const sum = checksum(p.subarray(0, ihl));
    p[10] = sum >> 8;
    p[11] = sum & 0xff;
  }
  const ip = parseIp(p);
  if (!ip.ok) return;
  const t = ip.payload;
  const at = ip.protocol === IPPROTO_UDP ? 6 : 2;
  if (t.length < at + 2 || ![IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6].includes(ip.protocol))
    return;
  t[at] = 0;
  t[at + 1] = 0;
  const sum =
    ip.protocol === IPPROTO_ICMP
      ? checksum(t)
      : transportChecksum(ip.source, ip.destination, ip.protocol, t);
  t[at] = sum >> 8;
  t[at + 1] = sum & 0xff;
}

const BOUNDARY = [
  0, 1, 2, 4, 5, 7, 8, 0x0f, 0x10, 0x14, 0x28, 0x2b, 0x2c, 0x33, 0x3b, 0x3c, 0x3f, 0x40, 0x45, 0x46,
  0x4f, 0x60, 0x7f, 0x80, 0xc2, 0xfe, 0xff,
];

describe("wire parsers fuzz", () => {
  it("50,000+ random and mutated packets: no parser throws, refusals are named, views stay in bounds", () => {
    const int = seededInts(0x5eed_0a11);
    const rand = seededBytes(0x5eed_0a12);
    const seeds: Uint8Array[] = Object.values(SAMPLES);
    // The upper-layer messages alone too, so the ICMP and UDP parsers see near-valid input.
    for (const sample of Object.values(SAMPLES)) {
      const ip = parseIp(sample);
      if (ip.ok) seeds.push(ip.payload.slice());
    }

    for (let i = 0; i < 20_000; i++) {
      const input = rand(int(8) === 0 ? int(2000) : int(130));
      const r = int(4);
      if (r === 0 && input.length > 0) input[0] = 0x40 | (input[0]! & 0x0f);
      if (r === 1 && input.length > 0) input[0] = 0x60 | (input[0]! & 0x0f);
      if (int(3) === 0) fixChecksums(input);
      stats.random += 1;
      parseEverything(input);
    }

    for (let i = 0; i < 40_000; i++) {
      let p = seeds[int(seeds.length)]!.slice();
      const edits = 1 + int(4);
      for (let e = 0; e < edits && p.length > 0; e++) {
        const at = int(Math.min(p.length, int(2) === 0 ? 128 : p.length));
        switch (int(8)) {
          case 0:
            p[at] = p[at]! ^ (1 << int(8));
            break;
          case 1:
            p[at] = BOUNDARY[int(BOUNDARY.length)]!;
            break;
          case 2:
            p[at] = int(256);
            break;
          case 3: {
            // A 16-bit length field (IPv4 total, IPv6 payload, UDP length) set to a boundary.
            const field = [2, 4, 24, 44, 64][int(5)]!;
            const value = [
              0,
              7,
              8,
              19,
              20,
              39,
              40,
              p.length,
              p.length - field,
              p.length + 1,
              0xffff,
            ][int(11)]!;
            if (field + 1 < p.length) {
              p[field] = (value >> 8) & 0xff;
              p[field + 1] = value & 0xff;
            }
            break;
          }
          case 4:
            p = p.slice(0, int(p.length + 1));
            break;
          case 5: {
            const longer = new Uint8Array(p.length + 1 + int(64));
            longer.set(p);
            longer.set(rand(longer.length - p.length), p.length);
            p = longer;
            break;
          }
          case 6: {
            const n = 1 + int(16);
            const out = new Uint8Array(p.length + n);
            out.set(p.subarray(0, at));
            out.set(rand(n), at);
            out.set(p.subarray(at), at + n);
            p = out;
            break;
          }
          default: {
            const tail = p.subarray(Math.min(p.length, at + 1 + int(16)));
            const out = new Uint8Array(at + tail.length);
            out.set(p.subarray(0, at));
            out.set(tail, at);
            p = out;
          }
        }
      }
      if (int(2) === 0) fixChecksums(p);
      stats.mutated += 1;
      // Half the time parse a view at an offset into a larger buffer, as a real receive path does.
      if (int(2) === 0) {
        const holder = rand(p.length + 32);
        holder.set(p, 16);
        parseEverything(holder.subarray(16, 16 + p.length));
      } else {
        parseEverything(p);
      }
    }

    console.log(
      `wire fuzz: ${stats.inputs} inputs (${stats.random} random, ${stats.mutated} mutated), ` +
        `${stats.calls} parser calls; accepted: ${stats.ipAccepted} IP, ` +
        `${stats.upperAccepted} UDP/ICMP, ${stats.quotedAccepted} quoted originals`,
    );
    expect(stats.inputs).toBeGreaterThanOrEqual(50_000);
    // The mutations reached past the checks: some packets still parse all the way down.
    expect(stats.ipAccepted).toBeGreaterThan(1000);
    expect(stats.upperAccepted).toBeGreaterThan(1000);
    expect(stats.quotedAccepted).toBeGreaterThan(100);
  });
});
