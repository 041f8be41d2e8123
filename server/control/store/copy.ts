// `corridor migrate`: copies a deployment's control state from one database to another (the
// embedded SQLite to PostgreSQL when one server is no longer enough, and back), table by table
// in STATE_TABLES order (parents before children), ids kept, so every reference stays true.
//
// What makes it safe to run on a deployment's only copy of its state:
// - the source is read in one snapshot and never written (only migrated up to this Corridor's
//   schema first, as opening it for `corridor serve` would);
// - the destination must be empty (its schema made or migrated, no row in any table), and the
//   whole copy is one transaction there: any error, a constraint violated or a count that does
//   not match, rolls everything back and leaves the destination as it was;
// - before the commit every table is counted on both sides, in the same transactions, and any
//   difference aborts naming the table;
// - the auto-increment counters are carried over (not only set past the largest id), because
//   ids are never reused (schema.ts): a node removed before the move must not see its id
//   handed to another node after it. PostgreSQL's setval is not transactional, so it runs
//   last, after the count check; a failed COMMIT after it leaves only a counter moved forward.
// Rows move in pages of at most 500 (fewer for wide tables, under both drivers' limits on bound
// values), so 100,000 rows never make one giant statement or one giant array in memory.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type CopySide, openPostgresSide, openSqliteSide } from "./copy-side.ts";
import { openStore, parseStoreUrl } from "./open.ts";
import type { Row } from "./rows.ts";
import {
  latestVersion,
  MIGRATIONS,
  type Migration,
  SchemaTooNewError,
  STATE_TABLES,
  type StateTable,
} from "./schema.ts";

/** A refusal or failure of a copy, with a message for the operator. */
export class MigrateError extends Error {
  override name = "MigrateError";
}

/** The destination holds rows: a copy goes only into an empty database. */
export class DestinationNotEmptyError extends MigrateError {
  override name = "DestinationNotEmptyError";
  constructor(
    readonly table: string,
    readonly rows: number,
  ) {
    super(
      `destination already holds data in table ${table} (${rows} ${rows === 1 ? "row" : "rows"}): migrate only into an empty database`,
    );
  }
}

/** The count check found a table with a different number of rows on the two sides. */
export class CountMismatchError extends MigrateError {
  override name = "CountMismatchError";
  constructor(
    readonly table: string,
    readonly source: number,
    readonly destination: number,
  ) {
    super(
      `count check failed on table ${table}: the source holds ${source} rows, the destination ${destination}; nothing was written`,
    );
  }
}

/** Rows of one table on both sides. */
export interface TableCount {
  table: string;
  source: number;
  destination: number;
}

/** What a copy did (or, dry, would do). */
export interface CopyReport {
  dryRun: boolean;
  /** Per table, in copy order: after a copy the two counts are equal (the count check). */
  counts: TableCount[];
  /** The source's schema version before the copy when it was migrated first; else null. */
  sourceMigratedFrom: number | null;
  /**
   * Other sessions connected to the source when the copy began (PostgreSQL only; null for
   * SQLite): more than 0 suggests a server still running, whose later writes were not copied.
   */
  sourceSessions: number | null;
}

/** Options of copyStore. */
export interface CopyOptions {
  /** Count only: migrate nothing, write nothing; destination counts are of the tables it has. */
  dryRun?: boolean;
  /** Rows per INSERT at most (default 500). */
  batchRows?: number;
  /** The schema (tests add a step); default MIGRATIONS. */
  migrations?: readonly Migration[];
  /** The tables copied, in order (tests add one); default STATE_TABLES. */
  tables?: readonly StateTable[];
  /**
   * A test seam: sees each page of source rows before it is written and returns what is
   * written instead (to inject a row that violates a constraint, or to lose one).
   */
  pageHook?: (table: string, rows: Row[]) => Row[];
}

/** Most values one statement binds: under SQLite's 32766 and PostgreSQL's 65535. */
const MAX_BOUND_VALUES = 30_000;

/** Opens a raw side on a store URL; a SQLite file must exist unless `mayBeMissing` (then null). */
async function openSide(url: string, mayBeMissing: boolean): Promise<CopySide | null> {
  const target = parseStoreUrl(url);
  if (target.kind === "postgres") return openPostgresSide(target.url);
  if (target.path === ":memory:") throw new MigrateError("sqlite::memory: holds nothing to copy");
  if (!existsSync(target.path)) {
    if (mayBeMissing) return null;
    throw new MigrateError(`no SQLite database at ${target.path}`);
  }
  return openSqliteSide(target.path);
}

/** The same database named twice (same file, same URL) would copy onto itself. */
function sameDatabase(from: string, to: string): boolean {
  const a = parseStoreUrl(from);
  const b = parseStoreUrl(to);
  if (a.kind === "sqlite" && b.kind === "sqlite") return resolve(a.path) === resolve(b.path);
  return a.kind === "postgres" && b.kind === "postgres" && a.url === b.url;
}

/** Counts every table that exists on `side` (0 for one that does not). */
async function countAll(side: CopySide, tables: readonly StateTable[]): Promise<number[]> {
  const counts: number[] = [];
  for (const { name } of tables) {
    counts.push((await side.tableExists(name)) ? await side.count(name) : 0);
  }
  return counts;
}

