// /api/v1/nodes: list (admins see all, members their own), rename, remove, expire the key.
// A member may act on their own nodes only; tagged nodes belong to admins. A node the caller
// may not see answers 404, as if it did not exist.

import type { Hono } from "hono";
import type { NodeBody, NodeListBody } from "../../../worker/control/api-views.ts";
import {
  type NodeRecord,
  StoreConflictError,
  type StoreTx,
  type UserRecord,
} from "../store/types.ts";
import { audit } from "./audit.ts";
import { pathId, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError, notFound } from "./errors.ts";
import { isAdmin } from "./guard.ts";
import { nodePatchBody } from "./schemas.ts";
import { nodeView } from "./views.ts";

function mayManage(user: UserRecord, node: NodeRecord): boolean {
  return isAdmin(user) || node.userId === user.id;
}

async function managedNode(tx: StoreTx, user: UserRecord, id: number): Promise<NodeRecord> {
  const node = await tx.nodeById(id);
  if (node === null || !mayManage(user, node)) throw notFound("node", id);
  return node;
}

/** Registers the node routes. */
export function nodeRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/nodes", async (c) => {
    const user = c.get("caller").user;
    const nodes = (await ctx.store.listNodes()).filter((n) => mayManage(user, n));
    // Online and a fresher last seen come from memory (the map side), not the store.
    const live = nodes.map((n) => {
      const presence = ctx.presence(n.id);
      return { ...nodeView(n), online: presence.online, lastSeen: presence.lastSeen ?? n.lastSeen };
    });
    return c.json({ nodes: live } satisfies NodeListBody);
  });

  app.patch("/api/v1/nodes/:id", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    const { name } = await readBody(c, nodePatchBody);
    let node: NodeRecord;
    try {
      node = await ctx.store.transaction(async (tx) => {
        const found = await managedNode(tx, user, id);
        await tx.updateNode(id, { name });
        await audit(c, ctx, tx, {
          action: "node.rename",
          target: `node ${id} ${found.name}`,
          detail: `${found.name} -> ${name}`,
        });
        return { ...found, name };
      });
    } catch (e) {
      if (e instanceof StoreConflictError && e.field === "name") {
        throw new ApiError(409, "name_taken", `another node is already named ${name}`);
      }
      throw e;
    }
    await ctx.meshChanges.nodeChanged(id);
    return c.json({ node: nodeView(node) } satisfies NodeBody);
  });

  app.delete("/api/v1/nodes/:id", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    await ctx.store.transaction(async (tx) => {
      const found = await managedNode(tx, user, id);
      await tx.deleteNode(id);
      await audit(c, ctx, tx, { action: "node.remove", target: `node ${id} ${found.name}` });
    });
    await ctx.meshChanges.nodeRemoved(id);
    return c.json({ removed: id });
  });

  app.post("/api/v1/nodes/:id/expire", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    const now = ctx.now();
    const node = await ctx.store.transaction(async (tx) => {
      const found = await managedNode(tx, user, id);
      await tx.updateNode(id, { keyExpiry: now });
      await audit(c, ctx, tx, { action: "node.expire", target: `node ${id} ${found.name}` });
      return { ...found, keyExpiry: now };
    });
    await ctx.meshChanges.nodeChanged(id);
    return c.json({ node: nodeView(node) } satisfies NodeBody);
  });
}
