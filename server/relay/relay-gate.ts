// The relay's front door: which WebSocket upgrades it accepts (path, Origin, subprotocol,
// connection slots) and which Host names its own HTTP endpoints answer. Everything here is
// decided before a WebSocket exists, from the request line and headers alone.

import type { IncomingMessage } from "node:http";
import { RELAY_SUBPROTOCOL } from "../../worker/relay/frames.ts";
import { type ConnectionSlot, ConnectionSlots } from "./connection-slots.ts";
import type { RelayMetrics } from "./metrics.ts";
import { RELAY_DEFAULTS, type RelayOptions } from "./options.ts";
import { HostAllowList, originHosts, pageOrigins, parseOrigin } from "./origins.ts";

/** The path of the WebSocket endpoint. */
export const RELAY_PATH = "/relay";

/** An upgrade refusal: HTTP status and status text, the line sent, and the metric reason. */
export type UpgradeRefusal = [status: number, statusText: string, text: string, reason: string];

/** Upgrade and Host checks of one relay. */
export class RelayGate {
  /** Browser origins allowed to open the relay (the page's own are added once listening). */
  private readonly origins = new Set<string>();
  private hosts = new HostAllowList([]);
  private readonly slots: ConnectionSlots;

  /** Throws a TypeError when an `origins` entry is not an origin. */
  constructor(
    private readonly options: RelayOptions,
    private readonly metrics: RelayMetrics,
  ) {
    for (const origin of options.origins ?? []) this.origins.add(parseOrigin(origin));
    this.slots = new ConnectionSlots({
      maxConnections: options.maxConnections ?? RELAY_DEFAULTS.maxConnections,
      maxUnauthenticated: options.maxUnauthenticated ?? RELAY_DEFAULTS.maxUnauthenticated,
      maxConnectionsPerAddress:
        options.maxConnectionsPerAddress ?? RELAY_DEFAULTS.maxConnectionsPerAddress,
      maxUnauthenticatedPerAddress:
        options.maxUnauthenticatedPerAddress ?? RELAY_DEFAULTS.maxUnauthenticatedPerAddress,
    });
  }

  /** The relay listens on `host`:`port`: the page's own origins and names are known now. */
  listening(host: string, port: number): void {
    if (this.options.pageOrigins === true) {
      for (const origin of pageOrigins(host, port)) this.origins.add(origin);
    }
    this.hosts = new HostAllowList([
      host,
      ...(this.options.allowedHosts ?? []),
      ...originHosts(this.origins),
    ]);
  }

  /** Browser origins accepted, sorted. */
  get allowedOrigins(): string[] {
    return [...this.origins].sort();
  }

  /** Open sockets from an address group (an IPv4 address or an IPv6 /64). */
  connectionsFrom(group: string): number {
    return this.slots.countOf(group);
  }

  /** Whether /healthz and /metrics answer a request with this Host header. */
  hostAllowed(host: string | undefined): boolean {
    return this.hosts.allows(host);
  }

  /**
   * Checks an upgrade request. Returns why it is refused, or the connection slot taken for it
   * (the caller gives it back when the socket closes).
   */
  check(req: IncomingMessage, closing: boolean): UpgradeRefusal | ConnectionSlot {
    const path = (req.url ?? "").split("?")[0];
    if (path !== RELAY_PATH) return [404, "Not Found", "no relay here", "path"];
    if (closing) return [503, "Service Unavailable", "the relay is closing", "closing"];
    const origin = req.headers.origin;
    // Browsers always send Origin: only the listed pages may use the relay from a browser.
    // Clients that send none (agents, the CLI) are not pages and authenticate as usual.
    if (origin !== undefined && !this.origins.has(origin)) {
      return [403, "Forbidden", "this relay does not accept pages of that origin", "origin"];
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(RELAY_SUBPROTOCOL)) {
      return [400, "Bad Request", `subprotocol ${RELAY_SUBPROTOCOL} required`, "subprotocol"];
    }
    const slot = this.slots.acquire(req.socket.remoteAddress);
    if (typeof slot === "string") {
      this.metrics.capHit(slot);
      return [503, "Service Unavailable", `too many connections (${slot})`, slot];
    }
    return slot;
  }
}
