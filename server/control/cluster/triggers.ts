// A change's row of cluster_changes is written by the change's own transaction (review finding
// 9 of issue 18): deferred constraint triggers on the tables the map is made of insert it at
// COMMIT, so the state and the row commit together, or neither does. A server killed right
// after a commit can no longer take the other servers' news of it down with it, and every
// writer (the API, sign-in, registration, shares, the hub's removals, anything added later)
// is covered without a line of its own.
//
// At COMMIT each row takes the transaction advisory lock "corr" "chg0" before its number is
// drawn and holds it until the commit is done, so rows still become visible in the order of
// their numbers (pg-bus.ts, follower.ts). Taken at COMMIT, not at the first write, the lock is
// held only for the inserts and the commit itself. NOTIFY inside the transaction is delivered
// at the commit. One row per thing changed per transaction (a transaction-local set says what
// was written): followers read the current state, so a second row would say nothing new.
//
// Installed by the cluster when it joins (PgBus.start), not by a store migration: a database
// only several servers share needs them, and `corridor migrate` copies into an empty migrated
// database, where triggers would add rows of their own to the copied log. A database a member
// joined is never empty (settings), so it is never a copy's destination.
//
// What a row says:
// - nodes: inserted or changed ("node"; not when only last_seen changed: that is presence),
//   deleted ("removed"; a share node's refusal from its acceptance's end: share_revoked,
//   share_expired; the default node_removed otherwise);
// - users ("user"), policy ("policy"), shares and share_acceptances ("shares").
// Rows have origin '' (the database's: no server is named, and every server applies every row).
//
// Versions: exactly one version's triggers may be installed. Two versions side by side would
// both fire for every change; a server installing version N drops every older version's
// triggers and function, and a server of an older version that finds a newer one keeps it
// (rolling upgrades: the old server reads the newer rows, it does not fight over them). Each
// version's once-per-transaction mark is its own setting, so should two ever be side by side
// (a server from before this rule reinstalling its own), each writes its row: a duplicate row
// is applied as a no-op, a missing one would be a lost change.

import pg from "pg";
import { CHANGES_CHANNEL } from "./pg-bus.ts";

/** The version of the function and triggers below; a new version replaces the old ones. */
export const TRIGGER_VERSION = 1;

/** The function of version `version`. */
const functionName = (version: number): string => `corridor_cluster_change_v${version}`;
/** What every trigger name of version `version` starts with. */
const triggerPrefix = (version: number): string => `corridor_cluster_v${version}_`;
/** Any version's trigger names and function names (group 1: the version). */
const ANY_TRIGGER = "^corridor_cluster_v([0-9]+)_";
const ANY_FUNCTION = "^corridor_cluster_change_v([0-9]+)$";

/** "corr" "trig": serializes installation when several servers start at once. */
const INSTALL_LOCK = "SELECT pg_advisory_xact_lock(1668248178, 1953655143)";

/** What shares/service.ts refuses a revoked or expired share's node with (same words). */
const SHARE_REFUSALS = {
  revoked: { code: "share_revoked", message: "the share this node belonged to was revoked" },
  expired: { code: "share_expired", message: "the share this node belonged to has expired" },
} as const;

const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

const functionSql = (
  version: number,
): string => `CREATE OR REPLACE FUNCTION ${functionName(version)}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  k text;
  nid bigint;
  uid bigint;
  why text;
  ref text;
  seen text;
  s bigint;
BEGIN
  IF TG_TABLE_NAME = 'nodes' THEN
    IF TG_OP = 'DELETE' THEN
      k := 'removed';
      nid := OLD.id;
      IF OLD.share_acceptance_id IS NOT NULL THEN
        SELECT end_reason INTO why FROM share_acceptances WHERE id = OLD.share_acceptance_id;
        IF why = 'revoked' THEN ref := ${literal(JSON.stringify(SHARE_REFUSALS.revoked))};
        ELSIF why = 'expired' THEN ref := ${literal(JSON.stringify(SHARE_REFUSALS.expired))};
        END IF;
      END IF;
    ELSE
      k := 'node';
      nid := NEW.id;
    END IF;
  ELSIF TG_TABLE_NAME = 'users' THEN
    k := 'user';
    IF TG_OP = 'DELETE' THEN uid := OLD.id; ELSE uid := NEW.id; END IF;
  ELSIF TG_TABLE_NAME = 'policy' THEN
    k := 'policy';
  ELSE
    k := 'shares';
  END IF;
  -- Once per thing per transaction (the setting is local to the transaction).
  seen := coalesce(current_setting('corridor.cluster_written_v${version}', true), '');
  IF position(' ' || k || ':' || coalesce(nid, uid, 0) || ' ' IN seen) > 0 THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('corridor.cluster_written_v${version}',
    seen || ' ' || k || ':' || coalesce(nid, uid, 0) || ' ', true);
  PERFORM pg_advisory_xact_lock(1668248178, 1667786544);
  INSERT INTO cluster_changes (kind, node_id, user_id, refusal, origin, created_at)
    VALUES (k, nid, uid, ref, '', (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
    RETURNING seq INTO s;
  PERFORM pg_notify('${CHANGES_CHANNEL}', s::text);
  RETURN NULL;
END
$fn$`;

