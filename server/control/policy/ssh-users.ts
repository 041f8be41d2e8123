// A node's SSH rules narrowed to the local users its SSH server can really be. A non-root agent
// can only start sessions as its own user, and says so (Hostinfo.sshUsers); its map must not
// promise callers a login as anyone else, so each rule keeps only the users the node has:
// "autogroup:nonroot" becomes those of the node's users that are not root, a named user (root
// included) stays when the node has it, and a rule left with no user is dropped. A node that
// reports no list (a root agent) keeps its rules as the policy compiled them.

import type { SshRule } from "../../../worker/control/types.ts";

/** The SSH user value meaning "any local user but root". */
export const NONROOT = "autogroup:nonroot";

/** The users `rule` grants among `available`, in the rule's order, each once. */
function grantedUsers(rule: SshRule, available: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const user of rule.users) {
    if (user === NONROOT) {
      for (const name of available) if (name !== "root") out.add(name);
    } else if (available.has(user)) out.add(user);
  }
  return [...out];
}

/**
 * `rules` narrowed to `sshUsers` (the node's Hostinfo.sshUsers); `rules` itself when the node
 * reported none. Never changes `rules` (the mapper shares them between nodes).
 */
export function narrowSshRules(rules: SshRule[], sshUsers: readonly string[] | null): SshRule[] {
  if (sshUsers === null) return rules;
  const available = new Set(sshUsers);
  const out: SshRule[] = [];
  for (const rule of rules) {
    const users = grantedUsers(rule, available);
    if (users.length > 0) out.push({ ...rule, users });
  }
  return out;
}
