// The version dispatcher and buildIp: IPv4 and IPv6 through one door, with the same result.

import { describe, expect, it } from "vitest";
import {
  buildIp,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIp,
} from "../../../worker/net/wire/ip.ts";
import { buildIpv4, parseIpv4 } from "../../../worker/net/wire/ipv4.ts";
import { buildIpv6, parseIpv6 } from "../../../worker/net/wire/ipv6.ts";
import { parseIp as parseAddress } from "../../../worker/wireguard/ip-address.ts";
import { toHex } from "./python.ts";
import { SAMPLES } from "./samples.ts";

describe("parseIp", () => {
  it("has the IANA protocol numbers", () => {
    expect([IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6]).toEqual([1, 6, 17, 58]);
  });

  it("dispatches by version to the same result as the version's own parser", () => {
    for (const sample of Object.values(SAMPLES)) {
      const own = sample[0]! >> 4 === 4 ? parseIpv4(sample) : parseIpv6(sample);
      expect(parseIp(sample)).toEqual(own);
      expect(parseIp(sample).ok).toBe(true);
    }
    const v4 = parseIp(SAMPLES.dns4);
    const v6 = parseIp(SAMPLES.dns6);
    expect(v4.ok && v4.version).toBe(4);
    expect(v6.ok && v6.version).toBe(6);
  });

  it("passes the quoted mode on", () => {
    expect(parseIp(SAMPLES.tcp4.subarray(0, 28), { quoted: true })).toMatchObject({
      ok: true,
      version: 4,
      protocol: 6,
    });
    expect(parseIp(SAMPLES.tcp6.subarray(0, 48), { quoted: true })).toMatchObject({
      ok: true,
      version: 6,
      protocol: 6,
    });
  });

  it("refuses an empty packet and unknown versions", () => {
    expect(parseIp(new Uint8Array(0))).toEqual({ ok: false, error: "ip: empty packet" });
    for (const version of [0, 1, 2, 3, 5, 7, 8, 15]) {
      expect(parseIp(Uint8Array.of(version << 4, 0, 0))).toEqual({
        ok: false,
        error: `ip: unknown version ${version}`,
      });
    }
    expect(parseIp(Uint8Array.of(0x45))).toEqual({
      ok: false,
      error: "ipv4: header truncated (1 of 20 bytes)",
    });
    expect(parseIp(Uint8Array.of(0x60))).toEqual({
      ok: false,
      error: "ipv6: header truncated (1 of 40 bytes)",
    });
  });
});

describe("buildIp", () => {
  it("builds IPv4 for 4-byte addresses and IPv6 for 16-byte ones", () => {
    const payload = Uint8Array.of(1, 2, 3);
    const a4 = parseAddress("100.64.0.1");
    const b4 = parseAddress("100.64.0.2");
    expect(
      toHex(buildIp({ source: a4, destination: b4, protocol: 17, hopLimit: 3 }, payload)),
    ).toBe(toHex(buildIpv4({ source: a4, destination: b4, protocol: 17, ttl: 3 }, payload)));
    const a6 = parseAddress("fd00::1");
    const b6 = parseAddress("fd00::2");
    expect(toHex(buildIp({ source: a6, destination: b6, protocol: 58 }, payload))).toBe(
      toHex(buildIpv6({ source: a6, destination: b6, nextHeader: 58, hopLimit: 64 }, payload)),
    );
    expect(() => buildIp({ source: a4, destination: b6, protocol: 6 }, payload)).toThrow(
      /must both be 4 or both 16 bytes, got 4 and 16/,
    );
  });
});
