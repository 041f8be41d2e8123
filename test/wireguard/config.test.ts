// worker/wireguard/config.ts: wg-quick configuration files. A realistic file, every error with
// its line and message, and formatConfig round trips (fixed and seeded). The fuzz is in
// config-fuzz.test.ts.

import { describe, expect, it } from "vitest";
import {
  ConfigError,
  formatConfig,
  parseConfig,
  type WgConfig,
} from "../../worker/wireguard/config.ts";
import { keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { FULL, FULL_PARSED, PRIV, PSK, PUB1, PUB2 } from "./config-fixtures.ts";

/** The error parseConfig throws for `text`, checked to be a ConfigError. */
function configError(text: string): ConfigError {
  try {
    parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`parsed, but should not have:\n${text}`);
}

describe("parseConfig", () => {
  it("reads a realistic wg-quick file", () => {
    expect(parseConfig(FULL)).toEqual(FULL_PARSED);
  });

  it("takes CRLF line ends, a byte-order mark, tabs and mixed-case keys and sections", () => {
    const text = `\uFEFF[INTERFACE]\r\n\tprivatekey\t=\t${PRIV}\t# mine\r\n\r\n[pEeR]\r\nPUBLICKEY = ${PUB1}\r\n`;
    const cfg = parseConfig(text);
    expect(keyToBase64(cfg.interface.privateKey)).toBe(PRIV);
    expect(cfg.peers.map((p) => keyToBase64(p.publicKey))).toEqual([PUB1]);
    expect(cfg.warnings).toEqual([]);
  });

  it("keeps an empty AllowedIPs (no routes) and leaves absent settings out", () => {
    const cfg = parseConfig(
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB1}\nAllowedIPs =\n`,
    );
    expect(cfg).toEqual({
      interface: { privateKey: keyFromBase64(PRIV), addresses: [], dns: [] },
      peers: [{ publicKey: keyFromBase64(PUB1), allowedIps: [] }],
      warnings: [],
    });
    expect("listenPort" in cfg.interface).toBe(false);
  });

  it("accepts every wg-quick-only setting in [Interface] with a warning", () => {
    const keys = ["Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig", "FwMark"];
    const text = `[Interface]\nPrivateKey = ${PRIV}\n${keys.map((k) => `${k} = x`).join("\n")}\n`;
    expect(parseConfig(text).warnings).toEqual(
      keys.map((k, i) => `line ${i + 3}: ${k} is a wg-quick setting with no effect here; ignored`),
    );
  });

  const I = `[Interface]\nPrivateKey = ${PRIV}\n`; // lines 1-2
  const P = `${I}[Peer]\nPublicKey = ${PUB1}\n`; // lines 1-4
  const errors: [string, string, number, string][] = [
    [
      "port out of range",
      `${I}ListenPort = 70000`,
      3,
      "ListenPort: '70000' is not a port (0-65535)",
    ],
    ["key outside any section", `ListenPort = 1\n${I}`, 1, "ListenPort is outside any section"],
    [
      "second [Interface]",
      `${I}\n[interface]`,
      4,
      "a second [Interface] section (the first is on line 1)",
    ],
    [
      "missing PrivateKey",
      `# x\n[Interface]\nListenPort = 1\n[Peer]\nPublicKey = ${PUB1}`,
      2,
      "[Interface] has no PrivateKey",
    ],
    [
      "[Peer] without PublicKey",
      `${P}\n[Peer]\nEndpoint = a.example:1\nAllowedIPs = 10.0.0.0/8`,
      6,
      "[Peer] has no PublicKey",
    ],
    ["last [Peer] without PublicKey", `${P}[Peer]\n# nothing`, 5, "[Peer] has no PublicKey"],
    [
      "duplicate PublicKey",
      `${P}[Peer]\nPublicKey = ${PUB2}\n[Peer]\n\nPublicKey = ${PUB1}`,
      9,
      "PublicKey: the same key as the [Peer] on line 3",
    ],
    [
      "line without '='",
      `${I}Address 10.0.0.1/24`,
      3,
      "expected 'Key = value' but there is no '='",
    ],
    ["nothing before '='", `${I}  = 5`, 3, "no key before '='"],
    ["unknown key", `${I}Foo = bar`, 3, "unknown key 'Foo' in [Interface]"],
    [
      "peer key in [Interface]",
      `${I}AllowedIPs = 10.0.0.0/8`,
      3,
      "unknown key AllowedIPs in [Interface] (it belongs in [Peer])",
    ],
    [
      "interface key in [Peer]",
      `${P}ListenPort = 1`,
      5,
      "unknown key ListenPort in [Peer] (it belongs in [Interface])",
    ],
    [
      "wg-quick key in [Peer]",
      `${P}Table = off`,
      5,
      "unknown key Table in [Peer] (it belongs in [Interface])",
    ],
    [
      "unknown section",
      `${I}[Peers]`,
      3,
      "unknown section '[Peers]' (expected [Interface] or [Peer])",
    ],
    [
      "junk after a header",
      `${I}[Peer] x`,
      3,
      "unknown section '[Peer] x' (expected [Interface] or [Peer])",
    ],
    ["empty value", `${I}MTU =`, 3, "MTU has no value"],
    [
      "a key given twice",
      `${I}ListenPort = 1\nlistenport = 2`,
      4,
      "ListenPort is given twice in this section (first on line 3)",
    ],
    [
      "PrivateKey twice",
      `${I}PrivateKey = ${PRIV}`,
      3,
      "PrivateKey is given twice in this section (first on line 2)",
    ],
    [
      "short PrivateKey",
      `[Interface]\nPrivateKey = ${PRIV.slice(1)}`,
      2,
      "PrivateKey: not a WireGuard key: 43 characters, expected 44 (base64 of 32 bytes)",
    ],
    [
      "base64url PresharedKey",
      `${P}PresharedKey = ${PSK.replace("+", "-")}`,
      5,
      `PresharedKey: not a WireGuard key: character ${PSK.indexOf("+") + 1} is not base64`,
    ],
    [
      "bad PublicKey",
      `${I}[Peer]\nPublicKey = ${PUB1.slice(0, 43)}A`,
      4,
      "PublicKey: not a WireGuard key: character 44 must be '='",
    ],
    [
      "Address prefix too long",
      `${I}Address = 10.0.0.1/33`,
      3,
      "Address: '10.0.0.1/33': prefix length /33 out of range (0-32)",
    ],
    [
      "Address octet",
      `${I}Address = 10.0.0.1/24, 10.0.0.256`,
      3,
      "Address: '10.0.0.256': octet 4 out of range",
    ],
    [
      "empty list entry",
      `${I}Address = 10.0.0.1/24,,10.0.0.2/24`,
      3,
      "Address: empty entry in the comma-separated list",
    ],
    ["MTU too small", `${I}MTU = 40`, 3, "MTU: '40' is not an MTU (68-65535)"],
    ["MTU not a number", `${I}MTU = 1420b`, 3, "MTU: '1420b' is not an MTU (68-65535)"],
    [
      "DNS neither IP nor name",
      `${I}DNS = 1.1.1.1, not a domain`,
      3,
      "DNS: 'not a domain' is neither an IP address nor a search domain",
    ],
    ["DNS bad IP", `${I}DNS = 1.1.1.300`, 3, "DNS: '1.1.1.300': octet 4 out of range"],
    ["Endpoint without port", `${P}Endpoint = 1.2.3.4`, 5, "Endpoint: '1.2.3.4' has no :port"],
    [
      "Endpoint IPv6 without brackets",
      `${P}Endpoint = fd00::1:51820`,
      5,
      "Endpoint: 'fd00::1:51820': an IPv6 address goes in brackets, as in [fd00::1]:51820",
    ],
    [
      "Endpoint port 0",
      `${P}Endpoint = 1.2.3.4:0`,
      5,
      "Endpoint: '1.2.3.4:0': the port must be 1-65535",
    ],
    [
      "Endpoint port too big",
      `${P}Endpoint = host.example:65536`,
      5,
      "Endpoint: 'host.example:65536': the port must be 1-65535",
    ],
    [
      "Endpoint bad host name",
      `${P}Endpoint = bad_host!:1`,
      5,
      "Endpoint: 'bad_host!:1': the host is not a valid name",
    ],
    [
      "Endpoint IPv4 in brackets",
      `${P}Endpoint = [1.2.3.4]:1`,
      5,
      "Endpoint: '[1.2.3.4]:1': brackets are for IPv6 addresses",
    ],
    [
      "Endpoint ']' without ':'",
      `${P}Endpoint = [fd00::1]51820`,
      5,
      "Endpoint: '[fd00::1]51820' is not [ipv6-address]:port",
    ],
    [
      "Endpoint leading zero",
      `${P}Endpoint = 1.2.3.04:5`,
      5,
      "Endpoint: '1.2.3.04:5': octet 4 has a leading zero",
    ],
    [
      "AllowedIPs prefix",
      `${P}AllowedIPs = 10.0.0.0/8, fd00::/129`,
      5,
      "AllowedIPs: 'fd00::/129': prefix length /129 out of range (0-128)",
    ],
    [
      "keepalive word",
      `${P}PersistentKeepalive = sometimes`,
      5,
      "PersistentKeepalive: 'sometimes' is not a number of seconds (0-65535) or 'off'",
    ],
    [
      "keepalive too big",
      `${P}PersistentKeepalive = 65536`,
      5,
      "PersistentKeepalive: '65536' is not a number of seconds (0-65535) or 'off'",
    ],
    ["no [Interface] at all", `[Peer]\nPublicKey = ${PUB1}\n`, 1, "no [Interface] section"],
    ["an empty file", "", 1, "no [Interface] section"],
  ];

  for (const [name, text, line, message] of errors) {
    it(`rejects ${name}: line ${line}`, () => {
      const error = configError(text);
      expect(error.line).toBe(line);
      expect(error.name).toBe("ConfigError");
      expect(error.message.startsWith(`line ${line}: ${message}`)).toBe(true);
    });
  }

  it("never echoes a key pasted on a line of its own", () => {
    for (const text of [
      `[Interface]\n${PRIV}`,
      `[Interface]\n${PRIV.replace(/\+/g, "x")}`,
      `${PRIV}\n`,
    ]) {
      const error = configError(text);
      expect(error.line).toBe(text.startsWith("[") ? 2 : 1);
      expect(error.message).not.toContain(PRIV.slice(0, 20));
    }
    expect(configError(`[Interface]\n${PRIV}`).message).toBe(
      "line 2: the text before '=' is not a key name (not shown: it may be a secret)",
    );
  });
});

describe("formatConfig", () => {
  it("writes what parseConfig reads back identically (the realistic file)", () => {
    const text = formatConfig(FULL_PARSED);
    expect(parseConfig(text)).toEqual({ ...FULL_PARSED, warnings: [] });
    expect(formatConfig(parseConfig(text))).toBe(text);
    expect(text).toContain(`[Peer]\nPublicKey = ${PUB2}\n`);
  });

  it("round-trips 1,000 seeded random configurations", () => {
    const int = seededInts(0xc0f19);
    const bytes = seededBytes(0xc0f1a);
    const hex = () => int(0x10000).toString(16).toUpperCase();
    const v4 = () => `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
    // Long zero runs sometimes, so "::" compression is exercised; uppercase, uncompressed input.
    const v6 = () => Array.from({ length: 8 }, () => (int(3) === 0 ? "0" : hex())).join(":");
    const cidr = () => (int(2) === 0 ? `${v4()}/${int(33)}` : `${v6()}/${int(129)}`);
    const some = <T>(n: number, f: () => T) => Array.from({ length: int(n + 1) }, f);
    const names = ["example.com", "vpn.corp.example", "a-b.c_d.example."];
    for (let round = 0; round < 1000; round++) {
      const cfg: WgConfig = {
        interface: {
          privateKey: bytes(32),
          addresses: some(3, cidr),
          dns: some(3, () => [v4(), v6(), names[int(3)]!][int(3)]!),
        },
        peers: [],
        warnings: [],
      };
      if (int(2) === 0) cfg.interface.listenPort = int(65536);
      if (int(2) === 0) cfg.interface.mtu = 68 + int(65536 - 68);
      for (let p = int(4); p > 0; p--) {
        const peer: WgConfig["peers"][number] = { publicKey: bytes(32), allowedIps: some(4, cidr) };
        if (int(2) === 0) peer.presharedKey = bytes(32);
        if (int(3) === 0) peer.endpoint = `${v4()}:${1 + int(65535)}`;
        else if (int(2) === 0) peer.endpoint = `[${v6()}]:${1 + int(65535)}`;
        else peer.endpoint = `${names[int(3)]}:${1 + int(65535)}`;
        if (int(2) === 0) peer.persistentKeepalive = int(65536);
        cfg.peers.push(peer);
      }
      const once = parseConfig(formatConfig(cfg));
      expect(once.interface.privateKey).toEqual(cfg.interface.privateKey);
      expect(once.peers.map((p) => p.publicKey)).toEqual(cfg.peers.map((p) => p.publicKey));
      expect(once.interface.addresses).toHaveLength(cfg.interface.addresses.length);
      const twice = parseConfig(formatConfig(once));
      expect(twice).toEqual(once);
      expect(formatConfig(twice)).toBe(formatConfig(once));
    }
  });

  it("throws a TypeError for a value parseConfig could not have produced", () => {
    const base = (): WgConfig => structuredClone({ ...FULL_PARSED, warnings: [] });
    const bad: [string, (c: WgConfig) => void][] = [
      ["short key", (c) => (c.interface.privateKey = new Uint8Array(31))],
      ["bad address", (c) => c.interface.addresses.push("10.0.0.1/24, 10.0.0.2/24")],
      ["bad port", (c) => (c.interface.listenPort = 1.5)],
      ["bad endpoint", (c) => (c.peers[0]!.endpoint = "no port")],
      ["duplicate peer", (c) => c.peers.push(c.peers[0]!)],
    ];
    for (const [, spoil] of bad) {
      const cfg = base();
      spoil(cfg);
      expect(() => formatConfig(cfg)).toThrow(TypeError);
    }
  });
});
