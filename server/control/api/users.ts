// /api/v1/users: the list (admins) and role changes (the owner). The owner's role never
// changes and nobody becomes owner through the API: there is one owner, made by the owner link.

import type { Hono } from "hono";
import type { UserBody, UserListBody } from "../../../worker/control/api-views.ts";
import { audit } from "./audit.ts";
import { pathId, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError, notFound } from "./errors.ts";
import { requireAdmin, requireOwner } from "./guard.ts";
import { userPatchBody } from "./schemas.ts";
import { userView } from "./views.ts";

/** Registers the user routes. */
export function userRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/users", async (c) => {
    requireAdmin(c.get("caller").user);
    const users = await ctx.store.listUsers();
    return c.json({ users: users.map(userView) } satisfies UserListBody);
  });

  app.patch("/api/v1/users/:id", async (c) => {
    const caller = c.get("caller").user;
    requireOwner(caller);
    const id = pathId(c);
    const { role } = await readBody(c, userPatchBody);
    const updated = await ctx.store.transaction(async (tx) => {
      const user = await tx.userById(id);
      if (user === null) throw notFound("user", id);
      if (user.role === "owner") {
        throw new ApiError(409, "owner_role_fixed", "the owner's role cannot be changed");
      }
      await tx.updateUser(id, { role });
      await audit(c, ctx, tx, {
        action: "user.role",
        target: `user ${id} ${user.email || user.name}`,
        detail: `${user.role} -> ${role}`,
      });
      return { ...user, role };
    });
    await ctx.meshChanges.userChanged(id);
    return c.json({ user: userView(updated) } satisfies UserBody);
  });
}
