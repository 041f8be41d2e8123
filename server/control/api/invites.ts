// POST /api/v1/invites: a single-use sign-in link for a new person (BASE/login/invite#TOKEN),
// with a role and an expiry. Admins invite members; only the owner may invite admins.

import type { Hono } from "hono";
import { createInvite, INVITE_DEFAULT_TTL_MS, INVITE_MAX_TTL_MS } from "../auth/links.ts";
import { audit } from "./audit.ts";
import { readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { forbidden, invalidBody } from "./errors.ts";
import { requireAdmin } from "./guard.ts";
import { inviteCreateBody } from "./schemas.ts";

/** Registers the invitation route. */
export function inviteRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.post("/api/v1/invites", async (c) => {
    const user = c.get("caller").user;
    requireAdmin(user);
    const body = await readBody(c, inviteCreateBody);
    const role = body.role ?? "member";
    if (role === "admin" && user.role !== "owner")
      throw forbidden("only the owner may invite admins");
    const ttl = body.expiry ?? INVITE_DEFAULT_TTL_MS;
    if (ttl > INVITE_MAX_TTL_MS)
      throw invalidBody([{ path: "expiry", message: "at most 30 days" }]);
    const expiresAt = ctx.now() + ttl;
    const url = await ctx.store.transaction(async (tx) => {
      const made = await createInvite(tx, ctx.baseUrl, {
        role,
        email: body.email ?? "",
        createdBy: user.id,
        expiresAt,
      });
      // The link is a secret: the log says who may use it, never the link.
      await audit(c, ctx, tx, {
        action: "invite.create",
        target: body.email ?? "anyone holding the link",
        detail: `role ${role}, expires ${new Date(expiresAt).toISOString()}`,
      });
      return made;
    });
    return c.json({ url, role, email: body.email ?? "", expiresAt }, 201);
  });
}
