// RelaySet (worker/relay/relay-set.ts) against two real relay servers in this process: nodes
// on different home relays reach each other (each sends to the other's home), a connection to
// a peer's home idles out, an unknown home falls back to the node's own, the home moves only
// for a clearly faster relay, and a home relay that dies moves its node to the other one.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayOptions } from "../../server/relay/options.ts";
import { ANY_RELAY, signRelayToken } from "../../server/relay/token.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelaySet, type RelaySetOptions } from "../../worker/relay/relay-set.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { until } from "./client-fake-relay.ts";
import { clampedKey, peerView, testRelay } from "./relay-set-harness.ts";

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x5e7);
const bytes = (s: string) => new TextEncoder().encode(s);
const relay = (id: string, auth?: RelayOptions["auth"]) => testRelay(id, cleanup, random, auth);
const peer = (key: string, homeRelay: string): PeerView => peerView(key, homeRelay);

interface TestNode {
  set: RelaySet;
  key: string;
  got: { text: string; from: Endpoint }[];
  homes: string[];
}

async function node(options: Partial<RelaySetOptions> = {}): Promise<TestNode> {
  const privateKey = clampedKey(random);
  const homes: string[] = [];
  const set = new RelaySet({
    privateKey,
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    connect: nodeRelayConnect(),
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    probe: async () => 5,
    ...options,
    onHome: (relay, reason) => homes.push(`${relay.id}:${reason}`),
  });
  cleanup.push(() => set.close());
  const key = keyToBase64(await nobleX25519.publicKey(privateKey));
  return { set, key, got: [], homes };
}

async function open(n: TestNode): Promise<void> {
  await n.set.open((packet, from) => n.got.push({ text: new TextDecoder().decode(packet), from }));
}

