// Who is calling, and whether they may: the session cookie or a Bearer API key; for cookie
// sessions, state-changing methods need the server's own Origin AND the session's CSRF token in
// `X-Corridor-CSRF` (SameSite=Lax alone still lets same-site pages, such as a private app on a
// sibling origin, post with the cookie). API keys need neither: no browser attaches them.

import type { Context, MiddlewareHandler } from "hono";
import { parseIp } from "../../../worker/wireguard/ip-address.ts";
import { checkApiKey } from "../auth/apikeys.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import { safeEqual } from "../auth/secrets.ts";
import {
  CSRF_HEADER,
  lookupSession,
  readSessionCookie,
  secureCookieFor,
} from "../auth/sessions.ts";
import type { UserRecord } from "../store/types.ts";
import type { ApiContext, ApiEnv, Caller } from "./deps.ts";
import { ApiError, forbidden } from "./errors.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The request's Origin must be one of the server's own (refuses a missing one too). */
export function requireSameOrigin(c: Context<ApiEnv>, ctx: ApiContext): void {
  const origin = c.req.header("origin");
  if (origin === undefined || !ctx.origins.has(origin)) {
    throw new ApiError(
      403,
      "origin_refused",
      origin === undefined
        ? `cross-site request refused: no Origin header (expected ${ctx.origin})`
        : `cross-site request refused: Origin ${origin.slice(0, 200)} is not ${ctx.origin}`,
    );
  }
}

async function authenticate(c: Context<ApiEnv>, ctx: ApiContext): Promise<Caller> {
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) {
    const m = /^Bearer ([\x21-\x7e]{1,256})$/.exec(authorization);
    if (m === null) {
      throw new ApiError(401, "invalid_api_key", "Authorization must be: Bearer <API key>");
    }
    const check = await checkApiKey(ctx.store, m[1]!, ctx.now());
    if (!check.ok) {
      const why = {
        invalid_api_key: "unknown API key",
        api_key_revoked: "this API key was revoked",
        api_key_expired: "this API key has expired",
      }[check.code];
      throw new ApiError(401, check.code, why);
    }
    return { via: "apikey", user: check.user, key: check.key };
  }
  const cookie = readSessionCookie(c.req.header("cookie"), sessionCookieSecure(c, ctx));
  const active = cookie === null ? null : await lookupSession(ctx.store, cookie, ctx.now());
  if (active === null) {
    throw new ApiError(401, "unauthenticated", "sign in, or send Authorization: Bearer <API key>");
  }
  if (!SAFE_METHODS.has(c.req.method)) {
    requireSameOrigin(c, ctx);
    const token = c.req.header(CSRF_HEADER) ?? "";
    if (!safeEqual(token, active.session.csrf)) {
      throw new ApiError(
        403,
        "csrf_token_invalid",
        `missing or wrong ${CSRF_HEADER} header (GET /api/v1/whoami gives it)`,
      );
    }
  }
  return { via: "session", user: active.user, session: active.session };
}

/** Whether this request's session cookie is the `__Host-` one (auth/sessions.ts secureCookieFor). */
export function sessionCookieSecure(c: Context<ApiEnv>, ctx: ApiContext): boolean {
  return secureCookieFor(ctx.secure, c.req.header("host"));
}

/** Middleware: authenticates the caller (401/403 otherwise) and stores it as `caller`. */
export function authenticated(ctx: ApiContext): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    c.set("caller", await authenticate(c, ctx));
    await next();
  };
}

/** Admins and the owner. */
export function isAdmin(user: UserRecord): boolean {
  return user.role === "admin" || user.role === "owner";
}

/** Refuses unless the caller is an admin (or the owner). */
export function requireAdmin(user: UserRecord): void {
  if (!isAdmin(user)) throw forbidden("this needs the admin role");
}

/** Refuses unless the caller is the owner. */
export function requireOwner(user: UserRecord): void {
  if (user.role !== "owner") throw forbidden("this needs the owner role");
}

/** The address the request came from (the TCP peer: no proxy headers are trusted). */
export function clientAddress(c: Context<ApiEnv>): string {
  return c.env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/**
 * The rate-limit bucket of a source address: an IPv4 address itself (also when written
 * IPv4-mapped, "::ffff:192.0.2.7"), an IPv6 address by its /64 ("2001:db8:1:2::/64"): one
 * host commonly holds a whole /64, and a bucket per address would let it mint new ones at will.
 * Anything that does not parse is its own bucket.
 */
export function rateLimitKey(address: string): string {
  let bytes: Uint8Array;
  try {
    bytes = parseIp(address.replace(/%.*$/, ""));
  } catch {
    return address;
  }
  if (bytes.length === 4) return bytes.join(".");
  const mapped =
    bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return [...bytes.subarray(12)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${groups.join(":")}::/64`;
}

/** Middleware: one token from `limiter` per request, by source address; 429 when out. */
export function rateLimited(limiter: RateLimiter, ctx: ApiContext): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const decision = limiter.take(clientAddress(c), ctx.now());
    if (!decision.ok) {
      throw new ApiError(
        429,
        "rate_limited",
        `too many sign-in attempts from this address: retry in ${decision.retryAfterSeconds} s`,
        { retryAfter: decision.retryAfterSeconds },
        { "Retry-After": String(decision.retryAfterSeconds) },
      );
    }
    await next();
  };
}
