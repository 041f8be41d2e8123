// What every SQL operation of the store stands on: the SqlRunner an adapter supplies (how a
// statement runs, how a driver's constraint error becomes a StoreConflictError), the checks
// both adapters apply alike (NUL in text), value conversions (IPv4 as a number, canonical IPv6,
// a name's stem and suffix), and SqlBase, whose two statement helpers the operation classes
// (sql-nodes.ts, sql-tx.ts) use.

import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";
import { FOREIGN_KEYS, UnnamedForeignKeyError } from "./conflicts.ts";
import type { Row } from "./rows.ts";
import { StoreConflictError } from "./types.ts";

/** How a write runs. */
export interface WriteOptions {
  /**
   * The statement cannot break a constraint, so it needs no savepoint of its own (PostgreSQL:
   * two round trips fewer). For the last statement of a transaction that locks a busy row: the
   * lock is then held for the statement and COMMIT only. A failure still ends the transaction.
   */
  unguarded?: boolean;
}

/** How one statement runs, supplied by an adapter. */
export interface SqlRunner {
  read(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs a write (rows: what RETURNING gave). A violated constraint rejects with a
   * StoreConflictError, or UnnamedForeignKeyError when the driver does not say which key,
   * and the failed statement leaves nothing behind: the transaction stays usable.
   */
  write(
    sql: string,
    params?: readonly unknown[],
    options?: WriteOptions,
  ): Promise<{ changes: number; rows: Row[] }>;
  /**
   * In one statement: `next`, the address number after the highest of `first`..`last` any node
   * has (`first` when none; `last` + 1 when the top is taken), and `claimed`, the first of the
   * `window` numbers from `next` on (up to `last`) that no node has and no other running
   * transaction claimed, now claimed by this one until it ends (null when there is none). Lets
   * concurrent registrations pick different next addresses instead of all the same one
   * (PostgreSQL: transaction-scoped advisory locks, on a transaction's connection only). Absent
   * where writers run one at a time anyway (SQLite) and outside a transaction.
   */
  /**
   * Runs `sql` (no parameters: values inlined, numbers only) just before COMMIT, in COMMIT's
   * own round trip; its error fails the commit. Absent outside a PostgreSQL transaction.
   */
  atCommit?(sql: string): void;
  claimFreeIpv4?(
    first: number,
    last: number,
    window: number,
  ): Promise<{ next: number; claimed: number | null }>;
}

/** An IPv4 address as the number stored in nodes.ipv4_int; a TypeError naming the field if not IPv4. */
export function ipv4Number(text: string, field = "ipv4"): number {
  const bytes = parseIp(text, `${field} '${text.slice(0, 64)}'`);
  if (bytes.length !== 4)
    throw new TypeError(`${field} '${text.slice(0, 64)}': not an IPv4 address`);
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/** The dotted-quad text of an IPv4 number. */
export function ipv4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** IPv6 text in RFC 5952 form, so that one address cannot be stored under two spellings. */
export function canonicalIpv6(text: string): string {
  const bytes = parseIp(text, `ipv6 '${text.slice(0, 64)}'`);
  if (bytes.length !== 16) throw new TypeError(`ipv6 '${text.slice(0, 64)}': not an IPv6 address`);
  return formatIp(bytes);
}

export const bit = (b: boolean): number => (b ? 1 : 0);

/** A name as [stem, N] for "stem-N" with N >= 2 (no leading zero), else [name, 1]. */
export function splitName(name: string): [string, number] {
  const match = /^(.+)-([1-9][0-9]{0,14})$/.exec(name);
  const n = match === null ? 1 : Number(match[2]);
  return match !== null && n >= 2 ? [match[1]!, n] : [name, 1];
}

/**
 * Refuses text holding a NUL character in both adapters alike: PostgreSQL cannot store one in
 * TEXT (SQLite could), so the same hostile hostname must fail the same way on either.
 */
function refuseNul(params: readonly unknown[]): void {
  params.forEach((p, i) => {
    if (typeof p === "string" && p.includes("\u0000")) {
      throw new TypeError(
        `store: text value ${i + 1} holds a NUL character, which cannot be stored`,
      );
    }
  });
}

function nulChecked(db: SqlRunner): SqlRunner {
  const checked: SqlRunner = {
    async read(sql, params = []) {
      refuseNul(params);
      return db.read(sql, params);
    },
    async write(sql, params = [], options) {
      refuseNul(params);
      return db.write(sql, params, options);
    },
  };
  if (db.claimFreeIpv4 !== undefined) checked.claimFreeIpv4 = db.claimFreeIpv4.bind(db);
  if (db.atCommit !== undefined) checked.atCommit = db.atCommit.bind(db);
  return checked;
}

/** The statement helpers the operation classes share. */
export class SqlBase {
  protected readonly db: SqlRunner;

  constructor(
    db: SqlRunner,
    protected readonly now: () => number,
  ) {
    this.db = nulChecked(db);
  }

  protected async one(sql: string, params: readonly unknown[]): Promise<Row | undefined> {
    return (await this.db.read(sql, params))[0];
  }

  /** A write whose unnamed foreign key failure (SQLite) is resolved into the field it concerns. */
  protected async write(
    sql: string,
    params: readonly unknown[],
    table?: string,
    refs?: Record<string, number | string | null>,
    options?: WriteOptions,
  ): Promise<{ changes: number; rows: Row[] }> {
    try {
      return await this.db.write(sql, params, options);
    } catch (error) {
      if (!(error instanceof UnnamedForeignKeyError) || table === undefined) throw error;
      for (const { field, table: target, message } of FOREIGN_KEYS[table] ?? []) {
        const id = refs?.[field];
        if (id === null || id === undefined) continue;
        if ((await this.one(`SELECT 1 AS x FROM ${target} WHERE id = ?`, [id])) === undefined) {
          throw new StoreConflictError(
            field,
            message ?? (target === "users" ? "no such user" : "no such auth key"),
          );
        }
      }
      throw error;
    }
  }
}
