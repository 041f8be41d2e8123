// A page's direct paths (docs/paths.md, "Direct paths from the browser"): the path chooser
// (PathBind) between the device and the relays, with the open WebRTC data channels as its only
// direct candidates (a page has no UDP), and the attempts that open them (RtcSessions, offering).
// A peer gets an attempt when the device sends it a packet through the relay, if it is online
// and not another browser (a page only offers; agents answer); the channel, once open, is one
// more endpoint of that peer, probed like a UDP one, and the device never notices a switch.

import type { ControlClient } from "../control/client.ts";
import type { PeerSignalMessage } from "../control/messages.ts";
import type { NetworkMap, PeerView } from "../control/types.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { ChannelBind, DirectBinds } from "../path/channel-bind.ts";
import { PathBind, type PathState } from "../path/path-bind.ts";
import { RtcSessions, type RtcTimings, randomSid } from "../path/rtc-sessions.ts";
import type { RtcFactory } from "../path/rtc-types.ts";
import { PEER_PREFIX } from "../relay/endpoint.ts";
import type { Bind } from "../wireguard/bind.ts";
import type { Clock } from "../wireguard/clock.ts";

/** What a page's direct paths are made with. */
export interface MeshDirectOptions {
  /** The page's WebRTC (worker/engine/rtc-port.ts: connections run in the engine's pages). */
  factory: RtcFactory;
  /** Free connection slots of the platform now (pages hosting, 8 each). */
  capacity?: () => number;
  /** Connections at most, whatever the capacity. */
  maxChannels: number;
  /** Direct paths on at start (the person's setting). */
  enabled: boolean;
  timings?: Partial<RtcTimings>;
}

/** The STUN servers of a map's relays, as RTCPeerConnection takes them. */
export function iceServersOf(map: Pick<NetworkMap, "relays"> | undefined): string[] {
  const out: string[] = [];
  for (const relay of map?.relays ?? []) {
    if (relay.stun !== undefined && relay.stun !== "" && out.length < 4)
      out.push(`stun:${relay.stun}`);
  }
  return out;
}

/**
 * True for a WireGuard message that says this node talks to the peer: a handshake initiation
 * (type 1: the device has data for it) or a transport message with a payload (type 4, longer
 * than the 32 bytes of a keepalive).
 */
export function startsTalk(packet: Uint8Array): boolean {
  return packet[0] === 1 || (packet[0] === 4 && packet.length > 32);
}

/** The direct side of a page's node. */
export class MeshDirect {
  readonly channels = new ChannelBind();
  readonly sessions: RtcSessions;
  private paths: PathBind | undefined;
  private map: NetworkMap | undefined;
  /** The map's peers by key (want's eligibility check runs per relayed packet: no scan). */
  private peers = new Map<string, PeerView>();

  constructor(
    options: MeshDirectOptions,
    private readonly control: () => ControlClient,
    private readonly keys: {
      privateKey: Uint8Array;
      publicKey: () => Uint8Array;
      x25519: X25519Provider;
      clock: Clock;
    },
  ) {
    this.sessions = new RtcSessions({
      role: "offer",
      factory: options.factory,
      signal: (signal) => this.control().signal(signal),
      iceServers: () => iceServersOf(this.map),
      clock: keys.clock,
      randomId: randomSid,
      maxChannels: options.maxChannels,
      capacity: options.capacity,
      eligible: (key) => {
        const peer = this.peers.get(key);
        return peer?.online === true && peer.os !== "browser";
      },
      onOpen: (key, channel) => {
        this.channels.attach(key, channel);
        // A channel the path chooser cannot take (the peer left its table) would hold a slot
        // and answer no probe: end it (and back off) instead.
        if (this.paths?.channelOpened(key) !== true) this.sessions.drop(key, "not_taken");
      },
      onDatagram: (key, packet) => this.channels.receive(key, packet),
      onClosed: (key, channel) => {
        this.channels.detach(key, channel);
        this.paths?.channelClosed(key);
      },
      timings: options.timings,
    });
    this.sessions.setEnabled(options.enabled);
  }

  /** The device's Bind: made once, at the first map, around the relays. */
  wrap(relays: Bind): Bind {
    this.paths = new PathBind({
      relay: relays,
      direct: new DirectBinds(this.channels, undefined),
      privateKey: this.keys.privateKey,
      publicKey: this.keys.publicKey(),
      x25519: this.keys.x25519,
      clock: this.keys.clock,
      randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
      // Offer only to peers this page talks to: our handshake initiation or a data packet (not
      // a handshake response or keepalive, which a peer can draw from us by initiating: an offer
      // then would tell any peer of the map this browser's addresses).
      onRelaySend: (id, packet) => {
        if (startsTalk(packet)) this.sessions.want(id.slice(PEER_PREFIX.length));
      },
    });
    return this.paths;
  }

  /** After each map reached the device: the chooser's peers, and attempts for peers gone end. */
  synced(map: NetworkMap): void {
    this.map = map;
    this.peers = new Map(map.peers.map((p) => [p.key, p]));
    this.paths?.setPeers(map.peers);
    this.sessions.retain(new Set(this.peers.keys()));
  }

  /** A signal from a peer (the map stream). */
  onSignal(message: PeerSignalMessage): void {
    this.sessions.onSignal(message);
  }

  /** Turns direct paths on or off (off: every channel closes, peers go back to the relay). */
  setEnabled(enabled: boolean): void {
    this.sessions.setEnabled(enabled);
  }

  /** The path in use to the peer `key`, once the first map came. */
  pathOf(key: string): PathState | undefined {
    return this.paths?.pathOf(key);
  }

  /** Ends every attempt and channel. */
  close(): void {
    this.sessions.close();
  }
}
