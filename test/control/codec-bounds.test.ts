// The map stream's codec: every bound of the map and the delta is enforced, and every refusal
// is a ControlProtocolError whose message names the field ("map.peers[3].key: ...").

import { describe, expect, it } from "vitest";
import {
  CONTROL_LIMITS,
  ControlProtocolError,
  decodeServerMessage,
} from "../../worker/control/codec.ts";
import type { MapMessage } from "../../worker/control/messages.ts";
import { key, mapMessage, peer } from "./codec-fixtures.ts";

/** The error decoding `text` as a server message (fails when it decodes). */
function refusal(text: string, max?: number): ControlProtocolError {
  try {
    decodeServerMessage(text, max);
  } catch (error) {
    expect(error).toBeInstanceOf(ControlProtocolError);
    return error as ControlProtocolError;
  }
  throw new Error(`decoded: ${text.slice(0, 200)}`);
}

/** The error message for a `map` message changed by `mutate`. */
function mapRefusal(mutate: (m: MapMessage) => void): string {
  const message = mapMessage(3);
  mutate(message);
  return refusal(JSON.stringify(message)).message;
}

describe("bounds of the map", () => {
  const k = key(5);
  it.each<[string, (m: MapMessage) => void, string]>([
    [
      "a key of 31 bytes",
      (m) => {
        m.map.peers[2]!.key = `${k.slice(0, 42)}==`;
      },
      "map.peers[2].key: not a WireGuard key: character 43 is not base64 (A-Z a-z 0-9 + /) ('=' may only be the last character)",
    ],
    [
      "a key of 33 bytes",
      (m) => {
        m.map.peers[0]!.key = `${k.slice(0, 43)}A`;
      },
      "map.peers[0].key: not a WireGuard key: character 44 must be '=' (44 characters of base64 hold 32 bytes)",
    ],
    [
      "a key with spaces",
      (m) => {
        m.map.self.key = ` ${k.slice(1)}`;
      },
      "map.self.key: not a WireGuard key: 43 characters, expected 44 (base64 of 32 bytes)",
    ],
    [
      "a short key",
      (m) => {
        m.map.self.key = "AAAA";
      },
      "map.self.key: not base64 of 32 bytes: 4 characters, expected 44",
    ],
    [
      "a bad IPv4 address",
      (m) => {
        m.map.peers[1]!.addresses = ["100.64.0.256"];
      },
      "map.peers[1].addresses[0]: not an IP address: octet 4 out of range",
    ],
    [
      "a bad IPv6 address",
      (m) => {
        m.map.peers[1]!.addresses = ["100.64.0.1", "fd7a::1::2"];
      },
      "map.peers[1].addresses[1]: not an IP address: more than one '::'",
    ],
    [
      "no address",
      (m) => {
        m.map.peers[0]!.addresses = [];
      },
      "map.peers[0].addresses: at least one address",
    ],
    [
      "9 addresses",
      (m) => {
        m.map.peers[0]!.addresses = Array(9).fill("100.64.0.1");
      },
      "map.peers[0].addresses: at most 8 items, got 9",
    ],
    [
      "33 endpoints",
      (m) => {
        m.map.peers[0]!.endpoints = Array(33).fill("192.0.2.1:1");
      },
      "map.peers[0].endpoints: at most 32 items, got 33",
    ],
    [
      "port 65536",
      (m) => {
        m.map.peers[0]!.endpoints = ["192.0.2.1:65536"];
      },
      "map.peers[0].endpoints[0]: port must be a number 1-65535",
    ],
    [
      "an IPv6 endpoint without brackets",
      (m) => {
        m.map.peers[0]!.endpoints = ["2001:db8::1:80"];
      },
      'map.peers[0].endpoints[0]: an IPv6 endpoint needs brackets: "[addr]:port"',
    ],
    [
      "65 tags",
      (m) => {
        m.map.peers[0]!.tags = Array(65).fill("tag:x");
      },
      "map.peers[0].tags: at most 64 items, got 65",
    ],
    [
      "a tag without tag:",
      (m) => {
        m.map.peers[0]!.tags = ["server"];
      },
      'map.peers[0].tags[0]: not a tag ("tag:NAME")',
    ],
    [
      "a name with a dot",
      (m) => {
        m.map.peers[0]!.name = "a.b";
      },
      "map.peers[0].name: not a mesh name",
    ],
    [
      "a 64-character name",
      (m) => {
        m.map.peers[0]!.name = "a".repeat(64);
      },
      "map.peers[0].name: at most 63 characters, got 64",
    ],
    [
      "an empty hostname",
      (m) => {
        m.map.peers[0]!.hostname = "";
      },
      "map.peers[0].hostname: must not be empty",
    ],
    [
      "control characters",
      (m) => {
        m.map.peers[0]!.hostname = "evil\u001b[2J";
      },
      "map.peers[0].hostname: contains control characters",
    ],
    [
      "a long email",
      (m) => {
        m.map.self.user = { id: 1, name: "x", email: "e".repeat(321), signedInAt: null };
      },
      "map.self.user.email: at most 320 characters, got 321",
    ],
    [
      "a negative id",
      (m) => {
        m.map.peers[0]!.id = -1;
      },
      "map.peers[0].id: must be >= 0, got -1",
    ],
    [
      "a fractional time",
      (m) => {
        m.map.peers[0]!.lastSeen = 1.5;
      },
      "map.peers[0].lastSeen: expected an integer, got 1.5",
    ],
    [
      "an unsafe integer",
      (m) => {
        m.seq = 2 ** 53;
      },
      `seq: must be <= ${Number.MAX_SAFE_INTEGER}, got 9007199254740992`,
    ],
    [
      "a string for a boolean",
      (m) => {
        (m.map.peers[0] as unknown as Record<string, unknown>).online = "yes";
      },
      'map.peers[0].online: expected a boolean, got "yes"',
    ],
    [
      "17 SSH host keys",
      (m) => {
        m.map.self.sshHostKeys = Array(17).fill("ssh-ed25519 A");
      },
      "map.self.sshHostKeys: at most 16 items, got 17",
    ],
    [
      "a duplicate peer id",
      (m) => {
        m.map.peers[2]!.id = m.map.peers[0]!.id;
      },
      "map.peers[2].id: 2 appears twice",
    ],
    [
      "a peer with this node's key",
      (m) => {
        m.map.peers[1]!.key = m.map.self.key;
      },
      `map.peers[1].key: ${key(1)} appears twice`,
    ],
    [
      "names that differ in case only",
      (m) => {
        m.map.peers[1]!.name = "NODE-2";
      },
      'map.peers[1].name: "NODE-2" appears twice (names ignore case)',
    ],
    [
      "first after last",
      (m) => {
        m.map.filter[0]!.ports[0] = { proto: "tcp", first: 443, last: 80 };
      },
      "map.filter[0].ports[0]: first (443) is after last (80)",
    ],
    [
      "port 70000",
      (m) => {
        m.map.filter[0]!.ports[0]!.last = 70000;
      },
      "map.filter[0].ports[0].last: must be <= 65535, got 70000",
    ],
    [
      "an unknown protocol",
      (m) => {
        (m.map.filter[0]!.ports[0] as { proto: string }).proto = "sctp";
      },
      'map.filter[0].ports[0].proto: expected "tcp", "udp", "icmp" or "*", got "sctp"',
    ],
    [
      "a bad CIDR",
      (m) => {
        m.map.filter[1]!.src.cidrs = ["10.0.0.0/33"];
      },
      "map.filter[1].src.cidrs[0]: prefix '10.0.0.0/33': prefix length /33 out of range (0-32)",
    ],
    [
      "a share acceptance id that is not a count",
      (m) => {
        m.map.peers[0]!.share = { acceptanceId: -1 };
      },
      "map.peers[0].share.acceptanceId: must be >= 0, got -1",
    ],
    [
      "10001 share acceptance ids in one selector",
      (m) => {
        m.map.filter[0]!.src.shares = Array(CONTROL_LIMITS.selectorShares + 1).fill(1);
      },
      "map.filter[0].src.shares: at most 10000 items, got 10001",
    ],
    [
      "1025 port ranges",
      (m) => {
        m.map.filter[0]!.ports = Array(1025).fill({ proto: "*", first: 0, last: 1 });
      },
      "map.filter[0].ports: at most 1024 items, got 1025",
    ],
    [
      "check without a period",
      (m) => {
        delete m.map.ssh[1]!.checkPeriodMs;
      },
      'map.ssh[1]: checkPeriodMs is required with action "check"',
    ],
    [
      "an unknown SSH action",
      (m) => {
        (m.map.ssh[0] as { action: string }).action = "allow";
      },
      'map.ssh[0].action: expected "accept" or "check", got "allow"',
    ],
    [
      "a relay over http",
      (m) => {
        m.map.relays[0]!.url = "http://relay.example.com/relay";
      },
      "map.relays[0].url: scheme http: is not ws: or wss:",
    ],
    [
      "a relay URL that is no URL",
      (m) => {
        m.map.relays[0]!.url = "relay";
      },
      "map.relays[0].url: not an absolute URL",
    ],
    [
      "a malformed token",
      (m) => {
        m.map.token.token = "a.b.c";
      },
      "map.token.token: not a relay token (base64url.base64url)",
    ],
    [
      "a domain with a space",
      (m) => {
        m.map.domain = "mesh example";
      },
      "map.domain: not a domain name",
    ],
    [
      "a session with a slash",
      (m) => {
        m.session = "a/b";
      },
      "session: not a session id (letters, digits, '-', '_')",
    ],
    [
      "a missing field",
      (m) => {
        delete (m.map as Partial<MapMessage["map"]>).relays;
      },
      "map.relays: missing",
    ],
    [
      "null for an object",
      (m) => {
        (m.map as unknown as Record<string, unknown>).token = null;
      },
      "map.token: expected an object, got null",
    ],
  ])("refuses %s", (_what, mutate, message) => {
    expect(mapRefusal(mutate)).toBe(message);
  });

  it(`refuses more than ${CONTROL_LIMITS.peers} peers`, () => {
    const one = JSON.stringify(peer(2));
    const text = `{"type":"delta","seq":1,"peersUpserted":[${Array(CONTROL_LIMITS.peers + 1)
      .fill(one)
      .join(",")}]}`;
    expect(refusal(text, 64 * 1024 * 1024).message).toBe(
      "peersUpserted: at most 100000 items, got 100001",
    );
  });

  it("refuses over 100,000 removals and duplicate upserts", () => {
    const ids = Array(CONTROL_LIMITS.changes + 1)
      .fill(1)
      .join(",");
    expect(refusal(`{"type":"delta","seq":1,"peersRemoved":[${ids}]}`).message).toBe(
      "peersRemoved: at most 100000 items, got 100001",
    );
    const twice = { type: "delta", seq: 1, peersUpserted: [peer(4), peer(5, { name: "node-4" })] };
    expect(refusal(JSON.stringify(twice)).message).toBe(
      'peersUpserted[1].name: "node-4" appears twice (names ignore case)',
    );
  });

  it("refuses bad patches and hello fields", () => {
    const patch = { type: "delta", seq: 1, patches: [{ id: 2, endpoints: ["1.2.3.4"] }] };
    expect(refusal(JSON.stringify(patch)).message).toBe(
      'patches[0].endpoints[0]: expected "ip:port"',
    );
    const hello = { type: "hello", version: 1, serverKey: key(1), challenge: "AA==" };
    expect(refusal(JSON.stringify(hello)).message).toBe(
      "challenge: not base64 of 32 bytes: 4 characters, expected 44",
    );
    const waiting = { type: "waiting", approvalUrl: "javascript:alert(1)" };
    expect(refusal(JSON.stringify(waiting)).message).toBe(
      "approvalUrl: scheme javascript: is not http: or https:",
    );
    const refused = { type: "refused", code: "Bad Code", message: "x" };
    expect(refusal(JSON.stringify(refused)).message).toBe(
      "code: not a reason code (a-z, 0-9, '_')",
    );
  });
});
