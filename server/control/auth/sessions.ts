// Web sessions: a random cookie value (stored as its SHA-256), HttpOnly, SameSite=Lax, Path=/,
// and on https the `__Host-` prefix with Secure (the browser then refuses the cookie from any
// subdomain or plain-http origin: private-app origins, DESIGN §9.4, can never plant one).
// Absolute lifetime of 7 days, no sliding renewal: a stolen cookie dies on schedule. Each
// session has its own CSRF token that the page sends in `X-Corridor-CSRF` on state-changing
// calls (api/auth.ts checks it, together with the Origin).

import type { IncomingMessage } from "node:http";
import { parse as parseCookies } from "hono/utils/cookie";
import { hostOfHeader } from "../../relay/origins.ts";
import type { SessionRecord, Store, StoreTx, UserRecord } from "../store/types.ts";
import { hashSecret, randomToken } from "./secrets.ts";

/** How long a session lives from sign-in, whatever the use (absolute expiry). */
export const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Header carrying the session's CSRF token on state-changing calls. */
export const CSRF_HEADER = "X-Corridor-CSRF";

/** Name of the session cookie: `__Host-` prefixed when served over https. */
export function sessionCookieName(secure: boolean): string {
  return secure ? "__Host-corridor_session" : "corridor_session";
}

/**
 * The page's own name on loopback (DESIGN §9.4): its sibling app origins
 * (`<label>.corridor.localhost`) run private apps' code and may set cookies for
 * `Domain=corridor.localhost`, which the page's requests would then carry.
 */
export const LOOPBACK_PAGE_HOST = "corridor.localhost";

/**
 * Whether the session cookie of a request with this Host header is `__Host-` with Secure: on a
 * server served over https, and for the loopback page name at any port over plain http. There
 * a private app on a sibling origin could plant a plain-named cookie (session fixation); it can
 * never plant a `__Host-` one. Chromium 156 (and Firefox) take `__Host-` cookies from
 * `http://*.localhost`, a secure context. Elsewhere on plain http (127.0.0.1) no sibling origin
 * exists and a browser would refuse a Secure cookie from a non-secure origin, so the plain name.
 */
export function secureCookieFor(https: boolean, hostHeader: string | undefined): boolean {
  return https || hostOfHeader(hostHeader) === LOOPBACK_PAGE_HOST;
}

/** A session just started: the cookie value (never stored) and its CSRF token. */
export interface StartedSession {
  cookieValue: string;
  csrf: string;
  expiresAt: number;
}

/** Starts a session for `userId` inside `tx` and records the sign-in time. */
export async function startSession(
  tx: StoreTx,
  userId: number,
  now: number,
): Promise<StartedSession> {
  const cookieValue = randomToken(32);
  const session: SessionRecord = {
    hash: hashSecret(cookieValue),
    userId,
    csrf: randomToken(24),
    createdAt: now,
    expiresAt: now + SESSION_TTL_MS,
  };
  await tx.createSession(session);
  await tx.updateUser(userId, { lastLoginAt: now });
  return { cookieValue, csrf: session.csrf, expiresAt: session.expiresAt };
}

/** The Set-Cookie value that installs a session cookie. */
export function sessionSetCookie(
  value: string,
  secure: boolean,
  expiresAt: number,
  now: number,
): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - now) / 1000));
  return `${sessionCookieName(secure)}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** The Set-Cookie value that removes the session cookie (sign-out). */
export function sessionClearCookie(secure: boolean): string {
  return `${sessionCookieName(secure)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** The session cookie's value from a Cookie header, or null. */
export function readSessionCookie(
  cookieHeader: string | undefined,
  secure: boolean,
): string | null {
  if (cookieHeader === undefined || cookieHeader === "" || cookieHeader.length > 16_384)
    return null;
  const name = sessionCookieName(secure);
  const value = parseCookies(cookieHeader, name)[name];
  // Our values are 43 base64url characters; anything else was never issued by us.
  return value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null;
}

/** A live session and its user. */
export interface ActiveSession {
  session: SessionRecord;
  user: UserRecord;
}

/** Looks up the session behind a cookie value: null when unknown or expired (then deleted). */
export async function lookupSession(
  store: Store,
  cookieValue: string,
  now: number,
): Promise<ActiveSession | null> {
  const hash = hashSecret(cookieValue);
  const session = await store.sessionByHash(hash);
  if (session === null) return null;
  if (session.expiresAt <= now) {
    await store.deleteSession(hash);
    return null;
  }
  const user = await store.userById(session.userId);
  return user === null ? null : { session, user };
}

/** Options of createSessionUser. */
export interface SessionUserOptions {
  /** The server is served over https (the cookie then carries the `__Host-` prefix; so it
   * does for a Host of corridor.localhost: secureCookieFor). */
  secure: boolean;
  /** Clock (unix ms); Date.now by default. */
  now?: () => number;
}

/**
 * The user signed in through the session cookie of a raw Node request (the map stream's
 * WebSocket upgrade), or null. The caller still checks the upgrade's Origin.
 */
export type SessionUser = (req: IncomingMessage) => Promise<UserRecord | null>;

/** Makes the `sessionUser(req)` function the map stream uses on WebSocket upgrades. */
export function createSessionUser(store: Store, options: SessionUserOptions): SessionUser {
  const now = options.now ?? Date.now;
  return async (req) => {
    const secure = secureCookieFor(options.secure, req.headers.host);
    const value = readSessionCookie(req.headers.cookie, secure);
    if (value === null) return null;
    return (await lookupSession(store, value, now()))?.user ?? null;
  };
}
