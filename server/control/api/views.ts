// The JSON shapes the API returns for stored records: never a hash, never a secret.

import type { ApiKeyRecord, AuthKeyRecord, NodeRecord, UserRecord } from "../store/types.ts";

/** A user as the API shows it. */
export interface UserView {
  id: number;
  name: string;
  email: string;
  role: UserRecord["role"];
  issuer: string;
  createdAt: number;
  lastLoginAt: number | null;
}

export function userView(u: UserRecord): UserView {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    role: u.role,
    issuer: u.issuer,
    createdAt: u.createdAt,
    lastLoginAt: u.lastLoginAt,
  };
}

/** A node as the API shows it. */
export interface NodeView {
  id: number;
  key: string;
  name: string;
  hostname: string;
  os: string;
  addresses: string[];
  userId: number | null;
  tags: string[];
  ephemeral: boolean;
  keyExpiry: number | null;
  /** The local users the node's SSH server can be (its SSH rules are narrowed to them); null: any. */
  sshUsers: string[] | null;
  createdAt: number;
  lastSeen: number | null;
}

export function nodeView(n: NodeRecord): NodeView {
  return {
    id: n.id,
    key: n.nodeKey,
    name: n.name,
    hostname: n.hostname,
    os: n.os,
    addresses: [n.ipv4, n.ipv6],
    userId: n.userId,
    tags: n.tags,
    ephemeral: n.ephemeral,
    keyExpiry: n.keyExpiry,
    sshUsers: n.sshUsers,
    createdAt: n.createdAt,
    lastSeen: n.lastSeen,
  };
}

/** An auth key as lists show it: the prefix, never the key. */
export type AuthKeyView = Omit<AuthKeyRecord, "hash">;

export function authKeyView(k: AuthKeyRecord): AuthKeyView {
  const { hash: _hash, ...view } = k;
  return view;
}

/** An API key as lists show it: the prefix, never the key. */
export type ApiKeyView = Omit<ApiKeyRecord, "hash">;

export function apiKeyView(k: ApiKeyRecord): ApiKeyView {
  const { hash: _hash, ...view } = k;
  return view;
}
