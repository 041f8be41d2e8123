// A node's packet filter and SSH rules depend only on its principal: computed once per
// principal and policy, kept with their JSON so that a policy or user change can tell, per
// principal, whether they really changed (only then are they sent).

import type { FilterRule, SshRule } from "../../../worker/control/types.ts";
import { type CompiledPolicy, type Principal, principalKey } from "../policy/types.ts";
import type { DeltaParts } from "./pending-delta.ts";

/** One principal's rules. */
export interface Rules {
  filter: FilterRule[];
  ssh: SshRule[];
  filterJson: string;
  sshJson: string;
}

function compileRules(policy: CompiledPolicy, principal: Principal): Rules {
  const filter = policy.filterFor(principal);
  const ssh = policy.sshFor(principal);
  return { filter, ssh, filterJson: JSON.stringify(filter), sshJson: JSON.stringify(ssh) };
}

/** Rules per principal under the policy in force. */
export class RulesCache {
  private byKey = new Map<string, Rules>();

  /** The rules of `principal` under `policy` (the policy in force). */
  get(policy: CompiledPolicy, principal: Principal): Rules {
    const key = principalKey(principal);
    let rules = this.byKey.get(key);
    if (rules === undefined) {
      rules = compileRules(policy, principal);
      this.byKey.set(key, rules);
    }
    return rules;
  }

  /**
   * The policy changed from `previous` to `next`: starts over, and returns for each of
   * `principals` the parts (filter, ssh) that differ, omitting the unchanged ones.
   */
  replace(
    previous: CompiledPolicy,
    next: CompiledPolicy,
    principals: Iterable<Principal>,
  ): Map<string, DeltaParts> {
    const before = this.byKey;
    this.byKey = new Map();
    const changed = new Map<string, DeltaParts>();
    for (const principal of principals) {
      const key = principalKey(principal);
      const now = this.get(next, principal);
      const was = before.get(key) ?? compileRules(previous, principal);
      const parts: DeltaParts = {};
      if (was.filterJson !== now.filterJson) parts.filter = now.filter;
      if (was.sshJson !== now.sshJson) parts.ssh = now.ssh;
      if (parts.filter !== undefined || parts.ssh !== undefined) changed.set(key, parts);
    }
    return changed;
  }
}
