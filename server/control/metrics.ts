// The map side's Prometheus metrics (server/metrics/registry.ts): streams attached, logins by
// outcome, maps sent in full or resumed by a delta, deltas sent, streams closed for being too
// slow, and how long a policy change's recompute took. Names start with corridor_control_.

import type { Counter, Histogram } from "prom-client";
import type { MetricsRegistry } from "../metrics/registry.ts";

/** How a login ended: a refusal's code ("authkey_used", ...) or one of these. */
export type LoginResult = "known" | "registered" | "rotated" | "waiting" | "bad_proof" | string;

/** The map side's counters. */
export class ControlMetrics {
  private readonly logins: Counter<"result">;
  private readonly maps: Counter<"kind">;
  private readonly deltas: Counter;
  private readonly tooSlow: Counter;
  private readonly recompute: Histogram;

  /** Registers the metrics on `registry`; `attached()` is read at every scrape. */
  constructor(registry: MetricsRegistry, attached: () => number) {
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
}
