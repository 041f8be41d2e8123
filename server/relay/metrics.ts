// The relay's metrics, on prom-client through a MetricsRegistry (server/metrics/registry.ts),
// served on /metrics. All names start with `corridor_relay_`; docs/relay.md lists them.

import type { Counter, Gauge } from "prom-client";
import { type MetricLabels, MetricsRegistry } from "../metrics/registry.ts";

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

/** The relay's labelled metrics and the labels of their samples. */
export interface RelayLabelledMetrics {
  corridor_relay_drops_total: { reason: DropReason };
  corridor_relay_hellos_total: { result: HelloResult };
  corridor_relay_cap_hits_total: { cap: CapName };
  corridor_relay_upgrades_rejected_total: { reason: string };
  corridor_relay_udp_refused_total: { reason: string };
}

/** The relay's metrics without labels. */
export type RelayPlainMetric =
  | "corridor_relay_connections"
  | "corridor_relay_clients"
  | "corridor_relay_frames_in_total"
  | "corridor_relay_frames_out_total"
  | "corridor_relay_bytes_in_total"
  | "corridor_relay_bytes_out_total"
  | "corridor_relay_udp_sockets"
  | "corridor_relay_rate_limited_total"
  | "corridor_relay_dead_clients_total"
  | "corridor_relay_queued_bytes"
  | "corridor_relay_host_refused_total"
  | "corridor_relay_log_suppressed_total";

/** Every metric name of the relay. */
export type RelayMetricName = RelayPlainMetric | keyof RelayLabelledMetrics;

/** What the relay's metrics read from the relay when scraped. */
export interface RelayMetricSources {
  /** Open UDP bridge sockets, if there is a bridge that reports them. */
  udpSockets(): number | undefined;
  /** Bytes queued for all clients now. */
  queuedBytes(): number;
  /** SEND_UDP frames the UDP bridge refused so far, by reason, if it reports them. */
  udpRefused(): Readonly<Record<string, number>> | undefined;
}

