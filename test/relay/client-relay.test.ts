// The relay client (RelayBind) against the fake relay over real WebSockets: hello and
// WELCOME, SEND/RECV both ways, SEND_UDP/RECV_UDP framing, PEER_GONE, 4401 without retry,
// keepalive RTT and timeout, and the queue while disconnected.

import { afterEach, describe, expect, it } from "vitest";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { type CryptoCore, loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { RelayBind, type RelayBindOptions } from "../../worker/relay/client.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { FakeRelay, until } from "./client-fake-relay.ts";

const random = seededBytes(0xc11e47);
let core: CryptoCore | undefined;
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function privateKey(): Uint8Array {
  const k = random(32);
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

interface Node {
  bind: RelayBind;
  key: string;
  got: { packet: Uint8Array; from: Endpoint }[];
}

async function node(relay: FakeRelay, extra: Partial<RelayBindOptions> = {}): Promise<Node> {
  core ??= await loadCryptoCore();
  const secret = privateKey();
  const bind = new RelayBind({
    url: relay.url,
    privateKey: secret,
    core,
    x25519: nobleX25519,
    connect: nodeRelayConnect(),
    random: seededBytes(0xbac0ff),
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    ...extra,
  });
  cleanup.push(() => bind.close());
  const got: Node["got"] = [];
  const key = keyToBase64(await nobleX25519.publicKey(secret));
  return { bind, key, got };
}

async function opened(relay: FakeRelay, extra: Partial<RelayBindOptions> = {}): Promise<Node> {
  const n = await node(relay, extra);
  await n.bind.open((packet, from) => n.got.push({ packet: packet.slice(), from }));
  return n;
}

async function relay(): Promise<FakeRelay> {
  const r = await FakeRelay.start();
  cleanup.push(() => r.stop());
  return r;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("RelayBind over the fake relay", () => {
  it("says hello with a valid proof and opens at WELCOME", async () => {
    const r = await relay();
    const a = await opened(r);
    expect(a.bind.state).toBe("ready");
    expect(r.welcomed).toEqual([a.key]);
    expect(a.bind.welcome).toEqual({ relay: "fake", maxPacket: 65535 });
    expect(a.bind.stats.welcomes).toBe(1);
  });

  it("carries SEND/RECV both ways between two binds, addressed by key", async () => {
    const r = await relay();
    const a = await opened(r);
    const b = await opened(r);
    const toB = a.bind.parseEndpoint(`peer:${b.key}`);
    const toA = b.bind.parseEndpoint(`peer:${a.key}`);
    expect(toB).toEqual({ key: `peer:${b.key}`, host: `peer:${b.key}`, port: 0 });
    const sent = bytes("hello b");
    expect(a.bind.send(sent, toB)).toBe(true);
    sent.fill(0); // the bind copied it
    expect(b.bind.send(bytes("hello a"), toA)).toBe(true);
    await until(() => a.got.length === 1 && b.got.length === 1, 5000, "both packets");
    expect(text(b.got[0]!.packet)).toBe("hello b");
    expect(b.got[0]!.from.key).toBe(`peer:${a.key}`);
    expect(text(a.got[0]!.packet)).toBe("hello a");
    expect(a.got[0]!.from).toBe(toB); // the same object parseEndpoint gave
    // The source endpoint is shared per key, and sending back to it works.
    expect(b.bind.send(bytes("again"), b.got[0]!.from)).toBe(true);
    await until(() => a.got.length === 1 && b.bind.stats.sent === 2);
  });

  it("frames SEND_UDP with the 18-byte endpoint and delivers RECV_UDP canonically", async () => {
    const r = await relay();
    const a = await opened(r);
    const v4 = a.bind.parseEndpoint("10.1.2.3:51820");
    const v6 = a.bind.parseEndpoint("[FD00:0::1]:443");
    expect(v6.key).toBe("[fd00::1]:443");
    a.bind.send(bytes("four"), v4);
    a.bind.send(bytes("six"), v6);
    await until(() => r.udp.length === 2 && a.got.length === 2, 5000, "udp echo");
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3];
    expect([...r.udp[0]!.address]).toEqual(mapped);
    expect(r.udp[0]!.port).toBe(51820);
    expect(text(r.udp[0]!.packet)).toBe("four");
    expect([...r.udp[1]!.address.subarray(0, 2)]).toEqual([0xfd, 0]);
    expect(a.got[0]!.from).toEqual({ key: "10.1.2.3:51820", host: "10.1.2.3", port: 51820 });
    expect(a.got[1]!.from).toEqual({ key: "[fd00::1]:443", host: "fd00::1", port: 443 });
  });

  it("reports PEER_GONE through onPeerGone", async () => {
    const r = await relay();
    const gone: [string, number][] = [];
    const a = await opened(r, { onPeerGone: (key, reason) => gone.push([key, reason]) });
    const absent = keyToBase64(random(32));
    a.bind.send(bytes("anyone?"), a.bind.parseEndpoint(`peer:${absent}`));
    await until(() => gone.length === 1, 5000, "PEER_GONE");
    expect(gone[0]).toEqual([absent, 1]);
    expect(a.bind.stats.peerGone).toBe(1);
  });

  it("rejects open() on 4401 and does not retry", async () => {
    const r = await relay();
    r.refuseAuth = true;
    const a = await node(r);
    await expect(a.bind.open(() => {})).rejects.toThrow(/4401/);
    expect(a.bind.state).toBe("failed");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.attempts.length).toBe(1);
    expect(a.bind.stats.connectAttempts).toBe(1);
    expect(a.bind.send(bytes("x"), a.bind.parseEndpoint("10.0.0.1:1"))).toBe(false);
  });

  it("measures RTT with keepalive PINGs and reconnects when PONGs stop", async () => {
    const r = await relay();
    const a = await opened(r, { pingIntervalMs: 30, pingTimeoutMs: 60 });
    await until(() => a.bind.rttMs !== undefined, 5000, "an RTT");
    // A measured round trip, whatever the machine's load (its size is a benchmark figure).
    expect(a.bind.rttMs).toBeGreaterThanOrEqual(0);
    expect(a.bind.stats.pongs).toBeGreaterThan(0);
    r.dropPings = true;
    await until(() => a.bind.stats.keepaliveTimeouts >= 1, 5000, "a keepalive timeout");
    r.dropPings = false;
    await until(() => a.bind.stats.welcomes >= 2 && a.bind.state === "ready", 5000, "reconnect");
  });

  it("queues while disconnected (bounded, oldest dropped) and flushes after reconnect", async () => {
    const r = await relay();
    const a = await opened(r, { maxQueue: 4 });
    const b = await opened(r);
    const toB = a.bind.parseEndpoint(`peer:${b.key}`);
    r.refuseConnections = true;
    r.kick(a.key);
    await until(() => a.bind.state !== "ready", 5000, "disconnect");
    for (let i = 0; i < 6; i++) expect(a.bind.send(bytes(`m${i}`), toB)).toBe(true);
    expect(a.bind.queueLength).toBe(4);
    expect(a.bind.stats.queueDropped).toBe(2);
    await until(() => r.attempts.length >= 4, 5000, "retries");
    r.refuseConnections = false;
    await until(() => b.got.length === 4, 5000, "the flushed queue");
    expect(b.got.map((g) => text(g.packet))).toEqual(["m2", "m3", "m4", "m5"]);
    expect(a.bind.queueLength).toBe(0);
    expect(a.bind.stats.disconnects).toBe(1);
  });

  it("honours RESTARTING: comes back to the restarted relay", async () => {
    // How long it waits (reconnect-in, then quick retries within try-for) is checked on a
    // fake clock in client-timing.test.ts; here, over real sockets, that it comes back.
    const r = await relay();
    const a = await opened(r);
    const before = r.attempts.length;
    await r.restart(300, 3000);
    await r.listen();
    await until(() => r.attempts.length > before, 5000, "a reconnect");
    await until(() => a.bind.state === "ready", 5000, "ready again");
    expect(a.bind.stats.restarting).toBe(1);
    expect(a.bind.stats.welcomes).toBe(2);
  });
});
