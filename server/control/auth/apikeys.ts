// API keys for automation (`Authorization: Bearer capi_…`): random, shown once, stored as
// SHA-256, listed by prefix, with an expiry and revocable. `corridor admin apikey create
// --data DIR` bootstraps the first one straight into the store (createApiKeyLocal), before any
// web sign-in exists.

import type { ApiKeyRecord, Store, StoreTx, UserRecord } from "../store/types.ts";
import { hashSecret, issueSecret } from "./secrets.ts";

/** Prefix of every API key. */
export const API_KEY_PREFIX = "capi_";

/** Default and longest lifetime of an API key. */
export const API_KEY_DEFAULT_TTL_MS = 90 * 24 * 60 * 60 * 1000;
export const API_KEY_MAX_TTL_MS = 365 * 24 * 60 * 60 * 1000;

/** How precisely `lastUsedAt` follows the key's use. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** A key just made: `key` is the only copy of the secret. */
export interface IssuedApiKey {
  key: string;
  record: ApiKeyRecord;
}

/** Makes an API key for `userId` inside `tx`. */
export async function issueApiKey(
  tx: StoreTx,
  userId: number,
  expiresAt: number,
): Promise<IssuedApiKey> {
  const { secret, hash, prefix } = issueSecret(API_KEY_PREFIX);
  const record = await tx.createApiKey({ prefix, hash, userId, expiresAt });
  return { key: secret, record };
}

/**
 * Makes an API key for `userId` directly in the store (the local bootstrap: whoever can read
 * the data directory is the operator). Throws when the user does not exist.
 */
export async function createApiKeyLocal(
  store: Store,
  userId: number,
  options: { ttlMs?: number; now?: number } = {},
): Promise<IssuedApiKey> {
  const now = options.now ?? Date.now();
  const ttl = Math.min(options.ttlMs ?? API_KEY_DEFAULT_TTL_MS, API_KEY_MAX_TTL_MS);
  return store.transaction(async (tx) => {
    if ((await tx.userById(userId)) === null) throw new Error(`no user with id ${userId}`);
    return issueApiKey(tx, userId, now + ttl);
  });
}

/** Why a bearer key was refused, or the user it signs in. */
export type ApiKeyCheck =
  | { ok: true; user: UserRecord; key: ApiKeyRecord }
  | { ok: false; code: "invalid_api_key" | "api_key_revoked" | "api_key_expired" };

/** Checks a bearer API key and records its use. */
export async function checkApiKey(store: Store, key: string, now: number): Promise<ApiKeyCheck> {
  if (!key.startsWith(API_KEY_PREFIX) || key.length > 128)
    return { ok: false, code: "invalid_api_key" };
  const record = await store.apiKeyByHash(hashSecret(key));
  if (record === null) return { ok: false, code: "invalid_api_key" };
  if (record.revokedAt !== null) return { ok: false, code: "api_key_revoked" };
  if (record.expiresAt <= now) return { ok: false, code: "api_key_expired" };
  const user = await store.userById(record.userId);
  if (user === null) return { ok: false, code: "invalid_api_key" };
  // Last use is kept to the minute: a script calling in a loop costs no write per call.
  if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
    await store.touchApiKey(record.id, now);
  }
  return { ok: true, user, key: record };
}
