// Graceful shutdown of `corridor control` and `corridor serve` (docs/deploy.md, "Operations"):
// on SIGTERM or SIGINT the server drains first: /readyz answers 503 at once and new map streams
// are refused, while open streams and the API keep working. After --drain SECONDS (default 5),
// time for a load balancer's health checks to see the 503 and send new connections elsewhere,
// the caller closes the map streams with 1012 (nodes reconnect with backoff and resume their
// session, on another server once the balancer moved them), writes the checkpoint, closes the
// store and exits 0.
//
// The wait is skipped when nothing asked /readyz since the start (no balancer is watching: one
// server on its own, a developer's terminal, a test) and cut short by a second signal; a third
// exits at once.

import type { Logger } from "pino";
import type { ReadinessChecks } from "../server/control/health.ts";
import { UsageError } from "./args.ts";

/** Default drain: 5 s. */
export const DEFAULT_DRAIN_MS = 5000;

/** The --drain option of `corridor control` and `corridor serve`. */
export const DRAIN_OPTION = {
  name: "drain",
  value: "SECONDS",
  description:
    "on SIGTERM, how long /readyz answers 503 (and new map streams are refused) before the open streams are told to reconnect elsewhere and the server stops; set it to your load balancer's health-check interval times its unhealthy threshold; skipped when nothing asked /readyz, cut short by a second signal",
  default: "5",
} as const;

/** --drain SECONDS as milliseconds (0 allowed: no drain); UsageError otherwise. */
export function parseDrain(text: string | undefined): number {
  if (text === undefined) return DEFAULT_DRAIN_MS;
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
    throw new UsageError(`--drain needs seconds from 0 to 3600, got '${text}'`);
  }
  return Math.round(seconds * 1000);
}

/** The stop signals: the first starts the shutdown, a second cuts the drain short. */
export interface StopSignals {
  /** Resolves with the first SIGTERM or SIGINT. */
  first: Promise<NodeJS.Signals>;
  /** Resolves with the second. */
  again: Promise<void>;
}

/**
 * Listens for SIGTERM and SIGINT for the rest of the process's life (a signal during the
 * shutdown must not kill it half-way with the default action); the third exits with 1.
 */
export function stopSignals(): StopSignals {
  let count = 0;
  let first!: (signal: NodeJS.Signals) => void;
  let again!: () => void;
  const signals: StopSignals = {
    first: new Promise((resolve) => {
      first = resolve;
    }),
    again: new Promise((resolve) => {
      again = resolve;
    }),
  };
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) first(signal);
    else if (count === 2) again();
    else process.exit(1);
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return signals;
}

/** What the drain acts on: the control server's mount (ControlService). */
export interface Drainable {
  drain(): void;
  readiness: ReadinessChecks;
  /** Map streams attached now (for the log). */
  streams(): number;
}

/**
 * The drain: /readyz 503 and new map streams refused at once, then the wait (see the file
 * comment). Resolves when the caller should close the map streams.
 */
export async function drain(
  service: Drainable,
  drainMs: number,
  signals: StopSignals,
  log: Logger,
  signal: NodeJS.Signals,
): Promise<void> {
  const watched = service.readiness.timesAsked > 0;
  service.drain();
  const waitMs = watched ? drainMs : 0;
  log.info(
    { signal, drainMs: waitMs, streams: service.streams(), readyzAsked: watched },
    waitMs > 0 ? "shutdown: draining, /readyz answers 503" : "shutdown: no drain",
  );
  if (waitMs === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const cut = await Promise.race([
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
    }),
    signals.again.then(() => true),
  ]);
  clearTimeout(timer);
  if (cut) log.info({}, "shutdown: drain cut short by a second signal");
}
