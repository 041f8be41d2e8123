// The DNS label of a private service (worker/http/service-label.ts): the readable forms, the
// exact errors for what cannot round-trip, and a seeded fuzz of 20,000 services and labels.

import { describe, expect, it } from "vitest";
import {
  canonicalHost,
  decodeServiceLabel,
  encodeServiceLabel,
  type ServiceAddress,
  ServiceLabelError,
  serviceOrigin,
} from "../../worker/http/service-label.ts";
import { seededInts } from "../helpers/seeded.ts";

const http = (host: string, port: number): ServiceAddress => ({ host, port, scheme: "http" });
const https = (host: string, port: number): ServiceAddress => ({ host, port, scheme: "https" });

const EXAMPLES: [ServiceAddress, string][] = [
  [http("web-01", 3000), "web-01--3000"],
  [http("10.8.0.1", 8080), "10-8-0-1--8080"],
  [https("web-01", 8443), "web-01--8443--https"],
  [http("fd7a:115c::1", 8080), "ip6--fd7a-115c-x-1--8080"],
  [https("::1", 443), "ip6--x-1--443--https"],
  [http("::", 80), "ip6--x--80"],
  [http("fe80::", 1), "ip6--fe80-x--1"],
  [http("1:2:3:4:5:6:7:8", 65535), "ip6--1-2-3-4-5-6-7-8--65535"],
  [http("1:0:0:2::3", 80), "ip6--1-0-0-2-x-3--80"],
  [http("ip6", 80), "ip6--80"],
  [https("ip6", 443), "ip6--443--https"],
  [http("https", 443), "https--443"],
  [http("x", 1), "x--1"],
  [http("0.0.0.0", 9), "0-0-0-0--9"],
];

describe("service labels", () => {
  it("encodes and decodes the readable forms", () => {
    for (const [service, label] of EXAMPLES) {
      expect(encodeServiceLabel(service)).toBe(label);
      expect(decodeServiceLabel(label)).toEqual(service);
      expect(decodeServiceLabel(label.toUpperCase())).toEqual(service);
    }
    expect(serviceOrigin(http("web-01", 3000))).toBe("http://web-01:3000");
    expect(serviceOrigin(https("fd7a::1", 8443))).toBe("https://[fd7a::1]:8443");
  });

  it("names canonical hosts", () => {
    expect(canonicalHost("Web-01")).toBe("web-01");
    expect(canonicalHost("FD7A:115C:0:0:0:0:0:0001")).toBe("fd7a:115c::1");
    expect(canonicalHost("::ffff:192.0.2.1")).toBe("::ffff:c000:201");
    expect(canonicalHost("1:0:0:2:0:0:0:3")).toBe("1:0:0:2::3");
    expect(canonicalHost("010.8.0.1")).toBe("10.8.0.1");
  });

  it("refuses services that cannot round-trip, saying why", () => {
    const cases: [ServiceAddress, string][] = [
      [
        http("web--01", 80),
        'mesh name "web--01" holds "--", which separates the fields of a private URL\'s label; rename the host',
      ],
      [
        http("10-8-0-1", 80),
        'mesh name "10-8-0-1" would read as the IPv4 address 10.8.0.1 in a label; rename the host or use its address',
      ],
      [http("Web-01", 80), 'host "Web-01" is not in canonical form: write "web-01"'],
      [http("FD7A::1", 80), 'host "FD7A::1" is not in canonical form: write "fd7a::1"'],
      [http("010.8.0.1", 80), 'host "010.8.0.1" is not in canonical form: write "10.8.0.1"'],
      [
        http("web.mesh", 80),
        'host "web.mesh" has dots: a private URL names a mesh name (one DNS label), an IPv4 or an IPv6 address',
      ],
      [
        http("fe80::1%eth0", 80),
        'host "fe80::1%eth0": an IPv6 zone (%...) cannot be part of a private URL',
      ],
      [http("1::2::3", 80), 'host "1::2::3" is not an IPv6 address'],
      [http("10.8.0.256", 80), 'host "10.8.0.256" is not an IPv4 address'],
      [
        http("-web", 80),
        'host "-web" is not a mesh name (a-z, 0-9 and inner dashes, at most 63 characters)',
      ],
      [
        http("", 80),
        'host "" is not a mesh name (a-z, 0-9 and inner dashes, at most 63 characters)',
      ],
      [http("web", 0), "port 0: a TCP port is a whole number from 1 to 65535"],
      [http("web", 65536), "port 65536: a TCP port is a whole number from 1 to 65535"],
      [http("web", 80.5), "port 80.5: a TCP port is a whole number from 1 to 65535"],
      [
        { host: "web", port: 80, scheme: "ftp" as "http" },
        'scheme "ftp": a private URL is http or https',
      ],
      [
        https("a".repeat(50), 65535),
        `label "${"a".repeat(50)}--65535--https" would be 63 characters`.replace("63", "64") +
          "; a DNS label holds at most 63 (the host name is too long for a private URL)",
      ],
    ];
    for (const [service, message] of cases) {
      expect(() => encodeServiceLabel(service), JSON.stringify(service)).toThrow(
        new ServiceLabelError(message),
      );
    }
    // The longest that fits: 63 characters.
    expect(encodeServiceLabel(https("a".repeat(49), 65535))).toHaveLength(63);
  });

  it("refuses labels that name no service, saying why", () => {
    const cases: [string, string][] = [
      ["", "empty label: expected host--port"],
      ["web-01", 'label "web-01" names no port: expected host--port, e.g. web-01--3000'],
      [
        "web-01--https",
        'label "web-01--https": port "https" is not a number from 1 to 65535 without leading zeros',
      ],
      [
        "web-01--03000",
        'label "web-01--03000": port "03000" is not a number from 1 to 65535 without leading zeros',
      ],
      [
        "web-01--70000",
        'label "web-01--70000": port "70000" is not a number from 1 to 65535 without leading zeros',
      ],
      [
        "web-01--0",
        'label "web-01--0": port "0" is not a number from 1 to 65535 without leading zeros',
      ],
      ["web-01---3000", 'label "web-01---3000" holds "---": fields are separated by exactly "--"'],
      ["web_01--3000", 'label "web_01--3000" holds characters other than a-z, 0-9 and "-"'],
      [
        "a--b--3000",
        'label "a--b--3000" has too many "--" fields (expected host--port, host--port--https or ip6--address--port)',
      ],
      ["-web--80", 'label "-web--80": "-web" is not a mesh name (a-z, 0-9 and inner dashes)'],
      ["10-8-0-256--80", 'label "10-8-0-256--80": "10.8.0.256" is not an IPv4 address'],
      [
        "10-08-0-1--80",
        'label "10-08-0-1--80" is not canonical: the address is written "10-8-0-1"',
      ],
      [
        "ip6--0-0-0-0-0-0-0-1--80",
        'label "ip6--0-0-0-0-0-0-0-1--80" is not canonical: the address is written "x-1"',
      ],
      [
        "ip6--x-x--80",
        'label "ip6--x-x--80": "x-x" is not an IPv6 address (hex groups joined by "-", "x" for "::")',
      ],
      ["ip6--1-2-3--80", 'label "ip6--1-2-3--80": "1-2-3" is not an IPv6 address'],
      [
        "ip6--1-2-3-4-5-6-7-x-8--80",
        'label "ip6--1-2-3-4-5-6-7-x-8--80": "1-2-3-4-5-6-7-x-8" is not an IPv6 address',
      ],
      [
        "ip6--00001-x--80",
        'label "ip6--00001-x--80": "00001-x" is not an IPv6 address (hex groups joined by "-", "x" for "::")',
      ],
      [
        `${"a".repeat(58)}--8080`,
        `label "${"a".repeat(58)}--8080" is 64 characters; a DNS label holds at most 63`,
      ],
    ];
    for (const [label, message] of cases) {
      expect(() => decodeServiceLabel(label), label).toThrow(new ServiceLabelError(message));
    }
    // Case-insensitive: the upper-case spelling of a canonical label is the same service.
    expect(decodeServiceLabel("IP6--FD7A-X-1--80")).toEqual(http("fd7a::1", 80));
  });
});

