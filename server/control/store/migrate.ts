// What opening either SQL store shares: the options both adapters take, and the statements of a
// migration run. The adapters differ only in how they open the transaction (SQLite's BEGIN
// IMMEDIATE, synchronous; PostgreSQL's BEGIN + advisory lock, async) and run a statement, so the
// plan is a generator both can drive: each step's statements, then the row recording that step,
// its time taken when the step's own statements have run.

import { aggregate, type Row } from "./rows.ts";
import {
  type Dialect,
  MIGRATIONS,
  type Migration,
  pendingSteps,
  RECORD_STEP_SQL,
} from "./schema.ts";

/** The options every SQL store takes (each adapter adds its driver's own). */
export interface SqlStoreOptions {
  /** The schema steps (tests add steps to check versioning); default MIGRATIONS. */
  migrations?: readonly Migration[];
  /** The clock for createdAt / updatedAt (default Date.now). */
  now?: () => number;
}

/** One statement of a migration run: a step's DDL (no values), or the record of a step. */
export interface MigrationStatement {
  /** SQL with `?` placeholders when `values` is set. */
  sql: string;
  values?: readonly unknown[];
}

/**
 * The statements that bring a database up to date, in order, given the row CURRENT_VERSION_SQL
 * read inside the migration transaction (after MIGRATIONS_TABLE). Throws SchemaTooNewError
 * when the database is newer than `migrations`.
 */
export function* migrationStatements(
  versionRow: Row | undefined,
  dialect: Dialect,
  migrations: readonly Migration[] = MIGRATIONS,
): Generator<MigrationStatement> {
  for (const step of pendingSteps(aggregate(versionRow, "v") ?? 0, migrations, dialect)) {
    for (const sql of step.statements) yield { sql };
    yield { sql: RECORD_STEP_SQL, values: [step.version, step.name, Date.now()] };
  }
}
