// Prometheus metrics of the server processes (relay, control), on prom-client. Every server part
// registers its metrics on a MetricsRegistry; `corridor serve` gives the relay and the control
// server the same one, so one /metrics shows both. Never prom-client's global default registry:
// tests start many relays in one process, and each must count only its own traffic.
//
// Process metrics (prom-client's default metrics: CPU, memory, event loop lag, GC, file
// descriptors) describe the process, not a part of it, and collectDefaultMetrics() leaves a GC
// observer and an event loop monitor running for good each time it is called. So they are
// collected once per process, on a registry of this module's own, and added to the exposition
// of every MetricsRegistry that asks for them. They keep their standard unprefixed names
// (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) so that stock dashboards
// and alerts match them; our own names must start with `corridor_`, which also keeps them clear
// of those.

import {
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from "prom-client";

/** Label values of one sample, by label name. */
export type MetricLabels = Readonly<Record<string, string>>;

/** Options of a MetricsRegistry. */
export interface MetricsRegistryOptions {
  /** Add the process metrics (shared by the whole process) to text(). Default true. */
  processMetrics?: boolean;
}

/** Every metric name of ours starts with this. */
export const METRIC_PREFIX = "corridor_";

/** Suffixes of a histogram's series: `value("x_count")` reads histogram `x`. */
const HISTOGRAM_SERIES = ["_bucket", "_sum", "_count"] as const;

let processRegistry: Registry | undefined;

/** The process metrics' registry, made (and its collectors started) on first use. */
function sharedProcessRegistry(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type Config<C> = Omit<C, "registers">;

/** A set of metrics served together on one /metrics. */
export class MetricsRegistry {
  /** The prom-client registry holding this set's metrics (without the process metrics). */
  readonly registry = new Registry();
  private readonly processMetrics: boolean;

  constructor(options: MetricsRegistryOptions = {}) {
    this.processMetrics = options.processMetrics ?? true;
  }

  /** The Content-Type of text(): Prometheus text format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** A counter registered here. Throws if the name lacks `corridor_` or is taken. */
  counter<L extends string = string>(config: Config<CounterConfiguration<L>>): Counter<L> {
    checkName(config.name);
    return new Counter<L>({ ...config, registers: [this.registry] });
  }

  /** A gauge registered here. Throws if the name lacks `corridor_` or is taken. */
  gauge<L extends string = string>(config: Config<GaugeConfiguration<L>>): Gauge<L> {
    checkName(config.name);
    return new Gauge<L>({ ...config, registers: [this.registry] });
  }

  /** A histogram registered here. Throws if the name lacks `corridor_` or is taken. */
  histogram<L extends string = string>(config: Config<HistogramConfiguration<L>>): Histogram<L> {
    checkName(config.name);
    return new Histogram<L>({ ...config, registers: [this.registry] });
  }

  /** The exposition text: this set's metrics, then the process metrics if asked for. */
  async text(): Promise<string> {
    const own = await this.registry.metrics();
    if (!this.processMetrics) return own;
    const process = await sharedProcessRegistry().metrics();
    return `${own.trimEnd()}\n\n${process}`;
  }

  /**
   * The value of one sample: metric `name` (a histogram's `_count`, `_sum` or `_bucket` series
   * too) with exactly `labels`; 0 when nothing was recorded with them yet. Runs the metric's
   * collect function, as a scrape would. Throws if no metric has that name.
   */
  async value(name: string, labels: MetricLabels = {}): Promise<number> {
    const { samples } = await this.family(name);
    const wanted = Object.entries(labels);
    const found = samples.find(
      (sample) =>
        Object.keys(sample.labels).length === wanted.length &&
        wanted.every(([key, value]) => sample.labels[key] === value),
    );
    return found?.value ?? 0;
  }

  /** Every sample of counter or gauge `name` by its value of `label`. Throws if no such metric. */
  async byLabel(name: string, label: string): Promise<Record<string, number>> {
    const { samples } = await this.family(name);
    const out: Record<string, number> = {};
    for (const sample of samples) {
      const key = sample.labels[label];
      if (key !== undefined) out[key] = sample.value;
    }
    return out;
  }

  /** The samples of `name`, or of the histogram whose series `name` is. */
  private async family(
    name: string,
  ): Promise<{ samples: { value: number; labels: Record<string, string> }[] }> {
    let metric = this.registry.getSingleMetric(name);
    let series: string | undefined;
    if (metric === undefined) {
      const suffix = HISTOGRAM_SERIES.find((s) => name.endsWith(s));
      if (suffix !== undefined) {
        metric = this.registry.getSingleMetric(name.slice(0, -suffix.length));
        series = name;
      }
    }
    if (metric === undefined) throw new Error(`metrics: no metric named ${name}`);
    const { values, type } = await metric.get();
    if (String(type) === "histogram" && series === undefined) {
      throw new Error(`metrics: ${name} is a histogram: read ${name}_count, _sum or _bucket`);
    }
    // A histogram's values name their series (metricName); a counter's or a gauge's do not.
    const samples = (values as { value: number; labels: object; metricName?: string }[])
      .filter((v) => series === undefined || v.metricName === series)
      .map((v) => ({
        value: v.value,
        labels: Object.fromEntries(
          Object.entries(v.labels).map(([key, value]) => [key, String(value)]),
        ),
      }));
    return { samples };
  }
}

function checkName(name: string): void {
  if (!name.startsWith(METRIC_PREFIX)) {
    throw new Error(`metrics: ${name} must start with ${METRIC_PREFIX}`);
  }
}
