// The seam between the relay server and its UDP bridge (SEND_UDP/RECV_UDP, DESIGN §4): the
// server hands every SEND_UDP to the hook with what the client's token allows; the hook owns
// the sockets and the allow-list policy, and answers through `deliver` (sent as RECV_UDP).

import type { RelayEndpoint } from "../../worker/relay/frames.ts";

/**
 * Told when a datagram for `endpoint` was refused or bounced: `reason` is a UDP_ERROR reason
 * (frames.ts UDP_REFUSED_*, UDP_UNREACHABLE); the relay sends it to the client as UDP_ERROR.
 */
export type UdpErrorFn = (endpoint: RelayEndpoint, reason: number) => void;

/** The authenticated client a SEND_UDP came from. */
export interface UdpBridgeClient {
  /** The relay's id of this connection; closeClient() later names it. */
  id: number;
  /** The client's proven node public key (32 bytes). */
  key: Uint8Array;
  /** The token's `udp` allowances ("ip:port" or "cidr:port-range"); empty without a token. */
  allowed: string[];
  /**
   * The client's source address group (an IPv4 address or an IPv6 /64): the bridge caps the
   * sockets of all clients from one address together, since anyone may open many connections.
   */
  source?: string;
}

/**
 * What the relay server needs from a UDP bridge. `endpoint` and `packet` are views into a
 * message buffer the relay does not reuse; the bridge may keep them.
 */
export interface UdpBridgeHook {
  /**
   * Sends `packet` to `endpoint` for `client`; replies from that endpoint go to `deliver`
   * (the relay turns them into RECV_UDP frames). Returns false when refused (the endpoint is
   * outside the allowance, or a limit is hit); the relay counts the drop. `error`, when given,
   * hears why (a refusal at once, ICMP port unreachable later), at most once per endpoint and
   * client every few seconds.
   */
  send(
    client: UdpBridgeClient,
    endpoint: RelayEndpoint,
    packet: Uint8Array,
    deliver: (endpoint: RelayEndpoint, packet: Uint8Array) => void,
    error?: UdpErrorFn,
  ): boolean;
  /** The client's connection is gone: close its sockets. */
  closeClient(id: number): void;
  /** The relay is closing: close everything. */
  close(): void;
  /** Open UDP sockets, for the `corridor_relay_udp_sockets` gauge (optional). */
  sockets?(): number;
  /** Refused sends so far by reason, for `corridor_relay_udp_refused_total` (optional). */
  refusals?(): Readonly<Record<string, number>>;
}
