// The audit log: who changed what, when and from where. Routes that change things call
// `audit(...)` inside the transaction of the change, so a change is never stored without its
// entry (and an entry never without its change). GET /api/v1/audit lists the entries to admins,
// newest first, a page at a time: `limit` (1-500, default 50) and `before` (an entry id: only
// older entries), with `next` the cursor of the following page (null on the last).

import type { Context, Hono } from "hono";
import * as v from "valibot";
import type { AuditPageBody, AuditView } from "../../../worker/control/api-views.ts";
import type { StoreTx, UserRecord } from "../store/types.ts";
import { validate } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { ApiError } from "./errors.ts";
import { clientAddress, requireAdmin } from "./guard.ts";

/** Every action the log records ("thing.verb"; sign-ins are "login", sign-outs "logout"). */
export type AuditAction =
  | "node.rename"
  | "node.remove"
  | "node.expire"
  | "user.role"
  | "authkey.create"
  | "authkey.revoke"
  | "apikey.create"
  | "apikey.revoke"
  | "invite.create"
  | "policy.set"
  | "approval.approve"
  | "approval.deny"
  | "login"
  | "logout";

/** One thing to record: the action, what it concerns, and a few words more. */
export interface AuditEvent {
  action: AuditAction;
  /** "node 7 web-01", "user 3 bob@example.com", ... */
  target?: string;
  detail?: string;
}

/** Who acted, when it is not the request's caller (a sign-in has no caller yet). */
export interface AuditActor {
  user: UserRecord;
  /** "link" (owner link or invitation), "oidc". */
  via: string;
}

/** Longest target or detail kept (they are built by the server, this only bounds them). */
const TEXT_LIMIT = 500;

function bounded(text: string | undefined): string {
  if (text === undefined) return "";
  return text.length <= TEXT_LIMIT ? text : `${text.slice(0, TEXT_LIMIT - 1)}…`;
}

/**
 * Appends `event` to the log in `tx` (the change's own transaction), with the request's caller
 * as actor (or `actor`), the time of ctx's clock and the request's source address.
 */
export async function audit(
  c: Context<ApiEnv>,
  ctx: ApiContext,
  tx: StoreTx,
  event: AuditEvent,
  actor?: AuditActor,
): Promise<void> {
  const who = actor ?? { user: c.get("caller").user, via: c.get("caller").via };
  await tx.addAudit({
    at: ctx.now(),
    actorId: who.user.id,
    actor: who.user.email || who.user.name,
    via: who.via,
    action: event.action,
    target: bounded(event.target),
    detail: bounded(event.detail),
    source: clientAddress(c),
  });
}

/** Default and largest page of GET /api/v1/audit. */
export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 500;

const positiveInteger = (what: string) =>
  v.pipe(
    v.string(),
    v.regex(/^[1-9][0-9]{0,14}$/, `expected ${what}`),
    v.transform((text) => Number(text)),
  );

/** The query of GET /api/v1/audit: strict (an unknown parameter is named in the error). */
export const auditQuery = v.strictObject({
  limit: v.optional(
    v.pipe(
      positiveInteger(`a page size from 1 to ${AUDIT_PAGE_MAX}`),
      v.maxValue(AUDIT_PAGE_MAX, `at most ${AUDIT_PAGE_MAX}`),
    ),
  ),
  before: v.optional(positiveInteger("an entry id (the `next` of the previous page)")),
});

/** The validated query, or 400 invalid_query naming the parameter. */
function readQuery(raw: Record<string, string>): v.InferOutput<typeof auditQuery> {
  try {
    return validate(auditQuery, raw);
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== "invalid_body") throw e;
    throw new ApiError(
      400,
      "invalid_query",
      e.message.replace(/^invalid body/, "invalid query"),
      e.extra,
    );
  }
}

/** Registers GET /api/v1/audit (admins). */
export function auditRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/audit", async (c) => {
    requireAdmin(c.get("caller").user);
    const query = readQuery(c.req.query());
    const limit = query.limit ?? AUDIT_PAGE_DEFAULT;
    // One more than asked: whether a next page exists, without a count of the whole table.
    const rows = await ctx.store.listAudit(limit + 1, query.before);
    const entries: AuditView[] = rows.slice(0, limit);
    const next = rows.length > limit ? entries[entries.length - 1]!.id : null;
    return c.json({ entries, next } satisfies AuditPageBody);
  });
}
