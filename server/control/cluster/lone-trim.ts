// A server on PostgreSQL run with `cluster: false` (alone on the database) after a cluster
// member installed the change triggers (triggers.ts): every change it commits still writes a
// cluster_changes row, and no leader trims them (only a cluster member leads). So it trims the
// table itself, on the leader's schedule (every heartbeat, to the same number of rows).
//
// Why not drop the triggers instead: this server cannot know that no cluster member is alive
// (it does not join the presence channel), and dropping them under a live member would lose
// that member's changes for its peers. Why not refuse to start: a database once clustered
// would then need hand-written SQL to run alone on it again. Trimming is safe either way: a
// live leader trims to the same bound, and two trims of the same rows delete them once.

import pg from "pg";
import type { Logger } from "pino";
import { TRIM_SQL } from "./pg-bus.ts";
import { triggersPresent } from "./triggers.ts";

/** The leader's defaults (index.ts: heartbeatMs, keepChanges). */
const DEFAULT_PERIOD_MS = 5000;
const DEFAULT_KEEP = 200_000;

/** How the lone trim runs. */
export interface LoneTrimOptions {
  connectionString: string;
  /** Trim period (default 5 s, the leader's heartbeat). */
  periodMs?: number;
  /** Rows kept (default 200,000, as the leader keeps). */
  keepChanges?: number;
  log?: Logger;
}

/** A running lone trim. */
export interface LoneTrim {
  /** Whether the triggers were present at the start (the trim runs only then). */
  readonly active: boolean;
  /** Resolves after the next trim is done (or failed). */
  trimmed(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Trims cluster_changes while this server runs alone on a database that has change triggers;
 * does nothing (and holds no connection) when it has none. The first trim runs at once.
 */
export async function startLoneTrim(options: LoneTrimOptions): Promise<LoneTrim> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 1 });
  // An idle connection that dies (a database restart) must not crash the process.
  pool.on("error", (error) => options.log?.warn({ err: String(error) }, "lone trim pool"));
  let present: boolean;
  try {
    present = await triggersPresent(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  if (!present) {
    await pool.end();
    return { active: false, trimmed: () => Promise.resolve(), close: () => Promise.resolve() };
  }
  options.log?.warn(
    "cluster off on a database with change triggers: each change still writes a cluster_changes row; this server trims them",
  );
  const keep = options.keepChanges ?? DEFAULT_KEEP;
  let waiting: (() => void)[] = [];
  let closed = false;
  const trim = async () => {
    try {
      const removed = (await pool.query(TRIM_SQL, [keep])).rowCount ?? 0;
      if (removed > 0) options.log?.debug({ removed }, "lone trim: cluster_changes trimmed");
    } catch (error) {
      if (!closed) options.log?.warn({ err: String(error) }, "lone trim failed");
    }
    const done = waiting;
    waiting = [];
    for (const resolve of done) resolve();
  };
  let running = trim();
  const timer = setInterval(() => {
    running = running.then(trim);
  }, options.periodMs ?? DEFAULT_PERIOD_MS);
  timer.unref();
  return {
    active: true,
    trimmed: () => new Promise((resolve) => waiting.push(resolve)),
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
      await pool.end();
    },
  };
}
