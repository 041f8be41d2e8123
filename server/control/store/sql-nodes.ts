// The users and nodes operations of StoreTx, in the SQL both dialects share (see sql-tx.ts),
// including the two index lookups registration allocates with (nextNodeName, freeIpv4).

import { conflictForField } from "./conflicts.ts";
import { aggregate, nodeFromRow, stringsText, userFromRow } from "./rows.ts";
import { bit, canonicalIpv6, ipv4Number, ipv4Text, SqlBase, splitName } from "./sql-base.ts";
import {
  type NewNode,
  type NodeRecord,
  StoreConflictError,
  type StoreTx,
  type UserRecord,
} from "./types.ts";

/** A field of NodeRecord that updateNode may change, and its column. */
const NODE_COLUMNS = {
  nodeKey: "node_key",
  name: "name",
  hostname: "hostname",
  os: "os",
  tags: "tags",
  userId: "user_id",
  keyExpiry: "key_expiry",
  sshHostKeys: "ssh_host_keys",
  sshUsers: "ssh_users",
  lastSeen: "last_seen",
} as const;

const USER_COLUMNS = {
  email: "email",
  name: "name",
  role: "role",
  lastLoginAt: "last_login_at",
} as const;

/** How many next addresses a claim looks through (more concurrent registrations than this share). */
const CLAIM_WINDOW = 1024;
/** Ids per statement of nodesByIds. */
const NODES_BY_IDS_CHUNK = 500;

/** Users and nodes. */
export class SqlNodes extends SqlBase {
  /** The next address this transaction claimed last (freeIpv4; PostgreSQL transactions only). */
  private ownIpv4Claim: number | undefined;

  // users

  async userById(id: number): Promise<UserRecord | null> {
    const row = await this.one("SELECT * FROM users WHERE id = ?", [id]);
    return row === undefined ? null : userFromRow(row);
  }

  async userByIdentity(issuer: string, subject: string): Promise<UserRecord | null> {
    const row = await this.one("SELECT * FROM users WHERE issuer = ? AND subject = ?", [
      issuer,
      subject,
    ]);
    return row === undefined ? null : userFromRow(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.read("SELECT * FROM users ORDER BY id")).map(userFromRow);
  }

