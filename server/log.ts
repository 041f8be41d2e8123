// Structured logs of the server processes (relay, control), on pino: one JSON object per line,
// `{"level":"info","ts":"2026-01-01T00:00:00.000Z","component":"relay",...,"event":"hello"}`.
// Each part logs through a child logger that names it (`component`). Never per packet; never a
// secret (keys appear as public keys in base64). Human text for people (the CLI's start lines)
// goes to standard output and is not logged here.

import { type DestinationStream, type Logger, pino } from "pino";

/** pino's logger: `logger.info({ id }, "event")`, `logger.child({ component })`. */
export type { Logger } from "pino";

/** Where log lines go: each call is one complete JSON object, without the trailing newline. */
export type LogSink = (line: string) => void;

/** Levels the server logs at, least to most severe. */
export type EventLevel = "debug" | "info" | "warn" | "error";

/** Levels a logger can be set to: below it nothing is written; `silent` writes nothing. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
/** A logger's level (see LOG_LEVELS). */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The environment variable that sets the level when the caller does not. */
export const LOG_LEVEL_VARIABLE = "CORRIDOR_LOG_LEVEL";

/** Options of createLogger(). */
export interface LoggerOptions {
  /** Where lines go. Default: standard error. */
  sink?: LogSink;
  /** The lowest level written. Default: $CORRIDOR_LOG_LEVEL, else "info". */
  level?: LogLevel;
  /** The clock of the `ts` field, in milliseconds. Default Date.now. */
  clock?: () => number;
}

/** The default sink: standard error, one line per event. */
export const stderrSink: LogSink = (line) => {
  process.stderr.write(`${line}\n`);
};

/** `value` as a level, or undefined if it is not one (case and spaces ignored). */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const level = value?.trim().toLowerCase();
  return LOG_LEVELS.find((known) => known === level);
}

/**
 * A pino logger writing JSON lines to `sink`. Logging never throws: a failing sink loses the
 * line, not the server. An unknown $CORRIDOR_LOG_LEVEL is not fatal either: the logger uses
 * "info" and says so in a `bad_log_level` warning.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { sink = stderrSink, clock = Date.now } = options;
  const fromEnvironment = process.env[LOG_LEVEL_VARIABLE];
  const environmentLevel = parseLogLevel(fromEnvironment);
  const logger = pino(
    {
      level: options.level ?? environmentLevel ?? "info",
      // The event name is the message: `logger.info({ id }, "hello")` → "event":"hello".
      messageKey: "event",
      // No pid or hostname on every line; whoever collects the lines knows where they came from.
      base: null,
      timestamp: () => `,"ts":"${isoTime(clock)}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    sinkStream(sink),
  );
  if (options.level === undefined && fromEnvironment !== undefined && !environmentLevel) {
    logger.warn(
      { variable: LOG_LEVEL_VARIABLE, value: fromEnvironment.slice(0, 40), levels: LOG_LEVELS },
      "bad_log_level",
    );
  }
  return logger;
}

/** The time for `ts`: the clock's, or the wall clock's if the clock gives no valid time. */
function isoTime(clock: () => number): string {
  const now = clock();
  const date = new Date(Number.isFinite(now) ? now : Date.now());
  return Number.isNaN(date.getTime()) ? new Date().toISOString() : date.toISOString();
}

/** pino writes whole lines to a stream synchronously; this hands them to the sink. */
function sinkStream(sink: LogSink): DestinationStream {
  return {
    write(line: string): void {
      try {
        sink(line.endsWith("\n") ? line.slice(0, -1) : line);
      } catch {
        // A failing sink must not take the server down.
      }
    },
  };
}
