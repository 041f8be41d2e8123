// The `wg show IFACE dump` parser of TUN mode (server/agent/tun/wg-dump.ts): real shapes
// (as wireguard-go and the kernel print them), each malformed field refused with its line
// and name, the private key never in the result, limits, and a seeded fuzz: 3,000 dumps
// generated from a model parse back to the model, and 6,000 mutated or random texts either
// parse or throw WgDumpError (never anything else, never a partial result).

import { describe, expect, it } from "vitest";
import {
  parseWgDump,
  WG_DUMP_LIMITS,
  WgDumpError,
  type WgDumpPeer,
} from "../../server/agent/tun/wg-dump.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const PRIV = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PUB = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
const P1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const P2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";

const sample = [
  `${PRIV}\t${PUB}\t51820\toff`,
  `${P1}\t(none)\t10.201.3.1:40000\t100.64.0.2/32,fd7a:115c:a1e0::2/128\t1764750000\t1234\t5678\t25`,
  `${P2}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
  "",
].join("\n");

describe("parseWgDump", () => {
  it("reads the interface line (without its private key) and each peer", () => {
    const dump = parseWgDump(sample);
    expect(dump.iface).toEqual({ publicKey: PUB, listenPort: 51820, fwmark: 0 });
    expect(JSON.stringify(dump)).not.toContain(PRIV);
    expect(dump.peers).toEqual([
      {
        publicKey: P1,
        hasPresharedKey: false,
        endpoint: "10.201.3.1:40000",
        allowedIps: ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"],
        latestHandshake: 1764750000,
        rxBytes: 1234,
        txBytes: 5678,
        persistentKeepalive: 25,
      },
      {
        publicKey: P2,
        hasPresharedKey: false,
        endpoint: null,
        allowedIps: [],
        latestHandshake: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: null,
      },
    ]);
  });

  it("accepts an interface without a key yet, a hex fwmark, IPv6 endpoints and a preshared key", () => {
    const text = [
      `(none)\t(none)\t0\t0xca6c`,
      `${P1}\t${P2}\t[fd00::1]:51820\t100.64.0.9/32\t1\t2\t3\t65535`,
    ].join("\n");
    const dump = parseWgDump(text);
    expect(dump.iface).toEqual({ publicKey: "", listenPort: 0, fwmark: 0xca6c });
    expect(dump.peers[0]?.endpoint).toBe("[fd00::1]:51820");
    expect(dump.peers[0]?.hasPresharedKey).toBe(true);
  });

  const refused: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["interface with 3 fields", `${PRIV}\t${PUB}\t1`, /line 1 \(interface\): expected 4 fields/],
    ["bad listen port", `${PRIV}\t${PUB}\t70000\toff`, /listen port: 70000 is above 65535/],
    ["bad private key", `abc\t${PUB}\t1\toff`, /line 1 private key: expected a base64 key/],
    [
      "peer with 7 fields",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t(none)\t0\t0\t0`,
      /line 2: expected 8 fields, got 7/,
    ],
    [
      "bad peer key",
      `${PRIV}\t${PUB}\t1\toff\nnope\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
      /line 2 public key/,
    ],
    [
      "bad endpoint",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t1.2.3.4\t(none)\t0\t0\t0\toff`,
      /line 2 endpoint/,
    ],
    [
      "port 0 endpoint",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t1.2.3.4:0\t(none)\t0\t0\t0\toff`,
      /line 2 endpoint/,
    ],
    [
      "octet > 255",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t1.2.3.256:9\t(none)\t0\t0\t0\toff`,
      /bad IPv4/,
    ],
    [
      "bad allowed IP",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t100.64.0.1/33\t0\t0\t0\toff`,
      /bad allowed IP/,
    ],
    [
      "negative bytes",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t(none)\t0\t-1\t0\toff`,
      /rx bytes/,
    ],
    [
      "huge handshake",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t(none)\t99999999999999999\t0\t0\toff`,
      /latest handshake/,
    ],
    [
      "keepalive > 65535",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t(none)\t0\t0\t0\t70000`,
      /persistent keepalive/,
    ],
    [
      "a peer twice",
      `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n${P1}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
      /twice/,
    ],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}, naming the line and field`, () => {
      expect(() => parseWgDump(text)).toThrow(WgDumpError);
      expect(() => parseWgDump(text)).toThrow(message);
    });
  }

  it("refuses dumps beyond its limits instead of truncating them", () => {
    const many = `${PRIV}\t${PUB}\t1\toff\n${"x\n".repeat(WG_DUMP_LIMITS.maxPeers + 1)}`;
    expect(() => parseWgDump(many)).toThrow(/more than 100000 peers/);
    const ips = Array.from(
      { length: WG_DUMP_LIMITS.maxAllowedIps + 1 },
      (_, i) => `10.0.${i >> 8}.${i & 255}/32`,
    );
    const wide = `${PRIV}\t${PUB}\t1\toff\n${P1}\t(none)\t(none)\t${ips.join(",")}\t0\t0\t0\toff`;
    expect(() => parseWgDump(wide)).toThrow(/more than 1024 allowed IPs/);
    const long = `${PRIV}\t${PUB}\t1\toff\n${"a".repeat(WG_DUMP_LIMITS.maxLineLength + 1)}`;
    expect(() => parseWgDump(long)).toThrow(/line 2: longer than/);
  });
});

