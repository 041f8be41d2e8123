// The metrics registry every server part registers on (server/metrics/registry.ts): values as
// a scrape shows them, names kept to `corridor_`, the process metrics once per process, and an
// exposition Prometheus can read.

import { describe, expect, it } from "vitest";
import { MetricsRegistry } from "../../server/metrics/registry.ts";

/** The families (`# TYPE` lines) of an exposition; fails on a sample line Prometheus rejects. */
function families(text: string): string[] {
  const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? \S+$/;
  const types: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ")) continue;
    if (line.startsWith("# TYPE ")) {
      types.push(line.split(" ")[2]!);
      continue;
    }
    expect(line).toMatch(sample);
    // A float, or NaN / ±Inf, which Prometheus reads in any case (prom-client writes "Nan").
    const value = line.slice(line.lastIndexOf(" ") + 1);
    expect(`${line}: ${/^(nan|[+-]inf)$/i.test(value) || !Number.isNaN(Number(value))}`).toBe(
      `${line}: true`,
    );
  }
  return types;
}

describe("MetricsRegistry", () => {
  it("reads counters and gauges as a scrape shows them, 0 for labels not seen yet", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    const drops = metrics.counter({
      name: "corridor_test_drops_total",
      help: "Drops.",
      labelNames: ["reason"],
    });
    const open = metrics.gauge({ name: "corridor_test_open", help: "Open things." });
    drops.inc({ reason: "full" });
    drops.inc({ reason: "full" }, 2);
    drops.inc({ reason: 'quote"and\\back' });
    open.inc(5);
    open.dec(2);
    expect(await metrics.value("corridor_test_drops_total", { reason: "full" })).toBe(3);
    expect(await metrics.value("corridor_test_drops_total", { reason: "never" })).toBe(0);
    // A labelled metric has no sample without labels.
    expect(await metrics.value("corridor_test_drops_total")).toBe(0);
    expect(await metrics.value("corridor_test_open")).toBe(3);
    expect(await metrics.byLabel("corridor_test_drops_total", "reason")).toEqual({
      full: 3,
      'quote"and\\back': 1,
    });
    const text = await metrics.text();
    expect(families(text)).toEqual(["corridor_test_drops_total", "corridor_test_open"]);
    expect(text).toContain('corridor_test_drops_total{reason="full"} 3\n');
    expect(text).toContain('corridor_test_drops_total{reason="quote\\"and\\\\back"} 1\n');
    expect(text).toContain("corridor_test_open 3\n");
    expect(metrics.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("runs collect functions when read, as a scrape would", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    let queued = 7;
    metrics.gauge({
      name: "corridor_test_queued_bytes",
      help: "Queued.",
      collect() {
        this.set(queued);
      },
    });
    expect(await metrics.value("corridor_test_queued_bytes")).toBe(7);
    queued = 9;
    expect(await metrics.text()).toContain("corridor_test_queued_bytes 9\n");
  });

  it("reads a histogram's series, and refuses the bare histogram name", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    const took = metrics.histogram({
      name: "corridor_test_seconds",
      help: "Time taken.",
      buckets: [0.1, 1],
      labelNames: ["step"],
    });
    took.observe({ step: "join" }, 0.05);
    took.observe({ step: "join" }, 0.5);
    took.observe({ step: "join" }, 3);
    const join = { step: "join" };
    expect(await metrics.value("corridor_test_seconds_count", join)).toBe(3);
    expect(await metrics.value("corridor_test_seconds_sum", join)).toBeCloseTo(3.55, 10);
    expect(await metrics.value("corridor_test_seconds_bucket", { ...join, le: "0.1" })).toBe(1);
    expect(await metrics.value("corridor_test_seconds_bucket", { ...join, le: "1" })).toBe(2);
    expect(await metrics.value("corridor_test_seconds_bucket", { ...join, le: "+Inf" })).toBe(3);
    await expect(metrics.value("corridor_test_seconds", join)).rejects.toThrow(
      "metrics: corridor_test_seconds is a histogram: read corridor_test_seconds_count, _sum or _bucket",
    );
  });

  it("refuses names without corridor_, names taken, and reading a name never registered", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    expect(() => metrics.counter({ name: "process_cpu_seconds_total", help: "x" })).toThrow(
      "metrics: process_cpu_seconds_total must start with corridor_",
    );
    metrics.counter({ name: "corridor_test_total", help: "x" });
    expect(() => metrics.gauge({ name: "corridor_test_total", help: "x" })).toThrow(
      "A metric with the name corridor_test_total has already been registered.",
    );
    await expect(metrics.value("corridor_test_typo_total")).rejects.toThrow(
      "metrics: no metric named corridor_test_typo_total",
    );
    await expect(metrics.byLabel("corridor_test_typo_total", "reason")).rejects.toThrow(
      "metrics: no metric named corridor_test_typo_total",
    );
  });

  it("adds the process metrics, shared by every registry in the process, under their standard names", async () => {
    const first = new MetricsRegistry();
    const second = new MetricsRegistry();
    const without = new MetricsRegistry({ processMetrics: false });
    for (const metrics of [first, second, without]) {
      metrics.counter({ name: "corridor_test_things_total", help: "Things." }).inc();
    }
    const text = await first.text();
    const names = families(text);
    expect(names[0]).toBe("corridor_test_things_total");
    expect(names).toEqual(
      expect.arrayContaining([
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "nodejs_eventloop_lag_seconds",
        "nodejs_heap_size_used_bytes",
        "nodejs_gc_duration_seconds",
      ]),
    );
    expect(new Set(names).size).toBe(names.length); // no family twice
    expect(families(await second.text())).toEqual(names);
    expect(families(await without.text())).toEqual(["corridor_test_things_total"]);
    // Each registry counts only its own: the others' increments do not show.
    expect(await first.value("corridor_test_things_total")).toBe(1);
  });
});
