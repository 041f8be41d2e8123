// What a member may share: no more than the policy in force already gives her on the device.
// A share hands its recipient SSH as some local users and some TCP ports of the device; were the
// sharer's own rights not checked, a member limited to non-root (or to a `check` rule, or to a
// few ports) could share her node as root with herself and open the link. So each shared SSH
// user must be one an accept rule grants her there, or a check rule whose period her last
// sign-in is within (as the agent decides it, server/agent/ssh/access.ts), and each port must be
// open to her in the device's filter. Only rules whose source is her (her user id, or `any`)
// count: tags are never hers, CIDR sources are left out (an address range says nothing about
// who she is), and `shares` sources name recipients, not sharers. Admins and the owner are not
// asked: they may change the policy anyway.

import type { FilterRule, SourceSelector, SshRule } from "../../../worker/control/types.ts";
import { principalOf } from "../mapper/views.ts";
import type { CompiledPolicy } from "../policy/types.ts";
import type { NodeRecord, UserRecord } from "../store/types.ts";
import { ShareError } from "./errors.ts";

/** The rule user standing for every local account but root. */
const NONROOT = "autogroup:nonroot";

/** Whether a rule's source selects the sharer herself (tags and CIDRs never do, here). */
function selectsUser(src: SourceSelector, userId: number): boolean {
  return src.any === true || (src.users?.includes(userId) ?? false);
}

/**
 * Whether a rule's users cover `name`. "autogroup:nonroot" covers every name but root: the
 * server knows no uids, and the agent checks uid 0 again for rules that name it.
 */
function covers(users: readonly string[], name: string): boolean {
  return users.includes(name) || (users.includes(NONROOT) && name !== "root");
}

/** Whether the sharer may log in as `name` now by `rules` (accept, or a fresh enough check). */
export function sshGranted(
  rules: readonly SshRule[],
  sharer: Pick<UserRecord, "id" | "lastLoginAt">,
  name: string,
  now: number,
): boolean {
  return rules.some((rule) => {
    if (!selectsUser(rule.src, sharer.id) || !covers(rule.users, name)) return false;
    if (rule.action === "accept") return true;
    // As the agent: a missing or bad period lets nobody in; only a recent sign-in counts.
    const given = rule.checkPeriodMs ?? 0;
    const period = Number.isFinite(given) && given > 0 ? given : 0;
    const at = sharer.lastLoginAt;
    return at !== null && Number.isFinite(at) && now - at <= period;
  });
}

/** Whether `rules` open TCP `port` to the sharer. */
export function portGranted(rules: readonly FilterRule[], userId: number, port: number): boolean {
  return rules.some(
    (rule) =>
      selectsUser(rule.src, userId) &&
      rule.ports.some(
        (range) =>
          (range.proto === "tcp" || range.proto === "*") &&
          range.first <= port &&
          port <= range.last,
      ),
  );
}

/**
 * Refuses (share_forbidden, naming the first user or port) unless `sharer` may already use on
 * `node` every SSH user and port asked for, by `policy` (the policy in force).
 */
export function checkSharerMayUse(
  policy: CompiledPolicy,
  node: NodeRecord,
  sharer: Pick<UserRecord, "id" | "lastLoginAt">,
  sshUsers: readonly string[],
  ports: readonly number[],
  now: number,
): void {
  const device = {
    id: node.id,
    principal: principalOf(node),
    addresses: [node.ipv4, node.ipv6],
  };
  if (sshUsers.length > 0) {
    const rules = policy.sshFor(device);
    for (const name of sshUsers) {
      if (!sshGranted(rules, sharer, name, now)) {
        throw new ShareError(
          "share_forbidden",
          `the policy does not let you log in to ${node.name} as ${name}, so you cannot share it`,
          [{ path: "sshUsers", message: `you may not log in to ${node.name} as ${name}` }],
        );
      }
    }
  }
  if (ports.length > 0) {
    const rules = policy.filterFor(device);
    for (const port of ports) {
      if (!portGranted(rules, sharer.id, port)) {
        throw new ShareError(
          "share_forbidden",
          `the policy does not let you reach ${node.name} on TCP port ${port}, so you cannot share it`,
          [{ path: "ports", message: `port ${port} of ${node.name} is not open to you` }],
        );
      }
    }
  }
}
