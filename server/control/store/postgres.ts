// The Store on PostgreSQL (`pg` Pool), for deployments with several control servers on one
// database. Single calls run on any pooled connection (autocommit); `transaction(work)` holds
// one connection from BEGIN to COMMIT or ROLLBACK, at READ COMMITTED, and runs the calls of
// `work` on it one at a time.
//
// Behaviour kept identical to SQLite's:
// - a write inside a transaction runs under a savepoint, so a unique violation fails only that
//   statement (PostgreSQL would otherwise abort the whole transaction) and the caller can try
//   another name or address in the same transaction (allocate.ts); a write that cannot break a
//   constraint may skip it (WriteOptions.unguarded: an auth key's use, registration's last);
// - unique, foreign key and check violations become StoreConflictError naming the field
//   (conflicts.ts); serialization failures and deadlocks become StoreConflictError "transaction";
// - migrations run in one transaction under an advisory lock, so several servers starting at
//   once migrate once: the others wait for the lock, then find nothing to apply.

import pg from "pg";
import { conflictForConstraint } from "./conflicts.ts";
import {
  insideTransaction,
  Mutex,
  refuseEnded,
  refuseInsideOwnTransaction,
  type TxState,
  wrapStoreTx,
} from "./guard.ts";
import { migrationStatements, type SqlStoreOptions } from "./migrate.ts";
import type { Row } from "./rows.ts";
import { CURRENT_VERSION_SQL, MIGRATIONS_TABLE, type Migration } from "./schema.ts";
import { AUTH_KEY_REFUSED, authKeyRefused, type SqlRunner, SqlStoreTx } from "./sql-tx.ts";
import { type Store, StoreConflictError, type StoreTx, StoreUnavailableError } from "./types.ts";

/** Options of openPostgresStore. */
export interface PostgresStoreOptions extends SqlStoreOptions {
  /** Pool size (default 10). */
  maxConnections?: number;
  /**
   * An idle pooled connection failed (the server restarted). Without a listener pg would crash
   * the process; the next query reports the problem to its caller either way.
   */
  onIdleError?: (error: Error) => void;
}

/** The advisory lock key that serializes migrations ("corr" "mig0" as two 32-bit words). */
const MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(1668248178, 1835624240)";

const placeholderCache = new Map<string, string>();

/** `?` placeholders (the shared SQL's) as PostgreSQL's `$1, $2, ...`. No literal holds a `?`. */
function numbered(sql: string): string {
  let out = placeholderCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    placeholderCache.set(sql, out);
  }
  return out;
}

function values(params: readonly unknown[]): unknown[] {
  return params.map((p) => (p === undefined ? null : p));
}

/** Socket errors of a connection that cannot be made or was cut. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/**
 * Whether `error` says the database is away rather than that the statement was wrong: a socket
 * error, SQLSTATE 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, class
 * 08 (connection exception), or pg's own words for a connection that ended under a query.
 */
function unreachable(code: unknown, message: unknown): boolean {
  if (typeof code === "string") {
    if (UNREACHABLE_CODES.has(code)) return true;
    const sqlState = /^[0-9A-Z]{5}$/.test(code);
    if (sqlState && (code === "57P01" || code === "57P02" || code === "57P03")) return true;
    if (sqlState && code.startsWith("08")) return true;
  }
  return (
    typeof message === "string" &&
    /^Connection terminated|not queryable|Connection ended|connect ECONNREFUSED/.test(message)
  );
}

/** A driver error as the store's own (conflicts name the field), or unchanged. */
function mapError(error: unknown): unknown {
  if (typeof error !== "object" || error === null) return error;
  if (error instanceof StoreUnavailableError || error instanceof StoreConflictError) return error;
  const { code, constraint, message } = error as {
    code?: unknown;
    constraint?: unknown;
    message?: unknown;
  };
  // Node joins the attempts at several addresses of one name into an AggregateError.
  const first = error instanceof AggregateError ? (error.errors[0] as { code?: unknown }) : null;
  if (unreachable(code, message) || (first !== null && unreachable(first?.code, undefined))) {
    return new StoreUnavailableError(undefined, { cause: error });
  }
  if (code === "23505" || code === "23503" || code === "23514") {
    return (typeof constraint === "string" && conflictForConstraint(constraint)) || error;
  }
  if (code === AUTH_KEY_REFUSED) return authKeyRefused();
  if (code === "40001" || code === "40P01") {
    return new StoreConflictError(
      "transaction",
      "a concurrent transaction changed the same rows: try again",
    );
  }
  return error;
}

interface Queryable {
  query(text: string, params?: unknown[]): Promise<pg.QueryResult>;
}

async function query(on: Queryable, sql: string, params: readonly unknown[]): Promise<Row[]> {
  try {
    return (await on.query(numbered(sql), values(params))).rows as Row[];
  } catch (error) {
    throw mapError(error);
  }
}

/** Statements straight on the pool: each one its own transaction. */
function poolRunner(pool: pg.Pool): SqlRunner {
  return {
    read: (sql, params = []) => query(pool, sql, params),
    async write(sql, params = []) {
      try {
        const result = await pool.query(numbered(sql), values(params));
        return { changes: result.rowCount ?? 0, rows: result.rows as Row[] };
      } catch (error) {
        throw mapError(error);
      }
    },
  };
}

/**
 * SqlRunner.claimFreeIpv4 in one round trip. A candidate is free in this statement's snapshot
 * (taken just before: an address committed in between is the unique constraint's to catch) and
 * its advisory transaction lock (the 64-bit key "ipv4" << 32 | n) is this transaction's, got
 * now or held already (reentrant). The filter runs row by row under LIMIT 1, so only the
 * number returned is locked. Numbers come back as text (bigint).
 */
