// Direct paths found without hand-made maps: two MeshNodes join through the real control server
// (map side on SQLite) whose relay list names a relay and its STUN server (ours, on loopback).
// Each node runs STUN on its WireGuard socket, reports its endpoints (the STUN-mapped address
// first, then its interface addresses), the control server hands them
// to the other node in its map, and the probes make the path direct. Loopback only.

import { afterEach, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode } from "../../server/mesh-node.ts";
import { startRelay } from "../../server/relay/relay-server.ts";
import { type StunServer, startStunServer } from "../../server/relay/stun-server.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { tcpExchange } from "../control/mesh-harness.ts";
import { type Harness, startHarness } from "../control/stream-harness.ts";
import { reservedPort } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function meshWithStun(): Promise<{ h: Harness; stun: StunServer }> {
  const stun = await startStunServer({ host: "127.0.0.1", port: 0 });
  cleanup.push(() => stun.close());
  const port = await reservedPort();
  const relayPrivate = seededBytes(0x57c0)(32);
  const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
  const h = await startHarness({
    relays: [
      {
        id: "default",
        region: "local",
        url: `ws://127.0.0.1:${port}/relay`,
        key: relayKey,
        stun: `127.0.0.1:${stun.port}`,
      },
    ],
  });
  cleanup.push(() => h.close());
  const relay = await startRelay({
    auth: { mode: "token", controlPublicKey: h.control.tokenPublicKey },
    relayId: "default",
    port,
    privateKey: relayPrivate,
    clock: () => h.clock.now(),
    log: () => {},
    closeGraceMs: 100,
  });
  cleanup.push(() => relay.close());
  await h.store.setPolicy(
    `{ "acls": [{ "action": "accept", "src": ["alice@example.com"], "dst": ["*:*"] }] }`,
    h.alice.id,
  );
  await h.control.meshChanges.policyChanged();
  return { h, stun };
}

async function join(h: Harness, hostname: string): Promise<MeshNode> {
  const node = await MeshNode.create({
    controlUrl: h.url,
    authKey: await h.authKey({ userId: h.alice.id }),
    hostname,
    os: "linux",
    relayBackoffBaseMs: 20,
    relayBackoffMaxMs: 200,
    // Bound to loopback and not reporting it: the only endpoint is the one STUN finds.
    direct: { host: "127.0.0.1" },
  });
  cleanup.push(() => node.close());
  await node.start();
  return node;
}

describe("direct paths through the control server", () => {
  it("reports STUN-mapped endpoints, which the peer's map carries, and goes direct", async () => {
    const { h, stun } = await meshWithStun();
    const alpha = await join(h, "alpha");
    const beta = await join(h, "beta");
    const betaEndpoint = `127.0.0.1:${beta.directPort}`;
    await waitUntil(() => beta.endpoints[0] === betaEndpoint, "beta's STUN-mapped endpoint");
    expect(beta.endpoints).toEqual([betaEndpoint]);
    expect(stun.stats.answered).toBeGreaterThanOrEqual(1);
    await waitUntil(
      () => alpha.state.peerByKey(beta.key)?.endpoints.includes(betaEndpoint) === true,
      "beta's endpoint in alpha's map",
    );
    await waitUntil(
      () =>
        alpha.peerStatus().find((p) => p.key === beta.key)?.path === "direct" &&
        beta.peerStatus().find((p) => p.key === alpha.key)?.path === "direct",
      "both nodes on the direct path",
    );
    const status = alpha.peerStatus().find((p) => p.key === beta.key);
    expect(status).toMatchObject({ name: "beta", path: "direct", endpoint: betaEndpoint });
    const betaAddress = beta.state.self.addresses[0] as string;
    const listener = beta.net.tcp.listen("any", 8080);
    void (async () => {
      const conn = await listener.accept();
      const writer = conn.writable.getWriter();
      const reader = conn.readable.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read())
        await writer.write(r.value);
      await writer.close();
    })().catch(() => {});
    expect(await tcpExchange(alpha, betaAddress, 8080, "over udp")).toBe("over udp");
    expect(alpha.paths?.stats.directSent).toBeGreaterThan(0);
  });
});
