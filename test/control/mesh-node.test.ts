// Mesh nodes in Node (server/mesh-node.ts) through a real relay that checks control-signed
// tokens, with maps fed by hand: ping and TCP between nodes the filters allow, and a new map
// whose filter no longer lets a source in makes its packets dropped at the destination (and
// counted) while the other direction still works. Loopback only.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode } from "../../server/mesh-node.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { signRelayToken } from "../../server/relay/token.ts";
import type { FilterRule, NetworkMap, PeerView } from "../../worker/control/types.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x3e5400);
const controlSecret = random(32);
const RELAY_ID = "test-relay";

interface Mesh {
  relay: RelayServer;
  relayKey: string;
  /** The control key whose tokens the maps carry. */
  controlSecret: Uint8Array;
  relayId: string;
}

const relayPrivate = random(32);

/** A relay trusting tokens of `secret`'s public key, on `port` (0: any free one). */
async function mesh(secret = controlSecret, port = 0, relayId = RELAY_ID): Promise<Mesh> {
  const relay = await startRelay({
    auth: { mode: "token", controlPublicKey: ed25519.getPublicKey(secret) },
    relayId,
    port,
    privateKey: relayPrivate,
    log: () => {},
    closeGraceMs: 100,
  });
  cleanup.push(() => relay.close());
  const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
  return { relay, relayKey, controlSecret: secret, relayId };
}

async function node(): Promise<MeshNode> {
  const n = await MeshNode.create({ relayBackoffBaseMs: 20, relayBackoffMaxMs: 200 });
  cleanup.push(() => n.close());
  return n;
}

function view(n: MeshNode, id: number, owner: { user?: number; tags?: string[] }): PeerView {
  return {
    id,
    key: n.key,
    name: `node-${id}`,
    addresses: [`100.64.0.${id}`, `fd7a:115c:a1e0::${id}`],
    user:
      owner.user === undefined
        ? null
        : { id: owner.user, name: `user ${owner.user}`, email: "", signedInAt: null },
    tags: owner.tags ?? [],
    hostname: `node-${id}`,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: RELAY_ID,
  };
}

function mapFor(m: Mesh, self: PeerView, peers: PeerView[], filter: FilterRule[]): NetworkMap {
  const expiresAt = Date.now() + 3600_000;
  const token = signRelayToken(
    { v: 1, key: self.key, relay: m.relayId, udp: [], exp: Math.floor(expiresAt / 1000) },
    m.controlSecret,
  );
  return {
    self,
    peers,
    filter,
    ssh: [],
    relays: [{ id: m.relayId, region: "local", url: m.relay.url, key: m.relayKey }],
    token: { token, expiresAt },
    domain: "mesh.test",
  };
}

const allow = (src: FilterRule["src"], ...ports: FilterRule["ports"]): FilterRule => ({
  src,
  ports,
});
const ICMP = { proto: "icmp", first: 0, last: 65535 } as const;
const SSH = { proto: "tcp", first: 22, last: 22 } as const;

/** Accepts TCP connections on `port` and echoes what comes, upper-cased; counts connections. */
function echoServer(n: MeshNode, port: number): { accepted: number } {
  const listener = n.net.tcp.listen("any", port);
  const counts = { accepted: 0 };
  void (async () => {
    for (;;) {
      const conn = await listener.accept().catch(() => undefined);
      if (conn === undefined) return;
      counts.accepted++;
      const writer = conn.writable.getWriter();
      void (async () => {
        const reader = conn.readable.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          const upper = new TextDecoder().decode(r.value).toUpperCase();
          await writer.write(new TextEncoder().encode(upper));
        }
        await writer.close();
      })().catch(() => {});
    }
  })();
  return counts;
}

async function tcpExchange(
  from: MeshNode,
  to: string,
  port: number,
  text: string,
): Promise<string> {
  const local = from.net.sourceFor(parseIp(to));
  const conn = await from.net.tcp.connect(local, parseIp(to), port, { timeoutMs: 10_000 });
  const writer = conn.writable.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  let got = "";
  const reader = conn.readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    got += new TextDecoder().decode(r.value);
  }
  return got;
}

