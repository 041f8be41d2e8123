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

import pg from "pg";
import { CHANGES_CHANNEL } from "./pg-bus.ts";

/** The version of the function and triggers below; a new version replaces the old ones. */
export const TRIGGER_VERSION = 1;

const FN = `corridor_cluster_change_v${TRIGGER_VERSION}`;
const PREFIX = `corridor_cluster_v${TRIGGER_VERSION}_`;

/** "corr" "trig": serializes installation when several servers start at once. */
const INSTALL_LOCK = "SELECT pg_advisory_xact_lock(1668248178, 1953655143)";

/** What shares/service.ts refuses a revoked or expired share's node with (same words). */
const SHARE_REFUSALS = {
  revoked: { code: "share_revoked", message: "the share this node belonged to was revoked" },
  expired: { code: "share_expired", message: "the share this node belonged to has expired" },
} as const;

const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

const FUNCTION_SQL = `CREATE OR REPLACE FUNCTION ${FN}() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
  seen := coalesce(current_setting('corridor.cluster_written', true), '');
  IF position(' ' || k || ':' || coalesce(nid, uid, 0) || ' ' IN seen) > 0 THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('corridor.cluster_written',
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

/** The statements that (re)install the function and every trigger. */
export function triggerStatements(): string[] {
  const statements = [FUNCTION_SQL];
  for (const t of TRIGGERS) {
    const name = `${PREFIX}${t.name}`;
    statements.push(
      `DROP TRIGGER IF EXISTS ${name} ON ${t.table}`,
      `CREATE CONSTRAINT TRIGGER ${name} AFTER ${t.events} ON ${t.table}
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
         ${t.when === undefined ? "" : `WHEN (${t.when})`}
         EXECUTE FUNCTION ${FN}()`,
    );
  }
  return statements;
}

/**
 * Installs the triggers unless they are there already (one transaction under a lock: servers
 * starting together install once, the others find them), on a connection of its own. Needs the
 * right to create triggers on the store's tables (their owner: the role that migrated the store).
 */
export async function installTriggers(connectionString: string): Promise<"installed" | "present"> {
  const client = new pg.Client({ connectionString });
  // A connection cut mid-install must not crash the process (the query rejects anyway).
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query(INSTALL_LOCK);
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_trigger WHERE tgname LIKE $1 AND NOT tgisinternal",
      [`${PREFIX.replace(/_/g, "\\_")}%`],
    );
    if (Number(rows[0]?.n) === TRIGGERS.length) {
      await client.query("COMMIT");
      return "present";
    }
    for (const sql of triggerStatements()) await client.query(sql);
    await client.query("COMMIT");
    return "installed";
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