/** Each trigger: its name, table, events and condition. */
const TRIGGERS: readonly { name: string; table: string; events: string; when?: string }[] = [
  { name: "nodes_write", table: "nodes", events: "INSERT OR DELETE" },
  {
    name: "nodes_update",
    table: "nodes",
    events: "UPDATE",
    // A stream's end stores last seen; that alone is presence, not a change to tell.
    when: "(to_jsonb(OLD) - 'last_seen') IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen')",
  },
  { name: "users", table: "users", events: "INSERT OR UPDATE OR DELETE" },
  { name: "policy", table: "policy", events: "INSERT OR UPDATE OR DELETE" },
  { name: "shares", table: "shares", events: "INSERT OR UPDATE OR DELETE" },
  { name: "acceptances", table: "share_acceptances", events: "INSERT OR UPDATE OR DELETE" },
];

/** The statements that (re)install version `version`'s function and every trigger of it. */
export function triggerStatements(version = TRIGGER_VERSION): string[] {
  const statements = [functionSql(version)];
  for (const t of TRIGGERS) {
    const name = `${triggerPrefix(version)}${t.name}`;
    statements.push(
      `DROP TRIGGER IF EXISTS ${name} ON ${t.table}`,
      `CREATE CONSTRAINT TRIGGER ${name} AFTER ${t.events} ON ${t.table}
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
         ${t.when === undefined ? "" : `WHEN (${t.when})`}
         EXECUTE FUNCTION ${functionName(version)}()`,
    );
  }
  return statements;
}

/** What installTriggers did. */
export type InstallOutcome =
  /** This version's triggers were (re)installed, older versions' dropped (`dropped`). */
  | { outcome: "installed"; dropped: number[] }
  /** This version's triggers were all there already, and no other version's. */
  | { outcome: "present" }
  /** A newer version's triggers are there: kept, nothing installed. */
  | { outcome: "newer"; version: number };

/** The versions whose triggers `client` sees, and whose functions. */
async function installedVersions(
  client: pg.ClientBase,
): Promise<{ triggers: Map<number, { name: string; table: string }[]>; functions: number[] }> {
  const triggers = new Map<number, { name: string; table: string }[]>();
  const found = await client.query<{ name: string; tbl: string; v: string }>(
    `SELECT tgname AS name, tgrelid::regclass::text AS tbl,
            substring(tgname FROM '${ANY_TRIGGER}') AS v
       FROM pg_trigger WHERE tgname ~ '${ANY_TRIGGER}' AND NOT tgisinternal`,
  );
  for (const row of found.rows) {
    const version = Number(row.v);
    const list = triggers.get(version) ?? [];
    list.push({ name: row.name, table: row.tbl });
    triggers.set(version, list);
  }
  const fns = await client.query<{ v: string }>(
    `SELECT substring(proname FROM '${ANY_FUNCTION}') AS v FROM pg_proc
      WHERE proname ~ '${ANY_FUNCTION}' AND pronamespace = current_schema()::regnamespace`,
  );
  return { triggers, functions: fns.rows.map((row) => Number(row.v)) };
}

/**
 * Installs version `version`'s triggers (default: this build's) unless they are there already,
 * dropping every other older version's triggers and function; keeps a newer version's and
 * installs nothing then. One transaction under a lock (servers starting together install once,
 * the others find them), on a connection of its own. Needs the right to create triggers on the
 * store's tables (their owner: the role that migrated the store).
 */
export async function installTriggers(
  connectionString: string,
  version = TRIGGER_VERSION,
): Promise<InstallOutcome> {
  const client = new pg.Client({ connectionString });
  // A connection cut mid-install must not crash the process (the query rejects anyway).
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(INSTALL_LOCK);
    const { triggers, functions } = await installedVersions(client);
    const newest = Math.max(0, ...triggers.keys());
    if (newest > version) {
      await client.query("COMMIT");
      return { outcome: "newer", version: newest };
    }
    const older = [...new Set([...triggers.keys(), ...functions])].filter((v) => v < version);
    if (older.length === 0 && triggers.get(version)?.length === TRIGGERS.length) {
      await client.query("COMMIT");
      return { outcome: "present" };
    }
    for (const v of older) {
      for (const t of triggers.get(v) ?? []) {
        await client.query(`DROP TRIGGER IF EXISTS ${pg.escapeIdentifier(t.name)} ON ${t.table}`);
      }
      await client.query(`DROP FUNCTION IF EXISTS ${functionName(v)}()`);
    }
    for (const sql of triggerStatements(version)) await client.query(sql);
    await client.query("COMMIT");
    return { outcome: "installed", dropped: older.sort((x, y) => x - y) };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether any version's change triggers are installed in the database `client` is on. */
export async function triggersPresent(client: pg.ClientBase | pg.Pool): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname ~ '${ANY_TRIGGER}' AND NOT tgisinternal`,
  );
  return (rows[0]?.n ?? 0) > 0;
}
