// Direct paths over WebRTC data channels as a Bind (docs/paths.md, "Direct paths from the
// browser"): one open channel per peer, addressed by the endpoint "webrtc:<base64 key>". PathBind
// treats such an endpoint as one more direct candidate of that peer (probed, trusted, chosen as
// a UDP endpoint is), so the device never sees which path a datagram took. DirectBinds puts it
// beside a UDP Bind for a node that has both (the agent); the page has only this one.

import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import { isProbe } from "./probe-magic.ts";
import type { DatagramChannel } from "./rtc-types.ts";

/** The prefix of a data channel endpoint. */
export const CHANNEL_PREFIX = "webrtc:";

/** The endpoint of the data channel to the peer with base64 key `key`. */
export function channelEndpoint(key: string): Endpoint {
  return Object.freeze({ key: CHANNEL_PREFIX + key, host: "webrtc", port: 0 });
}

/** True for a data channel endpoint. */
export function isChannelEndpoint(endpoint: Endpoint): boolean {
  return endpoint.key.startsWith(CHANNEL_PREFIX);
}

/** Counters of a ChannelBind; they only grow. */
export interface ChannelBindStats {
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
  /** Sends refused: no open channel to that peer, or its buffer full. */
  sendDrops: number;
}

interface Attached {
  channel: DatagramChannel;
  endpoint: Endpoint;
}

/** A Bind over the open data channels, one per peer. */
export class ChannelBind implements Bind {
  readonly stats: ChannelBindStats = {
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    sendDrops: 0,
  };
  private readonly channels = new Map<string, Attached>();
  private onReceive: ReceiveFn | undefined;

  async open(onReceive: ReceiveFn): Promise<void> {
    this.onReceive = onReceive;
  }

  /**
   * False without an open channel to that peer (the caller takes another path); a channel that
   * refuses (its buffer full) drops the datagram and says true, as a full UDP socket would: a
   * burst must not spill onto the relay.
   */
  send(packet: Uint8Array, to: Endpoint): boolean {
    const attached = this.channels.get(to.key);
    if (attached === undefined) {
      this.stats.sendDrops++;
      return false;
    }
    if (!attached.channel.send(packet, isProbe(packet))) {
      this.stats.sendDrops++;
      return true;
    }
    this.stats.datagramsSent++;
    this.stats.bytesSent += packet.length;
    return true;
  }

  /** Parses "webrtc:<base64 key>"; throws a TypeError for anything else. */
  parseEndpoint(text: string): Endpoint {
    if (!text.startsWith(CHANNEL_PREFIX)) {
      throw new TypeError(`channel endpoint: expected "${CHANNEL_PREFIX}<key>"`);
    }
    const key = keyFromBase64(text.slice(CHANNEL_PREFIX.length), "channel endpoint: key");
    return channelEndpoint(keyToBase64(key));
  }

  async close(): Promise<void> {
    this.onReceive = undefined;
    this.channels.clear();
  }

  /** The channel to the peer `key` is open: its datagrams come from (and go to) its endpoint. */
  attach(key: string, channel: DatagramChannel): Endpoint {
    const endpoint = channelEndpoint(key);
    this.channels.set(endpoint.key, { channel, endpoint });
    return endpoint;
  }

  /** The channel to `key` is gone (only when it is still `channel`, if given). */
  detach(key: string, channel?: DatagramChannel): void {
    const id = CHANNEL_PREFIX + key;
    const attached = this.channels.get(id);
    if (attached !== undefined && (channel === undefined || attached.channel === channel)) {
      this.channels.delete(id);
    }
  }

  /** A datagram from the peer `key`'s channel (dropped when it is not attached). */
  receive(key: string, packet: Uint8Array): void {
    const attached = this.channels.get(CHANNEL_PREFIX + key);
    if (attached === undefined) return;
    this.stats.datagramsReceived++;
    this.stats.bytesReceived += packet.length;
    this.onReceive?.(packet, attached.endpoint);
  }

  /** The number of open channels. */
  get size(): number {
    return this.channels.size;
  }
}

/**
 * A node's direct Binds as one: data channel endpoints go to `channels`, everything else to
 * `udp` (absent on the page). Endpoints parse as UDP's ("ip:port") unless they are channels'.
 */
export class DirectBinds implements Bind {
  constructor(
    readonly channels: ChannelBind,
    readonly udp: Bind | undefined,
  ) {}

  async open(onReceive: ReceiveFn): Promise<void> {
    await this.channels.open(onReceive);
    await this.udp?.open(onReceive);
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    if (isChannelEndpoint(to)) return this.channels.send(packet, to);
    return this.udp?.send(packet, to) ?? false;
  }

  parseEndpoint(text: string): Endpoint {
    if (text.startsWith(CHANNEL_PREFIX) || this.udp === undefined) {
      return this.channels.parseEndpoint(text);
    }
    return this.udp.parseEndpoint(text);
  }

  async close(): Promise<void> {
    await Promise.all([this.channels.close(), this.udp?.close()]);
  }
}