/** A random service: mesh names, IPv4 and IPv6 addresses, ports and schemes of all shapes. */
function randomService(int: (bound: number) => number): ServiceAddress {
  const scheme = int(2) === 0 ? "http" : "https";
  const port = int(4) === 0 ? [1, 80, 443, 65535][int(4)]! : 1 + int(65535);
  const kind = int(3);
  let host: string;
  if (kind === 0) {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-";
    const length = 1 + int(int(4) === 0 ? 70 : 16);
    host = Array.from({ length }, () => alphabet[int(alphabet.length)]).join("");
  } else if (kind === 1) {
    host = Array.from({ length: 4 }, () => String(int(5) === 0 ? int(10) : int(256))).join(".");
  } else {
    const groups = Array.from({ length: 8 }, () => (int(3) === 0 ? int(65536) : 0));
    host = groups.map((g) => g.toString(16)).join(":");
    try {
      host = canonicalHost(host);
    } catch {
      // stays as written: then the encoder must refuse it
    }
  }
  return { host, port, scheme };
}

/** A random label: valid-looking pieces and noise, so both verdicts are exercised. */
function randomLabel(int: (bound: number) => number): string {
  const pieces = [
    "web-01",
    "10",
    "8",
    "0",
    "1",
    "ip6",
    "x",
    "https",
    "3000",
    "-",
    "--",
    "fd7a",
    "00",
    "a",
  ];
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.X";
  let out = "";
  const n = 1 + int(8);
  for (let i = 0; i < n; i++) {
    out += int(3) === 0 ? alphabet[int(alphabet.length)] : pieces[int(pieces.length)];
  }
  return out;
}

describe("service labels, seeded fuzz", () => {
  it("round-trips every encodable service and refuses the rest cleanly (20,000 inputs)", () => {
    const int = seededInts(0x16_0001);
    let encoded = 0;
    let decoded = 0;
    for (let i = 0; i < 10_000; i++) {
      const service = randomService(int);
      let label: string;
      try {
        label = encodeServiceLabel(service);
      } catch (error) {
        expect(error, JSON.stringify(service)).toBeInstanceOf(ServiceLabelError);
        continue;
      }
      encoded++;
      expect(label).toMatch(/^[a-z0-9-]{1,63}$/);
      expect(decodeServiceLabel(label), label).toEqual(service);
      expect(decodeServiceLabel(label.toUpperCase()), label).toEqual(service);
    }
    for (let i = 0; i < 10_000; i++) {
      const label = randomLabel(int);
      let service: ServiceAddress;
      try {
        service = decodeServiceLabel(label);
      } catch (error) {
        expect(error, label).toBeInstanceOf(ServiceLabelError);
        continue;
      }
      decoded++;
      // One label per service: what decodes encodes back to the same label, lowercased.
      expect(encodeServiceLabel(service), label).toBe(label.toLowerCase());
    }
    // Both verdicts were exercised.
    expect(encoded).toBeGreaterThan(3000);
    expect(decoded).toBeGreaterThan(50);
  });
});
