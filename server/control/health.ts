// Health for load balancers and orchestrators (docs/deploy.md, "Operations"):
//
// - /healthz: the process is alive and its event loop turns (200 "ok"); nothing else. A liveness
//   probe that also checked the database would restart every server at once when PostgreSQL
//   hiccups, which cures nothing.
// - /readyz: this server should get traffic now. Every named check must pass: the database
//   answers a ping within a short timeout, the map side has started, and whatever else is added
//   (the multi-server change follower adds "changes caught up" with addCheck). 200 with the
//   checks when ready; 503 with a JSON body naming the failed ones when not; 503 at once, without
//   running any check, from the moment the server starts shutting down, so a load balancer moves
//   new connections elsewhere during the drain.
//
// Checks run concurrently, each raced against a timeout; a probe that arrives while a round of
// checks is running shares it, so a hung database never gathers one ping per probe.

import type { ServerResponse } from "node:http";
import { PLAIN_HEADERS } from "../relay/http-plain.ts";
import type { Store } from "./store/types.ts";

/** A check's verdict: true when ready, else the reason why not (one line for people). */
export type CheckVerdict = true | string;

/** One readiness check; a throw or a rejection counts as not ready, its message the reason. */
export type ReadinessCheck = () => CheckVerdict | Promise<CheckVerdict>;

/** How one named check went. */
export interface CheckReport {
  name: string;
  ok: boolean;
  /** Why not, when not ok. */
  reason?: string;
  /** How long it took, in milliseconds. */
  ms: number;
}

/** A readiness answer: ready when every check passed. */
export interface ReadinessReport {
  ready: boolean;
  /** "name: reason" of every failed check (empty when ready). */
  reasons: string[];
  checks: CheckReport[];
}

/** Readiness composed from named checks. */
export interface Readiness {
  /** Runs every check (or reports "shutting down"). Never rejects. */
  check(): Promise<ReadinessReport>;
  /**
   * Adds a named check (replacing one of that name); returns a function that removes it. Names
   * are short and stable ("database", "changes"): they appear in /readyz and in logs.
   */
  addCheck(name: string, check: ReadinessCheck): () => void;
}

/** The name of the pseudo-check reported while shutting down. */
export const SHUTDOWN_CHECK = "shutdown";

/** How long one check may take before it counts as failed: 2 s. */
export const CHECK_TIMEOUT_MS = 2000;

/** Options of ReadinessChecks. */
export interface ReadinessOptions {
  /** Per-check timeout (default CHECK_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** The Readiness of one server. */
export class ReadinessChecks implements Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly timeoutMs: number;
  private inflight: Promise<ReadinessReport> | undefined;
  private shutdownReason: string | undefined;
  private asked = 0;

  constructor(options: ReadinessOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  }

  addCheck(name: string, check: ReadinessCheck): () => void {
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  /** From now on not ready, for good: the server is shutting down (draining). */
  shutDown(reason = "shutting down"): void {
    this.shutdownReason ??= reason;
  }

  /** Whether shutDown() was called. */
  get shuttingDown(): boolean {
    return this.shutdownReason !== undefined;
  }

  /** How many times check() was called: a load balancer watching shows up here. */
  get timesAsked(): number {
    return this.asked;
  }

  check(): Promise<ReadinessReport> {
    this.asked++;
    if (this.shutdownReason !== undefined) {
      const reason = this.shutdownReason;
      return Promise.resolve({
        ready: false,
        reasons: [`${SHUTDOWN_CHECK}: ${reason}`],
        checks: [{ name: SHUTDOWN_CHECK, ok: false, reason, ms: 0 }],
      });
    }
    if (this.inflight === undefined) {
      this.inflight = this.runAll().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async runAll(): Promise<ReadinessReport> {
    const checks = await Promise.all(
      [...this.checks].map(([name, check]) => runCheck(name, check, this.timeoutMs)),
    );
    const failed = checks.filter((c) => !c.ok);
    return {
      ready: failed.length === 0,
      reasons: failed.map((c) => `${c.name}: ${c.reason}`),
      checks,
    };
  }
}

async function runCheck(name: string, check: ReadinessCheck, timeoutMs: number) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckVerdict>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
  });
  let verdict: CheckVerdict;
  try {
    verdict = await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (error) {
    verdict = error instanceof Error ? error.message || error.name : String(error);
  } finally {
    clearTimeout(timer);
  }
  const ms = Math.round((performance.now() - started) * 10) / 10;
  const report: CheckReport = { name, ok: verdict === true, ms };
  if (verdict !== true) report.reason = oneLine(verdict);
  return report;
}

/** A reason fit for a JSON body and a log line: one line, at most 200 characters. */
function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim() || "not ready";
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/**
 * The database check: the store answers a ping. At most one ping is outstanding: while an
 * earlier one still hangs (a black-holed connection), the check fails without sending another.
 */
export function databaseCheck(store: Pick<Store, "ping">): ReadinessCheck {
  let pending: { since: number; done: Promise<void> } | undefined;
  return async () => {
    if (pending !== undefined) {
      return `an earlier ping is unanswered after ${Math.round(performance.now() - pending.since)} ms`;
    }
    const done = store.ping();
    const mine = { since: performance.now(), done };
    pending = mine;
    const clear = () => {
      if (pending === mine) pending = undefined;
    };
    done.then(clear, clear);
    await done;
    return true;
  };
}

/** Answers /healthz: the process is alive. */
export function answerHealthz(res: ServerResponse): void {
  res.writeHead(200, PLAIN_HEADERS);
  res.end("ok\n");
}

/** Answers /readyz from `readiness`: 200 or 503, a JSON body either way. */
export function answerReadyz(res: ServerResponse, readiness: Readiness): void {
  readiness.check().then(
    (report) => {
      const body = {
        ready: report.ready,
        failed: report.checks.filter((c) => !c.ok).map((c) => c.name),
        reasons: report.reasons,
        checks: report.checks,
      };
      res.writeHead(report.ready ? 200 : 503, {
        ...PLAIN_HEADERS,
        "content-type": "application/json",
      });
      res.end(`${JSON.stringify(body)}\n`);
    },
    () => {
      res.writeHead(503, { ...PLAIN_HEADERS, "content-type": "application/json" });
      res.end('{"ready":false,"failed":["readiness"],"reasons":["readiness: check failed"]}\n');
    },
  );
}
