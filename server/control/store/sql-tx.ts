// Every StoreTx operation, written once in the SQL both dialects share (`?` placeholders,
// RETURNING, ON CONFLICT): sqlite.ts and postgres.ts only supply a SqlRunner (how a statement
// runs, how a driver's constraint error becomes a StoreConflictError) and the transactions.
// One implementation is what keeps the two adapters behaving identically.

import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";
import { FOREIGN_KEYS, UnnamedForeignKeyError } from "./conflicts.ts";
import {
  aggregate,
  apiKeyFromRow,
  authKeyFromRow,
  linkFromRow,
  nodeFromRow,
  policyFromRow,
  type Row,
  sessionFromRow,
  settingsFromRow,
  stringsText,
  userFromRow,
} from "./rows.ts";
import {
  type ApiKeyRecord,
  type AuthKeyRecord,
  type LinkRecord,
  type MeshSettings,
  type NewNode,
  type NodeRecord,
  type PolicyRecord,
  type SessionRecord,
  StoreConflictError,
  type StoreTx,
  type UserRecord,
} from "./types.ts";

/** How one statement runs, supplied by an adapter. */
export interface SqlRunner {
  read(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs a write (rows: what RETURNING gave). A violated constraint rejects with a
   * StoreConflictError, or UnnamedForeignKeyError when the driver does not say which key,
   * and the failed statement leaves nothing behind: the transaction stays usable.
   */
  write(sql: string, params?: readonly unknown[]): Promise<{ changes: number; rows: Row[] }>;
}

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
  lastSeen: "last_seen",
} as const;

const USER_COLUMNS = {
  email: "email",
  name: "name",
  role: "role",
  lastLoginAt: "last_login_at",
} as const;

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
function canonicalIpv6(text: string): string {
  const bytes = parseIp(text, `ipv6 '${text.slice(0, 64)}'`);
  if (bytes.length !== 16) throw new TypeError(`ipv6 '${text.slice(0, 64)}': not an IPv6 address`);
  return formatIp(bytes);
}

const bit = (b: boolean): number => (b ? 1 : 0);

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
  return {
    async read(sql, params = []) {
      refuseNul(params);
      return db.read(sql, params);
    },
    async write(sql, params = []) {
      refuseNul(params);
      return db.write(sql, params);
    },
  };
}

/** StoreTx over a SqlRunner. */
export class SqlStoreTx implements StoreTx {
  private readonly db: SqlRunner;

  constructor(
    db: SqlRunner,
    private readonly now: () => number,
  ) {
    this.db = nulChecked(db);
  }

  private async one(sql: string, params: readonly unknown[]): Promise<Row | undefined> {
    return (await this.db.read(sql, params))[0];
  }

