// Hand-fed maps for MeshNodes on loopback with direct paths (test/agent/paths-direct.test.ts,
// test/bench/agent-mesh.ts) and a UDP Bind that can be blocked (those and
// test/agent/tun-direct.test.ts): a relay in this process, peer views whose endpoints point at
// each other's UDP socket, maps carrying a relay token signed with the test's control secret.

import { ed25519 } from "@noble/curves/ed25519.js";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { MeshNode } from "../../server/mesh-node.ts";
import { startRelay } from "../../server/relay/relay-server.ts";
import { signRelayToken } from "../../server/relay/token.ts";
import type { FilterRule, NetworkMap, PeerView } from "../../worker/control/types.ts";
import type { Bind, Endpoint, ReceiveFn } from "../../worker/wireguard/bind.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

/** Every source, every port. */
export const ALL: FilterRule[] = [
  { src: { any: true }, ports: [{ proto: "*", first: 0, last: 65535 }] },
];

/** A UDP Bind that can be "blocked": nothing goes out or comes in while it is. */
export class BlockableBind implements Bind {
  blocked = false;
  dropped = 0;
  constructor(private readonly inner: Bind) {}
  open(onReceive: ReceiveFn): Promise<void> {
    return this.inner.open((packet, from) => {
      if (this.blocked) this.dropped++;
      else onReceive(packet, from);
    });
  }
  send(packet: Uint8Array, to: Endpoint): boolean {
    if (!this.blocked) return this.inner.send(packet, to);
    this.dropped++;
    return true; // lost on the way, as a firewall would
  }
  parseEndpoint(text: string): Endpoint {
    return this.inner.parseEndpoint(text);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A relay in this process that takes tokens signed with `controlSecret`. */
export async function startHandRelay(
  relayId: string,
  controlSecret: Uint8Array,
  privateKey: Uint8Array,
) {
  const relay = await startRelay({
    auth: { mode: "token", controlPublicKey: ed25519.getPublicKey(controlSecret) },
    relayId,
    port: 0,
    privateKey,
    log: () => {},
    closeGraceMs: 100,
  });
  return { relay, relayKey: keyToBase64(await nodeX25519.publicKey(privateKey)) };
}

/** A node as a map shows it: `name` is also its hostname, `user` its user's name. */
export function handPeer(
  n: Pick<MeshNode, "key">,
  id: number,
  p: { name: string; user: string; addresses: string[]; endpoints: string[]; relayId: string },
): PeerView {
  return {
    id,
    key: n.key,
    name: p.name,
    addresses: p.addresses,
    user: { id: 1, name: p.user, email: "", signedInAt: null },
    tags: [],
    hostname: p.name,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: p.endpoints,
    homeRelay: p.relayId,
  };
}

/** What a hand map is made of besides self and peers. */
export interface HandMapBase {
  relayId: string;
  url: string;
  relayKey: string;
  controlSecret: Uint8Array;
  domain: string;
  /** How long the relay token lasts. */
  ttlMs: number;
}

/** `self`'s map with `peers`, everything allowed, and a relay token for `self`. */
export function handMap(base: HandMapBase, self: PeerView, peers: PeerView[]): NetworkMap {
  const expiresAt = Date.now() + base.ttlMs;
  const token = signRelayToken(
    { v: 1, key: self.key, relay: base.relayId, udp: [], exp: Math.floor(expiresAt / 1000) },
    base.controlSecret,
  );
  return {
    self,
    peers,
    filter: ALL,
    ssh: [],
    relays: [{ id: base.relayId, region: "local", url: base.url, key: base.relayKey }],
    token: { token, expiresAt },
    domain: base.domain,
  };
}

/**
 * Feeds two nodes each other's maps: first without endpoints (the nodes bind their UDP
 * sockets), then, unless `noEndpoints`, with each one's loopback UDP endpoint.
 */
export async function feedPair(
  a: MeshNode,
  b: MeshNode,
  view: (n: MeshNode, id: number, endpoints: string[]) => PeerView,
  map: (self: PeerView, peers: PeerView[]) => NetworkMap,
  noEndpoints = false,
): Promise<void> {
  await a.applyMap(map(view(a, 1, []), [view(b, 2, [])]));
  await b.applyMap(map(view(b, 2, []), [view(a, 1, [])]));
  const ea = noEndpoints ? [] : [`127.0.0.1:${a.directPort}`];
  const eb = noEndpoints ? [] : [`127.0.0.1:${b.directPort}`];
  await a.applyMap(map(view(a, 1, ea), [view(b, 2, eb)]));
  await b.applyMap(map(view(b, 2, eb), [view(a, 1, ea)]));
}
