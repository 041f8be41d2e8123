// The UDP bridge's error reports (UDP_ERROR, issue 15): which refusals a client is told about
// and with which reason byte, and the rate limit that keeps a client that keeps sending to a
// refused endpoint from getting a frame per datagram (one report per client and endpoint per
// interval; a bounded map per client, so hostile endpoints cannot grow it).

import {
  type RelayEndpoint,
  UDP_REFUSED_NOT_ALLOWED,
  UDP_REFUSED_SOCKET_LIMIT,
  UDP_REFUSED_SPECIAL,
} from "../../worker/relay/frames.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import { unmap } from "./udp-allowance.ts";
import type { UdpErrorFn } from "./udp-bridge-hook.ts";

/** Why the bridge refused a send (the keys of its `refused` counters). */
export type RefusalReason =
  | "notAllowed"
  | "special"
  | "clientLimit"
  | "sourceLimit"
  | "totalLimit"
  | "invalid"
  | "closed";

/** The UDP_ERROR reason of a refusal; undefined for those the client is not told about. */
export const REASON_OF: Record<RefusalReason, number | undefined> = {
  notAllowed: UDP_REFUSED_NOT_ALLOWED,
  special: UDP_REFUSED_SPECIAL,
  clientLimit: UDP_REFUSED_SOCKET_LIMIT,
  sourceLimit: UDP_REFUSED_SOCKET_LIMIT,
  totalLimit: UDP_REFUSED_SOCKET_LIMIT,
  // A malformed frame is the client's own bug; a closing relay says so with RESTARTING.
  invalid: undefined,
  closed: undefined,
};

/** Endpoints whose last report time is kept per client (then that client's map starts over). */
const MAX_ENDPOINTS = 256;

/** Counters the reporter keeps (part of the bridge's stats). */
export interface UdpErrorStats {
  /** Reports passed on (sent as UDP_ERROR), and those held back by the rate limit. */
  errorsReported: number;
  errorsSuppressed: number;
  /** What the callback threw. */
  socketErrors: number;
}

/** Rate-limited error reports, one per client and endpoint per `intervalMs`. */
export class UdpErrorReports {
  private readonly last = new Map<number, Map<string, number>>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly stats: UdpErrorStats,
  ) {}

  /** Tells `error` about `endpoint` unless this client heard about it within the interval. */
  report(client: number, endpoint: RelayEndpoint, reason: number, error: UdpErrorFn): void {
    const key = `${formatIp(unmap(endpoint.address))}|${endpoint.port}`;
    const now = this.now();
    let times = this.last.get(client);
    if (times === undefined) {
      times = new Map();
      this.last.set(client, times);
    }
    const last = times.get(key);
    if (last !== undefined && now - last < this.intervalMs) {
      this.stats.errorsSuppressed++;
      return;
    }
    if (times.size >= MAX_ENDPOINTS) times.clear();
    times.set(key, now);
    this.stats.errorsReported++;
    try {
      error({ address: endpoint.address.slice(), port: endpoint.port }, reason);
    } catch {
      this.stats.socketErrors++;
    }
  }

  /** Forgets a client (its connection is gone). */
  forget(client: number): void {
    this.last.delete(client);
  }

  /** Forgets everyone. */
  clear(): void {
    this.last.clear();
  }
}
