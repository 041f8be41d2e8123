// One end of a `corridor migrate` copy (copy.ts): a raw connection to a SQLite file or a
// PostgreSQL database, below the Store interface, which has no way to list a table's rows as
// they are stored or to write an id. Each side reads and writes rows as the schema stores them
// (schema.ts: booleans INTEGER 0/1, times BIGINT, tags JSON text) and converts what its driver
// hands over into what the other driver binds:
// - SQLite is read with safe integers, so every integer is a bigint and none loses precision;
//   PostgreSQL's pg hands BIGINT as a decimal string, INTEGER and DOUBLE PRECISION as numbers,
//   BOOLEAN as a boolean and BYTEA as a Buffer.
// - written to SQLite, a decimal string into an integer column becomes a bigint and a boolean
//   becomes 0/1; written to PostgreSQL, a bigint is sent as its decimal text, and a number into
//   a BOOLEAN column becomes a boolean. Blobs are Buffers on both sides.
// The schema has no BLOB, REAL or BOOLEAN column today; the conversions are there so a step
// that adds one copies right (the copy test round-trips a table of every type).

import Database from "better-sqlite3";
import pg from "pg";
import type { Row } from "./rows.ts";
import type { Dialect } from "./schema.ts";

/** A column as the database declares it: its name, and its type in lower case. */
export interface Column {
  name: string;
  type: string;
}

/** A raw connection to one database, for copy.ts. Names come from schema.ts, never from users. */
export interface CopySide {
  readonly dialect: Dialect;
  /** The schema version recorded in schema_migrations; null when that table does not exist. */
  version(): Promise<number | null>;
  tableExists(table: string): Promise<boolean>;
  /** The table's columns in their stored order. */
  columns(table: string): Promise<Column[]>;
  count(table: string): Promise<number>;
  /** Up to `limit` rows with `key` > `after` (all from the first when undefined), by `key`. */
  page(
    table: string,
    key: string,
    columns: readonly string[],
    after: unknown,
    limit: number,
  ): Promise<Row[]>;
  /** One multi-row INSERT of `rows` (values taken by column name, converted for this side). */
  insert(table: string, columns: readonly Column[], rows: readonly Row[]): Promise<void>;
  /** The largest `key`; null for an empty table. */
  maxKey(table: string, key: string): Promise<bigint | null>;
  /**
   * The last id the table's auto-increment handed out (0 when none yet); null when `key` is
   * not auto-incremented (policy, settings).
   */
  idCounter(table: string, key: string): Promise<bigint | null>;
  /**
   * Other client sessions on this database (a server still running holds some): PostgreSQL
   * says; SQLite cannot (null), a file open in another process leaves no sign to trust.
   */
  otherSessions(): Promise<number | null>;
  /** Sets the counter so the next id handed out is `last` + 1. */
  setIdCounter(table: string, key: string, last: bigint): Promise<void>;
  /** A snapshot to read from ("read"), or the write transaction that takes the copy. */
  begin(mode: "read" | "write"): Promise<void>;
  /** Holds off other writers of `tables` until the transaction ends. */
  lockForCopy(tables: readonly string[]): Promise<void>;
  commit(): Promise<void>;
  /** Rolls back an open transaction; nothing when none is open. */
  rollback(): Promise<void>;
  close(): Promise<void>;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

const isIntegerType = (type: string): boolean => type.includes("int");

function toSqlite(value: unknown, column: Column): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean") return value ? 1n : 0n;
  if (typeof value === "string" && isIntegerType(column.type) && /^-?[0-9]+$/.test(value)) {
    return BigInt(value);
  }
  if (typeof value === "number" && isIntegerType(column.type) && Number.isInteger(value)) {
    return BigInt(value);
  }
  return value;
}

function toPostgres(value: unknown, column: Column): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "bigint") {
    return column.type === "boolean" ? value !== 0n : value.toString();
  }
  if (typeof value === "number" && column.type === "boolean") return value !== 0;
  if (typeof value === "boolean" && isIntegerType(column.type)) return value ? 1 : 0;
  return value;
}

/** A whole-number aggregate as a bigint (pg: a string or a number; SQLite: a bigint). */
function big(value: unknown): bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return value;
  if (typeof value === "number" || typeof value === "string") return BigInt(value);
  throw new Error(`copy: ${JSON.stringify(value)} is not a whole number`);
}

function safeNumber(value: unknown): number {
  const n = big(value) ?? 0n;
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`copy: count ${n} is too large`);
  return Number(n);
}

