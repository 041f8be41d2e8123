// GET /api/v1/whoami (who the caller is, and for a cookie session the CSRF token the page sends
// on state-changing calls) and POST /api/v1/logout (ends this session; the user's ephemeral
// browser nodes go at once).

import type { Hono } from "hono";
import { sessionClearCookie } from "../auth/sessions.ts";
import { audit } from "./audit.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { sessionCookieSecure } from "./guard.ts";
import { userView } from "./views.ts";

/** Registers whoami and logout (the caller is authenticated). */
export function sessionRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/whoami", (c) => {
    const caller = c.get("caller");
    c.header("Cache-Control", "no-store");
    if (caller.via === "session") {
      return c.json({
        user: userView(caller.user),
        via: "session",
        csrf: caller.session.csrf,
        expiresAt: caller.session.expiresAt,
      });
    }
    return c.json({ user: userView(caller.user), via: "apikey", expiresAt: caller.key.expiresAt });
  });

  app.post("/api/v1/logout", async (c) => {
    const caller = c.get("caller");
    if (caller.via !== "session") {
      throw new ApiError(
        400,
        "not_a_session",
        "sign-out ends a web session; revoke an API key instead",
      );
    }
    await ctx.store.transaction(async (tx) => {
      await tx.deleteSession(caller.session.hash);
      await audit(c, ctx, tx, { action: "logout" });
    });
    await ctx.meshChanges.userSignedOut(caller.user.id);
    c.header("Set-Cookie", sessionClearCookie(sessionCookieSecure(c, ctx)));
    return c.json({ signedOut: true });
  });
}
