// A log budget for events that strangers decide the number of (refused connections, bad
// hellos, closes): a bounded number of lines per kind and window, then one line saying how many
// were left out. A flood of bad connections writes a few lines a minute instead of filling the
// disk; the metrics still count every event.

import type { EventLevel, Logger } from "./log.ts";

/** How many lines of one kind may be written per window. */
export interface LogLimit {
  /** Lines per kind per window. */
  lines: number;
  windowMs: number;
}

/** Default: 20 lines of each kind per minute. */
export const DEFAULT_LOG_LIMIT: LogLimit = { lines: 20, windowMs: 60_000 };

/** Kinds tracked at once; further kinds share one budget, so hostile input cannot grow it. */
const MAX_KINDS = 64;

interface KindState {
  windowStart: number;
  written: number;
  suppressed: number;
}

/**
 * Events under a budget per kind. Lines over the budget are counted; the count is written as
 * one `log_suppressed` warning per kind when its window ends (at the next event of that kind,
 * on the timer start() sets, or at stop()).
 */
export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();
  private flushTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly limit: LogLimit,
    private readonly clock: () => number,
    /** Called with the number of lines left out, for a metric. */
    private readonly onSuppressed: (lines: number) => void = () => {},
  ) {}

  /** Writes the event unless its kind (`event` plus `kind`, e.g. a reason) is over budget. */
  log(level: EventLevel, event: string, kind: string, fields: Record<string, unknown> = {}): void {
    let key = kind === "" ? event : `${event}/${kind}`;
    if (!this.kinds.has(key) && this.kinds.size >= MAX_KINDS) key = "other";
    const now = this.clock();
    let state = this.kinds.get(key);
    if (state !== undefined && now - state.windowStart >= this.limit.windowMs) {
      this.report(key, state);
      state = undefined;
    }
    if (state === undefined) {
      state = { windowStart: now, written: 0, suppressed: 0 };
      this.kinds.set(key, state);
    }
    if (state.written < this.limit.lines) {
      state.written++;
      this.logger[level](fields, event);
      return;
    }
    state.suppressed++;
    this.onSuppressed(1);
  }

  /** Writes the suppressed counts once per window from now on (an unref'd timer). */
  start(): void {
    if (this.flushTimer !== undefined) return;
    this.flushTimer = setInterval(() => this.flush(), this.limit.windowMs);
    this.flushTimer.unref();
  }

  /** Stops the timer and writes every suppressed count. */
  stop(): void {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.flush(true);
  }

  /** Writes the suppressed counts of every kind whose window ended (all of them if `all`). */
  flush(all = false): void {
    const now = this.clock();
    for (const [key, state] of this.kinds) {
      if (all || now - state.windowStart >= this.limit.windowMs) {
        this.report(key, state);
        this.kinds.delete(key);
      }
    }
  }

  private report(key: string, state: KindState): void {
    if (state.suppressed === 0) return;
    this.logger.warn(
      { of: key, suppressed: state.suppressed, windowMs: this.limit.windowMs },
      "log_suppressed",
    );
  }
}
