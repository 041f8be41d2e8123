// Secrets the control server hands out (session cookies, API keys, auth keys, sign-in links) and
// how it keeps them: only the SHA-256 of a secret is stored, so a copy of the database signs no
// one in. Secrets are 32 random bytes (base64url): far beyond guessing, so a fast hash is right
// here (a slow password hash protects low-entropy secrets, which we never have).

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** SHA-256 of a secret as lowercase hex: the form every secret is stored and looked up in. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** `bytes` random bytes as base64url (no padding): URL- and header-safe. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/** A new prefixed secret ("capi_…", "cak_…"), its hash, and the short prefix shown in lists. */
export interface IssuedSecret {
  /** The whole secret: shown once, never stored. */
  secret: string;
  /** SHA-256 (hex) of `secret`. */
  hash: string;
  /** The kind prefix and the first 8 characters after it, for lists ("cak_3f9aQ1x-"). */
  prefix: string;
}

/** Makes a prefixed random secret. */
export function issueSecret(kind: string): IssuedSecret {
  const body = randomToken(32);
  const secret = `${kind}${body}`;
  return { secret, hash: hashSecret(secret), prefix: `${kind}${body.slice(0, 8)}` };
}

/** Constant-time equality of two strings (CSRF tokens, cookie-bound OIDC state). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}
