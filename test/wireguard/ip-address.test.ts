// The IP address parser and RFC 5952 formatter (worker/wireguard/ip-address.ts): examples,
// error messages, formatting checked against the WHATWG URL serializer, and a seeded fuzz of
// parseIp and parseCidr whose acceptance is checked against node:net's isIP.

import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { formatCidr, parseCidr } from "../../worker/wireguard/allowed-ips.ts";
import { formatIp, parseIp } from "../../worker/wireguard/ip-address.ts";
import { typeErrorOf } from "../helpers/errors.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** `text` parsed, as an array (so failures print readably). */
function bytesOf(text: string): number[] {
  return [...parseIp(text)];
}

/** The TypeError message `fn` throws; fails the test if it throws anything else or nothing. */

describe("parseIp", () => {
  it("parses IPv4", () => {
    expect(bytesOf("10.0.0.1")).toEqual([10, 0, 0, 1]);
    expect(bytesOf("0.0.0.0")).toEqual([0, 0, 0, 0]);
    expect(bytesOf("255.255.255.255")).toEqual([255, 255, 255, 255]);
    expect(bytesOf("100.64.1.200")).toEqual([100, 64, 1, 200]);
  });

  it("parses IPv6 in every shape", () => {
    const v6 = (groups: number[]) => groups.flatMap((g) => [g >> 8, g & 0xff]);
    expect(bytesOf("::")).toEqual(v6([0, 0, 0, 0, 0, 0, 0, 0]));
    expect(bytesOf("::1")).toEqual(v6([0, 0, 0, 0, 0, 0, 0, 1]));
    expect(bytesOf("1::")).toEqual(v6([1, 0, 0, 0, 0, 0, 0, 0]));
    expect(bytesOf("2001:db8::1")).toEqual(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
    expect(bytesOf("2001:DB8:0:0:1:0:0:1")).toEqual(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]));
    expect(bytesOf("fd00:0000:00ab::cdef")).toEqual(v6([0xfd00, 0, 0xab, 0, 0, 0, 0, 0xcdef]));
    expect(bytesOf("1:2:3:4:5:6:7::")).toEqual(v6([1, 2, 3, 4, 5, 6, 7, 0]));
    expect(bytesOf("::2:3:4:5:6:7:8")).toEqual(v6([0, 2, 3, 4, 5, 6, 7, 8]));
    expect(bytesOf("1:2:3:4:5:6:7:8")).toEqual(v6([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(bytesOf("::ffff:10.0.0.1")).toEqual(v6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]));
    expect(bytesOf("1:2:3:4:5:6:1.2.3.4")).toEqual(v6([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]));
    expect(bytesOf("1::9.8.7.6")).toEqual(v6([1, 0, 0, 0, 0, 0, 0x0908, 0x0706]));
  });

  it("names what is wrong", () => {
    const cases: [string, string][] = [
      ["", "IP address '': empty"],
      ["10.0.0.256", "IP address '10.0.0.256': octet 4 out of range"],
      ["300.0.0.1", "IP address '300.0.0.1': octet 1 out of range"],
      ["1.2.3.4444", "IP address '1.2.3.4444': octet 4 out of range"],
      ["10.01.0.1", "IP address '10.01.0.1': octet 2 has a leading zero"],
      ["10..0.1", "IP address '10..0.1': octet 2 is empty"],
      ["10.0.0", "IP address '10.0.0': too few octets (3, want 4)"],
      ["1.2.3.4.5", "IP address '1.2.3.4.5': too many octets (5, want 4)"],
      ["10.0.0.x", "IP address '10.0.0.x': unexpected character 'x'"],
      ["garbage", "IP address 'garbage': unexpected character 'g'"],
      [" 10.0.0.1", "IP address ' 10.0.0.1': unexpected character U+0020"],
      ["1:2:3:4:5:6:7:8:9", "IP address '1:2:3:4:5:6:7:8:9': too many groups (9, want 8)"],
      ["1:2:3:4:5:6:7", "IP address '1:2:3:4:5:6:7': too few groups (7, want 8)"],
      ["1:2:3:4::5:6:7:8", "IP address '1:2:3:4::5:6:7:8': too many groups (8 and '::')"],
      ["1::2::3", "IP address '1::2::3': more than one '::'"],
      ["1:::2", "IP address '1:::2': ':::' is not valid"],
      [":1:2:3:4:5:6:7", "IP address ':1:2:3:4:5:6:7': starts with a single ':'"],
      ["1:2:3:4:5:6:7:", "IP address '1:2:3:4:5:6:7:': ends with a single ':'"],
      ["12345::", "IP address '12345::': group 1 has more than 4 hex digits"],
      ["fe80::1%eth0", "IP address 'fe80::1%eth0': zone index ('%...') not allowed"],
      ["fg::1", "IP address 'fg::1': unexpected character 'g'"],
      ["1.2.3.4::", "IP address '1.2.3.4::': embedded IPv4 address must come last"],
      ["::1.2.3.4:1", "IP address '::1.2.3.4:1': embedded IPv4 address must come last"],
      [
        "::ffff:1.2.3.256",
        "IP address '::ffff:1.2.3.256': embedded IPv4 '1.2.3.256': octet 4 out of range",
      ],
      ["1:2:3:4:5:6:7:1.2.3.4", "IP address '1:2:3:4:5:6:7:1.2.3.4': too many groups (9, want 8)"],
    ];
    for (const [text, message] of cases)
      expect(
        typeErrorOf(() => parseIp(text)),
        text,
      ).toBe(message);
  });

  it("uses the caller's context and shortens long input", () => {
    expect(typeErrorOf(() => parseIp("1.2.3", "peer endpoint 'x'"))).toBe(
      "peer endpoint 'x': too few octets (3, want 4)",
    );
    const long = "1".repeat(1000);
    expect(typeErrorOf(() => parseIp(long))).toBe(
      `IP address '${"1".repeat(64)}…': too few octets (1, want 4)`,
    );
  });
});

