// The server's structured logs (server/log.ts, server/log-limit.ts): the line format people
// and log collectors read, levels, $CORRIDOR_LOG_LEVEL, a failing sink, and the per-kind budget
// under hostile input.

import { afterEach, describe, expect, it } from "vitest";
import {
  createLogger,
  LOG_LEVEL_VARIABLE,
  type LoggerOptions,
  parseLogLevel,
} from "../../server/log.ts";
import { DEFAULT_LOG_LIMIT, RateLimitedLog } from "../../server/log-limit.ts";

const savedLevel = process.env[LOG_LEVEL_VARIABLE];
afterEach(() => {
  if (savedLevel === undefined) delete process.env[LOG_LEVEL_VARIABLE];
  else process.env[LOG_LEVEL_VARIABLE] = savedLevel;
});

/** A logger whose lines land in `lines`, parsed. */
function captured(options: Omit<LoggerOptions, "sink"> = {}) {
  const raw: string[] = [];
  const logger = createLogger({ ...options, sink: (line) => raw.push(line) });
  const lines = () => raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, raw, lines };
}

const JAN_1 = Date.UTC(2026, 0, 1);

describe("createLogger", () => {
  it("writes one JSON object per line: level, ts, the component, the fields, the event", () => {
    delete process.env[LOG_LEVEL_VARIABLE];
    const { logger, raw } = captured({ clock: () => JAN_1 });
    logger.child({ component: "relay" }).info({ id: 7, remote: "127.0.0.1:5" }, "hello");
    expect(raw).toEqual([
      '{"level":"info","ts":"2026-01-01T00:00:00.000Z","component":"relay","id":7,"remote":"127.0.0.1:5","event":"hello"}',
    ]);
  });

  it("writes nothing below its level: info by default, else as asked", () => {
    delete process.env[LOG_LEVEL_VARIABLE];
    const byDefault = captured();
    byDefault.logger.debug("socket_error");
    byDefault.logger.info("listening");
    expect(byDefault.lines().map((l) => l.event)).toEqual(["listening"]);
    const warn = captured({ level: "warn" });
    warn.logger.info("listening");
    warn.logger.warn({ of: "hello" }, "log_suppressed");
    warn.logger.error("http_error");
    expect(warn.lines().map((l) => [l.level, l.event])).toEqual([
      ["warn", "log_suppressed"],
      ["error", "http_error"],
    ]);
    const debug = captured({ level: "debug" });
    debug.logger.debug("socket_error");
    expect(debug.lines().map((l) => l.level)).toEqual(["debug"]);
    const silent = captured({ level: "silent" });
    silent.logger.error("http_error");
    expect(silent.raw).toEqual([]);
  });

  it(`takes the level from $${LOG_LEVEL_VARIABLE}, and says so when it is not one`, () => {
    process.env[LOG_LEVEL_VARIABLE] = " WARN ";
    const fromEnv = captured();
    fromEnv.logger.info("listening");
    fromEnv.logger.warn("restarting");
    expect(fromEnv.lines().map((l) => l.event)).toEqual(["restarting"]);
    // The caller's level wins over the environment's.
    const asked = captured({ level: "info" });
    asked.logger.info("listening");
    expect(asked.lines().map((l) => l.event)).toEqual(["listening"]);

    process.env[LOG_LEVEL_VARIABLE] = "loud";
    const bad = captured({ clock: () => JAN_1 });
    bad.logger.info("listening");
    bad.logger.debug("socket_error");
    expect(bad.lines()).toEqual([
      {
        level: "warn",
        ts: "2026-01-01T00:00:00.000Z",
        variable: "CORRIDOR_LOG_LEVEL",
        value: "loud",
        levels: ["trace", "debug", "info", "warn", "error", "fatal", "silent"],
        event: "bad_log_level",
      },
      { level: "info", ts: "2026-01-01T00:00:00.000Z", event: "listening" },
    ]);
  });

  it("reads level names in any case and refuses anything else", () => {
    expect(parseLogLevel("Debug")).toBe("debug");
    expect(parseLogLevel("silent")).toBe("silent");
    for (const bad of [undefined, "", "verbose", "info,debug", "30", "__proto__", "constructor"]) {
      expect(parseLogLevel(bad)).toBeUndefined();
    }
  });

  it("never throws: a failing sink, a broken clock, circular and hostile fields", () => {
    const failing = createLogger({
      sink: () => {
        throw new Error("disk full");
      },
    });
    expect(() => failing.error({ error: "x" }, "http_error")).not.toThrow();

    const { logger, lines } = captured({ clock: () => Number.NaN });
    const circular: Record<string, unknown> = { name: "loop" };
    circular.self = circular;
    logger.info({ circular, text: 'a"b\nc\u0000', big: 10n ** 30n }, "hostile");
    const [line] = lines();
    expect(Number.isNaN(Date.parse(String(line?.ts)))).toBe(false);
    expect(line).toMatchObject({
      event: "hostile",
      circular: { name: "loop", self: "[Circular]" },
      text: 'a"b\nc\u0000',
    });
  });
});

describe("RateLimitedLog", () => {
  it("writes `lines` per kind and window, then one warning with the count left out", () => {
    let now = JAN_1;
    const { logger, lines } = captured({ clock: () => now });
    let suppressedMetric = 0;
    const log = new RateLimitedLog(
      logger,
      DEFAULT_LOG_LIMIT,
      () => now,
      (n) => {
        suppressedMetric += n;
      },
    );
    for (let i = 0; i < 50; i++) log.log("info", "hello_refused", "bad_proof", { id: i });
    for (let i = 0; i < 5; i++) log.log("info", "hello_refused", "denied", { id: i });
    expect(lines().length).toBe(DEFAULT_LOG_LIMIT.lines + 5);
    expect(suppressedMetric).toBe(50 - DEFAULT_LOG_LIMIT.lines);
    now += DEFAULT_LOG_LIMIT.windowMs;
    log.log("info", "hello_refused", "bad_proof", { id: 50 });
    expect(lines().slice(-2)).toEqual([
      {
        level: "warn",
        ts: "2026-01-01T00:01:00.000Z",
        of: "hello_refused/bad_proof",
        suppressed: 30,
        windowMs: 60_000,
        event: "log_suppressed",
      },
      {
        level: "info",
        ts: "2026-01-01T00:01:00.000Z",
        id: 50,
        event: "hello_refused",
      },
    ]);
    // The kind that stayed within its budget has nothing to report.
    log.stop();
    expect(lines().filter((l) => l.event === "log_suppressed").length).toBe(1);
  });

  it("keeps a bounded set of kinds however many distinct reasons strangers send", () => {
    const { logger, lines } = captured();
    const log = new RateLimitedLog(logger, { lines: 1, windowMs: 60_000 }, () => JAN_1);
    for (let i = 0; i < 10_000; i++) log.log("info", "upgrade_refused", `reason-${i}`, { i });
    // 64 kinds get a line each; all further kinds share one budget ("other") of one line.
    expect(lines().length).toBe(64 + 1);
    log.stop();
    const reports = lines().filter((l) => l.event === "log_suppressed");
    expect(reports).toEqual([
      expect.objectContaining({ of: "other", suppressed: 10_000 - 64 - 1 }),
    ]);
  });
});
