// The share routes (docs/control.md, "Sharing"). For the sharer (signed in or an API key, CSRF
// as every state-changing route): POST /api/v1/shares makes a share and answers its URL once,
// GET lists the caller's shares (every share for admins), DELETE revokes a share or one of its
// acceptances. For the recipient's page, open to anyone, rate-limited per source address and
// only from the server's own origins: POST /api/v1/shares/:id/offer {secret} says what the link
// offers, POST /api/v1/shares/:id/accept {secret, nodeKey, hostname?} makes the share node
// (with the session, when one is signed in, for the "signed-in" and "emails" audiences). The
// secret travels in those POST bodies only, never in a URL.

import type { Context, Hono, MiddlewareHandler } from "hono";
import { LOOPBACK_APPS_DOMAIN } from "../../web/app-origin.ts";
import { RateLimiter, type RateLimitOptions } from "../auth/rate-limit.ts";
import { lookupSession, readSessionCookie } from "../auth/sessions.ts";
import { ShareError, shareNotFound } from "../shares/errors.ts";
import { type ShareActor, ShareService } from "../shares/service.ts";
import { SHARE_DEFAULT_TTL_MS } from "../shares/validate.ts";
import { pathId, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { clientAddress, rateLimitKey, requireSameOrigin, sessionCookieSecure } from "./guard.ts";
import { shareAcceptBody, shareCreateBody, shareOfferBody } from "./shares-schemas.ts";

/** Default limit of the public share routes per address: a burst of 20, then one per 3 s. */
export const SHARE_RATE_LIMIT: RateLimitOptions = { burst: 20, perSecond: 1 / 3 };

/** A share id as the server makes them (16 bytes, base64url). */
const SHARE_ID = /^[A-Za-z0-9_-]{22}$/;

/** The path's share id; a malformed one is as unknown as any other. */
function shareId(c: Context<ApiEnv>): string {
  const id = c.req.param("id") ?? "";
  if (!SHARE_ID.test(id)) throw toApiError(shareNotFound());
  return id;
}

/** A ShareError as the API's JSON error (issues for share_invalid). */
function toApiError(error: ShareError): ApiError {
  return new ApiError(
    error.status,
    error.code,
    error.message,
    error.issues.length === 0 ? {} : { issues: error.issues },
  );
}

/** Runs `work`, answering a ShareError as the API's error. */
async function shareCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof ShareError ? toApiError(error) : error;
  }
}

function limitedBy(limiter: RateLimiter, ctx: ApiContext): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    // By the /64 for IPv6 sources: one host may hold them all.
    const decision = limiter.take(rateLimitKey(clientAddress(c)), ctx.now());
    if (!decision.ok) {
      throw new ApiError(
        429,
        "rate_limited",
        `too many share requests from this address: retry in ${decision.retryAfterSeconds} s`,
        { retryAfter: decision.retryAfterSeconds },
        { "Retry-After": String(decision.retryAfterSeconds) },
      );
    }
    await next();
  };
}

/** The service the routes use. */
export function shareService(ctx: ApiContext): ShareService {
  return new ShareService({
    store: ctx.store,
    meshChanges: ctx.meshChanges,
    baseUrl: ctx.baseUrl,
    now: ctx.now,
    online: (nodeId) => ctx.presence(nodeId).online,
    policy: () => ctx.policy.current(),
  });
}

/**
 * Registers the recipient's routes: open to anyone, so call it before the API's
 * authentication middleware.
 */
export function publicShareRoutes(
  app: Hono<ApiEnv>,
  ctx: ApiContext,
  service: ShareService,
  limits: RateLimitOptions | undefined = SHARE_RATE_LIMIT,
): void {
  const limited = limitedBy(new RateLimiter(limits ?? SHARE_RATE_LIMIT), ctx);

  app.post("/api/v1/shares/:id/offer", limited, async (c) => {
    requireSameOrigin(c, ctx);
    const id = shareId(c);
    const body = await readBody(c, shareOfferBody);
    return c.json({ offer: await shareCall(() => service.offer(id, body.secret)) });
  });

  app.post("/api/v1/shares/:id/accept", limited, async (c) => {
    // Origin: a page elsewhere must not accept a share with this browser's session.
    requireSameOrigin(c, ctx);
    const id = shareId(c);
    const body = await readBody(c, shareAcceptBody);
    const cookie = readSessionCookie(c.req.header("cookie"), sessionCookieSecure(c, ctx));
    const active = cookie === null ? null : await lookupSession(ctx.store, cookie, ctx.now());
    const actor: ShareActor = {
      user: active?.user ?? null,
      via: active === null ? "share" : "session",
      source: clientAddress(c),
    };
    const accepted = await shareCall(() =>
      service.accept({
        id,
        secret: body.secret,
        nodeKey: body.nodeKey,
        hostname: body.hostname ?? "",
        userAgent: c.req.header("user-agent") ?? "",
        actor,
      }),
    );
    return c.json(accepted, 201);
  });
}

/**
 * Registers the sharer's routes (after the authentication middleware). `origins`: the server's own
 * browser origins; a share made from a page at one of them gets its link there.
 */
export function shareRoutes(
  app: Hono<ApiEnv>,
  service: ShareService,
  origins: ReadonlySet<string> = new Set(),
): void {
  const actorOf = (c: Context<ApiEnv>): ShareActor => {
    const caller = c.get("caller");
    return { user: caller.user, via: caller.via, source: clientAddress(c) };
  };

  app.post("/api/v1/shares", async (c) => {
    const body = await readBody(c, shareCreateBody);
    const made = await shareCall(() =>
      service.create(
        {
          nodeId: body.nodeId,
          sshUsers: body.sshUsers ?? [],
          ports: body.ports ?? [],
          audience: body.audience ?? "anyone",
          emails: body.emails ?? [],
          expiryMs: body.expiry ?? SHARE_DEFAULT_TTL_MS,
          maxUses: body.maxUses === undefined ? 1 : body.maxUses,
          note: body.note ?? "",
        },
        actorOf(c),
      ),
    );
    // The link points where the sharer's page is, when that is one of this server's origins;
    // without one (an API key) on loopback, at corridor.localhost: the page lives there, and
    // only there do shared web services open (their origins are its subdomains).
    const origin = c.req.header("origin");
    const base =
      origin !== undefined && origins.has(origin)
        ? origin
        : [...origins].find((o) => new URL(o).hostname === LOOPBACK_APPS_DOMAIN);
    if (base !== undefined) {
      const link = new URL(made.url);
      made.url = new URL(`${link.pathname}${link.hash}`, `${base}/`).href;
    }
    return c.json(made, 201);
  });

  app.get("/api/v1/shares", async (c) => {
    return c.json({ shares: await shareCall(() => service.list(actorOf(c))) });
  });

  app.delete("/api/v1/shares/:id", async (c) => {
    const id = shareId(c);
    await shareCall(() => service.revoke(id, actorOf(c)));
    return c.body(null, 204);
  });

  app.delete("/api/v1/shares/:id/acceptances/:acceptanceId", async (c) => {
    const id = shareId(c);
    const acceptanceId = pathId(c, "acceptanceId");
    await shareCall(() => service.revokeAcceptance(id, acceptanceId, actorOf(c)));
    return c.body(null, 204);
  });
}