const CLAIM_FREE_IPV4 = `WITH top AS (
    SELECT COALESCE(MAX(ipv4_int) + 1, $1::bigint) AS s FROM nodes
    WHERE ipv4_int >= $1::bigint AND ipv4_int <= $2::bigint)
  SELECT s::text AS next,
    (SELECT n FROM generate_series(s, LEAST(s + $3::bigint - 1, $2::bigint)) AS n
      WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE ipv4_int = n)
        AND pg_try_advisory_xact_lock((1768977972::bigint << 32) + n) LIMIT 1)::text AS claimed
  FROM top`;

/**
 * Statements on a transaction's connection; writes under a savepoint (file comment). What
 * atCommit is given goes into `atCommit`, which the transaction sends with its COMMIT.
 */
function clientRunner(client: pg.PoolClient, atCommit: string[]): SqlRunner {
  let savepointOpen = false;
  return {
    read: (sql, params = []) => query(client, sql, params),
    atCommit: (sql) => {
      atCommit.push(sql);
    },
    async claimFreeIpv4(first, last, window) {
      try {
        const { rows } = await client.query<{ next: string; claimed: string | null }>(
          CLAIM_FREE_IPV4,
          [first, last, window],
        );
        const row = rows[0]!;
        return {
          next: Number(row.next),
          claimed: row.claimed === null ? null : Number(row.claimed),
        };
      } catch (error) {
        throw mapError(error);
      }
    },
    async write(sql, params = [], options) {
      if (options?.unguarded === true) {
        try {
          const result = await client.query(numbered(sql), values(params));
          return { changes: result.rowCount ?? 0, rows: result.rows as Row[] };
        } catch (error) {
          throw mapError(error);
        }
      }
      // A write that succeeded leaves its savepoint open: the next one releases it in the
      // round trip that makes its own, and COMMIT releases the last (one round trip per write
      // fewer; never more than one savepoint open).
      await client.query(
        savepointOpen
          ? "RELEASE SAVEPOINT corridor_write; SAVEPOINT corridor_write"
          : "SAVEPOINT corridor_write",
      );
      savepointOpen = true;
      let result: pg.QueryResult;
      try {
        result = await client.query(numbered(sql), values(params));
      } catch (error) {
        try {
          await client.query(
            "ROLLBACK TO SAVEPOINT corridor_write; RELEASE SAVEPOINT corridor_write",
          );
          savepointOpen = false;
        } catch {
          // The connection itself failed: the statement's own error says more, and the next
          // statement (or COMMIT) fails on the broken transaction anyway.
        }
        throw mapError(error);
      }
      return { changes: result.rowCount ?? 0, rows: result.rows as Row[] };
    },
  };
}

async function migrate(pool: pg.Pool, migrations?: readonly Migration[]): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    try {
      await client.query(MIGRATION_LOCK);
      await client.query(MIGRATIONS_TABLE);
      const row = (await client.query(CURRENT_VERSION_SQL)).rows[0] as Row | undefined;
      for (const { sql, values } of migrationStatements(row, "postgres", migrations)) {
        if (values === undefined) await client.query(sql);
        else await client.query(numbered(sql), [...values]);
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

/**
 * Connects to the PostgreSQL database at `url` ("postgres://user:password@host:port/db") and
 * migrates it. Throws SchemaTooNewError when a newer Corridor migrated it, and the driver's
 * error when the database cannot be reached.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
  pool.on("error", options.onIdleError ?? (() => {}));
  try {
    await migrate(pool, options.migrations);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return postgresStore(pool, options.now ?? Date.now, url);
}

function postgresStore(pool: pg.Pool, now: () => number, url: string): Store {
  const base = new SqlStoreTx(poolRunner(pool), now);
  const owner = {};

  async function transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    refuseInsideOwnTransaction(owner);
    const client = await pool.connect().catch((error: unknown) => {
      throw mapError(error);
    });
    const state: TxState = { owner, active: true };
    const one = new Mutex();
    const atCommit: string[] = [];
    const tx = wrapStoreTx(new SqlStoreTx(clientRunner(client, atCommit), now), (call) =>
      one.run(async () => {
        refuseEnded(state);
        return call();
      }),
    );
    let broken = false;
    // The connection dying between two statements (the database stopped) is an 'error' event
    // on a checked-out client, which the pool does not listen to: unheard, it would end the
    // process. The next statement fails anyway (StoreUnavailableError) and rolls back.
    const dead = () => {
      broken = true;
    };
    client.on("error", dead);
    try {
      await client.query("BEGIN");
      const result = await insideTransaction(state, () => work(tx));
      state.active = false;
      // After any call work left running: COMMIT must be the last statement on the connection.
      // Statements for the commit go with it, one simple query: the first that fails skips
      // the rest (COMMIT too), and the transaction rolls back below.
      const commit = atCommit.length === 0 ? "COMMIT" : `${atCommit.join(";\n")};\nCOMMIT`;
      await one.run(() => client.query(commit));
      return result;
    } catch (error) {
      state.active = false;
      await one
        .run(() => client.query("ROLLBACK"))
        .catch(() => {
          broken = true;
        });
      throw mapError(error);
    } finally {
      client.off("error", dead);
      client.release(broken);
    }
  }

  return {
    ...wrapStoreTx(base, async (call) => {
      refuseInsideOwnTransaction(owner);
      return call();
    }),
    kind: "postgres",
    connectionString: url,
    transaction,
    async ping() {
      await pool.query("SELECT 1");
    },
    async close() {
      await pool.end();
    },
  };
}
