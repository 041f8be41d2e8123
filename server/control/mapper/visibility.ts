// Who sees whom, per pair of subjects (groups.ts: a principal, or a principal plus the address
// prefixes the policy names that a node falls in): a node's map lists a peer when either may
// reach the other (policy/types.ts). Answers are memoized per unordered pair of subject keys;
// a user's change keeps every row but those of that user's subjects, a policy change starts a
// new table. Subjects are few next to nodes (a user has a handful of devices, a fleet shares a
// few tag sets, address rules name a few nodes), so the table stays small where a per-node-pair
// one would not (Headscale's O(n²) per change).

import type { CompiledPolicy } from "../policy/types.ts";
import type { Subject } from "./groups.ts";

/** Memoized symmetric visibility under one compiled policy. */
export class Visibility {
  private readonly rows = new Map<string, Map<string, boolean>>();
  /** The principal key of each subject key in the table (to forget a user's subjects). */
  private readonly principals = new Map<string, string>();

  constructor(readonly policy: CompiledPolicy) {}

  /** May nodes of `a` and nodes of `b` be in each other's maps? */
  visible(a: Subject, b: Subject): boolean {
    const known = this.rows.get(a.key)?.get(b.key);
    if (known !== undefined) return known;
    const answer = this.policy.canReach(a.query, b.query) || this.policy.canReach(b.query, a.query);
    this.remember(a, b.key, answer);
    this.remember(b, a.key, answer);
    return answer;
  }

  /**
   * A table for another policy: the same policy bound to changed users, keeping every answer
   * but those about the subjects of principal `forget` (its rows and its column), or a new
   * policy (nothing kept) when `forget` is not given.
   */
  withPolicy(policy: CompiledPolicy, forget?: string): Visibility {
    const next = new Visibility(policy);
    if (forget === undefined) return next;
    const gone = (key: string) => this.principals.get(key) === forget;
    for (const [a, row] of this.rows) {
      if (gone(a)) continue;
      const copy = new Map<string, boolean>();
      for (const [b, v] of row) if (!gone(b)) copy.set(b, v);
      next.rows.set(a, copy);
      next.principals.set(a, this.principals.get(a)!);
    }
    return next;
  }

  /**
   * A table for `policy`, which answers about the subject keys `keep` accepts exactly as this
   * table's policy did (for pairs of two such keys): those answers move to the new table, the
   * others are dropped (the share overlay changed, its document did not: mapper.setPolicy).
   * Moved, not copied (a mesh's table holds about subjects² answers): this table is left
   * empty and answers from then on by asking its policy again.
   */
  carry(policy: CompiledPolicy, keep: (key: string) => boolean): Visibility {
    const next = new Visibility(policy);
    // Answers are remembered both ways, so the kept rows naming a dropped key are exactly the
    // keys of that key's own row: few, since dropped keys are the overlay's.
    for (const [a, row] of this.rows) {
      if (keep(a)) continue;
      for (const b of row.keys()) this.rows.get(b)?.delete(a);
    }
    for (const [a, row] of this.rows) {
      if (!keep(a)) continue;
      next.rows.set(a, row);
      next.principals.set(a, this.principals.get(a)!);
    }
    this.rows.clear();
    this.principals.clear();
    return next;
  }

  private remember(a: Subject, b: string, answer: boolean): void {
    let row = this.rows.get(a.key);
    if (row === undefined) {
      row = new Map();
      this.rows.set(a.key, row);
      this.principals.set(a.key, a.principalKey);
    }
    row.set(b, answer);
  }
}
