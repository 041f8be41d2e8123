// The agent's answerer (server/agent/rtc-answerer.ts) over a fake WebRTC platform
// (test/path/rtc-fake.ts) on a fake clock: a channel that opens before its peer is in the
// PathBind's table is offered again after the next map; a full channel drops rather than
// refusing (which would send the datagram through the relay); at most 64 connections, the next
// offer answered bye busy; direct paths off answer bye disabled; peers that leave the map lose
// their connection; ICE uses the home relay's STUN alone.

import { describe, expect, it } from "vitest";
import {
  AGENT_MAX_CHANNELS,
  agentIceServers,
  RtcAnswerer,
} from "../../server/agent/rtc-answerer.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { channelEndpoint } from "../../worker/path/channel-bind.ts";
import type { PathBind } from "../../worker/path/path-bind.ts";
import type { OutgoingSignal } from "../../worker/path/rtc-sessions.ts";
import type { Bind, Endpoint } from "../../worker/wireguard/bind.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { OFFER } from "../control/signal-fixtures.ts";
import { FakeFactory, randomKey, settle } from "../path/rtc-fake.ts";

/** The PathBind's channel hooks, recorded; `known` are the peers in its table. */
class FakePaths {
  readonly known = new Set<string>();
  readonly taken: string[] = [];
  readonly released: string[] = [];
  channelOpened(key: string): boolean {
    if (!this.known.has(key)) return false;
    this.taken.push(key);
    return true;
  }
  channelClosed(key: string): void {
    this.released.push(key);
  }
}

function answerer(enabled = true) {
  const factory = new FakeFactory();
  const sent: OutgoingSignal[] = [];
  const rtc = new RtcAnswerer({
    enabled,
    signal: (signal) => {
      sent.push(signal);
      return true;
    },
    stunServer: () => "192.0.2.1:3478",
    clock: new FakeClock(),
    factory,
  });
  const paths = new FakePaths();
  let offers = 0;
  const offer = async (from: string) => {
    rtc.onSignal({
      type: "signal",
      from,
      sid: `page-offer-${++offers}`,
      kind: "offer",
      sdp: OFFER,
    });
    await settle();
  };
  return { rtc, factory, sent, paths, offer };
}

const view = (key: string, address: string): PeerView =>
  ({ key, addresses: [address] }) as unknown as PeerView;
const SELF = view(randomKey(), "100.64.0.1");

describe("the agent's WebRTC answerer", () => {
  it("offers a channel to the PathBind again after a map brings its peer", async () => {
    const { rtc, factory, sent, paths, offer } = answerer();
    const page = randomKey();
    await offer(page);
    expect(sent.map((s) => s.kind)).toEqual(["answer"]);
    expect(factory.last.iceServers).toEqual(["stun:192.0.2.1:3478"]);
    // Opens before the node made its PathBind, and before the PathBind knows the page.
    factory.last.open();
    rtc.usePaths(paths as unknown as PathBind);
    expect(paths.taken).toEqual([]);
    paths.known.add(page);
    rtc.synced({ self: SELF, peers: [view(page, "100.64.0.2")] });
    expect(paths.taken).toEqual([page]);
    rtc.synced({ self: SELF, peers: [view(page, "100.64.0.2")] });
    expect(paths.taken).toEqual([page]); // taken once
    // The page leaves the map: its connection closes and the PathBind lets it go.
    rtc.synced({ self: SELF, peers: [] });
    expect(factory.last.closes).toBe(1);
    expect(paths.released).toEqual([page]);
    expect(rtc.sessions.size).toBe(0);
    expect(sent.at(-1)).toMatchObject({ kind: "bye", reason: "peer_gone" });
  });

  it("drops what a full channel refuses instead of refusing it (the PathBind would relay it)", async () => {
    const { rtc, factory, offer } = answerer();
    const udpSent: Endpoint[] = [];
    const udp: Bind = {
      open: async () => {},
      send: (_packet, to) => {
        udpSent.push(to);
        return true;
      },
      parseEndpoint: (text) => ({ key: text, host: text, port: 1 }),
      close: async () => {},
    };
    const bind = rtc.directBind(udp);
    await bind.open(() => {});
    const page = randomKey();
    const other = randomKey();
    const packet = new Uint8Array(100);
    expect(bind.send(packet, channelEndpoint(page))).toBe(false); // no channel: the relay's
    await offer(page);
    const channel = factory.last.open();
    expect(bind.send(packet, channelEndpoint(page))).toBe(true);
    expect(channel.sent).toHaveLength(1);
    const drops = rtc.channels.stats.sendDrops;
    channel.send = () => false; // buffer full
    expect(bind.send(packet, channelEndpoint(page))).toBe(true);
    expect(rtc.channels.stats.sendDrops).toBe(drops + 1);
    expect(bind.send(packet, channelEndpoint(other))).toBe(false);
    expect(bind.send(packet, { key: "192.0.2.7:41641", host: "192.0.2.7", port: 41641 })).toBe(
      true,
    );
    expect(udpSent.map((e) => e.key)).toEqual(["192.0.2.7:41641"]);
    expect(bind.parseEndpoint(`webrtc:${page}`).key).toBe(`webrtc:${page}`);
    // Closed: refused again, so the PathBind's relay takes the datagram.
    rtc.synced({ self: SELF, peers: [] });
    expect(bind.send(packet, channelEndpoint(page))).toBe(false);
  });

  it(`keeps at most ${AGENT_MAX_CHANNELS} connections; the next offer is answered busy`, async () => {
    const { rtc, sent, offer } = answerer();
    for (let i = 0; i < AGENT_MAX_CHANNELS; i++) await offer(randomKey());
    expect(rtc.sessions.size).toBe(AGENT_MAX_CHANNELS);
    await offer(randomKey());
    expect(rtc.sessions.size).toBe(AGENT_MAX_CHANNELS);
    expect(sent.at(-1)).toMatchObject({ kind: "bye", reason: "busy" });
    rtc.close();
    expect(rtc.sessions.size).toBe(0);
  });

  it("with direct paths off answers every offer bye disabled and makes no connection", async () => {
    const { rtc, factory, sent, offer } = answerer(false);
    await offer(randomKey());
    expect(sent).toMatchObject([{ kind: "bye", reason: "disabled" }]);
    expect(factory.conns).toHaveLength(0);
    expect(rtc.sessions.stats.offersRefused).toBe(1);
  });

  it("uses the home relay's STUN server alone, or none", () => {
    expect(agentIceServers("192.0.2.1:3478")).toEqual(["stun:192.0.2.1:3478"]);
    expect(agentIceServers(undefined)).toEqual([]);
    expect(agentIceServers("")).toEqual([]);
  });
});