  async createUser(user: Omit<UserRecord, "id" | "createdAt">): Promise<UserRecord> {
    const { rows } = await this.write(
      `INSERT INTO users (issuer, subject, email, name, role, created_at, last_login_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [user.issuer, user.subject, user.email, user.name, user.role, this.now(), user.lastLoginAt],
    );
    return userFromRow(rows[0]!);
  }

  async updateUser(
    id: number,
    fields: Partial<Pick<UserRecord, "email" | "name" | "role" | "lastLoginAt">>,
  ): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [field, column] of Object.entries(USER_COLUMNS)) {
      const value = fields[field as keyof typeof USER_COLUMNS];
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(value);
    }
    if (sets.length === 0) return;
    await this.write(`UPDATE users SET ${sets.join(", ")} WHERE id = ?`, [...params, id]);
  }

  // nodes

  async nodeById(id: number): Promise<NodeRecord | null> {
    const row = await this.one("SELECT * FROM nodes WHERE id = ?", [id]);
    return row === undefined ? null : nodeFromRow(row);
  }

  async nodesByIds(ids: readonly number[]): Promise<Map<number, NodeRecord>> {
    const found = new Map<number, NodeRecord>();
    const unique = [...new Set(ids)];
    // In chunks: SQLite bounds a statement's parameters (32,766), and one IN list of a few
    // hundred ids is one round trip on either database.
    for (let i = 0; i < unique.length; i += NODES_BY_IDS_CHUNK) {
      const chunk = unique.slice(i, i + NODES_BY_IDS_CHUNK);
      const marks = chunk.map(() => "?").join(", ");
      for (const row of await this.db.read(`SELECT * FROM nodes WHERE id IN (${marks})`, chunk)) {
        const node = nodeFromRow(row);
        found.set(node.id, node);
      }
    }
    return found;
  }

  async nodeByKey(nodeKey: string): Promise<NodeRecord | null> {
    const row = await this.one("SELECT * FROM nodes WHERE node_key = ?", [nodeKey]);
    return row === undefined ? null : nodeFromRow(row);
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.db.read("SELECT * FROM nodes ORDER BY id")).map(nodeFromRow);
  }

  async createNode(node: NewNode): Promise<NodeRecord> {
    const ipv4Int = ipv4Number(node.ipv4);
    const ipv6 = canonicalIpv6(node.ipv6);
    const shareAcceptanceId = node.shareAcceptanceId ?? null;
    // share_acceptance_id is named only for a share node, so that the steps' own tests can
    // create nodes in a database from before step 5.
    const share = shareAcceptanceId === null ? "" : ", share_acceptance_id";
    // A taken key, name or address inserts nothing instead of failing (which on PostgreSQL
    // needs a savepoint round trip before every insert to keep the transaction usable): the
    // conflict is then looked up, and said as a failed insert would say it. Registration's
    // allocation races make such conflicts routine; a broken foreign key (its user deleted
    // meanwhile) still fails the statement, and with it the transaction.
    const { rows } = await this.write(
      `INSERT INTO nodes (node_key, user_id, tags, name, name_stem, name_n, hostname, os, ipv4,
         ipv4_int, ipv6, ephemeral, key_expiry, ssh_host_keys, ssh_users, created_at, last_seen,
         auth_key_id${share})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${share === "" ? "" : ", ?"})
       ON CONFLICT DO NOTHING
       RETURNING *`,
      [
        node.nodeKey,
        node.userId,
        stringsText(node.tags),
        node.name,
        ...splitName(node.name),
        node.hostname,
        node.os,
        ipv4Text(ipv4Int),
        ipv4Int,
        ipv6,
        bit(node.ephemeral),
        node.keyExpiry,
        stringsText(node.sshHostKeys),
        node.sshUsers === null || node.sshUsers === undefined ? null : stringsText(node.sshUsers),
        this.now(),
        node.lastSeen,
        node.authKeyId,
        ...(shareAcceptanceId === null ? [] : [shareAcceptanceId]),
      ],
      "nodes",
      { userId: node.userId, authKeyId: node.authKeyId, shareAcceptanceId },
      { unguarded: true },
    );
    if (rows[0] === undefined)
      throw await this.nodeConflict(node.nodeKey, node.name, ipv4Int, ipv6, shareAcceptanceId);
    return nodeFromRow(rows[0]);
  }

  /**
   * Which unique field an insert of these values ran into: the key first (the caller's to
   * handle: another stream of the node registered it), then the share acceptance, the name and
   * the addresses (allocation chooses again).
   */
  private async nodeConflict(
    nodeKey: string,
    name: string,
    ipv4Int: number,
    ipv6: string,
    shareAcceptanceId: number | null,
  ): Promise<StoreConflictError> {
    // The share column only when given: a database from before step 5 has none.
    const share = shareAcceptanceId !== null;
    const row = await this.one(
      `SELECT COUNT(*) AS c, MAX(CASE WHEN node_key = ? THEN 1 ELSE 0 END) AS k,
         ${share ? "MAX(CASE WHEN share_acceptance_id = ? THEN 1 ELSE 0 END)" : "0"} AS s,
         MAX(CASE WHEN name = ? THEN 1 ELSE 0 END) AS n,
         MAX(CASE WHEN ipv4_int = ? THEN 1 ELSE 0 END) AS a
       FROM nodes WHERE node_key = ? OR name = ? OR ipv4_int = ? OR ipv6 = ?
         ${share ? "OR share_acceptance_id = ?" : ""}`,
      [
        nodeKey,
        ...(share ? [shareAcceptanceId] : []),
        name,
        ipv4Int,
        nodeKey,
        name,
        ipv4Int,
        ipv6,
        ...(share ? [shareAcceptanceId] : []),
      ],
    );
    const hit = (column: string) => aggregate(row, column) === 1;
    const field = hit("k")
      ? "nodeKey"
      : hit("s")
        ? "shareAcceptanceId"
        : hit("n")
          ? "name"
          : hit("a")
            ? "ipv4"
            : (aggregate(row, "c") ?? 0) > 0
              ? "ipv6"
              : undefined;
    if (field === undefined) {
      // The row it met was removed before this look: nothing to name; allocation tries again.
      return new StoreConflictError(
        "allocation",
        "a concurrent change took this node's key, name or address, then removed it: try again",
      );
    }
    return conflictForField(field);
  }

  async updateNode(id: number, fields: Parameters<StoreTx["updateNode"]>[1]): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [field, column] of Object.entries(NODE_COLUMNS)) {
      const value = fields[field as keyof typeof NODE_COLUMNS];
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      params.push(Array.isArray(value) ? stringsText(value) : value);
    }
    if (fields.name !== undefined) {
      sets.push("name_stem = ?", "name_n = ?");
      params.push(...splitName(fields.name));
    }
    if (sets.length === 0) return;
    await this.write(`UPDATE nodes SET ${sets.join(", ")} WHERE id = ?`, [...params, id], "nodes", {
      userId: fields.userId ?? null,
    });
  }

  async deleteNode(id: number): Promise<void> {
    // A share node's acceptance ends with it ("left" unless revoked or expired first). Only
    // nodes of a database from step 5 on can be share nodes.
    await this.write(
      `UPDATE share_acceptances SET ended_at = ?, end_reason = 'left'
       WHERE ended_at IS NULL AND id = (SELECT share_acceptance_id FROM nodes WHERE id = ?)`,
      [this.now(), id],
    );
    await this.write("DELETE FROM nodes WHERE id = ?", [id]);
  }

  async nextNodeName(stem: string): Promise<string> {
    if ((await this.one("SELECT 1 AS x FROM nodes WHERE name = ?", [stem])) === undefined) {
      return stem;
    }
    const row = await this.one(
      `SELECT COUNT(*) AS c, MIN(name_n) AS lo, MAX(name_n) AS hi FROM nodes
       WHERE name_stem = ? AND name_n >= 2`,
      [stem],
    );
    const count = aggregate(row, "c") ?? 0;
    const lo = aggregate(row, "lo");
    const hi = aggregate(row, "hi");
    if (count === 0 || lo === null || hi === null || lo > 2) return `${stem}-2`;
    // 2..hi all taken (the numbers are distinct): the next one. Else the first hole after 2.
    if (count === hi - 1) return `${stem}-${hi + 1}`;
    const hole = aggregate(
      await this.one(
        `SELECT MIN(n) + 1 AS h FROM (
           SELECT name_n AS n, LEAD(name_n) OVER (ORDER BY name_n) AS nx
           FROM nodes WHERE name_stem = ? AND name_n >= 2
         ) runs WHERE nx IS NULL OR nx > n + 1`,
        [stem],
      ),
      "h",
    );
    return `${stem}-${hole ?? hi + 1}`;
  }

  async freeIpv4(first: string, last: string): Promise<string | null> {
    const lo = ipv4Number(first, "first");
    const hi = ipv4Number(last, "last");
    const own = this.ownIpv4Claim;
    if (own !== undefined && own >= lo && own <= hi) {
      // A retry (the name was lost): this transaction's claim is still its own, unless its
      // address got taken without a claim meanwhile. Going past it would leave a hole.
      const taken = await this.one("SELECT 1 AS x FROM nodes WHERE ipv4_int = ?", [own]);
      if (taken === undefined) return ipv4Text(own);
    }
    let next: number;
    if (this.db.claimFreeIpv4 !== undefined) {
      // Concurrent registrations all see the same highest address: on PostgreSQL each claims
      // the first next free one no other has claimed, so they do not queue on each other's
      // insert of one address and retry. The unique constraint stays the guard.
      const found = await this.db.claimFreeIpv4(lo, hi, CLAIM_WINDOW);
      next = found.next;
      if (found.claimed !== null) {
        this.ownIpv4Claim = found.claimed;
        return ipv4Text(found.claimed);
      }
    } else {
      const highest = aggregate(
        await this.one(
          "SELECT MAX(ipv4_int) AS m FROM nodes WHERE ipv4_int >= ? AND ipv4_int <= ?",
          [lo, hi],
        ),
        "m",
      );
      next = highest === null ? lo : highest + 1;
    }
    if (next <= hi) return ipv4Text(next);
    // The top is taken: look for a hole, lowest first (only once the range has been used up).
    if ((await this.one("SELECT 1 AS x FROM nodes WHERE ipv4_int = ?", [lo])) === undefined) {
      return ipv4Text(lo);
    }
    const hole = aggregate(
      await this.one(
        `SELECT MIN(a.ipv4_int) AS m FROM nodes a WHERE a.ipv4_int >= ? AND a.ipv4_int < ?
           AND NOT EXISTS (SELECT 1 FROM nodes b WHERE b.ipv4_int = a.ipv4_int + 1)`,
        [lo, hi],
      ),
      "m",
    );
    return hole === null ? null : ipv4Text(hole + 1);
  }
}
