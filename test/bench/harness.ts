// Small timing and table helpers shared by the benchmarks under test/bench/.
//
// A measurement warms the operation up, then runs ROUNDS rounds; each round calls the operation
// repeatedly until its time budget is spent (or an iteration cap is reached) and yields a rate.
// The reported rate is the median of the rounds, which is robust against the odd round that a
// noisy, shared machine steals time from. Nothing here ever fails a process: numbers are
// information, stated as ratios against anchors measured in the same run (DESIGN.md §7).

export interface BenchOptions {
  /** Rounds to run after warm-up; the median is reported. At least 5. */
  rounds?: number;
  /** Time budget of one round in milliseconds. */
  roundMs?: number;
  /** Warm-up time in milliseconds (also used to size the inner loop). */
  warmupMs?: number;
  /** Optional cap on calls per round (for very slow operations). */
  maxCallsPerRound?: number;
  /** Bytes processed by one call, for MB/s. */
  bytesPerCall?: number;
  /** Logical operations performed by one call (e.g. packets in a batch), for ops/s. */
  opsPerCall?: number;
}

export interface Measurement {
  /** Median logical operations per second. */
  opsPerSec: number;
  /** Median megabytes (10^6 bytes) per second; 0 when bytesPerCall was not given. */
  mbPerSec: number;
  /** Calls per second of every round, in the order measured. */
  roundRates: number[];
  /** (max - min) / median of the round rates: a rough noise indicator. */
  spread: number;
}

/** Scale factor for every default time budget, from BENCH_SCALE (e.g. 0.3 for a quick run). */
export const timeScale: number = (() => {
  const raw = Number(process.env.BENCH_SCALE ?? "1");
  return Number.isFinite(raw) && raw > 0 ? raw : 1;
})();

/**
 * Timed rounds of a benchmark whose own number is `fallback`: BENCH_ROUNDS when it is a whole
 * number >= 1 (CI's smoke run uses 1: it needs every path run and checked, not a median).
 */
export function benchRounds(fallback: number): number {
  const raw = Number.parseInt(process.env.BENCH_ROUNDS ?? "", 10);
  return raw >= 1 ? raw : fallback;
}

const DEFAULTS = { rounds: 5, roundMs: 150, warmupMs: 80 };

let sinkValue: unknown;
/** Keeps a result observable so an optimiser cannot drop the work that produced it. */
export function sink(value: unknown): void {
  sinkValue = value;
}
export function sinkRead(): unknown {
  return sinkValue;
}

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return 0;
  if (sorted.length % 2 === 1) return sorted[mid] ?? 0;
  return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function resolve(opts: BenchOptions) {
  return {
    rounds: Math.max(5, opts.rounds ?? DEFAULTS.rounds),
    roundMs: (opts.roundMs ?? DEFAULTS.roundMs) * timeScale,
    warmupMs: (opts.warmupMs ?? DEFAULTS.warmupMs) * timeScale,
    maxCalls: opts.maxCallsPerRound ?? Number.POSITIVE_INFINITY,
    bytesPerCall: opts.bytesPerCall ?? 0,
    opsPerCall: opts.opsPerCall ?? 1,
  };
}

function summarise(rates: number[], bytesPerCall: number, opsPerCall: number): Measurement {
  const callsPerSec = median(rates);
  const spread = callsPerSec > 0 ? (Math.max(...rates) - Math.min(...rates)) / callsPerSec : 0;
  return {
    opsPerSec: callsPerSec * opsPerCall,
    mbPerSec: (callsPerSec * bytesPerCall) / 1e6,
    roundRates: rates,
    spread,
  };
}

/**
 * Runs `fn` until `budgetMs` has passed or `maxCalls` calls were made, checking the clock every
 * `chunk` calls. Returns [calls, elapsed ms].
 */
function runFor(fn: () => unknown, budgetMs: number, maxCalls: number, chunk: number) {
  let calls = 0;
  const start = nowMs();
  let elapsed = 0;
  while (elapsed < budgetMs && calls < maxCalls) {
    const n = Math.min(chunk, maxCalls - calls);
    for (let i = 0; i < n; i++) sink(fn());
    calls += n;
    elapsed = nowMs() - start;
  }
  return [calls, elapsed] as const;
}

/** One operation of a group measured by measureGroup. */
export interface BenchCase {
  name: string;
  fn: () => unknown;
  /** Bytes processed by one call, for MB/s. */
  bytesPerCall?: number;
  /** Logical operations performed by one call (e.g. packets in a batch), for ops/s. */
  opsPerCall?: number;
}

