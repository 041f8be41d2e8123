// Mesh nodes that join through the real control server (map side on SQLite, the shared
// ControlClient) and talk through a real relay that trusts the control server's tokens: nodes
// registered by auth key reach each other by name, and a policy change makes one node's
// packets dropped at the destination (counted) while the other direction still works.
// Loopback only.

import { afterEach, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode, type MeshNodeOptions } from "../../server/mesh-node.ts";
import { startRelay } from "../../server/relay/relay-server.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { reservedPort } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, startHarness } from "./stream-harness.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** The map side and, on a port chosen first (the relay list names it), the relay. */
async function meshWithControl(): Promise<Harness> {
  const port = await reservedPort();
  const relayPrivate = seededBytes(0xc0a7)(32);
  const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
  const h = await startHarness({
    relays: [
      { id: "default", region: "local", url: `ws://127.0.0.1:${port}/relay`, key: relayKey },
    ],
  });
  cleanup.push(() => h.close());
  const relay = await startRelay({
    auth: { mode: "token", controlPublicKey: h.control.tokenPublicKey },
    relayId: "default",
    port,
    privateKey: relayPrivate,
    // Tokens are signed on the map side's manual clock.
    clock: () => h.clock.now(),
    log: () => {},
    closeGraceMs: 100,
  });
  cleanup.push(() => relay.close());
  return h;
}

async function join(h: Harness, hostname: string, authKey: string): Promise<MeshNode> {
  const options: MeshNodeOptions = {
    controlUrl: h.url,
    authKey,
    hostname,
    os: "linux",
    relayBackoffBaseMs: 20,
    relayBackoffMaxMs: 200,
  };
  const node = await MeshNode.create(options);
  cleanup.push(() => node.close());
  await node.start();
  return node;
}

async function setPolicy(h: Harness, text: string): Promise<void> {
  await h.store.setPolicy(text, h.alice.id);
  await h.control.meshChanges.policyChanged();
}

describe("mesh nodes joined through the control server", () => {
  it("reach each other by name; a policy change drops one side's packets at the destination", async () => {
    const h = await meshWithControl();
    await setPolicy(
      h,
      `{
        "acls": [
          { "action": "accept", "src": ["alice@example.com"], "dst": ["*:*"] },
          { "action": "accept", "src": ["bob@example.com"], "dst": ["alice@example.com:*"] },
        ],
      }`,
    );
    const alpha = await join(h, "alpha", await h.authKey({ userId: h.alice.id }));
    const gamma = await join(h, "gamma", await h.authKey({ userId: h.bob.id }));
    await waitUntil(() => alpha.resolve("gamma") !== undefined, "gamma in alpha's map");
    await waitUntil(() => gamma.resolve("alpha") !== undefined, "alpha in gamma's map");
    const alphaV4 = alpha.resolve(`ALPHA.${alpha.state.domain}`)![0]!;
    const gammaV4 = alpha.resolve("gamma")![0]!;
    expect(alpha.relay?.id).toBe("default");
    await waitUntil(() => alpha.device?.peerStats().length === 1, "gamma on alpha's device");
    await waitUntil(() => gamma.device?.peerStats().length === 1, "alpha on gamma's device");
    expect(await gamma.net.ping(alphaV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(await alpha.net.ping(gammaV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);

    // bob's nodes may no longer open anything on alice's; alice's may still reach bob's.
    const filterVersion = alpha.state.seq;
    await setPolicy(
      h,
      `{ "acls": [ { "action": "accept", "src": ["alice@example.com"], "dst": ["*:*"] } ] }`,
    );
    await waitUntil(() => alpha.state.seq > filterVersion, "the policy change at alpha");
    await waitUntil(
      () => alpha.state.filter.every((rule) => !rule.src.users?.includes(h.bob.id)),
      "alpha's filter without bob",
    );
    const dropped = alpha.filter.counters.dropped.noRule;
    const lost = gamma.net.ping(alphaV4, { timeoutMs: 1500 });
    await waitUntil(
      () => alpha.filter.counters.dropped.noRule > dropped,
      "alpha dropping gamma's ping",
    );
    await expect(lost).rejects.toThrow(`ping ${alphaV4}: no reply within 1500 ms`);
    // The other way still works: gamma lets alice in, and alpha lets gamma's answers in.
    expect(await alpha.net.ping(gammaV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(alpha.filter.counters.acceptedAsReply).toBeGreaterThanOrEqual(2);
  });
});
