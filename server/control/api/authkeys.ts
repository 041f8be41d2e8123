// /api/v1/authkeys: keys with which agents register. Create (the key is in this one answer and
// nowhere else), list (prefixes only), revoke. Tags must be allowed to the caller by the policy
// in force (tagOwners; admins may use every tag). Members see and revoke their own keys.

import type { Hono } from "hono";
import type { AuthKeyCreatedBody, AuthKeyListBody } from "../../../worker/control/api-views.ts";
import { AUTH_KEY_DEFAULT_TTL_MS, AUTH_KEY_MAX_TTL_MS, issueAuthKey } from "../auth/authkeys.ts";
import type { AuthKeyRecord } from "../store/types.ts";
import { audit } from "./audit.ts";
import { pathId, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError, invalidBody, notFound } from "./errors.ts";
import { isAdmin } from "./guard.ts";
import { authKeyCreateBody } from "./schemas.ts";
import { authKeyView } from "./views.ts";

/** A key's options in words, for the audit log ("reusable, ephemeral, tags tag:ci"). */
function authKeyOptions(key: AuthKeyRecord): string {
  const words = [key.reusable ? "reusable" : "one-off"];
  if (key.ephemeral) words.push("ephemeral");
  if (key.tags.length > 0) words.push(`tags ${key.tags.join(" ")}`);
  words.push(`expires ${new Date(key.expiresAt).toISOString()}`);
  return words.join(", ");
}

/** Registers the auth key routes. */
export function authKeyRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.post("/api/v1/authkeys", async (c) => {
    const user = c.get("caller").user;
    const body = await readBody(c, authKeyCreateBody);
    const ttl = body.expiry ?? AUTH_KEY_DEFAULT_TTL_MS;
    if (ttl > AUTH_KEY_MAX_TTL_MS) {
      throw invalidBody([{ path: "expiry", message: "at most 365 days" }]);
    }
    const tags = [...new Set(body.tags ?? [])];
    const policy = ctx.policy.current();
    const refused = tags.filter((t) => !policy.mayUseTag(user.id, t));
    if (refused.length > 0) {
      throw new ApiError(
        403,
        "tag_not_allowed",
        `the policy does not let you use ${refused.join(", ")} (tagOwners)`,
        {
          issues: refused.map((t) => ({
            path: `tags[${body.tags!.indexOf(t)}]`,
            message: `${t} is not yours to use`,
          })),
        },
      );
    }
    const now = ctx.now();
    const issued = await ctx.store.transaction(async (tx) => {
      const made = await issueAuthKey(tx, {
        userId: user.id,
        reusable: body.reusable ?? false,
        ephemeral: body.ephemeral ?? false,
        tags,
        expiresAt: now + ttl,
      });
      await audit(c, ctx, tx, {
        action: "authkey.create",
        target: `auth key ${made.record.id} ${made.record.prefix}`,
        detail: authKeyOptions(made.record),
      });
      return made;
    });
    return c.json(
      { key: issued.key, authKey: authKeyView(issued.record) } satisfies AuthKeyCreatedBody,
      201,
    );
  });

  app.get("/api/v1/authkeys", async (c) => {
    const user = c.get("caller").user;
    const keys = (await ctx.store.listAuthKeys()).filter(
      (k) => isAdmin(user) || k.userId === user.id,
    );
    return c.json({ authKeys: keys.map(authKeyView) } satisfies AuthKeyListBody);
  });

  app.delete("/api/v1/authkeys/:id", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    const now = ctx.now();
    await ctx.store.transaction(async (tx) => {
      const key = (await tx.listAuthKeys()).find((k) => k.id === id);
      if (key === undefined || !(isAdmin(user) || key.userId === user.id))
        throw notFound("auth key", id);
      await tx.revokeAuthKey(id, now);
      await audit(c, ctx, tx, { action: "authkey.revoke", target: `auth key ${id} ${key.prefix}` });
    });
    return c.json({ revoked: id });
  });
}
