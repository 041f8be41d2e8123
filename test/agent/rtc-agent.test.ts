// The agent's side of WebRTC direct paths, end to end on loopback: a real control server (map
// side on SQLite) and relay, a real MeshNode agent, and as "the page" a node made of the worker
// pieces a browser runs (MeshPlane, a ControlClient taking signals, a PathBind over the relays
// with DirectBinds(ChannelBind, no UDP), RtcSessions offering) with werift in the offer role
// standing in for the browser's RTCPeerConnection. The offer reaches the agent through the
// control server, the agent answers, the channel opens and becomes the direct path both ways; a
// TCP transfer crosses it while the relay's forwarded bytes stay flat; when the page's side goes
// away without a bye, the agent's path returns to the relay within the channel trust window. An
// agent with direct paths off answers bye "disabled".

import { afterEach, describe, expect, it } from "vitest";
import { formatPath } from "../../cli/status.ts";
import { decodeAnswer, encodeAnswer } from "../../server/agent/local-wire.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode } from "../../server/mesh-node.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { startStunServer } from "../../server/relay/stun-server.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import type { ChannelBindStats } from "../../worker/path/channel-bind.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { type Harness, startHarness } from "../control/stream-harness.ts";
import { reservedPort } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { startPage } from "./rtc-page.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function mesh(): Promise<{ h: Harness; relay: RelayServer }> {
  const stun = await startStunServer({ host: "127.0.0.1", port: 0 });
  cleanup.push(() => stun.close());
  const port = await reservedPort();
  const relayPrivate = seededBytes(0x57c1)(32);
  const h = await startHarness({
    relays: [
      {
        id: "default",
        region: "local",
        url: `ws://127.0.0.1:${port}/relay`,
        key: keyToBase64(await nodeX25519.publicKey(relayPrivate)),
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
  return { h, relay };
}

async function agent(h: Harness, hostname: string, disabled = false): Promise<MeshNode> {
  const node = await MeshNode.create({
    controlUrl: h.url,
    authKey: await h.authKey({ userId: h.alice.id }),
    hostname,
    os: "linux",
    relayBackoffBaseMs: 20,
    relayBackoffMaxMs: 200,
    // Bound to loopback: werift's ICE too (its one interface, announced alone).
    direct: { host: "127.0.0.1", disabled },
  });
  cleanup.push(() => node.close());
  await node.start();
  return node;
}

/** Sends `bytes` over TCP from `from` to a sink on `to` (at `address`); resolves to what arrived. */
async function transfer(
  from: NetInterface,
  to: NetInterface,
  address: string,
  bytes: Uint8Array,
): Promise<number> {
  const listener = to.tcp.listen("any", 9000);
  const received = (async () => {
    const conn = await listener.accept();
    const reader = conn.readable.getReader();
    let total = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) total += r.value.length;
    return total;
  })();
  const ip = parseIp(address);
  const conn = await from.tcp.connect(from.sourceFor(ip), ip, 9000, { timeoutMs: 10_000 });
  const writer = conn.writable.getWriter();
  for (let at = 0; at < bytes.length; at += 16 * 1024) {
    await writer.write(bytes.subarray(at, at + 16 * 1024));
  }
  await writer.close();
  const total = await received;
  listener.close();
  return total;
}

/** The relay's forwarded bytes and the seconds taken while `run` runs. */
async function measured(relay: RelayServer, run: () => Promise<void>): Promise<[number, number]> {
  const before = await relay.metrics.registry.value("corridor_relay_bytes_out_total");
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  return [(await relay.metrics.registry.value("corridor_relay_bytes_out_total")) - before, seconds];
}

describe("the agent answers a page's WebRTC offer", () => {
  it("opens the channel through the control server, goes direct, and falls back to the relay", async () => {
    const { h, relay } = await mesh();
    const node = await agent(h, "agent");
    const off = await agent(h, "agent-off", true);
    const p = await startPage(h.url, await h.authKey({ userId: h.alice.id }));
    cleanup.push(() => p.close());
    await waitUntil(
      () =>
        node.state.peerByKey(p.key) !== undefined &&
        p.control.map.peerByKey(node.key) !== undefined,
      "the page and the agent in each other's maps",
    );

    const started = performance.now();
    p.sessions.want(node.key);
    // New attempts are 250 ms apart (the server's signal rate): the second one after that.
    setTimeout(() => p.sessions.want(off.key), 300);
    await waitUntil(() => p.sessions.stateOf(node.key) === "open", "the channel open", {
      hangAfterMs: 10_000,
    });
    const openMs = performance.now() - started;
    expect(node.webrtc?.sessions.stateOf(p.key)).toBe("open");
    expect(node.webrtc?.sessions.stats.offersAnswered).toBe(1);
    // The agent with direct paths off refused: the page waits 10 min before asking it again.
    await waitUntil(() => p.sessions.stats.refused === 1, "bye disabled from agent-off");
    expect(off.webrtc?.sessions.stats.offersRefused).toBe(1);
    expect(off.webrtc?.sessions.size).toBe(0);
    expect(p.sessions.stateOf(off.key)).toBeUndefined();

    await waitUntil(
      () =>
        p.paths().pathOf(node.key)?.path === "direct" &&
        node.paths?.pathOf(p.key)?.path === "direct",
      "both sides direct over the channel",
      { hangAfterMs: 5_000 },
    );
    const directMs = performance.now() - started;
    expect(p.paths().pathOf(node.key)?.endpoint).toBe(`webrtc:${node.key}`);
    const agentRelaySent = node.paths?.stats.relaySent;
    const status = node.peerStatus().find((peer) => peer.key === p.key);
    expect(status).toMatchObject({ path: "direct", endpoint: `webrtc:${p.key}`, relay: null });
    expect(formatPath(status as NonNullable<typeof status>)).toBe("direct webrtc");
    // The local socket carries it to `corridor status` as it is.
    const answer = {
      status: {
        self: null,
        control: { state: "streaming", url: h.url, approvalUrl: null },
        mode: "userspace" as const,
        relay: null,
        endpoints: [...node.endpoints],
        peers: node.peerStatus(),
      },
    };
    const carried = decodeAnswer("status", encodeAnswer("status", answer).trimEnd());
    expect(carried.status.peers.find((peer) => peer.key === p.key)?.endpoint).toBe(
      `webrtc:${p.key}`,
    );

    const bytes = seededBytes(0x7e57)(1 << 20);
    const pageNet = p.plane.net as NetInterface;
    const pageAddress = p.control.map.self.addresses[0] as string;
    const agentAddress = node.state.self.addresses[0] as string;
    const atAgent = node.webrtc?.channels.stats as ChannelBindStats;
    // Agent to page: the agent's werift sends the bulk. Probes through the relay go on (one
    // relay ping per round, a few hundred bytes a second: 0.1-0.7 KB measured here), so the
    // relay stays ~flat; a full channel spilling onto the relay put 33 KB there.
    const sentBefore = atAgent.bytesSent;
    const [down, downS] = await measured(relay, async () => {
      expect(await transfer(node.net, pageNet, pageAddress, bytes)).toBe(bytes.length);
    });
    expect(atAgent.bytesSent - sentBefore).toBeGreaterThan(bytes.length);
    expect(down).toBeLessThan(12 * 1024);
    // Page to agent: what the page's PathBind does with a full channel is the page's.
    const receivedBefore = atAgent.bytesReceived;
    const [up, upS] = await measured(relay, async () => {
      expect(await transfer(pageNet, node.net, agentAddress, bytes)).toBe(bytes.length);
    });
    const overChannel = atAgent.bytesReceived - receivedBefore;
    expect(overChannel).toBeGreaterThan(bytes.length / 2);
    expect(node.paths?.stats.relaySent).toBe(agentRelaySent);

    // The page vanishes without a bye: the agent learns it from werift (the channel's close)
    // and its path returns to the relay well within the channel trust window (2.2 s).
    p.dropByes = true;
    const closing = performance.now();
    p.sessions.close();
    await waitUntil(
      () => node.paths?.pathOf(p.key)?.path === "relay",
      "the agent back on the relay",
      {
        hangAfterMs: 3_000,
      },
    );
    const backMs = performance.now() - closing;
    expect(backMs).toBeLessThan(2_200);
    expect(node.webrtc?.sessions.size).toBe(0);
    expect(node.webrtc?.channels.size).toBe(0);
    console.log(
      `page->agent over werift: channel open ${openMs.toFixed(0)} ms, direct both ways ${directMs.toFixed(0)} ms; ` +
        `1 MiB agent->page ${downS.toFixed(2)} s (relay bytes out ${down}), ` +
        `page->agent ${upS.toFixed(2)} s (relay bytes out ${up}, over the channel ${overChannel}); ` +
        `back on the relay ${backMs.toFixed(0)} ms after the page's close`,
    );
  });
});
