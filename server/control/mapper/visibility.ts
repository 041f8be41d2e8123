// Who sees whom, per pair of principals (a user, or a set of tags): a node's map lists a peer
// when either may reach the other (policy/types.ts). Answers are memoized per unordered pair;
// a user's change keeps every row but that user's, a policy change starts a new table. Principals
// are few next to nodes (a user has a handful of devices, a fleet shares a few tag sets), so
// the table stays small where a per-node-pair one would not (Headscale's O(n²) per change).

import { type CompiledPolicy, type Principal, principalKey } from "../policy/types.ts";

/** Memoized symmetric visibility under one compiled policy. */
export class Visibility {
  private readonly rows = new Map<string, Map<string, boolean>>();

  constructor(readonly policy: CompiledPolicy) {}

  /** May nodes of `a` and nodes of `b` be in each other's maps? */
  visible(a: Principal, b: Principal): boolean {
    const ka = principalKey(a);
    const kb = principalKey(b);
    const known = this.rows.get(ka)?.get(kb);
    if (known !== undefined) return known;
    const answer = this.policy.canReach(a, b) || this.policy.canReach(b, a);
    this.remember(ka, kb, answer);
    this.remember(kb, ka, answer);
    return answer;
  }

  /** A table for another policy (the same policy with one user's row forgotten, or a new one). */
  withPolicy(policy: CompiledPolicy, keepAllBut?: string): Visibility {
    const next = new Visibility(policy);
    if (keepAllBut !== undefined) {
      for (const [a, row] of this.rows) {
        if (a === keepAllBut) continue;
        const copy = new Map<string, boolean>();
        for (const [b, v] of row) if (b !== keepAllBut) copy.set(b, v);
        next.rows.set(a, copy);
      }
    }
    return next;
  }

  private remember(a: string, b: string, answer: boolean): void {
    let row = this.rows.get(a);
    if (row === undefined) {
      row = new Map();
      this.rows.set(a, row);
    }
    row.set(b, answer);
  }
}