/**
 * Measures several operations that will be compared with each other. Their rounds are
 * interleaved (round 1 of every case, then round 2, ...), so a burst of load from a neighbour
 * on a shared machine hits all of them alike and the ratios between them stay meaningful.
 */
export function measureGroup(cases: BenchCase[], opts: BenchOptions = {}): Measurement[] {
  const o = resolve(opts);
  // Warm every case up, then size its inner loop to roughly 1/50 of a round.
  const chunks = cases.map((c) => {
    const [calls, elapsed] = runFor(c.fn, o.warmupMs, o.maxCalls, 1);
    return Math.max(1, Math.floor(((calls / Math.max(elapsed, 1e-3)) * o.roundMs) / 50));
  });
  const rates = cases.map((): number[] => []);
  for (let r = 0; r < o.rounds; r++) {
    cases.forEach((c, i) => {
      const [calls, elapsed] = runFor(c.fn, o.roundMs, o.maxCalls, chunks[i] ?? 1);
      rates[i]?.push((calls * 1000) / Math.max(elapsed, 1e-6));
    });
  }
  return cases.map((c, i) => summarise(rates[i] ?? [], c.bytesPerCall ?? 0, c.opsPerCall ?? 1));
}

/** Measures one synchronous operation. */
export function measure(fn: () => unknown, opts: BenchOptions = {}): Measurement {
  const { bytesPerCall, opsPerCall } = resolve(opts);
  return measureGroup([{ name: "", fn, bytesPerCall, opsPerCall }], opts)[0]!;
}

/** Like measureGroup, for asynchronous operations: each call is awaited before the next. */
export async function measureGroupAsync(
  cases: { name: string; fn: () => Promise<unknown>; bytesPerCall?: number; opsPerCall?: number }[],
  opts: BenchOptions = {},
): Promise<Measurement[]> {
  const o = resolve(opts);
  const runAsync = async (fn: () => Promise<unknown>, budgetMs: number) => {
    let calls = 0;
    const start = nowMs();
    let elapsed = 0;
    while (elapsed < budgetMs && calls < o.maxCalls) {
      sink(await fn());
      calls++;
      elapsed = nowMs() - start;
    }
    return (calls * 1000) / Math.max(elapsed, 1e-6);
  };
  for (const c of cases) await runAsync(c.fn, o.warmupMs);
  const rates = cases.map((): number[] => []);
  for (let r = 0; r < o.rounds; r++) {
    for (const [i, c] of cases.entries()) rates[i]?.push(await runAsync(c.fn, o.roundMs));
  }
  return cases.map((c, i) => summarise(rates[i] ?? [], c.bytesPerCall ?? 0, c.opsPerCall ?? 1));
}

// ---------------------------------------------------------------------------------------------
// Deterministic inputs

/** A small seeded PRNG (splitmix32) so every run benchmarks the same bytes. */
export function createPrng(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const bytes = (length: number): Uint8Array => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const v = next();
      for (let j = 0; j < 4 && i + j < length; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  };
  return { next, bytes };
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Formats a rate with 3 significant digits and a k/M suffix for large values. */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return "-";
  if (value >= 1e7) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) && value > 0 ? `${value.toFixed(2)}x` : "-";
}

export function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value * 100)}%` : "-";
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export type Align = "left" | "right";

/**
 * Renders a plain-text table. A column is right-aligned when `align` says so or, by default,
 * when it is not the first and all of its cells look numeric.
 */
export function renderTable(header: string[], rows: string[][], align?: Align[]): string {
  const cols = header.length;
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const looksNumeric = (c: number) =>
    c > 0 && rows.every((r) => /^[-+\d.,kMx%\s]*$|^-$/.test(r[c] ?? ""));
  const aligns: Align[] = header.map((_, c) => align?.[c] ?? (looksNumeric(c) ? "right" : "left"));
  const fmt = (cells: string[]) =>
    Array.from({ length: cols }, (_, c) => {
      const cell = cells[c] ?? "";
      const w = widths[c] ?? 0;
      return aligns[c] === "right" ? cell.padStart(w) : cell.padEnd(w);
    })
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [fmt(header), rule, ...rows.map(fmt)].join("\n");
}

export function printTable(title: string, header: string[], rows: string[][], align?: Align[]) {
  console.log(`\n${title}\n`);
  console.log(renderTable(header, rows, align));
}

/** PASS/MISS marker for a value against a lower bound (information only). */
export function verdict(value: number, atLeast: number): string {
  return value >= atLeast ? "PASS" : "MISS";
}
