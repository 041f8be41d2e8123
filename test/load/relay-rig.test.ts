// The load rig's relays (relay-rig.ts), shortened: 60 simulated nodes in 2 worker processes join
// a control server child whose maps list two relay children that admit only the control
// server's tokens. Every node gets welcomed by its home relay (node i on relay i mod 2) with the
// real hello and its map's token, every map then shows every peer's home relay, and a sample of
// pairs (half across relays) exchanges pings and a burst with nothing lost. A node with a
// token the relays do not trust is refused. Behaviour only: how fast is bench:scale's business.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { connectRelays, relayForwarding, relayMemory, relayPairs } from "./relay-rig.ts";
import { LoadRig } from "./rig.ts";
import { SimRelayLink } from "./sim-relay.ts";

const TOTAL = 60;
let rig: LoadRig;

beforeAll(async () => {
  rig = await LoadRig.start({
    total: TOTAL,
    servers: 4,
    groupSize: 10,
    workers: 2,
    hangAfterMs: 30_000,
    relays: 2,
  });
  const t = rig.topology;
  await rig.join([0, 1, 2, 3], 4);
  await rig.join(
    Array.from({ length: t.clients }, (_, i) => t.servers + i),
    8,
  );
}, 120_000);

afterAll(async () => {
  await rig?.stop();
}, 60_000);

describe("load rig relays", () => {
  it("connects every node to its home relay and every map learns the homes", async () => {
    expect(rig.ids.size).toBe(TOTAL);
    expect(await rig.settle()).toEqual([]);
    const linked = await connectRelays(rig, 8);
    expect(linked.failed).toEqual([]);
    expect(linked.homesMissing).toEqual([]);
    expect(linked.connected).toBe(TOTAL);
    expect((await relayMemory(rig)).map((r) => r.clients)).toEqual([TOTAL / 2, TOTAL / 2]);
  }, 60_000);

  it("forwards a sample of pairs, half across relays, without losing a packet", async () => {
    const pairs = relayPairs(rig, 8);
    expect(pairs.length).toBe(8);
    const fwd = await relayForwarding(rig, pairs, { pings: 3, burst: 20, packetBytes: 1200 });
    expect(fwd.problems).toEqual([]);
    expect(fwd.crossed).toBe(4);
    expect(fwd.rtts.length).toBe(8 * 3);
    expect(fwd.packets).toBe(8 * 20);
    expect(fwd.bytes).toBe(8 * 20 * 1200);
    const stats = await rig.stats();
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
  }, 60_000);

  it("refuses a node whose token the relays do not trust", async () => {
    const privateKey = generatePrivateKey();
    const link = new SimRelayLink({
      url: rig.relays[0]!.url,
      relayKey: rig.relays[0]!.key,
      core: await initCrypto(),
      privateKey,
      publicKey: await nodeX25519.publicKey(privateKey),
      token: "not-a-token",
      onPacket: () => {},
      onLost: () => {},
    });
    await expect(link.open()).rejects.toThrow(/closed/);
    link.close();
  }, 30_000);
});
