// Why a wg-quick host looks offline (issue 15): the relay's bridge refused its endpoint
// (UDP_ERROR 0-2: not in --allow-udp, a special address, a socket limit), the endpoint bounced
// our datagrams (UDP_ERROR 3: ICMP port unreachable, nothing listens there), or our handshake
// initiations went unanswered (a wrong public key on either side is silent: WireGuard drops
// an initiation whose MAC it cannot check). The tracker sits between the device and its Bind,
// so it sees every datagram per endpoint without the device knowing about it.

import type { NetworkStatus } from "../api.ts";
import {
  UDP_REFUSED_NOT_ALLOWED,
  UDP_REFUSED_SOCKET_LIMIT,
  UDP_REFUSED_SPECIAL,
  UDP_UNREACHABLE,
} from "../relay/frames.ts";
import type { Bind, Endpoint } from "../wireguard/bind.ts";
import { INITIATION_SIZE, MESSAGE_INITIATION } from "../wireguard/messages.ts";

/** A peer's problem as NetworkStatus carries it. */
export type PeerProblem = NonNullable<NetworkStatus["peers"][number]["problem"]>;

/**
 * Unanswered initiations before a host counts as not answering our handshake: WireGuard
 * retries every 5 s, so two mean the first one had 5 s to be answered.
 */
export const UNANSWERED_INITIATIONS = 2;

/** Endpoints tracked (one per peer; a bound against a flood of odd endpoints). */
const MAX_ENDPOINTS = 1024;

interface EndpointState {
  /** Initiations sent since the last datagram from the endpoint. */
  unanswered: number;
  /** The last UDP_ERROR reason since the last datagram from it. */
  error: number | undefined;
}

/** The `--allow-udp` value that lets the relay reach an endpoint key ("ip:port", "[v6]:port"). */
export function allowUdpFor(endpointKey: string): string {
  const v6 = /^\[(.+)\]:(\d+)$/.exec(endpointKey);
  if (v6 !== null) return `[${v6[1]}/128]:${v6[2]}`;
  const colon = endpointKey.lastIndexOf(":");
  return `${endpointKey.slice(0, colon)}/32:${endpointKey.slice(colon + 1)}`;
}

/** The problem a UDP_ERROR reason means for `endpointKey`. */
export function problemOfReason(reason: number, endpointKey: string): PeerProblem {
  switch (reason) {
    case UDP_REFUSED_NOT_ALLOWED:
      return {
        kind: "relay-refused",
        message: `the relay does not allow this endpoint (start it with --allow-udp ${allowUdpFor(endpointKey)})`,
      };
    case UDP_REFUSED_SPECIAL:
      return {
        kind: "relay-refused",
        message: `the relay does not allow this endpoint: ${endpointKey} is a special address (loopback, link-local…) that only a narrow --allow-udp ${allowUdpFor(endpointKey)} opens`,
      };
    case UDP_REFUSED_SOCKET_LIMIT:
      return {
        kind: "relay-refused",
        message:
          "the relay refused a UDP socket for this endpoint: its socket limit is reached (too many hosts from this browser or address); try again later",
      };
    case UDP_UNREACHABLE:
      return {
        kind: "unreachable",
        message: `no answer from the endpoint: nothing listens on ${endpointKey} (the relay saw ICMP port unreachable); check the host's Endpoint and that WireGuard runs there`,
      };
    default:
      return {
        kind: "relay-refused",
        message: `the relay could not send to this endpoint (reason ${reason})`,
      };
  }
}

/** The message for a host that never answers our handshake. */
export const NO_HANDSHAKE_MESSAGE =
  "the host does not answer our handshake: check its public key and that it has this browser's key";

/** Watches datagrams per endpoint and the relay's UDP errors; says what each peer's problem is. */
export class PeerProblems {
  private readonly endpoints = new Map<string, EndpointState>();

  /** A Bind that counts what goes through `bind` per endpoint and delegates everything. */
  wrap(bind: Bind): Bind {
    return {
      open: (onReceive) =>
        bind.open((packet, from) => {
          this.received(from);
          onReceive(packet, from);
        }),
      send: (packet, to) => {
        const sent = bind.send(packet, to);
        // Only initiations that left count: one the bind dropped (relay down) was never seen.
        if (sent && packet.length === INITIATION_SIZE && packet[0] === MESSAGE_INITIATION) {
          this.stateOf(to.key).unanswered++;
        }
        return sent;
      },
      parseEndpoint: (text) => bind.parseEndpoint(text),
      close: () => bind.close(),
    };
  }

  /** The relay said it refused or saw bounced a datagram to `endpoint`. */
  udpError(endpoint: Endpoint, reason: number): void {
    this.stateOf(endpoint.key).error = reason;
  }

  /** The problem of a peer at `endpointKey` (undefined: none known, or no endpoint yet). */
  problemOf(endpointKey: string | undefined): PeerProblem | undefined {
    if (endpointKey === undefined) return undefined;
    const state = this.endpoints.get(endpointKey);
    if (state === undefined) return undefined;
    if (state.error !== undefined) return problemOfReason(state.error, endpointKey);
    if (state.unanswered >= UNANSWERED_INITIATIONS) {
      return { kind: "no-handshake", message: NO_HANDSHAKE_MESSAGE };
    }
    return undefined;
  }

  private received(from: Endpoint): void {
    const state = this.endpoints.get(from.key);
    if (state === undefined) return;
    state.unanswered = 0;
    state.error = undefined;
  }

  private stateOf(key: string): EndpointState {
    let state = this.endpoints.get(key);
    if (state === undefined) {
      if (this.endpoints.size >= MAX_ENDPOINTS) this.endpoints.clear();
      state = { unanswered: 0, error: undefined };
      this.endpoints.set(key, state);
    }
    return state;
  }
}