/** Opens an existing SQLite file (never creates one: a mistyped path is an error). */
export function openSqliteSide(path: string): CopySide {
  const db = new Database(path, { fileMustExist: true });
  db.defaultSafeIntegers(true);
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  const get = (sql: string, ...params: unknown[]): Row | undefined =>
    prepared(sql).get(...params) as Row | undefined;
  const autoIncrement = (table: string): boolean => {
    const row = get("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table);
    return typeof row?.sql === "string" && /AUTOINCREMENT/i.test(row.sql);
  };
  return {
    dialect: "sqlite",
    async version() {
      if (!(await this.tableExists("schema_migrations"))) return null;
      return safeNumber(get("SELECT MAX(version) AS v FROM schema_migrations")?.v ?? 0n);
    },
    async tableExists(table) {
      return (
        get("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", table) !==
        undefined
      );
    },
    async columns(table) {
      const rows = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as Row[];
      return rows.map((r) => ({ name: String(r.name), type: String(r.type).toLowerCase() }));
    },
    async count(table) {
      return safeNumber(get(`SELECT COUNT(*) AS n FROM ${quote(table)}`)?.n);
    },
    async page(table, key, columns, after, limit) {
      const list = columns.map(quote).join(", ");
      const where = after === undefined ? "" : ` WHERE ${quote(key)} > ?`;
      const sql = `SELECT ${list} FROM ${quote(table)}${where} ORDER BY ${quote(key)} LIMIT ${limit}`;
      return prepared(sql).all(...(after === undefined ? [] : [after])) as Row[];
    },
    async insert(table, columns, rows) {
      if (rows.length === 0) return;
      const one = `(${columns.map(() => "?").join(", ")})`;
      const sql = `INSERT INTO ${quote(table)} (${columns.map((c) => quote(c.name)).join(", ")}) VALUES ${rows.map(() => one).join(", ")}`;
      prepared(sql).run(...rows.flatMap((row) => columns.map((c) => toSqlite(row[c.name], c))));
    },
    async maxKey(table, key) {
      return big(get(`SELECT MAX(${quote(key)}) AS m FROM ${quote(table)}`)?.m);
    },
    async idCounter(table) {
      if (!autoIncrement(table)) return null;
      return big(get("SELECT seq FROM sqlite_sequence WHERE name = ?", table)?.seq) ?? 0n;
    },
    async otherSessions() {
      return null;
    },
    async setIdCounter(table, _key, last) {
      const updated = prepared("UPDATE sqlite_sequence SET seq = ? WHERE name = ?").run(
        last,
        table,
      );
      if (updated.changes === 0) {
        prepared("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)").run(table, last);
      }
    },
    async begin(mode) {
      // IMMEDIATE takes the write lock now; a deferred BEGIN's first read fixes the snapshot
      // (WAL), so a writer in another process cannot change what is being copied.
      db.exec(mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN");
    },
    async lockForCopy() {
      // BEGIN IMMEDIATE holds SQLite's one write lock already.
    },
    async commit() {
      db.exec("COMMIT");
    },
    async rollback() {
      if (db.inTransaction) db.exec("ROLLBACK");
    },
    async close() {
      db.close();
    },
  };
}

/** Connects to a PostgreSQL database (one connection: a copy is one transaction). */
export async function openPostgresSide(url: string): Promise<CopySide> {
  const client = new pg.Client({ connectionString: url });
  // An error on an idle connection would otherwise crash the process; the next query fails.
  client.on("error", () => {});
  await client.connect();
  let inTransaction = false;
  const rows = async (sql: string, params: unknown[] = []): Promise<Row[]> =>
    (await client.query(sql, params)).rows as Row[];
  const side: CopySide = {
    dialect: "postgres",
    async version() {
      if (!(await this.tableExists("schema_migrations"))) return null;
      return safeNumber((await rows("SELECT MAX(version) AS v FROM schema_migrations"))[0]?.v ?? 0);
    },
    async tableExists(table) {
      const found = await rows("SELECT to_regclass($1) IS NOT NULL AS found", [quote(table)]);
      return found[0]?.found === true;
    },
    async columns(table) {
      const found = await rows(
        `SELECT column_name, data_type FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
        [table],
      );
      return found.map((r) => ({ name: String(r.column_name), type: String(r.data_type) }));
    },
    async count(table) {
      return safeNumber((await rows(`SELECT COUNT(*) AS n FROM ${quote(table)}`))[0]?.n);
    },
    async page(table, key, columns, after, limit) {
      const list = columns.map(quote).join(", ");
      const where = after === undefined ? "" : ` WHERE ${quote(key)} > $1`;
      return rows(
        `SELECT ${list} FROM ${quote(table)}${where} ORDER BY ${quote(key)} LIMIT ${limit}`,
        after === undefined ? [] : [after],
      );
    },
    async insert(table, columns, batch) {
      if (batch.length === 0) return;
      let n = 0;
      const tuples = batch.map(() => `(${columns.map(() => `$${++n}`).join(", ")})`);
      await client.query(
        `INSERT INTO ${quote(table)} (${columns.map((c) => quote(c.name)).join(", ")}) VALUES ${tuples.join(", ")}`,
        batch.flatMap((row) => columns.map((c) => toPostgres(row[c.name], c))),
      );
    },
    async maxKey(table, key) {
      return big((await rows(`SELECT MAX(${quote(key)}) AS m FROM ${quote(table)}`))[0]?.m);
    },
    async idCounter(table, key) {
      const seq = (await rows("SELECT pg_get_serial_sequence($1, $2) AS s", [quote(table), key]))[0]
        ?.s;
      if (typeof seq !== "string") return null;
      // pg_get_serial_sequence returns the name quoted and qualified, ready to select from.
      const state = (await rows(`SELECT last_value, is_called FROM ${seq}`))[0];
      const last = big(state?.last_value) ?? 1n;
      return state?.is_called === true ? last : last - 1n;
    },
    async otherSessions() {
      const found = await rows(
        `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()
         AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      );
      return safeNumber(found[0]?.n);
    },
    async setIdCounter(table, key, last) {
      // setval is not transactional: copy.ts calls it last, after the count check.
      await client.query("SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)", [
        quote(table),
        key,
        (last < 1n ? 1n : last).toString(),
        last >= 1n,
      ]);
    },
    async begin(mode) {
      await client.query(
        mode === "read" ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
      );
      inTransaction = true;
    },
    async lockForCopy(tables) {
      // EXCLUSIVE lets a running server read but not write until the copy commits.
      await client.query(`LOCK TABLE ${tables.map(quote).join(", ")} IN EXCLUSIVE MODE`);
    },
    async commit() {
      await client.query("COMMIT");
      inTransaction = false;
    },
    async rollback() {
      if (!inTransaction) return;
      inTransaction = false;
      await client.query("ROLLBACK");
    },
    async close() {
      await client.end();
    },
  };
  return side;
}