describe("RelaySet on two real relays", () => {
  it("nodes on different home relays send to each other's home; the extra connection idles out", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const relays = [r1.info, r2.info];
    const a = await node({ idleMs: 1000 });
    const b = await node({ idleMs: 1000 });
    a.set.update(relays, "", [peer(b.key, "r2")], "r1");
    b.set.update(relays, "", [peer(a.key, "r1")], "r2");
    await Promise.all([open(a), open(b)]);
    expect(a.set.home?.id).toBe("r1");
    expect(b.set.home?.id).toBe("r2");
    expect([...a.set.connections.keys()]).toEqual(["r1"]);
    expect(a.set.send(bytes("a to b"), a.set.parseEndpoint(`peer:${b.key}`))).toBe(true);
    await until(() => b.got.length === 1, 5000, "a's packet at b");
    expect(b.got[0]).toMatchObject({ text: "a to b", from: { key: `peer:${a.key}` } });
    expect([...a.set.connections.keys()].sort()).toEqual(["r1", "r2"]);
    b.set.send(bytes("b to a"), b.set.parseEndpoint(`peer:${a.key}`));
    await until(() => a.got.length === 1, 5000, "b's packet at a");
    expect(a.got[0]).toMatchObject({ text: "b to a", from: { key: `peer:${b.key}` } });
    // Nothing more is sent to b's relay: that connection closes; the home stays.
    const toB = a.set.connections.get("r2");
    await until(() => !a.set.connections.has("r2"), 5000, "the idle connection closed");
    expect(toB?.state).toBe("closed");
    expect(a.set.homeBind?.state).toBe("ready");
    expect(a.homes).toEqual([]);
  });

  it("a peer with an unknown home relay is reached through the node's own home", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const relays = [r1.info, r2.info];
    const a = await node();
    const c = await node();
    a.set.update(relays, "", [peer(c.key, "gone")], "r1");
    c.set.update(relays, "", [peer(a.key, "")], "r1");
    await Promise.all([open(a), open(c)]);
    a.set.send(bytes("via home"), a.set.parseEndpoint(`peer:${c.key}`));
    c.set.send(bytes("back"), c.set.parseEndpoint(`peer:${a.key}`));
    await until(() => a.got.length === 1 && c.got.length === 1, 5000, "both packets");
    expect([...a.set.connections.keys()]).toEqual(["r1"]);
    expect([...c.set.connections.keys()]).toEqual(["r1"]);
  });

  it("moves home only for a clearly faster relay (9 ms better stays, 30 vs 50 moves)", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const rtt: Record<string, number> = { r1: 50, r2: 41 };
    const a = await node({ probe: async (r) => rtt[r.id], probeIntervalMs: 100 });
    a.set.update([r1.info, r2.info], "", [], "r1");
    await open(a);
    await until(() => a.set.roundTrips.get("r2") === 41, 5000, "the first probes");
    // Several probe rounds later it is still home on r1.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(a.set.home?.id).toBe("r1");
    rtt.r2 = 30;
    await until(() => a.set.home?.id === "r2", 5000, "the switch to r2");
    expect(a.homes).toEqual(["r2:latency"]);
    expect(a.set.homeBind?.state).toBe("ready");
  });

  it("a node whose home relay dies moves to the other within failoverMs", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const relays = [r1.info, r2.info];
    const a = await node({ failoverMs: 300, probeIntervalMs: 200 });
    const b = await node();
    a.set.update(relays, "", [peer(b.key, "r2")], "r1");
    b.set.update(relays, "", [peer(a.key, "r1")], "r2");
    await Promise.all([open(a), open(b)]);
    expect(a.set.home?.id).toBe("r1");
    await r1.server.close();
    const died = performance.now();
    await until(() => a.set.home?.id === "r2", 5000, "failover to r2");
    expect(performance.now() - died).toBeLessThan(2000);
    expect(a.homes).toEqual(["r2:failover"]);
    await until(() => a.set.homeBind?.state === "ready", 5000, "r2 connected");
    // b learns a's new home from the map, and reaches it there.
    b.set.update(relays, "", [peer(a.key, "r2")]);
    b.set.send(bytes("after"), b.set.parseEndpoint(`peer:${a.key}`));
    await until(() => a.got.some((g) => g.text === "after"), 5000, "b's packet at a on r2");
  });

  it("starts on the next relay when the first listed one is not there (failoverMs)", async () => {
    const dead = await relay("dead");
    await dead.server.close();
    const r2 = await relay("r2");
    const a = await node({ failoverMs: 300, probe: async () => undefined, probeTimeoutMs: 200 });
    a.set.update([dead.info, r2.info], "", []);
    expect(a.set.home?.id).toBe("dead");
    const started = performance.now();
    await open(a);
    expect(a.set.home?.id).toBe("r2");
    expect(a.set.homeBind?.state).toBe("ready");
    expect(performance.now() - started).toBeLessThan(3000);
    // Whichever comes first: the probes (r2 answers, "dead" does not) or the failover.
    expect(a.homes).toHaveLength(1);
    expect(a.homes[0]).toMatch(/^r2:(latency|failover)$/);
    expect(a.set.roundTrips.get("dead") ?? null).toBeNull();
  });

  it("a relay that refuses the node (4401) gives way at once; open() fails when all refuse", async () => {
    const strict = { mode: "token", controlPublicKey: ed25519.getPublicKey(random(32)) } as const;
    const r1 = await relay("r1", strict);
    const r2 = await relay("r2");
    const a = await node({ failoverMs: 60_000 });
    a.set.update([r1.info, r2.info], "", [], "r1");
    await open(a);
    expect(a.set.home?.id).toBe("r2");
    expect(a.homes).toEqual(["r2:failover"]);
    const b = await node();
    b.set.update([r1.info], "", [], "r1");
    await expect(open(b)).rejects.toThrow(/4401|refused/);
  });

  it("a relay dropped from the map closes; the home moves when it was the home", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const a = await node();
    const b = await node();
    a.set.update([r1.info, r2.info], "", [peer(b.key, "r2")], "r1");
    await open(a);
    a.set.send(bytes("x"), a.set.parseEndpoint(`peer:${b.key}`));
    const toR2 = a.set.connections.get("r2");
    expect(toR2).toBeDefined();
    a.set.update([r1.info], "", [peer(b.key, "r2")]);
    expect(toR2?.state).toBe("closed");
    expect([...a.set.connections.keys()]).toEqual(["r1"]);
    const home = a.set.homeBind;
    a.set.update([r2.info], "", []);
    expect(home?.state).toBe("closed");
    expect(a.set.home?.id).toBe("r2");
    expect(a.homes).toEqual(["r2:failover"]);
    await a.set.whenReady();
    expect(a.set.homeBind?.state).toBe("ready");
  });

  it("a probe that never answers costs its timeout and no more", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const a = await node({
      probe: (r) => (r.id === "r2" ? new Promise<undefined>(() => {}) : Promise.resolve(50)),
      probeTimeoutMs: 200,
      probeIntervalMs: 100_000,
    });
    a.set.update([r1.info, r2.info], "", []);
    await open(a);
    // r2's probe gives up; its own ping answers then (the probe gave nothing).
    await until(() => a.set.roundTrips.has("r2"), 3000, "r2 measured after the timeout");
    expect(typeof a.set.roundTrips.get("r2")).toBe("number");
  });

  it("one token for every relay ('*'): nodes on two token-checking relays reach each other", async () => {
    const controlSecret = random(32);
    const auth = { mode: "token", controlPublicKey: ed25519.getPublicKey(controlSecret) } as const;
    const [r1, r2] = [await relay("r1", auth), await relay("r2", auth)];
    const relays = [r1.info, r2.info];
    const token = (key: string) =>
      signRelayToken(
        { v: 1, key, relay: ANY_RELAY, udp: [], exp: Math.floor(Date.now() / 1000) + 600 },
        controlSecret,
      );
    const a = await node();
    const b = await node();
    a.set.update(relays, token(a.key), [peer(b.key, "r2")], "r1");
    b.set.update(relays, token(b.key), [peer(a.key, "r1")], "r2");
    await Promise.all([open(a), open(b)]);
    a.set.send(bytes("a on r2"), a.set.parseEndpoint(`peer:${b.key}`));
    b.set.send(bytes("b on r1"), b.set.parseEndpoint(`peer:${a.key}`));
    await until(() => a.got.length === 1 && b.got.length === 1, 5000, "both packets");
    expect(a.set.connections.get("r2")?.state).toBe("ready");
    expect(b.set.connections.get("r1")?.state).toBe("ready");
  });
});
