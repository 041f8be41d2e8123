// Valid map-stream values for the codec, map-state and client tests: peers with real keys and
// addresses, a small full map, a delta touching every field. Deterministic (seeded).

import type { DeltaMessage, MapMessage } from "../../worker/control/messages.ts";
import type { NetworkMap, PeerView } from "../../worker/control/types.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";

/** A base64 32-byte value derived from `seed` (not a real public key: the codec checks form). */
export function key(seed: number): string {
  return keyToBase64(seededBytes(seed + 1)(32));
}

/** A valid peer with id `id` (name "node-<id>", addresses from the id). */
export function peer(id: number, extra: Partial<PeerView> = {}): PeerView {
  return {
    id,
    key: key(id),
    name: `node-${id}`,
    addresses: [`100.64.${(id >> 8) & 255}.${id & 255}`, `fd7a:115c:a1e0::${id.toString(16)}`],
    user:
      id % 2 === 0
        ? { id: 7, name: "Ada Lovelace", email: "ada@example.com", signedInAt: 1_759_000_000_000 }
        : null,
    tags: id % 2 === 0 ? [] : ["tag:server"],
    hostname: `host-${id}.lan`,
    os: "linux",
    ephemeral: false,
    keyExpiry: id % 2 === 0 ? 1_800_000_000_000 : null,
    sshHostKeys: id % 2 === 0 ? [] : [`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${id} root@host`],
    online: true,
    lastSeen: 1_760_000_000_000 + id,
    endpoints: [`192.0.2.${id & 255}:51820`, "[2001:db8::1]:41641"],
    homeRelay: "default",
    ...extra,
  };
}

/** A full network map for node 1 with peers 2..n+1. */
export function networkMap(n = 3): NetworkMap {
  const peers: PeerView[] = [];
  for (let i = 0; i < n; i++) peers.push(peer(i + 2));
  return {
    self: peer(1, { os: "browser", ephemeral: true }),
    peers,
    filter: [
      { src: { users: [7] }, ports: [{ proto: "tcp", first: 22, last: 22 }] },
      {
        src: { tags: ["tag:web"], cidrs: ["10.0.0.0/8"] },
        ports: [{ proto: "*", first: 0, last: 65535 }],
      },
      { src: { any: true }, ports: [{ proto: "icmp", first: 0, last: 0 }] },
    ],
    ssh: [
      { src: { users: [7] }, users: ["autogroup:nonroot"], action: "accept" },
      { src: { tags: ["tag:ci"] }, users: ["deploy"], action: "check", checkPeriodMs: 43_200_000 },
    ],
    relays: [
      { id: "default", region: "local", url: "wss://relay.example.com/relay", key: key(900) },
      {
        id: "eu-1",
        region: "eu",
        url: "wss://eu-1.relay.example.com/relay",
        key: key(901),
        stun: "eu-1.relay.example.com:3478",
      },
    ],
    token: { token: "eyJ2IjoxfQ.c2lnbmF0dXJl", expiresAt: 1_760_000_600_000 },
    domain: "mesh.example",
  };
}

/** A `map` message. */
export function mapMessage(n = 3, seq = 1, session = "s-1"): MapMessage {
  return { type: "map", session, seq, map: networkMap(n) };
}

/** A `delta` message using every field. */
export function fullDelta(seq: number): DeltaMessage {
  return {
    type: "delta",
    seq,
    peersUpserted: [peer(50), peer(3, { name: "renamed-3" })],
    peersRemoved: [2],
    patches: [{ id: 4, online: false, lastSeen: 1_770_000_000_000, endpoints: [], homeRelay: "" }],
    self: peer(1, { os: "browser", ephemeral: true, name: "me" }),
    filter: [],
    ssh: [],
    relays: [],
    token: { token: "eyJ2IjoyfQ.c2lnbmF0dXJlMg", expiresAt: 1_760_001_200_000 },
  };
}