/** The source's version; throws when it holds no Corridor database or a newer one. */
async function sourceVersion(side: CopySide, known: number): Promise<number> {
  const version = await side.version();
  if (version === null || version === 0) {
    throw new MigrateError("the source holds no Corridor control database (no schema_migrations)");
  }
  if (version > known) throw new SchemaTooNewError(version, known);
  return version;
}

/**
 * Copies every table of `from` into `to` (store URLs: `sqlite:PATH`, a path, `postgres://...`)
 * and returns the per-table counts. Refuses (MigrateError) a missing source, the same database
 * twice, and a destination holding any row (DestinationNotEmptyError); the count check throws
 * CountMismatchError; either way the destination is left as it was. The servers using either
 * database must be stopped: writes made to the source after its snapshot would not be copied.
 */
export async function copyStore(
  from: string,
  to: string,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const migrations = options.migrations ?? MIGRATIONS;
  const tables = options.tables ?? STATE_TABLES;
  const known = latestVersion(migrations);
  if (sameDatabase(from, to)) throw new MigrateError("--from and --to name the same database");

  let source = (await openSide(from, false))!;
  let sourceMigratedFrom: number | null = null;
  try {
    const version = await sourceVersion(source, known);
    if (version < known && options.dryRun !== true) {
      // Brought up to date as `corridor serve` would on its next start: the copy then reads
      // the tables and columns this Corridor's schema has.
      await source.close();
      await (await openStore(from, { migrations })).close();
      source = (await openSide(from, false))!;
      sourceMigratedFrom = version;
    }
  } catch (error) {
    await source.close();
    throw error;
  }

  try {
    const sourceSessions = await source.otherSessions();
    if (options.dryRun === true) {
      return { ...(await dryRun(source, to, tables, known)), sourceSessions };
    }
    // Made (a new SQLite file, an empty PostgreSQL database) or migrated like any start would.
    await (await openStore(to, { migrations })).close();
    const destination = (await openSide(to, false))!;
    try {
      const counts = await copyAll(source, destination, tables, known, options);
      return { dryRun: false, counts, sourceMigratedFrom, sourceSessions };
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}

async function dryRun(
  source: CopySide,
  to: string,
  tables: readonly StateTable[],
  known: number,
): Promise<Omit<CopyReport, "sourceSessions">> {
  await source.begin("read");
  const sourceCounts = await countAll(source, tables);
  await source.rollback();
  const destination = await openSide(to, true);
  let destinationCounts = tables.map(() => 0);
  if (destination !== null) {
    try {
      const version = await destination.version();
      if (version !== null && version > known) throw new SchemaTooNewError(version, known);
      destinationCounts = await countAll(destination, tables);
    } finally {
      await destination.close();
    }
  }
  return {
    dryRun: true,
    sourceMigratedFrom: null,
    counts: tables.map((t, i) => ({
      table: t.name,
      source: sourceCounts[i]!,
      destination: destinationCounts[i]!,
    })),
  };
}

async function copyAll(
  source: CopySide,
  destination: CopySide,
  tables: readonly StateTable[],
  known: number,
  options: CopyOptions,
): Promise<TableCount[]> {
  await source.begin("read");
  await destination.begin("write");
  try {
    await destination.lockForCopy(tables.map((t) => t.name));
    const version = await destination.version();
    if (version !== known) {
      throw new MigrateError(`the destination's schema is version ${version}, not ${known}`);
    }
    for (const { name } of tables) {
      const rows = await destination.count(name);
      if (rows > 0) throw new DestinationNotEmptyError(name, rows);
    }
    for (const table of tables) await copyTable(source, destination, table, options);
    const counts: TableCount[] = [];
    for (const { name } of tables) {
      const count = {
        table: name,
        source: await source.count(name),
        destination: await destination.count(name),
      };
      if (count.source !== count.destination) {
        throw new CountMismatchError(name, count.source, count.destination);
      }
      counts.push(count);
    }
    for (const { name, key } of tables) {
      const target = await destination.idCounter(name, key);
      if (target === null) continue;
      const carried = (await source.idCounter(name, key)) ?? 0n;
      const largest = (await destination.maxKey(name, key)) ?? 0n;
      await destination.setIdCounter(name, key, carried > largest ? carried : largest);
    }
    await destination.commit();
    return counts;
  } catch (error) {
    await destination.rollback().catch(() => {});
    throw error;
  } finally {
    await source.rollback().catch(() => {});
  }
}

async function copyTable(
  source: CopySide,
  destination: CopySide,
  { name, key }: StateTable,
  options: CopyOptions,
): Promise<void> {
  const columns = await source.columns(name);
  const target = await destination.columns(name);
  const names = (list: { name: string }[]) =>
    list
      .map((c) => c.name)
      .sort()
      .join(", ");
  if (names(columns) !== names(target)) {
    throw new MigrateError(
      `table ${name} has columns (${names(columns)}) in the source but (${names(target)}) in the destination`,
    );
  }
  const limit = Math.max(
    1,
    Math.min(options.batchRows ?? 500, Math.floor(MAX_BOUND_VALUES / target.length)),
  );
  const selected = columns.map((c) => c.name);
  let after: unknown;
  for (;;) {
    const page = await source.page(name, key, selected, after, limit);
    if (page.length === 0) return;
    after = page[page.length - 1]![key];
    const rows = options.pageHook === undefined ? page : options.pageHook(name, page);
    for (let i = 0; i < rows.length; i += limit) {
      await destination.insert(name, target, rows.slice(i, i + limit));
    }
    if (page.length < limit) return;
  }
}
