// What the relay client sends for WireGuard (DESIGN §4): the frame a datagram becomes, by the
// kind of endpoint it is addressed to, and the bounded queue that holds frames while the
// connection is down. The queue is bounded and drops its oldest frames because WireGuard
// retransmits on its own: old handshakes are worth less than new ones, and memory must not grow
// while a relay is unreachable.

import type { Endpoint } from "../wireguard/bind.ts";
import type { RelayBindStats } from "./client-options.ts";
import { type EndpointCache, PEER_PREFIX } from "./endpoint.ts";
import * as F from "./frames.ts";

/**
 * The frame for `packet` to `to`: SEND to a peer's key ("peer:" endpoints), SEND_UDP to a stock
 * WireGuard host ("ip:port"). Undefined when the packet is too big or the endpoint is not one
 * this client can address.
 */
export function outboundFrame(
  endpoints: EndpointCache,
  packet: Uint8Array,
  to: Endpoint,
): Uint8Array | undefined {
  if (packet.length > F.MAX_PACKET) return undefined;
  if (to.key.startsWith(PEER_PREFIX)) {
    const key = endpoints.relayKeyOf(to.key);
    return key === undefined ? undefined : F.encodeKeyed(F.SEND, key, packet);
  }
  const endpoint = endpoints.udpOf(to);
  return endpoint === undefined ? undefined : F.encodeUdp(F.SEND_UDP, endpoint, packet);
}

/** Frames waiting for a connection, at most `max` (the oldest dropped first). */
export class SendQueue {
  private frames: Uint8Array[] = [];

  constructor(
    private readonly max: number,
    private readonly stats: Pick<RelayBindStats, "queued" | "queueDropped">,
  ) {}

  get length(): number {
    return this.frames.length;
  }

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.stats.queued++;
    while (this.frames.length > this.max) {
      this.frames.shift();
      this.stats.queueDropped++;
    }
  }

  /** Empties the queue, returning what it held in order. */
  take(): Uint8Array[] {
    const frames = this.frames;
    this.frames = [];
    return frames;
  }
}
