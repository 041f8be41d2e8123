// The relay's counters and their Prometheus text exposition (format 0.0.4), served on
// /metrics. All names start with `corridor_relay_`.

/** Why a frame was dropped (the `reason` label of corridor_relay_drops_total). */
export type DropReason =
  | "queue_full"
  | "relay_queue_full"
  | "not_here"
  | "no_udp_bridge"
  | "udp_refused"
  | "udp_bad_packet"
  | "closed";

/**
 * A cap that refused something (the `cap` label of corridor_relay_cap_hits_total): queued
 * frames or bytes of one client, queued bytes of all clients, connection slots (see
 * connection-slots.ts). The UDP bridge's caps show in corridor_relay_udp_refused_total.
 */
export type CapName =
  | "queue_frames"
  | "queue_bytes"
  | "relay_queue_bytes"
  | "max_connections"
  | "max_unauthenticated"
  | "per_address"
  | "unauthenticated_per_address";

/** How a hello ended (the `result` label of corridor_relay_hellos_total). */
export type HelloResult = "ok" | "timeout" | "bad_proof" | "denied" | "protocol";

/** The relay's metrics. Counters only grow; gauges follow the state. */
export class RelayMetrics {
  /** Open WebSocket connections, authenticated or not. */
  connections = 0;
  /** Authenticated clients. */
  clients = 0;
  framesIn = 0;
  framesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Times a client's reads were paused by its rate limit. */
  rateLimited = 0;
  /** Dead clients dropped by the keepalive sweep. */
  deadClients = 0;
  readonly drops = new Map<string, number>();
  readonly hellos = new Map<string, number>();
  /** Upgrade requests refused before a WebSocket existed, by reason. */
  readonly rejected = new Map<string, number>();
  /** Times a cap refused something, by cap. */
  readonly caps = new Map<string, number>();
  /** Requests for /healthz or /metrics refused for their Host header (DNS rebinding). */
  hostRefused = 0;
  /** Log lines left out by the log rate limit. */
  logSuppressed = 0;

  drop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  hello(result: HelloResult): void {
    this.hellos.set(result, (this.hellos.get(result) ?? 0) + 1);
  }

  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  capHit(cap: CapName): void {
    this.caps.set(cap, (this.caps.get(cap) ?? 0) + 1);
  }

  /**
   * The exposition text. The UDP bridge gives its open sockets (`udpSockets`) and refusals by
   * reason when it reports them; `queuedBytes` is what is queued for all clients now.
   */
  render(
    udpSockets?: number,
    more: { queuedBytes?: number; udpRefused?: Readonly<Record<string, number>> } = {},
  ): string {
    const { queuedBytes = 0, udpRefused } = more;
    const out: string[] = [];
    const one = (name: string, type: string, help: string, value: number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    const labelled = (
      name: string,
      help: string,
      label: string,
      values: Map<string, number>,
    ): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [key, value] of [...values].sort(([a], [b]) => (a < b ? -1 : 1))) {
        out.push(`${name}{${label}="${escapeLabel(key)}"} ${value}`);
      }
    };
    one("corridor_relay_connections", "gauge", "Open WebSocket connections.", this.connections);
    one("corridor_relay_clients", "gauge", "Authenticated clients.", this.clients);
    one("corridor_relay_frames_in_total", "counter", "Frames received.", this.framesIn);
    one("corridor_relay_frames_out_total", "counter", "Frames sent.", this.framesOut);
    one("corridor_relay_bytes_in_total", "counter", "Frame bytes received.", this.bytesIn);
    one("corridor_relay_bytes_out_total", "counter", "Frame bytes sent.", this.bytesOut);
    labelled("corridor_relay_drops_total", "Frames dropped, by reason.", "reason", this.drops);
    one(
      "corridor_relay_udp_sockets",
      "gauge",
      "Open UDP bridge sockets.",
      udpSockets === undefined || !Number.isFinite(udpSockets) ? 0 : udpSockets,
    );
    one(
      "corridor_relay_rate_limited_total",
      "counter",
      "Times a client's reads were paused by its rate limit.",
      this.rateLimited,
    );
    one(
      "corridor_relay_dead_clients_total",
      "counter",
      "Clients dropped for not answering keepalives.",
      this.deadClients,
    );
    labelled("corridor_relay_hellos_total", "Hellos, by result.", "result", this.hellos);
    one(
      "corridor_relay_queued_bytes",
      "gauge",
      "Bytes queued for sending to all clients.",
      queuedBytes,
    );
    labelled(
      "corridor_relay_cap_hits_total",
      "Times a cap refused a frame or a connection, by cap.",
      "cap",
      this.caps,
    );
    labelled(
      "corridor_relay_udp_refused_total",
      "SEND_UDP frames the UDP bridge refused, by reason.",
      "reason",
      new Map(Object.entries(udpRefused ?? {})),
    );
    one(
      "corridor_relay_host_refused_total",
      "counter",
      "Requests to /healthz or /metrics refused for their Host header.",
      this.hostRefused,
    );
    one(
      "corridor_relay_log_suppressed_total",
      "counter",
      "Log lines left out by the log rate limit.",
      this.logSuppressed,
    );
    labelled(
      "corridor_relay_upgrades_rejected_total",
      "WebSocket upgrades refused, by reason.",
      "reason",
      this.rejected,
    );
    return `${out.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
