// The Store on SQLite (better-sqlite3 12): the embedded default, one file in the data dir.
//
// better-sqlite3 is synchronous while `transaction(work)` takes an async function: between two
// statements of `work` other callers get to run. So every transaction holds an async mutex from
// BEGIN IMMEDIATE to COMMIT or ROLLBACK, and every single call outside a transaction takes the
// same mutex, so nothing interleaves into a running transaction and a failed transaction can
// roll back only its own writes. Each statement itself runs to completion synchronously.
//
// WAL lets readers in other processes (`corridor admin ... --data DIR`) read while this one
// writes; synchronous=NORMAL is WAL's usual setting (a power cut may lose the last commits, never
// the file); busy_timeout makes a second process wait for the write lock instead of failing.

import { closeSync, mkdirSync, openSync, realpathSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { conflictForSqliteMessage, UnnamedForeignKeyError } from "./conflicts.ts";
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
import { type SqlRunner, SqlStoreTx } from "./sql-tx.ts";
import type { Store, StoreTx } from "./types.ts";

/** Options of openSqliteStore. */
export interface SqliteStoreOptions extends SqlStoreOptions {
  /** How long a statement waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

/** Parameters as better-sqlite3 binds them: undefined would be refused, so it becomes NULL. */
function bindable(params: readonly unknown[]): unknown[] {
  return params.map((p) => (p === undefined ? null : p));
}

/** A driver error as the store's own (conflicts name the field), or unchanged. */
function mapError(error: unknown): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  if (error.code === "SQLITE_CONSTRAINT_FOREIGNKEY") return new UnnamedForeignKeyError();
  if (error.code.startsWith("SQLITE_CONSTRAINT")) {
    return conflictForSqliteMessage(error.message) ?? error;
  }
  return error;
}

/** Creates the file readable by this user only, inside its folder (made 0700 when missing). */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/**
 * Opens (creating when missing, mode 0600) the SQLite database at `path` and migrates it.
 * `":memory:"` gives a private in-memory database (tests). Throws SchemaTooNewError when the
 * file was migrated by a newer Corridor.
 */
export async function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<Store> {
  if (path !== ":memory:") createPrivateFile(path);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    db.pragma("synchronous = NORMAL");
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    migrate(db, options.migrations);
  } catch (error) {
    db.close();
    throw error;
  }
  return sqliteStore(db, options.now ?? Date.now);
}

function migrate(db: Database.Database, migrations?: readonly Migration[]): void {
  // Synchronous from BEGIN to COMMIT, and IMMEDIATE takes the write lock first: two processes
  // opening the same new file migrate one after the other (the second finds nothing to do).
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(MIGRATIONS_TABLE);
    const row = db.prepare(CURRENT_VERSION_SQL).get() as Row | undefined;
    for (const { sql, values } of migrationStatements(row, "sqlite", migrations)) {
      if (values === undefined) db.exec(sql);
      else db.prepare(sql).run(...values);
    }
    db.exec("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * One mutex per database file in this process, shared by every Store open on it: a second
 * connection's BEGIN IMMEDIATE while the first holds the write lock across an await would block
 * the whole thread in busy_timeout (better-sqlite3 waits synchronously), and the first could
 * never finish. Other processes wait in busy_timeout without harm. In-memory databases are
 * private to their connection and get their own.
 */
const fileLocks = new Map<string, { mutex: Mutex; owner: object; users: number }>();

function fileLock(db: Database.Database): { mutex: Mutex; owner: object; release: () => void } {
  const file = db.memory ? "" : realpathSync(db.name);
  if (file === "") return { mutex: new Mutex(), owner: {}, release: () => {} };
  let lock = fileLocks.get(file);
  if (lock === undefined) {
    lock = { mutex: new Mutex(), owner: {}, users: 0 };
    fileLocks.set(file, lock);
  }
  lock.users++;
  const held = lock;
  return {
    mutex: held.mutex,
    owner: held.owner,
    release: () => {
      if (--held.users === 0) fileLocks.delete(file);
    },
  };
}

function sqliteStore(db: Database.Database, now: () => number): Store {
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const runner: SqlRunner = {
    async read(sql, params = []) {
      return prepared(sql).all(...bindable(params)) as Row[];
    },
    async write(sql, params = []) {
      const statement = prepared(sql);
      try {
        if (statement.reader) {
          const rows = statement.all(...bindable(params)) as Row[];
          return { changes: rows.length, rows };
        }
        return { changes: statement.run(...bindable(params)).changes, rows: [] };
      } catch (error) {
        throw mapError(error);
      }
    },
  };
  const base = new SqlStoreTx(runner, now);
  const { mutex, owner, release } = fileLock(db);
  let closed = false;

  const exclusive = async <T>(call: () => Promise<T>): Promise<T> => {
    refuseInsideOwnTransaction(owner);
    return mutex.run(call);
  };

  async function transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    refuseInsideOwnTransaction(owner);
    return mutex.run(async () => {
      const state: TxState = { owner, active: true };
      const tx = wrapStoreTx(base, async (call) => {
        refuseEnded(state);
        return call();
      });
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await insideTransaction(state, () => work(tx));
        state.active = false;
        db.exec("COMMIT");
        return result;
      } catch (error) {
        state.active = false;
        if (db.inTransaction) db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  return {
    ...wrapStoreTx(base, exclusive),
    kind: "sqlite",
    transaction,
    // Behind the mutex, as any call: a ping waits for a running transaction, as a query would.
    ping: () =>
      exclusive(async () => {
        if (closed) throw new Error("store: closed");
        db.prepare("SELECT 1").get();
      }),
    async close() {
      refuseInsideOwnTransaction(owner);
      await mutex.run(async () => {
        if (closed) return;
        closed = true;
        db.close();
        release();
      });
    },
  };
}