describe("mesh nodes through a real relay", () => {
  it("ping and TCP where the filters allow; a new map drops one source at the destination, counted", async () => {
    const m = await mesh();
    const [a, b, c] = [await node(), await node(), await node()];
    const va = view(a, 1, { user: 10 });
    const vb = view(b, 2, { user: 20 });
    const vc = view(c, 3, { tags: ["tag:ci"] });
    // b lets user 10 (a) and tag:ci (c) ping it and reach its port 22; a lets user 20 (b) ping it.
    const bRules = [allow({ users: [10], tags: ["tag:ci"] }, ICMP, SSH)];
    await a.applyMap(mapFor(m, va, [vb, vc], [allow({ users: [20] }, ICMP)]));
    await b.applyMap(mapFor(m, vb, [va, vc], bRules));
    await c.applyMap(mapFor(m, vc, [vb], []));
    expect(a.relayBind?.state).toBe("ready");
    expect(a.resolve("NODE-2.mesh.test")).toEqual(vb.addresses);
    const served = echoServer(b, 22);

    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(await a.net.ping("fd7a:115c:a1e0::2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(await tcpExchange(a, "100.64.0.2", 22, "hello b")).toBe("HELLO B");
    expect(await tcpExchange(c, "fd7a:115c:a1e0::2", 22, "from ci")).toBe("FROM CI");
    expect(await b.net.ping("100.64.0.1", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    const refusedBefore = b.filter.counters.dropped.noRule;
    expect(refusedBefore).toBe(0);

    // The policy changes: b no longer lets user 10 in; tag:ci still may.
    await b.applyMap(mapFor(m, vb, [va, vc], [allow({ tags: ["tag:ci"] }, ICMP, SSH)]));
    const lost = a.net.ping("100.64.0.2", { timeoutMs: 1500 });
    await waitUntil(() => b.filter.counters.dropped.noRule >= 1, "b dropping a's echo request");
    await expect(lost).rejects.toThrow("ping 100.64.0.2: no reply within 1500 ms");
    // a's SYN (and its retransmissions) never reach b's TCP stack; a gives up on its own later.
    tcpExchange(a, "100.64.0.2", 22, "again").catch(() => {});
    await waitUntil(() => b.filter.counters.dropped.noRule >= 2, "b dropping a's SYN");
    // The other direction: b still reaches a (a allows user 20; a's answers are b's own flow).
    expect(await b.net.ping("100.64.0.1", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(await tcpExchange(c, "100.64.0.2", 22, "still")).toBe("STILL");
    expect(served.accepted).toBe(3); // a's first, c's two: not a's refused one
    expect(b.filter.counters.acceptedByRule).toBeGreaterThan(0);
    expect(b.filter.counters.dropped.unknownPeer).toBe(0);
  });

  it("a peer removed from the map is gone from the device", async () => {
    const m = await mesh();
    const [a, b] = [await node(), await node()];
    const va = view(a, 1, { user: 10 });
    const vb = view(b, 2, { user: 10 });
    const rules = [allow({ users: [10] }, ICMP)];
    await a.applyMap(mapFor(m, va, [vb], rules));
    await b.applyMap(mapFor(m, vb, [va], rules));
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    const result = await a.applyMap(mapFor(m, va, [], rules));
    expect(result.removed).toEqual([2]);
    expect(a.device?.peerStats()).toEqual([]);
    await expect(a.net.ping("100.64.0.2", { timeoutMs: 500 })).rejects.toThrow(/no reply/);
    expect(a.device?.counters.get("noRoute")).toBe(1);
    // b's packets to a are refused by a's device: their session is gone with b's key.
    await expect(b.net.ping("100.64.0.1", { timeoutMs: 500 })).rejects.toThrow(/no reply/);
    expect(a.device?.counters.get("unknownReceiver")).toBeGreaterThanOrEqual(1);
    expect(a.filter.counters.acceptedByRule + a.filter.counters.acceptedAsReply).toBe(1);
  });

  it("a refreshed token is the one the next relay hello carries", async () => {
    const first = await mesh();
    const [a, b] = [await node(), await node()];
    const va = view(a, 1, { user: 10 });
    const vb = view(b, 2, { user: 10 });
    const rules = [allow({ users: [10] }, ICMP)];
    await a.applyMap(mapFor(first, va, [vb], rules));
    await b.applyMap(mapFor(first, vb, [va], rules));
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    // The control server signs with a new key from now on; the maps bring its tokens.
    const port = first.relay.port;
    const renewed = { ...first, controlSecret: random(32) };
    await a.applyMap(mapFor(renewed, va, [vb], rules));
    await b.applyMap(mapFor(renewed, vb, [va], rules));
    // The relay restarts trusting only the new key: the old tokens would be refused (4401).
    await first.relay.close();
    const second = await mesh(renewed.controlSecret, port);
    await waitUntil(
      () => a.relayBind?.stats.welcomes === 2 && b.relayBind?.stats.welcomes === 2,
      "both nodes welcomed again by the restarted relay",
    );
    expect(a.relayBind?.state).toBe("ready");
    expect(second.relay.port).toBe(port);
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
  });

  it("moves to another relay when the map does, keeping its WireGuard sessions", async () => {
    const first = await mesh();
    const [a, b] = [await node(), await node()];
    const va = view(a, 1, { user: 10 });
    const vb = view(b, 2, { user: 10 });
    const rules = [allow({ users: [10] }, ICMP)];
    await a.applyMap(mapFor(first, va, [vb], rules));
    await b.applyMap(mapFor(first, vb, [va], rules));
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    const oldBind = a.relayBind!;
    const keypair = a.device?.peerByKey(b.publicKey)?.keypairs.current;
    expect(keypair).toBeDefined();
    const second = await mesh(controlSecret, 0, "second");
    await a.applyMap(mapFor(second, va, [vb], rules));
    await b.applyMap(mapFor(second, vb, [va], rules));
    expect(a.relay?.id).toBe("second");
    expect(oldBind.state).toBe("closed");
    expect(a.relayBind?.state).toBe("ready");
    // The old relay can go: the traffic flows through the second one, on the same session.
    await first.relay.close();
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(a.relayBind?.stats.received).toBeGreaterThan(0);
    expect(a.device?.peerByKey(b.publicKey)?.keypairs.current).toBe(keypair);
  });

  it("refuses a map that lists no relay, and keeps working with the previous one", async () => {
    const m = await mesh();
    const a = await node();
    const va = view(a, 1, { user: 10 });
    await a.applyMap(mapFor(m, va, [], []));
    await expect(a.applyMap({ ...mapFor(m, va, [], []), relays: [] })).rejects.toThrow(
      "mesh node: the map lists no relay",
    );
    expect(a.relayBind?.state).toBe("ready");
  });
});