  /** A write whose unnamed foreign key failure (SQLite) is resolved into the field it concerns. */
  private async write(
    sql: string,
    params: readonly unknown[],
    table?: string,
    refs?: Record<string, number | null>,
  ): Promise<{ changes: number; rows: Row[] }> {
    try {
      return await this.db.write(sql, params);
    } catch (error) {
      if (!(error instanceof UnnamedForeignKeyError) || table === undefined) throw error;
      for (const { field, table: target } of FOREIGN_KEYS[table] ?? []) {
        const id = refs?.[field];
        if (id === null || id === undefined) continue;
        if ((await this.one(`SELECT 1 AS x FROM ${target} WHERE id = ?`, [id])) === undefined) {
          throw new StoreConflictError(
            field,
            target === "users" ? "no such user" : "no such auth key",
          );
        }
      }
      throw error;
    }
  }

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
    const { rows } = await this.write(
      `INSERT INTO nodes (node_key, user_id, tags, name, name_stem, name_n, hostname, os, ipv4,
         ipv4_int, ipv6, ephemeral, key_expiry, ssh_host_keys, created_at, last_seen, auth_key_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
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
        this.now(),
        node.lastSeen,
        node.authKeyId,
      ],
      "nodes",
      { userId: node.userId, authKeyId: node.authKeyId },
    );
    return nodeFromRow(rows[0]!);
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
    const highest = aggregate(
      await this.one("SELECT MAX(ipv4_int) AS m FROM nodes WHERE ipv4_int >= ? AND ipv4_int <= ?", [
        lo,
        hi,
      ]),
      "m",
    );
    if (highest === null) return ipv4Text(lo);
    if (highest < hi) return ipv4Text(highest + 1);
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

  // auth keys

  async createAuthKey(
    key: Omit<AuthKeyRecord, "id" | "createdAt" | "usedCount" | "revokedAt">,
  ): Promise<AuthKeyRecord> {
    const { rows } = await this.write(
      `INSERT INTO auth_keys (prefix, hash, user_id, reusable, ephemeral, tags, expires_at,
         revoked_at, used_count, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?) RETURNING *`,
      [
        key.prefix,
        key.hash,
        key.userId,
        bit(key.reusable),
        bit(key.ephemeral),
        stringsText(key.tags),
        key.expiresAt,
        this.now(),
      ],
      "auth_keys",
      { userId: key.userId },
    );
    return authKeyFromRow(rows[0]!);
  }

  async authKeyByHash(hash: string): Promise<AuthKeyRecord | null> {
    const row = await this.one("SELECT * FROM auth_keys WHERE hash = ?", [hash]);
    return row === undefined ? null : authKeyFromRow(row);
  }

  async listAuthKeys(): Promise<AuthKeyRecord[]> {
    return (await this.db.read("SELECT * FROM auth_keys ORDER BY id")).map(authKeyFromRow);
  }

  async revokeAuthKey(id: number, at: number): Promise<boolean> {
    const { changes } = await this.write(
      "UPDATE auth_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
      [at, id],
    );
    return changes > 0;
  }

  async useAuthKey(id: number): Promise<boolean> {
    // One statement: the condition and the count change together, so two concurrent uses of a
    // one-off key cannot both see it unused (PostgreSQL re-checks the row after the lock).
    const { changes } = await this.write(
      `UPDATE auth_keys SET used_count = used_count + 1
       WHERE id = ? AND revoked_at IS NULL AND (reusable = 1 OR used_count = 0)`,
      [id],
    );
    return changes > 0;
  }

  // API keys

  async createApiKey(
    key: Omit<ApiKeyRecord, "id" | "createdAt" | "revokedAt" | "lastUsedAt">,
  ): Promise<ApiKeyRecord> {
    const { rows } = await this.write(
      `INSERT INTO api_keys (prefix, hash, user_id, expires_at, revoked_at, created_at, last_used_at)
       VALUES (?, ?, ?, ?, NULL, ?, NULL) RETURNING *`,
      [key.prefix, key.hash, key.userId, key.expiresAt, this.now()],
      "api_keys",
      { userId: key.userId },
    );
    return apiKeyFromRow(rows[0]!);
  }

  async apiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = await this.one("SELECT * FROM api_keys WHERE hash = ?", [hash]);
    return row === undefined ? null : apiKeyFromRow(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.read("SELECT * FROM api_keys ORDER BY id")).map(apiKeyFromRow);
  }

  async revokeApiKey(id: number, at: number): Promise<boolean> {
    const { changes } = await this.write(
      "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
      [at, id],
    );
    return changes > 0;
  }

  async touchApiKey(id: number, at: number): Promise<void> {
    await this.write("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [at, id]);
  }

  // sessions

  async createSession(session: SessionRecord): Promise<void> {
    await this.write(
      "INSERT INTO sessions (hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      [session.hash, session.userId, session.csrf, session.createdAt, session.expiresAt],
      "sessions",
      { userId: session.userId },
    );
  }

  async sessionByHash(hash: string): Promise<SessionRecord | null> {
    const row = await this.one("SELECT * FROM sessions WHERE hash = ?", [hash]);
    return row === undefined ? null : sessionFromRow(row);
  }

  async deleteSession(hash: string): Promise<void> {
    await this.write("DELETE FROM sessions WHERE hash = ?", [hash]);
  }

  async deleteUserSessions(userId: number): Promise<void> {
    await this.write("DELETE FROM sessions WHERE user_id = ?", [userId]);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return (await this.write("DELETE FROM sessions WHERE expires_at <= ?", [now])).changes;
  }

  // sign-in links

  async createLink(link: LinkRecord): Promise<void> {
    await this.write(
      `INSERT INTO links (hash, kind, role, created_by, email, expires_at, used_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [link.hash, link.kind, link.role, link.createdBy, link.email, link.expiresAt, link.usedAt],
      "links",
      { createdBy: link.createdBy },
    );
  }

  async consumeLink(hash: string, now: number): Promise<LinkRecord | null> {
    // Test and mark in one statement: of two concurrent uses, one gets the link.
    const { rows } = await this.write(
      `UPDATE links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?
       RETURNING *`,
      [now, hash, now],
    );
    return rows[0] === undefined ? null : linkFromRow(rows[0]);
  }

  // policy and settings

  async getPolicy(): Promise<PolicyRecord | null> {
    const row = await this.one("SELECT * FROM policy WHERE id = 1", []);
    return row === undefined ? null : policyFromRow(row);
  }

  async setPolicy(
    text: string,
    updatedBy: number | null,
    expectVersion?: number,
  ): Promise<PolicyRecord> {
    const at = this.now();
    const refs = { updatedBy };
    let rows: Row[];
    if (expectVersion === undefined) {
      ({ rows } = await this.write(
        `INSERT INTO policy (id, text, version, updated_by, updated_at) VALUES (1, ?, 1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET text = excluded.text, version = policy.version + 1,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at
         RETURNING *`,
        [text, updatedBy, at],
        "policy",
        refs,
      ));
    } else if (expectVersion === 0) {
      ({ rows } = await this.write(
        `INSERT INTO policy (id, text, version, updated_by, updated_at) VALUES (1, ?, 1, ?, ?)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [text, updatedBy, at],
        "policy",
        refs,
      ));
    } else {
      ({ rows } = await this.write(
        `UPDATE policy SET text = ?, version = version + 1, updated_by = ?, updated_at = ?
         WHERE id = 1 AND version = ? RETURNING *`,
        [text, updatedBy, at, expectVersion],
        "policy",
        refs,
      ));
    }
    if (rows[0] !== undefined) return policyFromRow(rows[0]);
    const current = (await this.getPolicy())?.version ?? 0;
    throw new StoreConflictError(
      "version",
      `the policy is at version ${current}, not ${expectVersion}: it changed since it was read`,
    );
  }

  async getSettings(): Promise<MeshSettings | null> {
    const row = await this.one("SELECT * FROM settings WHERE id = 1", []);
    return row === undefined ? null : settingsFromRow(row);
  }

  async initSettings(settings: MeshSettings): Promise<MeshSettings> {
    await this.write(
      `INSERT INTO settings (id, ipv6_prefix, domain, token_signing_key, hello_key)
       VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [settings.ipv6Prefix, settings.domain, settings.tokenSigningKey, settings.helloKey],
    );
    const stored = await this.getSettings();
    if (stored === null) throw new Error("store: settings missing right after they were written");
    return stored;
  }
}
