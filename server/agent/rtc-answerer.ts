// The agent's side of WebRTC direct paths (docs/paths.md, "Direct paths from the browser:
// WebRTC"), shared by userspace (server/mesh-node.ts) and TUN mode (server/agent/tun/): pages
// offer a data channel through the control server's signals, the agent answers with werift
// (rtc-werift.ts), and an open channel becomes one more direct candidate of that peer in the
// node's PathBind (beside its UDP socket: DirectBinds), probed and chosen like a UDP endpoint.
// In TUN mode the PathBind is what the relay bridge sends through, so the channel reaches the
// WireGuard interface's port as a relayed packet would. The agent only answers; at most
// AGENT_MAX_CHANNELS connections at once (the rest stay on the relay); `--no-direct` answers
// every offer with bye "disabled".

import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import type { NetworkMap } from "../../worker/control/types.ts";
import { ChannelBind, DirectBinds } from "../../worker/path/channel-bind.ts";
import type { PathBind } from "../../worker/path/path-bind.ts";
import {
  type OutgoingSignal,
  RtcSessions,
  type RtcTimings,
  randomSid,
} from "../../worker/path/rtc-sessions.ts";
import type { RtcFactory } from "../../worker/path/rtc-types.ts";
import type { Bind } from "../../worker/wireguard/bind.ts";
import type { Clock } from "../../worker/wireguard/clock.ts";
import { formatIp, parseIp } from "../../worker/wireguard/ip-address.ts";
import { weriftFactory } from "./rtc-werift.ts";

/**
 * Data channels an agent keeps at most, open or being opened (each costs werift's sockets, a
 * DTLS and SCTP association, and ~0.1-0.3 CPU-s per MB sent). More pages than this reach the
 * agent through the relay.
 */
export const AGENT_MAX_CHANNELS = 64;

/** What an agent's answerer is made with. */
export interface RtcAnswererOptions {
  /** Direct paths on (false: `--no-direct`, every offer is answered with bye "disabled"). */
  enabled: boolean;
  /** Sends a signal on the map stream (ControlClient.signal). */
  signal: (signal: OutgoingSignal) => boolean;
  /** The home relay's STUN server ("host:port"), if it has one. */
  stunServer: () => string | undefined;
  clock: Clock;
  /** The WebRTC stack (default: werift, answering, per `host` and `loopback`). */
  factory?: RtcFactory;
  /** The direct socket's local address ("0.0.0.0" default; a specific one binds ICE to it). */
  host?: string;
  /** Offer loopback as a candidate (several nodes on one host, tests). */
  loopback?: boolean;
  /** Default AGENT_MAX_CHANNELS. */
  maxChannels?: number;
  timings?: Partial<RtcTimings>;
}

/**
 * The ICE servers for a connection: the home relay's STUN only. Each STUN server that does not
 * answer holds the answer back by werift's gathering timeout (3 s here); the home relay's was
 * just measured answering (it is how the home is chosen).
 */
export function agentIceServers(stun: string | undefined): string[] {
  return stun === undefined || stun === "" ? [] : [`stun:${stun}`];
}

/** An address in one spelling (IPv6 has several), or undefined when it is none. */
function canonical(address: string): string | undefined {
  try {
    return formatIp(parseIp(address));
  } catch {
    return undefined;
  }
}

/** The open data channels of an agent and the sessions that open them. */
export class RtcAnswerer {
  /** The channels as a Bind (endpoints "webrtc:<key>"). */
  readonly channels = new ChannelBind();
  readonly sessions: RtcSessions;
  private paths: PathBind | undefined;
  /**
   * Open channels the PathBind has not taken: the peer was not in its table yet (a delta may
   * reach the page before the agent). Offered to it again after each map.
   */
  private readonly untaken = new Set<string>();
  /** The mesh's addresses (this node's and its peers'): never ICE candidates. */
  private meshAddresses = new Set<string>();

  constructor(options: RtcAnswererOptions) {
    const factory =
      options.factory ??
      weriftFactory({
        role: "answer",
        loopback: options.loopback,
        interfaceAddress: options.host,
        ipv6: options.host?.includes(":") === true,
        excluded: (address) => {
          const known = canonical(address);
          return known !== undefined && this.meshAddresses.has(known);
        },
      });
    this.sessions = new RtcSessions({
      role: "answer",
      factory,
      signal: options.signal,
      iceServers: () => agentIceServers(options.stunServer()),
      clock: options.clock,
      randomId: randomSid,
      maxChannels: options.maxChannels ?? AGENT_MAX_CHANNELS,
      onOpen: (key, channel) => {
        this.channels.attach(key, channel);
        this.take(key);
      },
      onDatagram: (key, packet) => this.channels.receive(key, packet),
      onClosed: (key, channel) => {
        this.channels.detach(key, channel);
        this.untaken.delete(key);
        this.paths?.channelClosed(key);
      },
      timings: options.timings,
    });
    this.sessions.setEnabled(options.enabled);
  }

  /**
   * The node's direct Bind: the channels beside `udp` (none when direct paths are off). A full
   * channel drops a datagram and says sent (ChannelBind), as a full UDP socket buffer drops, so
   * a bulk transfer faster than werift's sender (~2-3 MB/s a core) never spills onto the relay.
   */
  directBind(udp: Bind | undefined): Bind {
    return new DirectBinds(this.channels, udp);
  }

  /** The PathBind made around directBind()'s Bind: open channels become its candidates. */
  usePaths(paths: PathBind): void {
    this.paths = paths;
    for (const key of [...this.untaken]) this.take(key);
  }

  /**
   * After each map reached the PathBind (setPeers): connections to peers gone are closed,
   * channels it could not take before are offered again, and the mesh's addresses are kept out
   * of ICE (a TUN agent's interface carries them: a path through the tunnel is no direct one).
   */
  synced(map: Pick<NetworkMap, "self" | "peers">): void {
    const addresses = new Set<string>();
    for (const peer of [map.self, ...map.peers]) {
      for (const address of peer.addresses) {
        // A prefix ("100.64.0.7/32") names its address.
        const known = canonical(address.split("/")[0] ?? "");
        if (known !== undefined) addresses.add(known);
      }
    }
    this.meshAddresses = addresses;
    this.sessions.retain(new Set(map.peers.map((peer) => peer.key)));
    for (const key of [...this.untaken]) this.take(key);
  }

  /** A signal from a peer (the ControlClient's onSignal). */
  readonly onSignal = (message: PeerSignalMessage): void => {
    this.sessions.onSignal(message);
  };

  /** Ends every connection (saying bye while the map stream is still up). */
  close(): void {
    this.sessions.close();
  }

  private take(key: string): void {
    if (this.paths?.channelOpened(key) === true) this.untaken.delete(key);
    else this.untaken.add(key);
  }
}
