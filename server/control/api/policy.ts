// /api/v1/policy: read it, replace it (compiled first: refused with line, column and the
// failing test; `If-Match: VERSION` guards against overwriting someone else's edit), and try a
// candidate without storing it. Admins only: the document names groups and emails.

import type { Hono } from "hono";
import type {
  PolicyBody,
  PolicySetBody,
  PolicyTestBody,
} from "../../../worker/control/api-views.ts";
import { DEFAULT_POLICY } from "../policy/default.ts";
import type { PolicyError, PolicyUser } from "../policy/types.ts";
import { StoreConflictError, type StoreTx } from "../store/types.ts";
import { audit } from "./audit.ts";
import { ifMatchVersion, POLICY_BODY_LIMIT, readBody } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { requireAdmin } from "./guard.ts";
import { policyBody } from "./schemas.ts";

async function policyUsers(tx: StoreTx): Promise<PolicyUser[]> {
  return (await tx.listUsers()).map((u) => ({ id: u.id, email: u.email, role: u.role }));
}

function refusal(errors: PolicyError[]): ApiError {
  const first = errors[0];
  const where =
    first === undefined ? "" : `: line ${first.line}, column ${first.column}: ${first.message}`;
  return new ApiError(400, "invalid_policy", `the policy was refused${where}`, { errors });
}

/** Registers the policy routes. */
export function policyRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/policy", async (c) => {
    requireAdmin(c.get("caller").user);
    const policy = await ctx.store.getPolicy();
    const version = policy?.version ?? 0;
    c.header("ETag", `"${version}"`);
    return c.json({
      // With none set, the default policy is in force: show it, so an admin can start from it.
      text: policy?.text ?? DEFAULT_POLICY,
      version,
      default: policy === null,
      updatedAt: policy?.updatedAt ?? null,
      updatedBy: policy?.updatedBy ?? null,
    } satisfies PolicyBody);
  });

  app.put("/api/v1/policy", async (c) => {
    const user = c.get("caller").user;
    requireAdmin(user);
    const expect = ifMatchVersion(c);
    const { text } = await readBody(c, policyBody, POLICY_BODY_LIMIT);
    let stored: Awaited<ReturnType<StoreTx["setPolicy"]>>;
    try {
      stored = await ctx.store.transaction(async (tx) => {
        const result = ctx.policy.compile(text, await policyUsers(tx));
        if (!result.ok) throw refusal(result.errors);
        const set = await tx.setPolicy(text, user.id, expect);
        await audit(c, ctx, tx, {
          action: "policy.set",
          target: `policy version ${set.version}`,
          detail: `${text.length} characters`,
        });
        return set;
      });
    } catch (e) {
      if (e instanceof StoreConflictError) {
        throw new ApiError(
          412,
          "version_conflict",
          "the policy changed since you read it: get it again",
          {
            version: (await ctx.store.getPolicy())?.version ?? 0,
          },
        );
      }
      throw e;
    }
    await ctx.meshChanges.policyChanged();
    c.header("ETag", `"${stored.version}"`);
    return c.json({ version: stored.version, updatedAt: stored.updatedAt } satisfies PolicySetBody);
  });

  app.post("/api/v1/policy/test", async (c) => {
    requireAdmin(c.get("caller").user);
    const { text } = await readBody(c, policyBody, POLICY_BODY_LIMIT);
    const result = ctx.policy.compile(text, await policyUsers(ctx.store));
    return c.json(
      (result.ok
        ? { ok: true, errors: [] }
        : { ok: false, errors: result.errors }) satisfies PolicyTestBody,
    );
  });
}
