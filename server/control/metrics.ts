// The map side's Prometheus metrics (server/metrics/registry.ts): streams attached, logins by
// outcome, maps sent in full or resumed by a delta, deltas sent, streams closed for being too
// slow, how long a policy change's recompute took, how long a committed change takes to reach
// the outboxes (fan-out), and what waits in the outboxes (sampled at each scrape). The
// database's calls are counted by store/instrumented.ts. Names start with corridor_control_.

import type { Counter, Histogram } from "prom-client";
import type { MetricsRegistry } from "../metrics/registry.ts";

/** How a login ended: a refusal's code ("authkey_used", ...) or one of these. */
export type LoginResult = "known" | "registered" | "rotated" | "waiting" | "bad_proof" | string;

/** What waits in the attached streams' outboxes, summed over them (Hub.outboxDepth). */
export interface OutboxDepth {
  /** Streams whose outbox holds peer changes not sent yet (a delta waiting to go). */
  backloggedStreams: number;
  /** Peers with changes waiting, over those deltas (coalesced: one entry per peer). */
  waitingPeers: number;
  /** Bytes handed to the sockets and not yet written to the network. */
  bufferedBytes: number;
}

const NO_DEPTH: OutboxDepth = { backloggedStreams: 0, waitingPeers: 0, bufferedBytes: 0 };

/** The map side's counters. */
export class ControlMetrics {
  private readonly logins: Counter<"result">;
  private readonly maps: Counter<"kind">;
  private readonly deltas: Counter;
  private readonly tooSlow: Counter;
  private readonly recompute: Histogram;
  private readonly fanOutSeconds: Histogram;
  private readonly signals: Counter<"outcome">;

  /** Registers the metrics on `registry`; `attached()` and `outboxes()` are read at every scrape. */
  constructor(
    registry: MetricsRegistry,
    attached: () => number,
    outboxes: () => OutboxDepth | undefined = () => NO_DEPTH,
  ) {
    registry.gauge({
      name: "corridor_control_streams",
      help: "Map streams attached (nodes online)",
      collect() {
        this.set(attached());
      },
    });
    this.logins = registry.counter({
      name: "corridor_control_logins_total",
      help: "Logins on the map stream by result (known node, registered, or the refusal code)",
      labelNames: ["result"],
    });
    this.maps = registry.counter({
      name: "corridor_control_maps_total",
      help: "First answers to attached nodes: a full map, or a delta that resumed a session",
      labelNames: ["kind"],
    });
    this.deltas = registry.counter({
      name: "corridor_control_deltas_total",
      help: "Delta messages sent on map streams",
    });
    this.tooSlow = registry.counter({
      name: "corridor_control_too_slow_total",
      help: "Streams closed 4429 because their coalesced backlog passed the bound",
    });
    this.recompute = registry.histogram({
      name: "corridor_control_policy_recompute_seconds",
      help: "Time to apply a policy change to the map (every principal pair, deltas queued)",
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
    });
    this.fanOutSeconds = registry.histogram({
      name: "corridor_control_fanout_seconds",
      help: "Time from a committed change reaching the map side until its deltas are queued in the outboxes (waiting for earlier changes and the store's read included)",
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    });
    this.signals = registry.counter({
      name: "corridor_control_signals_total",
      help: "WebRTC signals from nodes by outcome (delivered, forwarded to another server, malformed, unknown_peer, not_visible, offline, not_supported, rate_limited)",
      labelNames: ["outcome"],
    });
    // One scrape reads the depth once for the three gauges (it walks every attached stream).
    let sampled: { at: number; depth: OutboxDepth } | undefined;
    const depth = (): OutboxDepth => {
      const now = performance.now();
      if (sampled === undefined || now - sampled.at > 100)
        sampled = { at: now, depth: outboxes() ?? NO_DEPTH };
      return sampled.depth;
    };
    registry.gauge({
      name: "corridor_control_outbox_backlogged_streams",
      help: "Map streams whose outbox holds peer changes not sent yet (sampled at scrape)",
      collect() {
        this.set(depth().backloggedStreams);
      },
    });
    registry.gauge({
      name: "corridor_control_outbox_waiting_peers",
      help: "Peer entries waiting in outboxes, summed over the map streams (sampled at scrape)",
      collect() {
        this.set(depth().waitingPeers);
      },
    });
    registry.gauge({
      name: "corridor_control_outbox_buffered_bytes",
      help: "Bytes the map streams' sockets hold unsent, summed (sampled at scrape)",
      collect() {
        this.set(depth().bufferedBytes);
      },
    });
  }

  login(result: LoginResult): void {
    this.logins.inc({ result });
  }

  map(kind: "full" | "resumed"): void {
    this.maps.inc({ kind });
  }

  delta(): void {
    this.deltas.inc();
  }

  slow(): void {
    this.tooSlow.inc();
  }

  policyRecompute(seconds: number): void {
    this.recompute.observe(seconds);
  }

  /** A node's signal ended `outcome` (signals.ts). */
  signal(outcome: string): void {
    this.signals.inc({ outcome });
  }

  /** A change reached the outboxes `seconds` after MeshChanges was told of it. */
  fanOut(seconds: number): void {
    this.fanOutSeconds.observe(seconds);
  }
}
