// A node's packet filter and SSH rules depend only on its subject (groups.ts: its principal,
// plus the address prefixes the policy names that its addresses fall in): computed once per
// subject and policy, kept with their JSON so that a policy or user change can tell, per
// subject, whether they really changed (only then are they sent).

import type { FilterRule, SshRule } from "../../../worker/control/types.ts";
import type { CompiledPolicy } from "../policy/types.ts";
import type { Subject } from "./groups.ts";
import type { DeltaParts } from "./pending-delta.ts";

/** One subject's rules. */
export interface Rules {
  filter: FilterRule[];
  ssh: SshRule[];
  filterJson: string;
  sshJson: string;
}

function compileRules(policy: CompiledPolicy, subject: Subject): Rules {
  const filter = policy.filterFor(subject.query);
  const ssh = policy.sshFor(subject.query);
  return { filter, ssh, filterJson: JSON.stringify(filter), sshJson: JSON.stringify(ssh) };
}

/** The parts (filter, ssh) of `now` that differ from `was`; null when neither does. */
export function changedRules(was: Rules, now: Rules): DeltaParts | null {
  const parts: DeltaParts = {};
  if (was.filterJson !== now.filterJson) parts.filter = now.filter;
  if (was.sshJson !== now.sshJson) parts.ssh = now.ssh;
  return parts.filter === undefined && parts.ssh === undefined ? null : parts;
}

/** Rules per subject under the policy in force. */
export class RulesCache {
  private byKey = new Map<string, Rules>();

  /** The rules of `subject` under `policy` (the policy in force). */
  get(policy: CompiledPolicy, subject: Subject): Rules {
    let rules = this.byKey.get(subject.key);
    if (rules === undefined) {
      rules = compileRules(policy, subject);
      this.byKey.set(subject.key, rules);
    }
    return rules;
  }

  /**
   * The policy in force is no longer `previous`: starts over (keeping the subjects `keep`
   * accepts), and returns the rules a subject had under `previous` (remembered, or computed
   * again for subjects never asked about).
   */
  restart(previous: CompiledPolicy, keep?: (key: string) => boolean): (subject: Subject) => Rules {
    const before = this.byKey;
    this.byKey = new Map();
    // Subjects the new policy answers as the previous one did keep their rules (mapper.setPolicy).
    if (keep !== undefined)
      for (const [key, rules] of before) if (keep(key)) this.byKey.set(key, rules);
    return (subject) => before.get(subject.key) ?? compileRules(previous, subject);
  }
}
