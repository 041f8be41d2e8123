// /api/v1/apikeys: keys for automation. Create (shown in this one answer only), list your own
// (admins: everyone's), revoke. A revoked key stops working at once: every call looks it up.

import type { Hono } from "hono";
import type { ApiKeyCreatedBody, ApiKeyListBody } from "../../../worker/control/api-views.ts";
import { API_KEY_DEFAULT_TTL_MS, API_KEY_MAX_TTL_MS, issueApiKey } from "../auth/apikeys.ts";
import { audit } from "./audit.ts";
import { pathId, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { invalidBody, notFound } from "./errors.ts";
import { isAdmin } from "./guard.ts";
import { apiKeyCreateBody } from "./schemas.ts";
import { apiKeyView } from "./views.ts";

/** Registers the API key routes. */
export function apiKeyRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.post("/api/v1/apikeys", async (c) => {
    const user = c.get("caller").user;
    const body = await readBody(c, apiKeyCreateBody);
    const ttl = body.expiry ?? API_KEY_DEFAULT_TTL_MS;
    if (ttl > API_KEY_MAX_TTL_MS) {
      throw invalidBody([{ path: "expiry", message: "at most 365 days" }]);
    }
    const now = ctx.now();
    const issued = await ctx.store.transaction(async (tx) => {
      const made = await issueApiKey(tx, user.id, now + ttl);
      await audit(c, ctx, tx, {
        action: "apikey.create",
        target: `API key ${made.record.id} ${made.record.prefix}`,
        detail: `expires ${new Date(made.record.expiresAt).toISOString()}`,
      });
      return made;
    });
    return c.json(
      { key: issued.key, apiKey: apiKeyView(issued.record) } satisfies ApiKeyCreatedBody,
      201,
    );
  });

  app.get("/api/v1/apikeys", async (c) => {
    const user = c.get("caller").user;
    const keys = (await ctx.store.listApiKeys()).filter(
      (k) => isAdmin(user) || k.userId === user.id,
    );
    return c.json({ apiKeys: keys.map(apiKeyView) } satisfies ApiKeyListBody);
  });

  app.delete("/api/v1/apikeys/:id", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    const now = ctx.now();
    await ctx.store.transaction(async (tx) => {
      const key = (await tx.listApiKeys()).find((k) => k.id === id);
      if (key === undefined || !(isAdmin(user) || key.userId === user.id))
        throw notFound("API key", id);
      await tx.revokeApiKey(id, now);
      await audit(c, ctx, tx, { action: "apikey.revoke", target: `API key ${id} ${key.prefix}` });
    });
    return c.json({ revoked: id });
  });
}
