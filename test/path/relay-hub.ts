// The relay as path tests need it, in memory: a datagram to "peer:<key>" arrives from
// "peer:<sender key>" on the next microtask, copied. Shared by path-bind and channel-bind tests.

import { parseRelayEndpoint, peerEndpoint } from "../../worker/relay/endpoint.ts";
import type { Bind, Endpoint, ReceiveFn } from "../../worker/wireguard/bind.ts";

/** The relay, in memory: a datagram to "peer:<key>" arrives from "peer:<sender key>". */
export class RelayHub {
  readonly binds = new Map<string, HubBind>();
  sent = 0;
  bind(key: string): HubBind {
    const b = new HubBind(this, key);
    this.binds.set(key, b);
    return b;
  }
}

export class HubBind implements Bind {
  onReceive: ReceiveFn | undefined;
  constructor(
    private readonly hub: RelayHub,
    readonly key: string,
  ) {}
  async open(onReceive: ReceiveFn): Promise<void> {
    this.onReceive = onReceive;
  }
  send(packet: Uint8Array, to: Endpoint): boolean {
    const target = this.hub.binds.get(to.key.slice("peer:".length));
    if (target === undefined) return false;
    this.hub.sent++;
    const copy = packet.slice();
    // A new Endpoint object per datagram, as a relay Bind may hand out.
    queueMicrotask(() => target.onReceive?.(copy, peerEndpoint(this.key)));
    return true;
  }
  parseEndpoint(text: string): Endpoint {
    return parseRelayEndpoint(text);
  }
  async close(): Promise<void> {
    this.onReceive = undefined;
  }
}