/** A finite, non-negative count, or 0: a source's bad value must not break the scrape. */
function count(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** What `read` gives, or undefined if it throws (a UDP bridge hook is the caller's code). */
function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** The relay's metrics. Counters only grow; gauges follow the state. */
export class RelayMetrics {
  /** The registry they are on (served on /metrics). */
  readonly registry: MetricsRegistry;
  private readonly connections: Gauge;
  private readonly clients: Gauge;
  private readonly framesIn: Counter;
  private readonly framesOut: Counter;
  private readonly bytesIn: Counter;
  private readonly bytesOut: Counter;
  private readonly drops: Counter<"reason">;
  private readonly rateLimited: Counter;
  private readonly deadClients: Counter;
  private readonly hellos: Counter<"result">;
  private readonly caps: Counter<"cap">;
  private readonly hostRefused: Counter;
  private readonly logSuppressed: Counter;
  private readonly rejected: Counter<"reason">;

  /**
   * Registers the relay's metrics on `registry` (a new one, with the process metrics, by
   * default). Throws if they are there already: one relay per registry.
   */
  constructor(sources: RelayMetricSources, registry: MetricsRegistry = new MetricsRegistry()) {
    this.registry = registry;
    const r = registry;
    this.connections = r.gauge({
      name: "corridor_relay_connections",
      help: "Open WebSocket connections.",
    });
    this.clients = r.gauge({ name: "corridor_relay_clients", help: "Authenticated clients." });
    this.framesIn = r.counter({ name: "corridor_relay_frames_in_total", help: "Frames received." });
    this.framesOut = r.counter({ name: "corridor_relay_frames_out_total", help: "Frames sent." });
    this.bytesIn = r.counter({
      name: "corridor_relay_bytes_in_total",
      help: "Frame bytes received.",
    });
    this.bytesOut = r.counter({
      name: "corridor_relay_bytes_out_total",
      help: "Frame bytes sent.",
    });
    this.drops = r.counter({
      name: "corridor_relay_drops_total",
      help: "Frames dropped, by reason.",
      labelNames: ["reason"],
    });
    r.gauge({
      name: "corridor_relay_udp_sockets",
      help: "Open UDP bridge sockets.",
      collect() {
        this.set(count(tryRead(() => sources.udpSockets())));
      },
    });
    this.rateLimited = r.counter({
      name: "corridor_relay_rate_limited_total",
      help: "Times a client's reads were paused by its rate limit.",
    });
    this.deadClients = r.counter({
      name: "corridor_relay_dead_clients_total",
      help: "Clients dropped for not answering keepalives.",
    });
    this.hellos = r.counter({
      name: "corridor_relay_hellos_total",
      help: "Hellos, by result.",
      labelNames: ["result"],
    });
    r.gauge({
      name: "corridor_relay_queued_bytes",
      help: "Bytes queued for sending to all clients.",
      collect() {
        this.set(count(tryRead(() => sources.queuedBytes())));
      },
    });
    this.caps = r.counter({
      name: "corridor_relay_cap_hits_total",
      help: "Times a cap refused a frame or a connection, by cap.",
      labelNames: ["cap"],
    });
    r.counter({
      name: "corridor_relay_udp_refused_total",
      help: "SEND_UDP frames the UDP bridge refused, by reason.",
      labelNames: ["reason"],
      // The bridge keeps these counts itself (it also runs without a relay); copied at scrape.
      collect() {
        this.reset();
        for (const [reason, refused] of Object.entries(tryRead(() => sources.udpRefused()) ?? {})) {
          this.inc({ reason }, count(refused));
        }
      },
    });
    this.hostRefused = r.counter({
      name: "corridor_relay_host_refused_total",
      help: "Requests to /healthz or /metrics refused for their Host header.",
    });
    this.logSuppressed = r.counter({
      name: "corridor_relay_log_suppressed_total",
      help: "Log lines left out by the log rate limit.",
    });
    this.rejected = r.counter({
      name: "corridor_relay_upgrades_rejected_total",
      help: "WebSocket upgrades refused, by reason.",
      labelNames: ["reason"],
    });
  }

  /** A WebSocket connection opened (`+1`) or closed (`-1`). */
  connection(change: 1 | -1): void {
    this.connections.inc(change);
  }

  /** A client authenticated (`+1`) or one that had left (`-1`). */
  client(change: 1 | -1): void {
    this.clients.inc(change);
  }

  /** A frame of `bytes` received. */
  frameIn(bytes: number): void {
    this.framesIn.inc();
    this.bytesIn.inc(bytes);
  }

  /** A frame of `bytes` sent. */
  frameOut(bytes: number): void {
    this.framesOut.inc();
    this.bytesOut.inc(bytes);
  }

  /** A frame was dropped. */
  drop(reason: DropReason): void {
    this.drops.inc({ reason });
  }

  /** A hello ended. */
  hello(result: HelloResult): void {
    this.hellos.inc({ result });
  }

  /** An upgrade request refused before a WebSocket existed. */
  reject(reason: string): void {
    this.rejected.inc({ reason });
  }

  /** A cap refused a frame or a connection. */
  capHit(cap: CapName): void {
    this.caps.inc({ cap });
  }

  /** A client's reads were paused by its rate limit. */
  rateLimit(): void {
    this.rateLimited.inc();
  }

  /** A dead client was dropped by the keepalive sweep. */
  deadClient(): void {
    this.deadClients.inc();
  }

  /** A request for /healthz or /metrics was refused for its Host header (DNS rebinding). */
  refuseHost(): void {
    this.hostRefused.inc();
  }

  /** `lines` log lines were left out by the log rate limit. */
  suppressLog(lines: number): void {
    this.logSuppressed.inc(lines);
  }

  /**
   * The value of one of the relay's samples, as a scrape would show it (0 when nothing was
   * counted with those labels yet): `await metrics.value("corridor_relay_drops_total",
   * { reason: "udp_refused" })`.
   */
  value<N extends RelayMetricName>(
    name: N,
    ...labels: N extends keyof RelayLabelledMetrics ? [RelayLabelledMetrics[N]] : []
  ): Promise<number> {
    return this.registry.value(name, labels[0] as MetricLabels | undefined);
  }

  /** Every sample of a labelled metric, by label value: `{ not_here: 5, queue_full: 2 }`. */
  byLabel<N extends keyof RelayLabelledMetrics>(name: N): Promise<Record<string, number>> {
    return this.registry.byLabel(name, LABEL_OF[name]);
  }
}

/** The label of each labelled metric. */
const LABEL_OF: { [N in keyof RelayLabelledMetrics]: keyof RelayLabelledMetrics[N] & string } = {
  corridor_relay_drops_total: "reason",
  corridor_relay_hellos_total: "result",
  corridor_relay_cap_hits_total: "cap",
  corridor_relay_upgrades_rejected_total: "reason",
  corridor_relay_udp_refused_total: "reason",
};
