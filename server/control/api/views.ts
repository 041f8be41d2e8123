// Builds the JSON shapes the API returns for stored records: never a hash, never a secret. The
// shapes themselves live in worker/control/api-views.ts, where the page reads them too.

import type {
  ApiKeyView,
  AuthKeyView,
  NodeView,
  UserView,
} from "../../../worker/control/api-views.ts";
import type { ApiKeyRecord, AuthKeyRecord, NodeRecord, UserRecord } from "../store/types.ts";

/** A stored user as the API shows it. */
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

/** A stored node as the API shows it (the list adds online and a fresher lastSeen). */
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

/** A stored auth key without its hash. */
export function authKeyView(k: AuthKeyRecord): AuthKeyView {
  const { hash: _hash, ...view } = k;
  return view;
}

/** A stored API key without its hash. */
export function apiKeyView(k: ApiKeyRecord): ApiKeyView {
  const { hash: _hash, ...view } = k;
  return view;
}