/** A random base64 key. */
function keyFrom(bytes: (n: number) => Uint8Array): string {
  return Buffer.from(bytes(32)).toString("base64");
}

function format(peer: WgDumpPeer): string {
  return [
    peer.publicKey,
    peer.hasPresharedKey ? PRIV : "(none)",
    peer.endpoint ?? "(none)",
    peer.allowedIps.length === 0 ? "(none)" : peer.allowedIps.join(","),
    peer.latestHandshake,
    peer.rxBytes,
    peer.txBytes,
    peer.persistentKeepalive ?? "off",
  ].join("\t");
}

describe("parseWgDump fuzz (seeded)", () => {
  it("3,000 dumps generated from a model parse back to the model", () => {
    const int = seededInts(0x7a11);
    const bytes = seededBytes(0x7a12);
    for (let n = 0; n < 3000; n++) {
      const peers: WgDumpPeer[] = [];
      for (let i = int(6); i > 0; i--) {
        const v6 = int(2) === 0;
        peers.push({
          publicKey: keyFrom(bytes),
          hasPresharedKey: int(4) === 0,
          endpoint:
            int(3) === 0
              ? null
              : v6
                ? `[fd00::${int(65536).toString(16)}]:${1 + int(65535)}`
                : `10.${int(256)}.${int(256)}.${int(256)}:${1 + int(65535)}`,
          allowedIps: Array.from({ length: int(4) }, (_, j) =>
            j % 2 === 0
              ? `100.64.${int(256)}.${int(256)}/32`
              : `fd7a::${int(65536).toString(16)}/128`,
          ),
          latestHandshake: int(2) === 0 ? 0 : 1_700_000_000 + int(1e8),
          rxBytes: int(2 ** 31) * 4096,
          txBytes: int(2 ** 31),
          persistentKeepalive: int(2) === 0 ? null : int(65536),
        });
      }
      const port = int(65536);
      const text = [`${PRIV}\t${PUB}\t${port}\toff`, ...peers.map(format)].join("\n");
      const dump = parseWgDump(int(2) === 0 ? text : `${text}\n`);
      expect(dump.iface.listenPort).toBe(port);
      expect(dump.peers).toEqual(peers);
    }
  });

  it("6,000 mutated and random texts: a result or a WgDumpError, nothing else", () => {
    const int = seededInts(0x7a13);
    const bytes = seededBytes(0x7a14);
    const alphabet = "\t\n:/,.[]()0123456789abcdefnoeff+=-x ";
    let parsed = 0;
    let refusedCount = 0;
    for (let n = 0; n < 6000; n++) {
      let text: string;
      if (n % 3 === 2) {
        text = Array.from({ length: int(300) }, () => alphabet[int(alphabet.length)]).join("");
      } else {
        const chars = [...sample];
        for (let m = 1 + int(4); m > 0; m--) {
          const at = int(chars.length);
          const op = int(3);
          if (op === 0) chars.splice(at, 1);
          else if (op === 1) chars.splice(at, 0, alphabet[int(alphabet.length)] ?? "");
          else chars[at] = String.fromCharCode(bytes(1)[0] ?? 0);
        }
        text = chars.join("");
      }
      try {
        const dump = parseWgDump(text);
        parsed++;
        expect(dump.peers.length).toBeLessThanOrEqual(text.split("\n").length);
      } catch (error) {
        if (!(error instanceof WgDumpError)) throw new Error(`seed input ${n}: ${String(error)}`);
        refusedCount++;
      }
    }
    // Both outcomes happen: mutations that keep the shape parse, the rest are refused.
    expect(parsed).toBeGreaterThan(0);
    expect(refusedCount).toBeGreaterThan(0);
  });
});
