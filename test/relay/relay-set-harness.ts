// What the RelaySet tests share (relay-set, relay-set-review, relay-set-mesh): a real relay
// server in this process whose RelayInfo a map would list, a peer's view naming its home relay,
// and a clamped X25519 node key. Each test file passes its own cleanup list and seeded bytes.

import type { RelayOptions } from "../../server/relay/options.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import type { PeerView, RelayInfo } from "../../worker/control/types.ts";
import { nobleX25519 } from "../../worker/crypto/index.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

/** Closes what a test started; run newest first in afterEach. */
export type Cleanups = (() => void | Promise<void>)[];

/**
 * Starts relay `id` on a loopback port (open auth unless `auth` says otherwise), closed by
 * `cleanup`; its RelayInfo has the id as its region too.
 */
export async function testRelay(
  id: string,
  cleanup: Cleanups,
  random: (n: number) => Uint8Array,
  auth: RelayOptions["auth"] = { mode: "open" },
): Promise<{ server: RelayServer; info: RelayInfo }> {
  const privateKey = random(32);
  const server = await startRelay({
    auth,
    relayId: id,
    port: 0,
    privateKey,
    log: () => {},
    closeGraceMs: 50,
  });
  cleanup.push(() => server.close());
  const key = keyToBase64(await nobleX25519.publicKey(privateKey));
  return { server, info: { id, region: id, url: server.url, key } };
}

/** A peer in a map: online, no endpoints, at home on `homeRelay`; `fields` override the rest. */
export function peerView(key: string, homeRelay: string, fields: Partial<PeerView> = {}): PeerView {
  return {
    id: 0,
    key,
    name: "p",
    addresses: [],
    user: null,
    tags: [],
    hostname: "p",
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay,
    ...fields,
  };
}

/** 32 random bytes clamped as an X25519 private key. */
export function clampedKey(random: (n: number) => Uint8Array): Uint8Array {
  const privateKey = random(32);
  privateKey[0]! &= 248;
  privateKey[31] = (privateKey[31]! & 127) | 64;
  return privateKey;
}
