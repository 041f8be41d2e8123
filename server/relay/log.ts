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
