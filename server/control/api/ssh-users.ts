// GET /api/v1/nodes/:id/ssh-users: the local users the signed-in caller may log in as on a node
// through identity SSH, for the page's SSH dialog (it offers these instead of asking for a name).
// The node's SSH rules are the policy's (sshFor the node), narrowed to the users its SSH server
// can really be (policy/ssh-users.ts: a non-root agent reports its own user), so
// "autogroup:nonroot" comes out expanded when the node reported its users and as is otherwise.
// A rule counts when its source selects the caller's user (any, or users naming them). Rules
// that select by tag never do (a person's nodes are not tagged), and rules that select by source
// address are left out: which address the caller's browser node will have is not known here.
// A node the caller may not see (not theirs, not an admin, not in their map) answers 404.

import type { Hono } from "hono";
import type { SshRule } from "../../../worker/control/types.ts";
import { principalOf } from "../mapper/views.ts";
import { narrowSshRules } from "../policy/ssh-users.ts";
import type { CompiledPolicy, Principal } from "../policy/types.ts";
import type { NodeRecord, UserRecord } from "../store/types.ts";
import { pathId } from "./body.ts";
import type { ApiContext, ApiEnv } from "./deps.ts";
import { notFound } from "./errors.ts";
import { isAdmin } from "./guard.ts";

/** The answer: the users, and what logging in as them takes. */
export interface SshUsersView {
  /** Users an accept rule grants first, then those only check rules grant; each once. */
  users: string[];
  /**
   * "accept": every listed user is granted by an accept rule; "check": some are granted only
   * by check rules (a recent sign-in is needed for them: `checkUsers`); null: no user at all.
   */
  action: "accept" | "check" | null;
  /** For "check": the shortest period among the check rules that grant `checkUsers` (ms). */
  checkPeriodMs: number | null;
  /** The users only check rules grant (empty unless action is "check"). */
  checkUsers: string[];
}

/** Whether `rule` selects nodes of the caller's user (file comment: no tags, no addresses). */
function selectsUser(rule: SshRule, userId: number): boolean {
  return rule.src.any === true || (rule.src.users?.includes(userId) ?? false);
}

/** The SSH users `rules` (already narrowed to the node's users) grant `userId`. */
export function sshUsersFor(rules: readonly SshRule[], userId: number): SshUsersView {
  const accept: string[] = [];
  const checkOnly = new Map<string, number>();
  for (const rule of rules) {
    if (!selectsUser(rule, userId)) continue;
    for (const user of rule.users) {
      if (rule.action === "accept") {
        if (!accept.includes(user)) accept.push(user);
        continue;
      }
      // A missing or bad period lets nobody in without a sign-in that very moment: 0.
      const given = rule.checkPeriodMs ?? 0;
      const period = Number.isFinite(given) && given > 0 ? given : 0;
      const known = checkOnly.get(user);
      checkOnly.set(user, known === undefined ? period : Math.min(known, period));
    }
  }
  for (const user of accept) checkOnly.delete(user);
  const checkUsers = [...checkOnly.keys()];
  const users = [...accept, ...checkUsers];
  if (users.length === 0) return { users, action: null, checkPeriodMs: null, checkUsers };
  if (checkUsers.length === 0) return { users, action: "accept", checkPeriodMs: null, checkUsers };
  return { users, action: "check", checkPeriodMs: Math.min(...checkOnly.values()), checkUsers };
}

/** Whether `user` may see `node`: their own, an admin, or in their map (either direction). */
function maySee(policy: CompiledPolicy, user: UserRecord, node: NodeRecord): boolean {
  if (isAdmin(user) || node.userId === user.id) return true;
  const caller: Principal = { kind: "user", userId: user.id };
  const target = { id: node.id, principal: principalOf(node), addresses: [node.ipv4, node.ipv6] };
  return policy.canReach(caller, target) || policy.canReach(target, caller);
}

/** Registers GET /api/v1/nodes/:id/ssh-users (any signed-in caller). */
export function sshUserRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get("/api/v1/nodes/:id/ssh-users", async (c) => {
    const user = c.get("caller").user;
    const id = pathId(c);
    const node = await ctx.store.nodeById(id);
    const policy = ctx.policy.current();
    if (node === null || !maySee(policy, user, node)) throw notFound("node", id);
    const target = { id: node.id, principal: principalOf(node), addresses: [node.ipv4, node.ipv6] };
    const rules = narrowSshRules(policy.sshFor(target), node.sshUsers);
    return c.json(sshUsersFor(rules, user.id));
  });
}
