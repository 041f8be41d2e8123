// Data channels as a Bind (worker/path/channel-bind.ts) and as PathBind's candidate: ChannelBind
// and DirectBinds alone, then two PathBinds on a fake clock, a page (channels only) and an agent
// (channels beside MemoryNetwork UDP), joined by in-memory channels and a relay hub as in
// path-bind.test.ts. The channel is probed and taken as soon as it opens, carries data as the
// peer's "peer:<key>", is left at once when it closes, loses trust after 2.2 s without pongs,
// is probed every 700 ms while in use, never comes from a map, and carries only its peer's
// probes.

import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { ChannelBind, channelEndpoint, DirectBinds } from "../../worker/path/channel-bind.ts";
import { PathBind } from "../../worker/path/path-bind.ts";
import { encodeProbe, isProbe, probeKey } from "../../worker/path/probe.ts";
import type { DatagramChannel } from "../../worker/path/rtc-types.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { RelayHub } from "./relay-hub.ts";

const random = seededBytes(0xc4a7);
const DATA = new Uint8Array([4, 0, 0, 0, 9, 8, 7]); // looks like a WireGuard transport message
const isPing = (p: Uint8Array) => isProbe(p) && p[4] === 1;

/** One direction of a data channel: delivers to `target` as coming from `sender`. */
class Pipe implements DatagramChannel {
  readonly log: { at: number; packet: Uint8Array }[] = [];
  drop = false;
  accept = true;
  constructor(
    private readonly target: ChannelBind | undefined,
    private readonly sender: string,
    private readonly clock?: FakeClock,
  ) {}
  send(packet: Uint8Array): boolean {
    if (!this.accept) return false;
    this.log.push({ at: this.clock?.now() ?? 0, packet: packet.slice() });
    const copy = packet.slice();
    if (!this.drop) queueMicrotask(() => this.target?.receive(this.sender, copy));
    return true;
  }
  pings(): number[] {
    return this.log.filter((e) => isPing(e.packet)).map((e) => e.at);
  }
}

function peerView(key: string, id: number, endpoints: string[]): PeerView {
  return {
    ...{ id, key, name: `n${id}`, addresses: [`100.64.0.${id}`], user: null, tags: [] },
    ...{ hostname: `n${id}`, os: "linux", ephemeral: false, keyExpiry: null, sshHostKeys: [] },
    ...{ online: true, lastSeen: null, endpoints, homeRelay: "r" },
  };
}

async function world() {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const hub = new RelayHub();
  const make = async (udp: string | undefined) => {
    const privateKey = random(32);
    const publicKey = await nodeX25519.publicKey(privateKey);
    const key = keyToBase64(publicKey);
    const channels = new ChannelBind();
    const relaySends: string[] = [];
    const got: { packet: Uint8Array; from: Endpoint }[] = [];
    const bind = new PathBind({
      relay: hub.bind(key),
      direct: new DirectBinds(channels, udp === undefined ? undefined : net.bind(udp)),
      ...{ privateKey, publicKey, x25519: nodeX25519, clock, randomBytes: random },
      onRelaySend: (peerId) => relaySends.push(peerId),
    });
    await bind.open((packet, from) => got.push({ packet: packet.slice(), from }));
    return { bind, channels, key, privateKey, publicKey, got, relaySends, udp };
  };
  const page = await make(undefined);
  const agent = await make("10.0.0.2:2000");
  page.bind.setPeers([peerView(agent.key, 2, ["10.0.0.2:2000"])]);
  agent.bind.setPeers([peerView(page.key, 1, [])]);
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 250) {
      clock.advance(250);
      await settle();
    }
  };
  /** Opens the channel both ways, as RtcSessions' onOpen would on each side. */
  const connect = () => {
    const up = new Pipe(agent.channels, page.key, clock);
    const down = new Pipe(page.channels, agent.key, clock);
    page.channels.attach(agent.key, up);
    agent.channels.attach(page.key, down);
    return {
      up,
      down,
      opened: [page.bind.channelOpened(agent.key), agent.bind.channelOpened(page.key)],
    };
  };
  await run(1000); // keys derived, relay probes answered: both on the relay
  return { clock, net, hub, page, agent, settle, run, connect };
}