describe("formatIp", () => {
  it("follows RFC 5952", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["0:0:0:0:0:0:0:1", "::1"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
      ["2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"], // longest run, not the first
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
      ["2001:0DB8:00AB:0000:0000:0000:000C:0D00", "2001:db8:ab::c:d00"], // lowercase, no leading 0s
      ["1:0:0:0:0:0:0:0", "1::"],
      ["0:0:1:0:0:0:1:0", "0:0:1::1:0"],
      ["fe80:0:0:0:0:0:0:0", "fe80::"],
      ["0:0:0:0:0:ffff:a00:1", "::ffff:10.0.0.1"], // IPv4-mapped in mixed notation
      ["0:0:0:0:0:fffe:a00:1", "::fffe:a00:1"],
      ["0:0:0:0:1:ffff:a00:1", "::1:ffff:a00:1"],
    ];
    for (const [input, want] of cases) expect(formatIp(parseIp(input)), input).toBe(want);
    expect(formatIp(new Uint8Array([10, 0, 0, 1]))).toBe("10.0.0.1");
    expect(formatIp(new Uint8Array([255, 255, 255, 255]))).toBe("255.255.255.255");
  });

  it("reads a view into a larger buffer", () => {
    const packet = new Uint8Array(40);
    packet.set(parseIp("fd00::abcd"), 8);
    expect(formatIp(packet.subarray(8, 24))).toBe("fd00::abcd");
  });

  it("refuses other lengths", () => {
    expect(typeErrorOf(() => formatIp(new Uint8Array(5)))).toBe(
      "formatIp: an address is 4 or 16 bytes, got 5",
    );
  });

  it("agrees with the WHATWG URL serializer on 20,000 seeded addresses", () => {
    const bytes = seededBytes(5952);
    const ints = seededInts(5953);
    let checked = 0;
    for (let n = 0; n < 20_000; n++) {
      // Mostly-zero groups, so runs of zeros of every length and position occur.
      const addr = bytes(16);
      for (let g = 0; g < 8; g++) {
        if (ints(3) !== 0) addr.fill(0, g * 2, g * 2 + 2);
      }
      const text = formatIp(addr);
      expect([...parseIp(text)]).toEqual([...addr]);
      if (text.startsWith("::ffff:") && text.includes(".")) continue; // URL shows it as hex
      expect(text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
      checked++;
    }
    expect(checked).toBeGreaterThan(19_000);
  });
});

