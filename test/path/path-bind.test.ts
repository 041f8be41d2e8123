// PathBind (worker/path/path-bind.ts) on a fake clock, with direct UDP as a MemoryNetwork and
// the relay as an in-memory hub keyed by node key: the path goes direct once probes answer,
// falls back to the relay when they stop and returns; data is always delivered with the
// peer's one "peer:<key>" endpoint; probes never reach the device; forged and stray datagrams
// are dropped and counted; a peer that never answers is probed less and less; a NAT-mapped
// source is learned from a verified ping; the disable setting keeps everything on the relay.
// Also the path-choice rules alone (worker/path/path-choice.ts).

import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { PathBind } from "../../worker/path/path-bind.ts";
import {
  chooseDirect,
  clearlyBetter,
  DEFAULT_TIMINGS,
  nextProbeDelay,
  smoothRtt,
} from "../../worker/path/path-choice.ts";
import { encodeProbe, isProbe, probeKey } from "../../worker/path/probe.ts";
import { peerEndpoint } from "../../worker/relay/endpoint.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { RelayHub } from "./relay-hub.ts";

const random = seededBytes(0xba7);

interface Node {
  bind: PathBind;
  key: string;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  got: { packet: Uint8Array; from: Endpoint }[];
  address: string;
}

function peerView(key: string, id: number, endpoints: string[]): PeerView {
  return {
    id,
    key,
    name: `n${id}`,
    addresses: [`100.64.0.${id}`],
    user: null,
    tags: ["tag:t"],
    hostname: `n${id}`,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints,
    homeRelay: "r",
  };
}

