// /api/v1/approvals/:id: an agent that connected without an auth key waits for a signed-in
// person to open its approval URL (/approve/ID, pages.ts) and approve or deny it here. The node
// then belongs to the approver, or to the requested tags when the policy lets the approver
// use them. The pending request lives with the map side (changes.ts, Approvals).

import type { Context, Hono } from "hono";
import { audit } from "./audit.ts";
import { readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { approvalBody } from "./schemas.ts";

function approvalId(c: Context<ApiEnv>): string {
  const id = c.req.param("id") ?? "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    throw new ApiError(400, "invalid_path", "id must be an approval id", {
      issues: [{ path: "id", message: "expected 1-64 characters of A-Z a-z 0-9 _ -" }],
    });
  }
  return id;
}

function gone(id: string): ApiError {
  return new ApiError(
    404,
    "approval_not_found",
    `no pending approval ${id}: it was decided, or it expired`,
  );
}

/** Registers the approval routes (the caller is authenticated; POST is rate-limited). */
export function approvalRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/approvals/:id", (c) => {
    const id = approvalId(c);
    const pending = ctx.approvals.get(id);
    if (pending === null) throw gone(id);
    return c.json({ approval: pending });
  });

  app.post("/api/v1/approvals/:id", async (c) => {
    const user = c.get("caller").user;
    const id = approvalId(c);
    const body = await readBody(c, approvalBody);
    const pending = ctx.approvals.get(id);
    if (pending === null) throw gone(id);
    // The decision lives with the map side, not in the store: its entry follows it.
    const target = `approval ${id} ${pending.hostname}`;
    if (!body.approve) {
      try {
        await ctx.approvals.deny(id);
      } catch (e) {
        // Gone meanwhile, or (several servers) its server did not answer.
        throw new ApiError(409, "approval_failed", (e as Error).message);
      }
      await ctx.store.transaction((tx) => audit(c, ctx, tx, { action: "approval.deny", target }));
      return c.json({ approved: false });
    }
    const tags = body.tags === undefined ? undefined : [...new Set(body.tags)];
    if (tags !== undefined) {
      const policy = ctx.policy.current();
      const refused = tags.filter((t) => !policy.mayUseTag(user.id, t));
      if (refused.length > 0) {
        throw new ApiError(
          403,
          "tag_not_allowed",
          `the policy does not let you use ${refused.join(", ")} (tagOwners)`,
        );
      }
    }
    try {
      await ctx.approvals.approve(id, user.id, tags);
    } catch (e) {
      throw new ApiError(409, "approval_failed", (e as Error).message);
    }
    const detail = tags === undefined || tags.length === 0 ? "" : `tags ${tags.join(" ")}`;
    await ctx.store.transaction((tx) =>
      audit(c, ctx, tx, { action: "approval.approve", target, detail }),
    );
    return c.json({ approved: true });
  });
}
