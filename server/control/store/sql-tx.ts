// Every StoreTx operation, written once in the SQL both dialects share (`?` placeholders,
// RETURNING, ON CONFLICT): sqlite.ts and postgres.ts only supply a SqlRunner and the
// transactions. One implementation is what keeps the two adapters behaving identically.
// Users and nodes are in sql-nodes.ts, the audit log in sql-audit.ts, shares in sql-shares.ts,
// the statement helpers in sql-base.ts.

import {
  apiKeyFromRow,
  authKeyFromRow,
  linkFromRow,
  policyFromRow,
  type Row,
  sessionFromRow,
  settingsFromRow,
  stringsText,
} from "./rows.ts";
import { bit } from "./sql-base.ts";
import { SqlShares } from "./sql-shares.ts";
import {
  type ApiKeyRecord,
  type AuthKeyRecord,
  type LinkRecord,
  type MeshSettings,
  type PolicyRecord,
  type SessionRecord,
  StoreConflictError,
  type StoreTx,
} from "./types.ts";

export type { SqlRunner } from "./sql-base.ts";

/** SQLSTATE of an auth key refused at COMMIT (useAuthKeyAtCommit; postgres.ts maps it). */
export const AUTH_KEY_REFUSED = "CRK01";

/** What a refused useAuthKeyAtCommit throws. */
export function authKeyRefused(): StoreConflictError {
  return new StoreConflictError(
    "authKey",
    "the auth key cannot be used: revoked, or a one-off key used already",
  );
}

/** StoreTx over a SqlRunner. */
export class SqlStoreTx extends SqlShares implements StoreTx {
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
    // one-off key cannot both see it unused (PostgreSQL re-checks the row after the lock). No
    // savepoint: it breaks no constraint (two round trips fewer while the row is locked).
    const { changes } = await this.db.write(
      `UPDATE auth_keys SET used_count = used_count + 1
       WHERE id = ? AND revoked_at IS NULL AND (reusable = 1 OR used_count = 0)`,
      [id],
      { unguarded: true },
    );
    return changes > 0;
  }

  async useAuthKeyAtCommit(id: number): Promise<void> {
    if (this.db.atCommit === undefined) {
      if (!(await this.useAuthKey(id))) throw authKeyRefused();
      return;
    }
    if (!Number.isSafeInteger(id)) throw new TypeError(`auth key id ${id}: not an integer`);
    // Inlined (an integer, checked): statements sent with COMMIT take no parameters. The same
    // condition as useAuthKey's; no row changed raises AUTH_KEY_REFUSED, which fails the commit.
    this.db.atCommit(
      `DO $$ BEGIN
         UPDATE auth_keys SET used_count = used_count + 1
         WHERE id = ${id} AND revoked_at IS NULL AND (reusable = 1 OR used_count = 0);
         IF NOT FOUND THEN
           RAISE EXCEPTION 'auth key refused at its use' USING ERRCODE = '${AUTH_KEY_REFUSED}';
         END IF;
       END $$`,
    );
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

  // map checkpoint

  async putMapCheckpoint(body: string): Promise<void> {
    await this.write(
      `INSERT INTO map_checkpoint (id, body, written_at) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET body = excluded.body, written_at = excluded.written_at`,
      [body, this.now()],
    );
  }

  async takeMapCheckpoint(): Promise<string | null> {
    const row = await this.one("SELECT body FROM map_checkpoint WHERE id = 1", []);
    if (row === undefined) return null;
    await this.write("DELETE FROM map_checkpoint WHERE id = 1", []);
    return typeof row.body === "string" ? row.body : null;
  }
}