describe("ChannelBind and DirectBinds", () => {
  it("sends, receives, counts, and detaches only the channel it was given", async () => {
    const bind = new ChannelBind();
    const got: [number, Endpoint][] = [];
    await bind.open((packet, from) => got.push([packet.length, from]));
    const key = keyToBase64(random(32));
    const first = new Pipe(undefined, key);
    const endpoint = bind.attach(key, first);
    expect(endpoint).toEqual({ key: `webrtc:${key}`, host: "webrtc", port: 0 });
    expect(Object.isFrozen(endpoint)).toBe(true);
    expect(bind.send(DATA, channelEndpoint(key))).toBe(true);
    expect(first.log).toHaveLength(1);
    expect(bind.send(DATA, channelEndpoint(keyToBase64(random(32))))).toBe(false); // no channel
    first.accept = false;
    expect(bind.send(DATA, endpoint)).toBe(true); // its buffer is full: dropped, not spilled onto the relay
    bind.receive(key, new Uint8Array(5));
    bind.receive(keyToBase64(random(32)), new Uint8Array(9)); // nobody's channel: dropped
    expect(got).toEqual([[5, endpoint]]);
    expect(got[0]![1]).toBe(endpoint);
    expect(bind.stats).toEqual({
      ...{ datagramsSent: 1, bytesSent: DATA.length, datagramsReceived: 1, bytesReceived: 5 },
      sendDrops: 2,
    });
    const second = new Pipe(undefined, key);
    bind.attach(key, second); // a new connection to the same peer replaces the channel
    bind.detach(key, first); // the old one's close comes late: a no-op
    expect(bind.size).toBe(1);
    expect(bind.send(DATA, endpoint)).toBe(true);
    expect(second.log).toHaveLength(1);
    bind.detach(key, second);
    expect([bind.size, bind.send(DATA, endpoint)]).toEqual([0, false]);
    bind.attach(key, second);
    bind.detach(key);
    expect(bind.size).toBe(0);
    bind.attach(key, second);
    await bind.close();
    bind.receive(key, new Uint8Array(1));
    expect([bind.size, got.length]).toEqual([0, 1]);
  });

  it("parses only webrtc:<key>, saying why", () => {
    const bind = new ChannelBind();
    const key = keyToBase64(random(32));
    expect(bind.parseEndpoint(`webrtc:${key}`)).toEqual(channelEndpoint(key));
    const refusals: [string, string][] = [
      ["10.0.0.1:5", 'channel endpoint: expected "webrtc:<key>"'],
      [`peer:${key}`, 'channel endpoint: expected "webrtc:<key>"'],
      [
        "webrtc:",
        "channel endpoint: key: not a WireGuard key: empty, expected 44 (base64 of 32 bytes)",
      ],
      [
        "webrtc:abc",
        "channel endpoint: key: not a WireGuard key: 3 characters, expected 44 (base64 of 32 bytes)",
      ],
    ];
    for (const [text, message] of refusals) {
      expect(() => bind.parseEndpoint(text)).toThrow(new TypeError(message));
    }
    expect(() => bind.parseEndpoint(`webrtc:${key.slice(0, 42)}-=`)).toThrow(
      /^channel endpoint: key: not a WireGuard key: .*base64url/,
    );
  });

  it("DirectBinds routes channel endpoints to channels and the rest to UDP, if any", async () => {
    const net = new MemoryNetwork();
    const channels = new ChannelBind();
    const both = new DirectBinds(channels, net.bind("10.0.0.1:1"));
    const got: string[] = [];
    await both.open((_packet, from) => got.push(from.key));
    const key = keyToBase64(random(32));
    const pipe = new Pipe(undefined, key);
    channels.attach(key, pipe);
    const other = net.bind("10.0.0.9:9");
    await other.open(() => {});
    expect(both.parseEndpoint("10.0.0.9:9")).toEqual({
      key: "10.0.0.9:9",
      host: "10.0.0.9",
      port: 9,
    });
    expect(both.parseEndpoint(`webrtc:${key}`)).toEqual(channelEndpoint(key));
    expect(both.send(DATA, channelEndpoint(key))).toBe(true);
    expect(both.send(DATA, both.parseEndpoint("10.0.0.9:9"))).toBe(true);
    expect([pipe.log.length, net.stats.sent]).toEqual([1, 1]);
    channels.receive(key, DATA);
    other.send(DATA, other.parseEndpoint("10.0.0.1:1"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([`webrtc:${key}`, "10.0.0.9:9"]);
    await both.close();
    expect([channels.size, other.send(DATA, other.parseEndpoint("10.0.0.1:1"))]).toEqual([
      0,
      false,
    ]);

    const pageOnly = new DirectBinds(new ChannelBind(), undefined);
    expect(pageOnly.send(DATA, { key: "10.0.0.9:9", host: "10.0.0.9", port: 9 })).toBe(false);
    expect(() => pageOnly.parseEndpoint("10.0.0.9:9")).toThrow('expected "webrtc:<key>"');
  });
});

describe("PathBind with a data channel", () => {
  it("probes a channel when it opens and goes direct over it, data arriving as peer:<key>", async () => {
    const { clock, hub, page, agent, run, settle, connect } = await world();
    expect(page.bind.pathOf(agent.key)?.path).toBe("relay");
    const { up, down, opened } = connect();
    expect(opened).toEqual([true, true]);
    await run(250); // the next tick
    // At that tick (the page's round, and its ping back after the agent's verified ping).
    expect(up.pings().length).toBeGreaterThan(0);
    expect(new Set(up.pings())).toEqual(new Set([clock.now()]));
    expect(page.bind.pathOf(agent.key)).toMatchObject({
      path: "direct",
      endpoint: `webrtc:${agent.key}`,
    });
    expect(agent.bind.pathOf(page.key)).toMatchObject({
      path: "direct",
      endpoint: `webrtc:${page.key}`,
    });

    const relayed = hub.sent;
    const [upBefore, downBefore] = [up.log.length, down.log.length];
    expect(page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`))).toBe(true);
    expect(agent.bind.send(DATA, agent.bind.parseEndpoint(`peer:${page.key}`))).toBe(true);
    await settle();
    expect([up.log.length - upBefore, down.log.length - downBefore, hub.sent]).toEqual([
      1,
      1,
      relayed,
    ]);
    expect(agent.got.map((g) => g.from)).toEqual([agent.bind.parseEndpoint(`peer:${page.key}`)]);
    expect(page.got.map((g) => g.from)).toEqual([page.bind.parseEndpoint(`peer:${agent.key}`)]);
    expect([...agent.got[0]!.packet]).toEqual([...DATA]);
    expect(page.relaySends).toEqual([]); // a channel send is no relay send
    expect(page.bind.stats.directSent).toBe(1);
  });

  it("moves to the relay at once when the channel closes, counting a switch", async () => {
    const { hub, page, agent, run, settle, connect } = await world();
    connect();
    await run(500);
    const switches = page.bind.stats.switches;
    page.channels.detach(agent.key);
    page.bind.channelClosed(agent.key);
    expect(page.bind.pathOf(agent.key)).toMatchObject({ path: "relay", endpoint: null });
    expect(page.bind.stats.switches).toBe(switches + 1);
    const relayed = hub.sent;
    page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`));
    expect(hub.sent).toBe(relayed + 1);
    expect(page.relaySends).toEqual([`peer:${agent.key}`]);
    await settle();
    expect(agent.got.at(-1)?.from).toBe(agent.bind.parseEndpoint(`peer:${page.key}`));
    page.bind.channelClosed(agent.key); // twice: nothing more
    expect(page.bind.stats.switches).toBe(switches + 1);
  });

  it("a lost channel loses trust 2.2 s after its last pong, not 6.5 s", async () => {
    const { clock, hub, page, agent, run, settle, connect } = await world();
    const { up, down } = connect();
    await run(3000);
    // Stop both directions right after a tick whose channel ping was answered.
    while (up.pings().at(-1) !== clock.now()) await run(250);
    const lastPong = clock.now();
    up.drop = true;
    down.drop = true;
    clock.advance(2200);
    await settle();
    expect(page.bind.pathOf(agent.key)?.path).toBe("direct");
    clock.advance(1);
    expect(page.bind.pathOf(agent.key)?.path).toBe("relay");
    const relayed = hub.sent;
    page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`));
    expect(hub.sent).toBe(relayed + 1);
    expect(clock.now() - lastPong).toBe(2201);
  });

  it("probes a channel in use every 700 ms", async () => {
    const { page, run, connect } = await world();
    const { up } = connect();
    await run(5000);
    const from = up.pings().length;
    await run(10_000);
    const pings = up.pings().slice(from - 1);
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(13);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(700);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(750); // 700 ms, on a 250 ms tick
    expect(page.bind.stats.pongsReceived).toBeGreaterThan(13);
  });

  it("probes the channel again within 700 ms of taking it", async () => {
    const { clock, page, agent, run, connect } = await world();
    const { up } = connect();
    let direct = Number.NaN;
    for (let t = 0; t < 4000; t += 250) {
      await run(250);
      if (Number.isNaN(direct) && page.bind.pathOf(agent.key)?.path === "direct")
        direct = clock.now();
    }
    const next = up.pings().find((at) => at > direct);
    // From the pong that made the channel the path, a probe every channelProbeMs (three per
    // trust window): not the 2 s of a peer without a direct path, which leaves 200 ms of slack.
    expect(next! - direct).toBeLessThanOrEqual(750);
  });

  it("never takes a map's webrtc: endpoint as a candidate", async () => {
    const { page, agent, run } = await world();
    const pipe = new Pipe(page.channels, agent.key);
    agent.channels.attach(page.key, pipe); // a channel exists, but only channelOpened makes it a path
    agent.bind.setPeers([peerView(page.key, 1, [`webrtc:${page.key}`, "10.0.0.1:1"])]);
    const pageToAgent = new Pipe(agent.channels, page.key);
    page.channels.attach(agent.key, pageToAgent);
    page.bind.setPeers([peerView(agent.key, 2, [`webrtc:${agent.key}`])]);
    await run(5000);
    expect(pipe.log).toHaveLength(0);
    expect(pageToAgent.log).toHaveLength(0);
    expect(agent.bind.pathOf(page.key)?.path).toBe("relay");
    expect(page.bind.pathOf(agent.key)?.path).toBe("relay");
  });

  it("drops a probe on one peer's channel signed by another peer", async () => {
    const { page, agent, run, settle, connect } = await world();
    const otherPrivate = random(32);
    const otherPublic = await nodeX25519.publicKey(otherPrivate);
    const other = keyToBase64(otherPublic);
    page.bind.setPeers([peerView(agent.key, 2, []), peerView(other, 3, [])]);
    connect();
    await run(500);
    const macKey = await probeKey(nodeX25519, otherPrivate, page.publicKey);
    const ping = () =>
      encodeProbe(
        { kind: "ping", sender: otherPublic, transactionId: random(12), observed: null },
        macKey,
      );
    const { probesDropped, pongsSent } = page.bind.stats;
    page.channels.receive(agent.key, ping()); // on the agent's channel, signed by `other`
    await settle();
    expect(page.bind.stats.probesDropped).toBe(probesDropped + 1);
    expect(page.bind.stats.pongsSent).toBe(pongsSent);
    // The same ping on other's own channel is answered: the check is the channel, not the MAC.
    page.channels.attach(other, new Pipe(undefined, other));
    expect(page.bind.channelOpened(other)).toBe(true);
    page.channels.receive(other, ping());
    expect(page.bind.stats.pongsSent).toBe(pongsSent + 1);
    expect(page.bind.stats.probesDropped).toBe(probesDropped + 1);
  });

  it("tells onRelaySend of relay sends only, and opens channels only to peers of the map", async () => {
    const { page, agent, run, connect } = await world();
    expect(page.relaySends).toEqual([]); // relay probes are not the device's sends
    page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`));
    expect(page.relaySends).toEqual([`peer:${agent.key}`]);
    connect();
    await run(500);
    page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`));
    expect(page.relaySends).toHaveLength(1);
    expect(page.bind.channelOpened(keyToBase64(random(32)))).toBe(false);
    expect(page.bind.channelOpened(page.key)).toBe(false); // itself: never in its map
  });

  it("a channel one side could not take as a path carries no data into a void", async () => {
    const { page, agent, run, settle, connect } = await world();
    // The agent's slots for the page are all the map's (8 UDP endpoints): no room for a channel.
    const eight = Array.from({ length: 8 }, (_, i) => `10.0.9.${i + 1}:9`);
    agent.bind.setPeers([peerView(page.key, 1, eight)]);
    const { opened } = connect();
    expect(opened).toEqual([true, false]);
    await run(3000);
    page.bind.send(DATA, page.bind.parseEndpoint(`peer:${agent.key}`));
    await settle();
    // Either the page stays on the relay (the agent does not answer probes on a channel it did
    // not take) or the agent delivers what arrives on it: the datagram must reach the device.
    expect({ got: agent.got.length, unknownSource: agent.bind.stats.unknownSource }).toEqual({
      got: 1,
      unknownSource: 0,
    });
  });
});
