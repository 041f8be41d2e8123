// Database rows (snake_case columns, as both drivers return them) to the records of types.ts.
// Both drivers are accommodated in one place: PostgreSQL may hand BIGINT as a string, SQLite
// gives integers as numbers; booleans are 0/1 in both (schema.ts). A row that does not fit its
// record (a database edited by hand) throws naming the column instead of leaking a wrong type.

import type {
  ApiKeyRecord,
  AuditRecord,
  AuthKeyRecord,
  LinkRecord,
  MeshSettings,
  NodeRecord,
  PolicyRecord,
  SessionRecord,
  ShareAcceptanceRecord,
  ShareRecord,
  UserRecord,
} from "./types.ts";

/** A row as a driver returns it. */
export type Row = Record<string, unknown>;

function corrupt(column: string, value: unknown): Error {
  return new Error(`store: column ${column} holds ${JSON.stringify(value)}, not what it should`);
}

function num(row: Row, column: string): number {
  const value = row[column];
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n === "number" && Number.isSafeInteger(n)) return n;
  if (typeof n === "bigint" && n <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(n);
  throw corrupt(column, typeof value === "bigint" ? String(value) : value);
}

function optNum(row: Row, column: string): number | null {
  return row[column] === null || row[column] === undefined ? null : num(row, column);
}

function str(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw corrupt(column, value);
  return value;
}

function bool(row: Row, column: string): boolean {
  const n = num(row, column);
  if (n !== 0 && n !== 1) throw corrupt(column, n);
  return n === 1;
}

function oneOf<T extends string>(row: Row, column: string, allowed: readonly T[]): T {
  const value = str(row, column);
  if (!(allowed as readonly string[]).includes(value)) throw corrupt(column, value);
  return value as T;
}

/** A JSON text column holding an array of strings (tags, SSH host keys). */
function strings(row: Row, column: string): string[] {
  const text = str(row, column);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt(column, text);
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === "string")) {
    throw corrupt(column, text);
  }
  return parsed;
}

/** How string arrays are written: JSON text, "[]" when empty (nodes_owner_check relies on it). */
export function stringsText(values: readonly string[]): string {
  return JSON.stringify([...values]);
}

export function userFromRow(row: Row): UserRecord {
  return {
    id: num(row, "id"),
    issuer: str(row, "issuer"),
    subject: str(row, "subject"),
    email: str(row, "email"),
    name: str(row, "name"),
    role: oneOf(row, "role", ["owner", "admin", "member"] as const),
    createdAt: num(row, "created_at"),
    lastLoginAt: optNum(row, "last_login_at"),
  };
}

export function nodeFromRow(row: Row): NodeRecord {
  return {
    id: num(row, "id"),
    nodeKey: str(row, "node_key"),
    userId: optNum(row, "user_id"),
    tags: strings(row, "tags"),
    name: str(row, "name"),
    hostname: str(row, "hostname"),
    os: str(row, "os"),
    ipv4: str(row, "ipv4"),
    ipv6: str(row, "ipv6"),
    ephemeral: bool(row, "ephemeral"),
    keyExpiry: optNum(row, "key_expiry"),
    sshHostKeys: strings(row, "ssh_host_keys"),
    // NULL (and a database from before the column) means any local user.
    sshUsers:
      row.ssh_users === null || row.ssh_users === undefined ? null : strings(row, "ssh_users"),
    createdAt: num(row, "created_at"),
    lastSeen: optNum(row, "last_seen"),
    authKeyId: optNum(row, "auth_key_id"),
    shareAcceptanceId: optNum(row, "share_acceptance_id"),
  };
}

/** A JSON text column holding an array of safe integers (a share's ports). */
function numbers(row: Row, column: string): number[] {
  const text = str(row, column);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt(column, text);
  }
  if (!Array.isArray(parsed) || !parsed.every((n) => Number.isSafeInteger(n))) {
    throw corrupt(column, text);
  }
  return parsed as number[];
}

/** How number arrays are written: JSON text. */
export function numbersText(values: readonly number[]): string {
  return JSON.stringify([...values]);
}

