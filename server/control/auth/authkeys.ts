// Auth keys: how an agent registers without a person at hand (`corridor agent --auth-key`).
// One-off or reusable, ephemeral or not, tagged or not, with an expiry; revocable; stored as
// SHA-256 with a prefix to show in lists. The map stream (stream.ts) checks a presented key with
// checkAuthKey and counts the use in the registration's transaction.

import type { AuthKeyRecord, StoreTx } from "../store/types.ts";
import { hashSecret, issueSecret } from "./secrets.ts";

/** Prefix of every auth key. */
export const AUTH_KEY_PREFIX = "cak_";

/** Default and longest lifetime of an auth key. */
export const AUTH_KEY_DEFAULT_TTL_MS = 90 * 24 * 60 * 60 * 1000;
export const AUTH_KEY_MAX_TTL_MS = 365 * 24 * 60 * 60 * 1000;

/** What a new auth key allows. */
export interface AuthKeySpec {
  userId: number;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  expiresAt: number;
}

/** A key just made: `key` is the only copy of the secret. */
export interface IssuedAuthKey {
  key: string;
  record: AuthKeyRecord;
}

/** Makes an auth key inside `tx` (tags already checked against the policy by the caller). */
export async function issueAuthKey(tx: StoreTx, spec: AuthKeySpec): Promise<IssuedAuthKey> {
  const { secret, hash, prefix } = issueSecret(AUTH_KEY_PREFIX);
  const record = await tx.createAuthKey({ ...spec, prefix, hash });
  return { key: secret, record };
}

/** Why an auth key cannot register a node (the map stream's `refused` code), or the key. */
export type AuthKeyCheck =
  | { ok: true; key: AuthKeyRecord }
  | {
      ok: false;
      code: "authkey_invalid" | "authkey_revoked" | "authkey_expired" | "authkey_used";
      message: string;
    };

/** Checks a presented auth key (does not count the use: call tx.useAuthKey when registering). */
export async function checkAuthKey(
  tx: Pick<StoreTx, "authKeyByHash">,
  key: string,
  now: number,
): Promise<AuthKeyCheck> {
  const record =
    key.startsWith(AUTH_KEY_PREFIX) && key.length <= 128
      ? await tx.authKeyByHash(hashSecret(key))
      : null;
  if (record === null) return { ok: false, code: "authkey_invalid", message: "unknown auth key" };
  if (record.revokedAt !== null) {
    return {
      ok: false,
      code: "authkey_revoked",
      message: `auth key ${record.prefix}… was revoked`,
    };
  }
  if (record.expiresAt <= now) {
    return {
      ok: false,
      code: "authkey_expired",
      message: `auth key ${record.prefix}… has expired`,
    };
  }
  if (!record.reusable && record.usedCount > 0) {
    return {
      ok: false,
      code: "authkey_used",
      message: `auth key ${record.prefix}… was for one use and is used`,
    };
  }
  return { ok: true, key: record };
}