async function world(options: { disabled?: boolean } = {}) {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const hub = new RelayHub();
  const make = async (address: string): Promise<Node> => {
    const privateKey = random(32);
    const publicKey = await nodeX25519.publicKey(privateKey);
    const key = keyToBase64(publicKey);
    const bind = new PathBind({
      relay: hub.bind(key),
      direct: net.bind(address),
      disabled: options.disabled,
      privateKey,
      publicKey,
      x25519: nodeX25519,
      clock,
      randomBytes: random,
    });
    const node: Node = { bind, key, privateKey, publicKey, got: [], address };
    await bind.open((packet, from) => node.got.push({ packet: packet.slice(), from }));
    return node;
  };
  const a = await make("10.0.0.1:1000");
  const b = await make("10.0.0.2:2000");
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  /** Runs `ms` of fake time in ticks, letting deliveries and key derivations happen between. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 250) {
      clock.advance(250);
      await settle();
    }
  };
  return { clock, net, hub, a, b, run, settle };
}

const DATA = new Uint8Array([4, 0, 0, 0, 1, 2, 3]); // looks like a WireGuard transport message

describe("PathBind", () => {
  it("goes direct once probes answer, delivering as the peer's relay endpoint", async () => {
    const { net, a, b, run } = await world();
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    expect(a.bind.pathOf(b.key)?.path).toBe("relay");
    await run(1000);
    expect(a.bind.pathOf(b.key)).toMatchObject({ path: "direct", endpoint: b.address });
    expect(b.bind.pathOf(a.key)).toMatchObject({ path: "direct", endpoint: a.address });
    expect(a.bind.pathOf(b.key)?.rttMs).not.toBeNull();
    expect(b.got).toHaveLength(0); // probes never reach the device

    const udpBefore = net.stats.sent;
    expect(a.bind.send(DATA, a.bind.parseEndpoint(`peer:${b.key}`))).toBe(true);
    await run(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(net.stats.sent).toBe(udpBefore + 1);
    expect(b.got).toHaveLength(1);
    expect([...(b.got[0]?.packet ?? [])]).toEqual([...DATA]);
    // The same object the device was given for the peer: roaming keeps it on "peer:<key>".
    expect(b.got[0]?.from).toBe(b.bind.parseEndpoint(`peer:${a.key}`));
  });

  it("falls back to the relay when direct stops answering, and returns", async () => {
    const { net, hub, a, b, run } = await world();
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    await run(1000);
    expect(a.bind.pathOf(b.key)?.path).toBe("direct");
    net.filter = () => "drop";
    await run(DEFAULT_TIMINGS.trustMs + 1000);
    expect(a.bind.pathOf(b.key)?.path).toBe("relay");
    const relayed = hub.sent;
    a.bind.send(DATA, a.bind.parseEndpoint(`peer:${b.key}`));
    expect(hub.sent).toBe(relayed + 1);
    await run(0);
    expect(b.got.at(-1)?.from).toBe(b.bind.parseEndpoint(`peer:${a.key}`));
    net.filter = () => "deliver";
    await run(DEFAULT_TIMINGS.directProbeMs + 1000);
    expect(a.bind.pathOf(b.key)?.path).toBe("direct");
    expect(a.bind.stats.switches).toBeGreaterThanOrEqual(3);
  });

  it("probes a peer that never answers less and less", async () => {
    const { net, a, b, run } = await world();
    // b's reported endpoint leads nowhere; nothing else is probed directly.
    a.bind.setPeers([peerView(b.key, 2, ["10.9.9.9:9"])]);
    const minutes = 5;
    await run(minutes * 60_000);
    const rounds = net.stats.sent;
    // Every 2 s without backoff would be 150 rounds; the backoff reaches 30 s.
    expect(rounds).toBeGreaterThan(5);
    expect(rounds).toBeLessThan(30);
    expect(a.bind.pathOf(b.key)?.path).toBe("relay");
    // A new endpoint in the map starts over at once.
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [])]);
    // b meets a only now: a's first ping may arrive before b has derived their probe key.
    await run(DEFAULT_TIMINGS.probeMs + 1000);
    expect(a.bind.pathOf(b.key)?.path).toBe("direct");
  });

  it("learns a peer's source from its verified ping (a NAT's mapping)", async () => {
    const { a, b, run } = await world();
    // b was told a wrong endpoint for a; a knows b's right one.
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, ["10.0.0.99:1"])]);
    await run(1000);
    expect(b.bind.pathOf(a.key)).toMatchObject({ path: "direct", endpoint: a.address });
  });

  it("drops forged probes and stray datagrams, counting them", async () => {
    const { net, hub, a, b, run, settle } = await world();
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    await run(500);
    const stranger = net.bind("10.0.0.7:7");
    await stranger.open(() => {});
    const to = stranger.parseEndpoint(a.address);
    // Data from a source that is no peer's endpoint.
    stranger.send(DATA, to);
    // A ping signed by a key a does not know.
    const c = random(32);
    const cPublic = await nodeX25519.publicKey(c);
    const cKey = await probeKey(nodeX25519, c, a.publicKey);
    const ping = (sender: Uint8Array, key: Uint8Array) =>
      encodeProbe({ kind: "ping", sender, transactionId: random(12), observed: null }, key);
    stranger.send(ping(cPublic, cKey), to);
    // A pong from b's key but for a transaction a never started.
    const ab = await probeKey(nodeX25519, b.privateKey, a.publicKey);
    const pong = encodeProbe(
      { kind: "pong", sender: b.publicKey, transactionId: random(12), observed: null },
      ab,
    );
    stranger.send(pong, to);
    // b's ping with a flipped MAC bit.
    const bad = ping(b.publicKey, ab);
    bad[bad.length - 1] = (bad.at(-1) ?? 0) ^ 1;
    stranger.send(bad, to);
    // b's valid ping relayed as if it came from c: the relay's source must be the sender.
    hub.binds.get(a.key)?.onReceive?.(ping(b.publicKey, ab), peerEndpoint(keyToBase64(cPublic)));
    await settle();
    const dropped = a.bind.stats.probesDropped;
    expect(dropped).toBe(4);
    expect(a.bind.stats.unknownSource).toBe(1);
    expect(a.got).toHaveLength(0);
  });

  it("delivers a source as a peer's only once a probe proved it is that peer", async () => {
    const { net, a, b, run, settle } = await world();
    // a's map says b is also at 10.0.0.7:7, where a stranger sits.
    const stranger = net.bind("10.0.0.7:7");
    await stranger.open(() => {});
    a.bind.setPeers([peerView(b.key, 2, [b.address, "10.0.0.7:7"])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    await run(1000);
    expect(a.bind.pathOf(b.key)?.path).toBe("direct");
    stranger.send(DATA, stranger.parseEndpoint(a.address));
    await settle();
    expect(a.got).toHaveLength(0);
    expect(a.bind.stats.unknownSource).toBe(1);
    // b's own source was proven by its probes: its data is b's.
    b.bind.send(DATA, b.bind.parseEndpoint(`peer:${a.key}`));
    await settle();
    expect(a.got).toHaveLength(1);
    expect(a.got[0]?.from).toBe(a.bind.parseEndpoint(`peer:${b.key}`));
  });

  it("survives 10,000 seeded hostile datagrams on both paths", async () => {
    const { net, hub, a, b, run, settle } = await world();
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    await run(1000);
    const stranger = net.bind("10.0.0.7:7");
    await stranger.open(() => {});
    const to = stranger.parseEndpoint(a.address);
    const ab = await probeKey(nodeX25519, b.privateKey, a.publicKey);
    const bytes = seededBytes(0xf022);
    const int = (n: number) => (bytes(4)[0] as number) % n;
    const real = encodeProbe(
      { kind: "pong", sender: b.publicKey, transactionId: bytes(12), observed: null },
      ab,
    );
    const relayIn = hub.binds.get(a.key)?.onReceive;
    const delivered = a.got.length;
    let relayData = 0;
    for (let i = 0; i < 10_000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = real.slice(0, 1 + int(real.length));
        input[int(input.length)] = int(256);
      } else {
        input = bytes(int(100));
        input.set([0x43, 0x50, 0x52, 0x42].slice(0, input.length));
      }
      if (i % 3 === 0) {
        relayIn?.(input, peerEndpoint(b.key));
        // From the relay, b's datagrams that are not probes are the device's to judge.
        if (!isProbe(input)) relayData++;
      } else {
        stranger.send(input, to);
      }
    }
    await settle();
    // Probes never reach the device; the stranger's datagrams are never a peer's.
    expect(a.got.length - delivered).toBe(relayData);
    expect(a.got.slice(delivered).some((g) => isProbe(g.packet))).toBe(false);
    expect(relayData).toBeGreaterThan(0);
    expect(a.bind.pathOf(b.key)?.path).toBe("direct");
  });

  it("keeps everything on the relay when direct paths are disabled", async () => {
    const { net, a, b, run } = await world({ disabled: true });
    a.bind.setPeers([peerView(b.key, 2, [b.address])]);
    b.bind.setPeers([peerView(a.key, 1, [a.address])]);
    await run(3000);
    expect(net.stats.sent).toBe(0);
    expect(a.bind.pathOf(b.key)).toMatchObject({ path: "relay", endpoint: null });
    expect(a.bind.pathOf(b.key)?.rttMs).not.toBeNull(); // measured through the relay
    expect(a.bind.directEnabled).toBe(false);
  });
});

describe("path choice", () => {
  const t = DEFAULT_TIMINGS;
  const c = (key: string, lastPong: number, rttMs: number | null) => ({ key, lastPong, rttMs });

  it("keeps a trusted endpoint unless another is clearly better", () => {
    const now = 100_000;
    const current = c("a", now - 1000, 40);
    const similar = c("b", now - 500, 35);
    const faster = c("c", now - 500, 10);
    expect(chooseDirect([current, similar], current, now, t)).toBe(current);
    expect(chooseDirect([current, similar, faster], current, now, t)).toBe(faster);
    const stale = c("a", now - t.trustMs - 1, 5);
    expect(chooseDirect([stale, similar], stale, now, t)).toBe(similar);
    expect(chooseDirect([stale], stale, now, t)).toBeUndefined();
    expect(chooseDirect([], undefined, now, t)).toBeUndefined();
  });

  it("needs 30% and 5 ms to call one clearly better", () => {
    expect(clearlyBetter(6, 10)).toBe(false); // 40% but only 4 ms
    expect(clearlyBetter(80, 100)).toBe(false); // 20 ms but only 20%
    expect(clearlyBetter(60, 100)).toBe(true);
  });

  it("backs off after unanswered rounds, up to the cap", () => {
    expect(nextProbeDelay(true, 0, t)).toBe(t.directProbeMs);
    expect(nextProbeDelay(false, 0, t)).toBe(t.probeMs);
    expect(nextProbeDelay(false, t.backoffAfter, t)).toBe(t.probeMs);
    expect(nextProbeDelay(false, t.backoffAfter + 1, t)).toBe(t.probeMs * 2);
    expect(nextProbeDelay(false, 1000, t)).toBe(t.maxBackoffMs);
  });

  it("smooths round trips", () => {
    expect(smoothRtt(null, 40)).toBe(40);
    expect(smoothRtt(40, 48)).toBe(41);
  });
});
