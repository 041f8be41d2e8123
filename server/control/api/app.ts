// The control server's HTTP API on hono: JSON under /api/v1/, plus the sign-in and approval
// pages (/login..., /approve/...). createApi builds the app; createApiListener turns it into a
// node:http request listener so `corridor serve` mounts it inside its own server (isApiPath
// tells which requests to hand over). Every failure is JSON with a stable code (errors.ts);
// the database away (StoreUnavailableError) is a 503 `database_unavailable` with Retry-After;
// anything unexpected is a 500 `internal` with nothing of the cause shown.

import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import { RateLimiter } from "../auth/rate-limit.ts";
import { StoreUnavailableError } from "../store/types.ts";
import { apiKeyRoutes } from "./apikeys.ts";
import { approvalRoutes } from "./approvals.ts";
import { auditRoutes } from "./audit.ts";
import { authKeyRoutes } from "./authkeys.ts";
import type { ApiContext, ApiDeps, ApiEnv } from "./deps.ts";
import { ApiError, databaseUnavailable } from "./errors.ts";
import { authenticated, rateLimited } from "./guard.ts";
import { inviteRoutes } from "./invites.ts";
import { loginRoutes } from "./login.ts";
import { nodeRoutes } from "./nodes.ts";
import { pageRoutes } from "./pages.ts";
import { policyRoutes } from "./policy.ts";
import { sessionRoutes } from "./session.ts";
import { publicShareRoutes, shareRoutes, shareService } from "./shares.ts";
import { sshUserRoutes } from "./ssh-users.ts";
import { userRoutes } from "./users.ts";

/** The default limit of sign-in attempts per address: a burst of 10, then one per 6 s. */
export const LOGIN_RATE_LIMIT = { burst: 10, perSecond: 1 / 6 };

/** Paths this app answers; `corridor serve` hands these requests to the listener. */
export function isApiPath(pathname: string): boolean {
  return (
    pathname.startsWith("/api/v1/") ||
    pathname === "/login" ||
    pathname.startsWith("/login/") ||
    pathname.startsWith("/approve/")
  );
}

/** Builds the API (a hono app). */
export function createApi(deps: ApiDeps): Hono<ApiEnv> {
  const base = new URL(deps.baseUrl);
  const ctx: ApiContext = {
    store: deps.store,
    meshChanges: deps.meshChanges,
    approvals: deps.approvals,
    policy: deps.policy,
    origin: base.origin,
    origins: new Set([base.origin, ...(deps.browserOrigins ?? [])]),
    appsDomain: deps.appsDomain ?? null,
    baseUrl: base.href,
    secure: base.protocol === "https:",
    oidc: deps.oidc ?? null,
    now: deps.now ?? Date.now,
    presence: deps.presence ?? (() => ({ online: false, lastSeen: null })),
  };
  const onInternalError =
    deps.onInternalError ?? ((e: unknown) => console.error("control api:", e));
  const limiter = new RateLimiter(deps.loginRateLimit ?? LOGIN_RATE_LIMIT);
  const app = new Hono<ApiEnv>();

  app.onError((caught, c) => {
    // The database away is no bug of ours: the caller is told to come back (503, Retry-After).
    const err =
      caught instanceof StoreUnavailableError ? databaseUnavailable(caught.message) : caught;
    if (err instanceof ApiError) {
      for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
      return c.json(err.body(), err.status);
    }
    onInternalError(err);
    return c.json({ error: "internal", message: "internal error" }, 500);
  });
  app.notFound((c) =>
    c.json(
      { error: "not_found", message: `no route ${c.req.method} ${new URL(c.req.url).pathname}` },
      404,
    ),
  );

  // Answers about keys, sessions and users are nobody's to cache; nothing is to be sniffed.
  app.use("*", async (c, next) => {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    if (c.req.path.startsWith("/api/")) c.header("Cache-Control", "no-store");
  });

  // Open to anyone: pages, sign-in, and a share link's offer and accept.
  const shares = shareService(ctx);
  pageRoutes(app, ctx);
  loginRoutes(app, ctx, limiter);
  // Its own buckets, the same per-address limit as sign-in when one is set.
  publicShareRoutes(app, ctx, shares, deps.loginRateLimit);

  // Everything else needs a caller.
  app.use("/api/v1/*", authenticated(ctx));
  app.post("/api/v1/approvals/:id", rateLimited(limiter, ctx));
  sessionRoutes(app, ctx);
  userRoutes(app, ctx);
  nodeRoutes(app, ctx);
  authKeyRoutes(app, ctx);
  apiKeyRoutes(app, ctx);
  inviteRoutes(app, ctx);
  policyRoutes(app, ctx);
  approvalRoutes(app, ctx);
  auditRoutes(app, ctx);
  sshUserRoutes(app, ctx);
  shareRoutes(app, shares, ctx.origins);
  return app;
}

/** A node:http request listener serving `app`. */
export function createApiListener(
  app: Hono<ApiEnv>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return getRequestListener(app.fetch);
}
