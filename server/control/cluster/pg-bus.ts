// The control servers' link through PostgreSQL (DESIGN §9.1: several control servers on one
// database, LISTEN/NOTIFY plus catch-up by sequence). Durable changes are rows of
// cluster_changes, numbered by the database and written by the change's own transaction
// (triggers.ts: they commit together or not at all); every server reads the rows after the last
// one it applied, when a notification says there are new ones and on a timer (a notification
// lost while a connection was down is never a lost change). Each insert holds a
// transaction-scoped advisory lock until its commit, so rows become visible in the order of
// their numbers: a reader that saw row n has seen every row before it. Volatile facts (online,
// endpoints) travel as notifications only (presence.ts).
//
// One dedicated connection LISTENs and holds the leader lock (a session advisory lock: it goes
// with the connection, so a dead server's leadership passes on by itself); a small pool runs the
// reads and notifications. The listener reconnects with backoff.

import pg from "pg";
import type { Logger } from "pino";
import type { NodeRefusal } from "../changes.ts";

/** Channel of "a row was added to cluster_changes" (payload: its sequence number). */
export const CHANGES_CHANNEL = "corridor_changes";
/** Channel of presence messages (presence.ts). */
export const PRESENCE_CHANNEL = "corridor_presence";
/** Approvals waiting on one server, decided through another (approval-board.ts). */
export const APPROVALS_CHANNEL = "corridor_approvals";
/** WebRTC signals for a node whose stream another server holds (signal-forward.ts). */
export const SIGNALS_CHANNEL = "corridor_signals";
/** PostgreSQL refuses a notification payload of 8000 bytes or more. */
export const NOTIFY_PAYLOAD_LIMIT = 7900;

/** How long the listener's liveness query may take before the connection counts as dead. */
const LISTENER_CHECK_MS = 3000;
/** "corr" "lead": held by the leader's listener connection for as long as it lives. */
const LEADER_LOCK = "SELECT pg_try_advisory_lock(1668248178, 1818583396) AS ok";

/** What changed, as other servers apply it (MeshChanges' calls, by name). */
export type ChangeKind = "node" | "removed" | "user" | "policy" | "shares";

/** A change, as a row names it. */
export interface ClusterChange {
  kind: ChangeKind;
  nodeId?: number;
  userId?: number;
  /** How a removed node's stream is refused. */
  refusal?: NodeRefusal;
}

/** A change as read back, with its number and the server that made it. */
export interface ChangeRow extends Omit<ClusterChange, "kind"> {
  /** "unreadable": a row this version could not parse (logged; nothing to apply). */
  kind: ChangeKind | "unreadable";
  seq: number;
  origin: string;
}

/** What PgBus needs. */
export interface PgBusOptions {
  connectionString: string;
  /** This server's id (origin of its rows and messages). */
  serverId: string;
  /** Every notification on the channels (changes, presence, approvals). */
  onNotify: (channel: string, payload: string) => void;
  /** The listener (re)connected: what was missed meanwhile must be caught up. */
  onListening: () => void;
  log?: Logger;
  /** Pool size for reads and notifications (default 3). */
  maxConnections?: number;
}

const KINDS = new Set<string>(["node", "removed", "user", "policy", "shares"]);

function toNumber(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) ? n : undefined;
}

/** A cluster_changes row as a ChangeRow; throws on a row no server of ours writes. */
export function parseChangeRow(row: Record<string, unknown>): ChangeRow {
  const seq = toNumber(row.seq);
  const kind = row.kind;
  if (seq === undefined || seq < 1) throw new Error(`cluster_changes: bad seq ${String(row.seq)}`);
  if (typeof kind !== "string" || !KINDS.has(kind)) {
    throw new Error(`cluster_changes row ${seq}: unknown kind ${String(kind)}`);
  }
  const out: ChangeRow = { seq, kind: kind as ChangeKind, origin: String(row.origin ?? "") };
  const nodeId = toNumber(row.node_id);
  const userId = toNumber(row.user_id);
  if (nodeId !== undefined) out.nodeId = nodeId;
  if (userId !== undefined) out.userId = userId;
  if ((kind === "node" || kind === "removed") && nodeId === undefined) {
    throw new Error(`cluster_changes row ${seq}: ${kind} without a node id`);
  }
  if (kind === "user" && userId === undefined) {
    throw new Error(`cluster_changes row ${seq}: user without a user id`);
  }
  if (typeof row.refusal === "string" && row.refusal !== "") {
    const refusal = JSON.parse(row.refusal) as { code?: unknown; message?: unknown };
    if (typeof refusal.code === "string" && typeof refusal.message === "string") {
      out.refusal = { code: refusal.code, message: refusal.message };
    }
  }
  return out;
}

