// A Store that counts and times its calls for Prometheus (docs/control.md, "Metrics"): every
// method of the Store and of the StoreTx a transaction hands its work, by name, without a
// hand-written wrapper per method (a Proxy: a method added to the interface is measured the day
// it is added). One call is one database round trip for most methods; a few are several
// statements (a write inside a PostgreSQL transaction runs under a savepoint), and
// `transaction` is timed from BEGIN to COMMIT, its work included, while the calls inside it are
// counted under their own names as well.
//
// The operation label is a method name of the interface, so its values are bounded by the code.

import type { Counter, Histogram } from "prom-client";
import type { MetricsRegistry } from "../../metrics/registry.ts";
import type { Store, StoreTx } from "./types.ts";

/** The database metrics, on one registry. */
export class StoreMetrics {
  private readonly calls: Counter<"op" | "result">;
  private readonly seconds: Histogram<"op">;

  constructor(registry: MetricsRegistry) {
    this.calls = registry.counter({
      name: "corridor_control_db_calls_total",
      help: "Calls to the database by store operation (method name) and result (ok, error)",
      labelNames: ["op", "result"],
    });
    this.seconds = registry.histogram({
      name: "corridor_control_db_call_seconds",
      help: "Latency of database calls by store operation (a transaction: BEGIN to COMMIT)",
      labelNames: ["op"],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 2],
    });
  }

  /** Records one finished call. */
  record(op: string, seconds: number, ok: boolean): void {
    this.calls.inc({ op, result: ok ? "ok" : "error" });
    this.seconds.observe({ op }, seconds);
  }
}

/** Methods passed through unmeasured: closing is no round trip worth a series. */
const UNMEASURED = new Set<PropertyKey>(["close"]);

type AnyMethod = (...args: unknown[]) => unknown;

/** Times `call` (sync or async) under `op`. */
function timed(metrics: StoreMetrics, op: string, call: () => unknown): unknown {
  const started = performance.now();
  const done = (ok: boolean) => metrics.record(op, (performance.now() - started) / 1000, ok);
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    done(false);
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        done(true);
        return value;
      },
      (error: unknown) => {
        done(false);
        throw error;
      },
    );
  }
  done(true);
  return result;
}

/**
 * `target` with every method measured; `wrapArgs` may replace a method's arguments first (the
 * transaction's work, so that its tx is measured too). Methods are wrapped once, on first use.
 */
function measured<T extends object>(
  target: T,
  metrics: StoreMetrics,
  wrapArgs?: (name: string, args: unknown[]) => unknown[],
): T {
  const wrappers = new Map<PropertyKey, AnyMethod>();
  return new Proxy(target, {
    get(object, name, receiver) {
      const value: unknown = Reflect.get(object, name, receiver);
      if (typeof value !== "function" || typeof name !== "string" || UNMEASURED.has(name)) {
        return value;
      }
      let wrapper = wrappers.get(name);
      if (wrapper === undefined) {
        const method = value as AnyMethod;
        wrapper = (...args: unknown[]) =>
          timed(metrics, name, () =>
            method.apply(object, wrapArgs === undefined ? args : wrapArgs(name, args)),
          );
        wrappers.set(name, wrapper);
      }
      return wrapper;
    },
  });
}

/** `store` with every call counted and timed on `metrics` (StoreMetrics of the registry). */
export function instrumentStore(store: Store, metrics: StoreMetrics): Store {
  return measured(store, metrics, (name, args) => {
    if (name !== "transaction" || typeof args[0] !== "function") return args;
    const work = args[0] as (tx: StoreTx) => Promise<unknown>;
    return [(tx: StoreTx) => work(measured(tx, metrics)), ...args.slice(1)];
  });
}