/** Strings that are, or are near, addresses and prefixes, for the fuzz to mutate. */
const CORPUS = [
  "10.0.0.1",
  "10.0.0.0/8",
  "0.0.0.0/0",
  "255.255.255.255/32",
  "100.64.0.0/10",
  "fd00::/8",
  "::/0",
  "::",
  "::1",
  "2001:db8::1/128",
  "2001:db8:0:0:1:0:0:1",
  "1:2:3:4:5:6:7:8/64",
  "::ffff:10.0.0.1/120",
  "1:2:3:4:5:6:1.2.3.4",
  "fe80::1%eth0",
];
const ALPHABET = "0123456789abcdefABCDEFgx.:/%- ";

/** A seeded source of strings: mutations of the corpus, splices, and random junk. */
function stringSource(seed: number): () => string {
  const ints = seededInts(seed);
  const pick = (s: string) => s[ints(s.length)]!;
  const randomChar = () => (ints(8) === 0 ? String.fromCharCode(ints(0x10000)) : pick(ALPHABET));
  return () => {
    let s = CORPUS[ints(CORPUS.length)]!;
    const kind = ints(10);
    if (kind === 0) {
      s = "";
      for (let i = ints(40); i > 0; i--) s += randomChar();
      return s;
    }
    if (kind === 1) {
      const other = CORPUS[ints(CORPUS.length)]!;
      return s.slice(0, ints(s.length + 1)) + other.slice(ints(other.length + 1));
    }
    for (let m = 1 + ints(4); m > 0; m--) {
      const at = ints(s.length + 1);
      switch (ints(5)) {
        case 0:
          s = s.slice(0, at) + randomChar() + s.slice(at + 1);
          break;
        case 1:
          s = s.slice(0, at) + randomChar() + s.slice(at);
          break;
        case 2:
          s = s.slice(0, at) + s.slice(at + 1);
          break;
        case 3:
          s = s.slice(0, at) + s.slice(ints(s.length + 1));
          break;
        default:
          s = s.slice(0, at) + s.slice(at, at + 1 + ints(4)).repeat(2) + s.slice(at + 1 + ints(4));
      }
    }
    return s;
  };
}

describe("fuzz: parseIp and parseCidr", () => {
  it("return a valid value or throw a TypeError, for 50,000 seeded strings each", () => {
    const next = stringSource(0xc1d7);
    const counts = { tried: 0, ip: 0, cidr: 0, netDisagrees: [] as string[] };
    for (let n = 0; n < 50_000; n++) {
      const s = next();
      counts.tried++;
      let ip: Uint8Array | undefined;
      try {
        ip = parseIp(s);
      } catch (e) {
        expect(e, s).toBeInstanceOf(TypeError);
        expect((e as TypeError).message.startsWith("IP address '"), s).toBe(true);
      }
      if (ip !== undefined) {
        counts.ip++;
        expect([4, 16], s).toContain(ip.length);
        expect([...parseIp(formatIp(ip))], s).toEqual([...ip]);
      }
      // node:net is an independent judge of what is an address (it allows zones; we don't).
      if (!s.includes("%") && (ip !== undefined) !== (isIP(s) !== 0)) counts.netDisagrees.push(s);

      try {
        const prefix = parseCidr(s);
        counts.cidr++;
        expect([4, 16], s).toContain(prefix.addr.length);
        expect(Number.isInteger(prefix.bits) && prefix.bits >= 0, s).toBe(true);
        expect(prefix.bits, s).toBeLessThanOrEqual(prefix.addr.length * 8);
        for (let bit = prefix.bits; bit < prefix.addr.length * 8; bit++) {
          if ((prefix.addr[bit >> 3]! >> (7 - (bit & 7))) & 1)
            expect.fail(`${s}: host bit ${bit} set`);
        }
        const again = parseCidr(formatCidr(prefix));
        expect([...again.addr], s).toEqual([...prefix.addr]);
        expect(again.bits, s).toBe(prefix.bits);
      } catch (e) {
        expect(e, s).toBeInstanceOf(TypeError);
        expect((e as TypeError).message.startsWith("allowed IP '"), s).toBe(true);
      }
    }
    console.log(
      `ip-address fuzz: ${counts.tried} strings tried on parseIp and parseCidr; ` +
        `${counts.ip} parsed as addresses, ${counts.cidr} as prefixes`,
    );
    expect(counts.netDisagrees).toEqual([]);
    // The mutations must reach both outcomes, or the fuzz proves little.
    expect(counts.ip).toBeGreaterThan(1000);
    expect(counts.cidr).toBeGreaterThan(2000);
    expect(counts.tried - counts.cidr).toBeGreaterThan(20_000);
  });
});
