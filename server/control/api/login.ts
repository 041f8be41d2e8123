// The sign-in routes, open to anyone and rate-limited per address: consuming an owner link or
// an invitation (the page posts the token from the link's fragment), and the OIDC round trip
// (/login/oidc sends the browser to the provider, /login/oidc/callback comes back, checks it and
// starts a session). OIDC users are members; the owner promotes them (PATCH /api/v1/users/:id).
// /login/check is the fresh sign-in SSH `check` rules ask for: with OIDC a round trip with
// prompt=login and max_age=0 whose auth_time must be new, without OIDC a page that says which
// link signs the person in again. Every sign-in moves the user's signedInAt (in the maps).

import type { Context, Hono } from "hono";
import { consumeLinkToken, LinkRefusedError } from "../auth/links.ts";
import { OidcError, refusalReason } from "../auth/oidc.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import {
  lookupSession,
  readSessionCookie,
  sessionSetCookie,
  startSession,
} from "../auth/sessions.ts";
import { audit } from "./audit.ts";
import { readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { rateLimited, requireSameOrigin, sessionCookieSecure } from "./guard.ts";
import { messagePage } from "./pages.ts";
import { loginLinkBody } from "./schemas.ts";
import { userView } from "./views.ts";

/** GET /login/check's answer on a server without an identity provider. */
export const CHECK_WITHOUT_OIDC =
  "This server has no identity provider: your sign-in is the owner link or an invitation, and a fresh one signs you in again. " +
  "The owner gets a new owner link with `corridor admin owner-link --data DIR` on the server; " +
  "an invited user asks an admin for a new invitation (note: an invitation makes a new user, so rules naming your old user do not count it). " +
  "Open the link, then go back to your terminal and retry.";

/** Cookie binding an OIDC attempt to the browser that started it (holds the state). */
const STATE_COOKIE = "corridor_oidc_state";

/** A local path to return to after sign-in, or "/" (never another site: "//x", "/\\x"). */
export function safeReturnPath(value: string | undefined): string {
  if (value === undefined || value.length > 512) return "/";
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(value) && !value.includes("\\") ? value : "/";
}

function stateCookie(c: Context<ApiEnv>): string | null {
  const raw = c.req.header("cookie") ?? "";
  const m = new RegExp(`(?:^|;\\s*)${STATE_COOKIE}=([A-Za-z0-9_-]{1,128})(?:;|$)`).exec(raw);
  return m === null ? null : m[1]!;
}

/** Registers the sign-in routes (before the API's authentication middleware). */
export function loginRoutes(app: Hono<ApiEnv>, ctx: ApiContext, limiter: RateLimiter): void {
  const limited = rateLimited(limiter, ctx);
  const secure = ctx.secure ? "; Secure" : "";

  // `signedIn` lets the page ask "who am I" only when a session exists: a signed-out visit
  // then costs no 401 (which browsers log as an error in the console).
  app.get("/api/v1/login/methods", async (c) => {
    const cookie = readSessionCookie(c.req.header("cookie"), sessionCookieSecure(c, ctx));
    const active = cookie === null ? null : await lookupSession(ctx.store, cookie, ctx.now());
    c.header("Cache-Control", "no-store");
    return c.json({
      link: true,
      oidc: ctx.oidc === null ? null : { issuer: ctx.oidc.issuer },
      signedIn: active !== null,
      // Only when there is one: older pages and tests read exactly the three fields above.
      ...(ctx.appsDomain === null ? {} : { appsDomain: ctx.appsDomain }),
    });
  });

  app.post("/api/v1/login/link", limited, async (c) => {
    // A cross-site page must not sign a visitor in as someone else (login CSRF).
    requireSameOrigin(c, ctx);
    const body = await readBody(c, loginLinkBody);
    const now = ctx.now();
    let signedIn: Awaited<ReturnType<typeof consumeLinkToken>>;
    let started: Awaited<ReturnType<typeof startSession>>;
    try {
      [signedIn, started] = await ctx.store.transaction(async (tx) => {
        const who = await consumeLinkToken(tx, body.token, body.name ?? "", now);
        const session = await startSession(tx, who.user.id, now);
        await audit(
          c,
          ctx,
          tx,
          { action: "login", detail: `${who.kind} link` },
          { user: who.user, via: "link" },
        );
        return [who, session] as const;
      });
    } catch (e) {
      if (e instanceof LinkRefusedError) throw new ApiError(403, "link_refused", e.message);
      throw e;
    }
    // Every sign-in changes the user's signedInAt, which the maps carry (SSH check rules).
    await ctx.meshChanges.userChanged(signedIn.user.id);
    c.header(
      "Set-Cookie",
      sessionSetCookie(started.cookieValue, sessionCookieSecure(c, ctx), started.expiresAt, now),
    );
    c.header("Cache-Control", "no-store");
    return c.json({
      user: userView({ ...signedIn.user, lastLoginAt: now }),
      kind: signedIn.kind,
      csrf: started.csrf,
      expiresAt: started.expiresAt,
    });
  });

  /** Sends the browser to the provider, bound to it by the state cookie. */
  const toProvider = async (
    c: Context<ApiEnv>,
    oidc: NonNullable<ApiContext["oidc"]>,
    returnTo: string,
    fresh: boolean,
  ) => {
    const { url, state } = await oidc.start(returnTo, ctx.now(), { fresh });
    c.header(
      "Set-Cookie",
      `${STATE_COOKIE}=${state}; Path=/login/oidc; Max-Age=600; HttpOnly; SameSite=Lax${secure}`,
    );
    c.header("Cache-Control", "no-store");
    return c.redirect(url.href, 302);
  };

  app.get("/login/oidc", limited, async (c) => {
    if (ctx.oidc === null) {
      return messagePage(c, 404, "Sign-in", "This server has no identity provider configured.");
    }
    return toProvider(c, ctx.oidc, safeReturnPath(c.req.query("return")), false);
  });

  // Where an SSH `check` rule sends a person: a sign-in that must be new (not an old session
  // at the provider), which moves the user's signedInAt; the agent hears of it in a delta.
  // `?return=PATH` (the page's session route) brings the browser back there afterwards.
  app.get("/login/check", limited, async (c) => {
    if (ctx.oidc === null) return messagePage(c, 200, "Sign in again", CHECK_WITHOUT_OIDC);
    return toProvider(c, ctx.oidc, safeReturnPath(c.req.query("return")), true);
  });

  app.get("/login/oidc/callback", limited, async (c) => {
    const oidc = ctx.oidc;
    if (oidc === null) {
      return messagePage(c, 404, "Sign-in", "This server has no identity provider configured.");
    }
    const now = ctx.now();
    const url = new URL(c.req.url);
    c.header(
      "Set-Cookie",
      `${STATE_COOKIE}=; Path=/login/oidc; Max-Age=0; HttpOnly; SameSite=Lax${secure}`,
    );
    let result: Awaited<ReturnType<typeof oidc.finish>>;
    try {
      result = await oidc.finish(url.searchParams, stateCookie(c), now);
    } catch (e) {
      if (e instanceof OidcError) return messagePage(c, 400, "Sign-in failed", e.message, e.code);
      throw e;
    }
    const { identity, returnTo, fresh } = result;
    const refused = refusalReason(
      identity,
      oidc.options.allowedDomains ?? [],
      oidc.options.allowedEmails ?? [],
    );
    if (refused !== null) return messagePage(c, 403, "Sign-in refused", refused, "not_allowed");
    const { userId, started } = await ctx.store.transaction(async (tx) => {
      const found = await tx.userByIdentity(identity.issuer, identity.subject);
      const user =
        found ??
        (await tx.createUser({
          issuer: identity.issuer,
          subject: identity.subject,
          email: identity.email,
          name: identity.name,
          role: "member",
          lastLoginAt: null,
        }));
      const differs =
        found !== null && (found.email !== identity.email || found.name !== identity.name);
      if (differs) await tx.updateUser(user.id, { email: identity.email, name: identity.name });
      const session = await startSession(tx, user.id, now);
      await audit(
        c,
        ctx,
        tx,
        { action: "login", detail: fresh ? "fresh sign-in (ssh check)" : "identity provider" },
        { user: { ...user, email: identity.email, name: identity.name }, via: "oidc" },
      );
      return { userId: user.id, started: session };
    });
    // Every sign-in changes the user's signedInAt, which the maps carry (SSH check rules).
    await ctx.meshChanges.userChanged(userId);
    c.header(
      "Set-Cookie",
      sessionSetCookie(started.cookieValue, sessionCookieSecure(c, ctx), started.expiresAt, now),
      {
        append: true,
      },
    );
    c.header("Cache-Control", "no-store");
    if (fresh && returnTo === "/") {
      return messagePage(
        c,
        200,
        "Signed in again",
        `Signed in again as ${identity.name}: go back to your terminal and retry.`,
      );
    }
    return c.redirect(returnTo, 302);
  });
}
