// Which record field a violated constraint stands for, for both dialects: PostgreSQL names the
// constraint (schema.ts names every one), SQLite names the columns of a unique constraint
// ("UNIQUE constraint failed: nodes.name") or the name of a CHECK. Both adapters turn a
// violation into the same StoreConflictError, so callers never see a driver's error.

import { StoreConflictError } from "./types.ts";

interface ConstraintInfo {
  /** PostgreSQL's constraint name. */
  constraint: string;
  /** SQLite's "table.column, table.column" text for unique constraints. */
  columns?: string;
  field: string;
  message: string;
}

const CONSTRAINTS: readonly ConstraintInfo[] = [
  {
    constraint: "users_identity_unique",
    columns: "users.issuer, users.subject",
    field: "identity",
    message: "a user with this issuer and subject exists",
  },
  {
    constraint: "nodes_node_key_unique",
    columns: "nodes.node_key",
    field: "nodeKey",
    message: "a node with this key exists",
  },
  {
    constraint: "nodes_name_unique",
    columns: "nodes.name",
    field: "name",
    message: "a node with this name exists",
  },
  {
    constraint: "nodes_ipv4_unique",
    columns: "nodes.ipv4",
    field: "ipv4",
    message: "a node with this IPv4 address exists",
  },
  {
    constraint: "nodes_ipv4_int_unique",
    columns: "nodes.ipv4_int",
    field: "ipv4",
    message: "a node with this IPv4 address exists",
  },
  {
    constraint: "nodes_ipv6_unique",
    columns: "nodes.ipv6",
    field: "ipv6",
    message: "a node with this IPv6 address exists",
  },
  {
    constraint: "nodes_owner_check",
    field: "tags",
    message: "a node belongs to a user or to tags: exactly one of userId and tags must be set",
  },
  {
    constraint: "auth_keys_hash_unique",
    columns: "auth_keys.hash",
    field: "hash",
    message: "an auth key with this hash exists",
  },
  {
    constraint: "api_keys_hash_unique",
    columns: "api_keys.hash",
    field: "hash",
    message: "an API key with this hash exists",
  },
  {
    constraint: "sessions_pkey",
    columns: "sessions.hash",
    field: "hash",
    message: "a session with this hash exists",
  },
  {
    constraint: "links_pkey",
    columns: "links.hash",
    field: "hash",
    message: "a link with this hash exists",
  },
  {
    constraint: "nodes_share_acceptance_unique",
    columns: "nodes.share_acceptance_id",
    field: "shareAcceptanceId",
    message: "a node for this share acceptance exists",
  },
  {
    constraint: "shares_pkey",
    columns: "shares.id",
    field: "id",
    message: "a share with this id exists",
  },
  { constraint: "shares_audience_check", field: "audience", message: "no such share audience" },
  { constraint: "shares_max_uses_check", field: "maxUses", message: "maxUses must be at least 1" },
  {
    constraint: "nodes_share_acceptance_fk",
    field: "shareAcceptanceId",
    message: "no such share acceptance",
  },
  { constraint: "shares_created_by_fk", field: "createdBy", message: "no such user" },
  { constraint: "share_acceptances_share_fk", field: "shareId", message: "no such share" },
  { constraint: "share_acceptances_user_fk", field: "userId", message: "no such user" },
  { constraint: "nodes_user_fk", field: "userId", message: "no such user" },
  { constraint: "nodes_auth_key_fk", field: "authKeyId", message: "no such auth key" },
  { constraint: "auth_keys_user_fk", field: "userId", message: "no such user" },
  { constraint: "api_keys_user_fk", field: "userId", message: "no such user" },
  { constraint: "sessions_user_fk", field: "userId", message: "no such user" },
  { constraint: "links_created_by_fk", field: "createdBy", message: "no such user" },
  { constraint: "policy_updated_by_fk", field: "updatedBy", message: "no such user" },
];

/** The conflict for a PostgreSQL constraint name, or null when it is not one of ours. */
export function conflictForConstraint(constraint: string): StoreConflictError | null {
  const info = CONSTRAINTS.find((c) => c.constraint === constraint);
  return info === undefined ? null : new StoreConflictError(info.field, info.message);
}

/** The conflict a violated unique field of ours stands for, as its constraint would say it. */
export function conflictForField(field: string): StoreConflictError {
  const info = CONSTRAINTS.find((c) => c.field === field);
  if (info === undefined) throw new RangeError(`no constraint stands for field ${field}`);
  return new StoreConflictError(info.field, info.message);
}

/**
 * The conflict for SQLite's message: "UNIQUE constraint failed: t.c, ..." or "CHECK constraint
 * failed: name". Null when the message names nothing we know.
 */
export function conflictForSqliteMessage(message: string): StoreConflictError | null {
  const unique = /^UNIQUE constraint failed: (.+)$/.exec(message);
  if (unique !== null) {
    const info = CONSTRAINTS.find((c) => c.columns === unique[1]);
    return info === undefined ? null : new StoreConflictError(info.field, info.message);
  }
  const check = /^CHECK constraint failed: (.+)$/.exec(message);
  if (check !== null) return conflictForConstraint(check[1]!);
  return null;
}

/**
 * SQLite does not say which foreign key failed; these are the candidates per table written,
 * checked one by one after the failure (sql-tx.ts) so the error names the field as PostgreSQL's.
 */
export const FOREIGN_KEYS: Record<
  string,
  readonly { field: string; table: string; message?: string }[]
> = {
  nodes: [
    { field: "userId", table: "users" },
    { field: "authKeyId", table: "auth_keys" },
    { field: "shareAcceptanceId", table: "share_acceptances", message: "no such share acceptance" },
  ],
  shares: [{ field: "createdBy", table: "users" }],
  share_acceptances: [
    { field: "shareId", table: "shares", message: "no such share" },
    { field: "userId", table: "users" },
  ],
  auth_keys: [{ field: "userId", table: "users" }],
  api_keys: [{ field: "userId", table: "users" }],
  sessions: [{ field: "userId", table: "users" }],
  links: [{ field: "createdBy", table: "users" }],
  policy: [{ field: "updatedBy", table: "users" }],
};

/** A foreign key violation whose field the adapter could not name itself (SQLite). */
export class UnnamedForeignKeyError extends Error {
  constructor() {
    super("FOREIGN KEY constraint failed");
    this.name = "UnnamedForeignKeyError";
  }
}
