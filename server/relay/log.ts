// Structured logs of the relay: one JSON object per line, `{"ts", "level", "event", ...}`.
// Never per packet; never a secret (keys appear as public keys in base64).

/** Where log lines go; each call is one complete JSON object, without a trailing newline. */
export type RelayLogSink = (line: string) => void;

/** Log levels, least to most severe. */
export type RelayLogLevel = "debug" | "info" | "warn" | "error";

/** Writes one event with its fields. */
export type RelayLogger = (
  level: RelayLogLevel,
  event: string,
  fields?: Record<string, unknown>,
) => void;

/** The default sink: standard error, one line per event. */
export const stderrSink: RelayLogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/** A logger writing JSON lines to `sink` (standard error by default). Never throws. */
export function createLogger(
  sink: RelayLogSink = stderrSink,
  clock: () => number = Date.now,
): RelayLogger {
  return (level, event, fields) => {
    let line: string;
    try {
      line = JSON.stringify({ ts: new Date(clock()).toISOString(), level, event, ...fields });
    } catch {
      line = JSON.stringify({ ts: new Date(clock()).toISOString(), level, event });
    }
    try {
      sink(line);
    } catch {
      // A failing sink must not take the relay down.
    }
  };
}

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
 * Per-connection events (refused upgrades and hellos, protocol errors, closes) under a budget
 * per kind, so a flood of bad connections writes a bounded number of lines instead of filling
 * the disk. Lines over the budget are counted; the count is written as one `log_suppressed`
 * line per kind when its window ends (at the next event of that kind or at flush()).
 */
export class RateLimitedLog {
  private readonly kinds = new Map<string, KindState>();
  private flushTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly logger: RelayLogger,
    private readonly limit: LogLimit,
    private readonly clock: () => number,
    /** Called with the number of lines left out, for a metric. */
    private readonly onSuppressed: (lines: number) => void = () => {},
  ) {}

  /** Writes the event unless its kind (`event` plus `kind`, e.g. a reason) is over budget. */
  log(
    level: RelayLogLevel,
    event: string,
    kind: string,
    fields: Record<string, unknown> = {},
  ): void {
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
      this.logger(level, event, fields);
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
    this.logger("warn", "log_suppressed", {
      of: key,
      suppressed: state.suppressed,
      windowMs: this.limit.windowMs,
    });
  }
}