/** Trims cluster_changes to its newest `$1` rows (the leader's job; lone-trim.ts's too). */
export const TRIM_SQL =
  "DELETE FROM cluster_changes WHERE seq < (SELECT MAX(seq) FROM cluster_changes) - $1";

/** The database side of the cluster. */
export class PgBus {
  private readonly pool: pg.Pool;
  private listener: pg.Client | undefined;
  private closed = false;
  private leader = false;
  private retryMs = 500;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PgBusOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 3,
    });
    // An idle pooled connection that dies (a database restart) must not crash the process.
    this.pool.on("error", (error) => options.log?.warn({ err: String(error) }, "cluster pool"));
  }

  /** Whether the listener connection is up. */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** Whether this server holds the leader lock. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Connects the listener; rejects when the database cannot be reached at all. */
  async start(): Promise<void> {
    await this.connectListener();
  }

  /**
   * Checks the listener with a query: a half-open connection (the database host gone without
   * a reset) hears nothing and errs nothing, so silence is not proof. No answer within 3 s:
   * the connection is dropped and made again (its leader lock goes with it, as it should:
   * the database ends that session once it notices, and another server may lead).
   */
  async checkListener(): Promise<void> {
    const listener = this.listener;
    if (listener === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no answer within 3 s")), LISTENER_CHECK_MS);
    });
    try {
      await Promise.race([listener.query("SELECT 1"), late]);
    } catch (error) {
      this.dropListener(listener, error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rows after `seq`, oldest first, at most `limit`. */
  async changesAfter(seq: number, limit: number): Promise<ChangeRow[]> {
    const result = await this.pool.query(
      `SELECT seq, kind, node_id, user_id, refusal, origin FROM cluster_changes
       WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [seq, limit],
    );
    const rows: ChangeRow[] = [];
    for (const row of result.rows as Record<string, unknown>[]) {
      try {
        rows.push(parseChangeRow(row));
      } catch (error) {
        // A row this version cannot read (a newer server's kind during an upgrade, damage):
        // passed over, loudly, instead of stopping the follower for good.
        const seq = toNumber(row.seq);
        if (seq === undefined) throw error;
        this.options.log?.error({ seq, err: String(error) }, "cluster: change row not understood");
        rows.push({ seq, kind: "unreadable", origin: String(row.origin ?? "") });
      }
    }
    return rows;
  }

  /** The latest sequence number (0 before any row). */
  async maxSeq(): Promise<number> {
    const result = await this.pool.query("SELECT MAX(seq) AS s FROM cluster_changes");
    return toNumber(result.rows[0]?.s) ?? 0;
  }

  /** Deletes rows more than `keep` numbers behind the latest (the leader's cleanup). */
  async trim(keep: number): Promise<number> {
    const result = await this.pool.query(TRIM_SQL, [keep]);
    return result.rowCount ?? 0;
  }

  /** Sends a notification (at most NOTIFY_PAYLOAD_LIMIT bytes). */
  async notify(channel: string, payload: string): Promise<void> {
    if (Buffer.byteLength(payload) > NOTIFY_PAYLOAD_LIMIT) {
      throw new RangeError(`cluster: a ${Buffer.byteLength(payload)}-byte notification is too big`);
    }
    await this.pool.query("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  /** Tries to take the leader lock on the listener connection; true while held. */
  async tryLead(): Promise<boolean> {
    const listener = this.listener;
    if (listener === undefined) {
      this.leader = false;
      return false;
    }
    if (this.leader) return true;
    try {
      const result = await listener.query(LEADER_LOCK);
      this.leader = result.rows[0]?.ok === true;
    } catch {
      this.leader = false;
    }
    return this.leader;
  }

  /** Closes the listener (its leader lock goes with it) and the pool. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = undefined;
    this.leader = false;
    await listener?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }

  private async connectListener(): Promise<void> {
    // TCP keepalives: a dead peer is found by the kernel too, not only by checkListener.
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on("notification", (message) => {
      if (message.payload !== undefined) this.options.onNotify(message.channel, message.payload);
    });
    client.on("error", (error) => this.dropListener(client, error));
    client.on("end", () => this.dropListener(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      await client.query(`LISTEN ${PRESENCE_CHANNEL}`);
      await client.query(`LISTEN ${APPROVALS_CHANNEL}`);
      await client.query(`LISTEN ${SIGNALS_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.retryMs = 500;
    this.options.onListening();
  }

  private dropListener(client: pg.Client, error?: Error): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    this.leader = false;
    this.options.log?.warn({ err: String(error ?? "ended") }, "cluster listener lost");
    // end() waits for a reply a half-open peer never sends: the socket is cut instead.
    client.connection.stream.destroy();
    client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connectListener().catch((error: unknown) => {
        this.options.log?.warn({ err: String(error), retryInMs: this.retryMs }, "cluster listener");
        this.scheduleReconnect();
      });
    }, wait);
  }
}