export function shareFromRow(row: Row): ShareRecord {
  return {
    id: str(row, "id"),
    secretHash: str(row, "secret_hash"),
    nodeId: num(row, "node_id"),
    createdBy: num(row, "created_by"),
    sshUsers: strings(row, "ssh_users"),
    ports: numbers(row, "ports"),
    audience: oneOf(row, "audience", ["anyone", "signed-in", "emails"] as const),
    emails: strings(row, "emails"),
    expiresAt: num(row, "expires_at"),
    maxUses: optNum(row, "max_uses"),
    uses: num(row, "uses"),
    note: str(row, "note"),
    createdAt: num(row, "created_at"),
    revokedAt: optNum(row, "revoked_at"),
  };
}

/** An acceptance row joined with its node's id as `node_id` (NULL once the node is gone). */
export function acceptanceFromRow(row: Row): ShareAcceptanceRecord {
  return {
    id: num(row, "id"),
    shareId: str(row, "share_id"),
    nodeId: optNum(row, "node_id"),
    userId: optNum(row, "user_id"),
    guestName: str(row, "guest_name"),
    userAgent: str(row, "user_agent"),
    acceptedAt: num(row, "accepted_at"),
    endedAt: optNum(row, "ended_at"),
    endReason:
      row.end_reason === null || row.end_reason === undefined
        ? null
        : oneOf(row, "end_reason", ["revoked", "expired", "left"] as const),
  };
}

export function authKeyFromRow(row: Row): AuthKeyRecord {
  return {
    id: num(row, "id"),
    prefix: str(row, "prefix"),
    hash: str(row, "hash"),
    userId: num(row, "user_id"),
    reusable: bool(row, "reusable"),
    ephemeral: bool(row, "ephemeral"),
    tags: strings(row, "tags"),
    expiresAt: num(row, "expires_at"),
    revokedAt: optNum(row, "revoked_at"),
    usedCount: num(row, "used_count"),
    createdAt: num(row, "created_at"),
  };
}

export function apiKeyFromRow(row: Row): ApiKeyRecord {
  return {
    id: num(row, "id"),
    prefix: str(row, "prefix"),
    hash: str(row, "hash"),
    userId: num(row, "user_id"),
    expiresAt: num(row, "expires_at"),
    revokedAt: optNum(row, "revoked_at"),
    createdAt: num(row, "created_at"),
    lastUsedAt: optNum(row, "last_used_at"),
  };
}

export function sessionFromRow(row: Row): SessionRecord {
  return {
    hash: str(row, "hash"),
    userId: num(row, "user_id"),
    csrf: str(row, "csrf"),
    createdAt: num(row, "created_at"),
    expiresAt: num(row, "expires_at"),
  };
}

export function linkFromRow(row: Row): LinkRecord {
  return {
    hash: str(row, "hash"),
    kind: oneOf(row, "kind", ["owner", "invite"] as const),
    role: oneOf(row, "role", ["admin", "member"] as const),
    createdBy: optNum(row, "created_by"),
    email: str(row, "email"),
    expiresAt: num(row, "expires_at"),
    usedAt: optNum(row, "used_at"),
  };
}

export function policyFromRow(row: Row): PolicyRecord {
  return {
    text: str(row, "text"),
    version: num(row, "version"),
    updatedBy: optNum(row, "updated_by"),
    updatedAt: num(row, "updated_at"),
  };
}

export function settingsFromRow(row: Row): MeshSettings {
  return {
    ipv6Prefix: str(row, "ipv6_prefix"),
    domain: str(row, "domain"),
    tokenSigningKey: str(row, "token_signing_key"),
    helloKey: str(row, "hello_key"),
  };
}

/** A number from an aggregate (MAX, COUNT): null when SQL said NULL. */
export function aggregate(row: Row | undefined, column: string): number | null {
  return row === undefined ? null : optNum(row, column);
}

export function auditFromRow(row: Row): AuditRecord {
  return {
    id: num(row, "id"),
    at: num(row, "at"),
    actorId: optNum(row, "actor_id"),
    actor: str(row, "actor"),
    via: str(row, "via"),
    action: str(row, "action"),
    target: str(row, "target"),
    detail: str(row, "detail"),
    source: str(row, "source"),
  };
}
