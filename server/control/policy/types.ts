// The policy engine's faces (docs/control.md, "Policy"). The document is JSON with comments and
// trailing commas: groups, hosts, tagOwners, acls, ssh, tests. It compiles against the current
// users into a CompiledPolicy that answers per *principal* (a user, or a set of tags), not per
// node pair: nodes of one principal are treated alike, so the mapper caches answers per pair of
// principals and a change touches only the nodes of the principals it concerns (Headscale's
// pairwise recompute per change is what sinks it at a few hundred nodes).

import type { FilterRule, SshRule } from "../../../worker/control/types.ts";

/**
 * Who owns a node: a user, or (for tagged nodes) a set of tags, or (for the ephemeral node of
 * a share's recipient, issue 17) the acceptance it was made for. The policy document cannot
 * name a share principal: the share overlay (shares/overlay.ts) answers every query about one,
 * and the compiled document answers nothing for it (no peer, no rule) should it be asked.
 */
export type Principal =
  | { kind: "user"; userId: number }
  | { kind: "tags"; tags: readonly string[] }
  | { kind: "share"; acceptanceId: number };

/** A user as the policy sees it (groups list emails; autogroups use the role). */
export interface PolicyUser {
  id: number;
  email: string;
  role: "owner" | "admin" | "member";
}

/** A node as the policy sees it. */
export interface PolicyNode {
  id: number;
  principal: Principal;
  /** Mesh addresses ("100.64.0.7", "fd..::7"). */
  addresses: readonly string[];
}

/** Where in the document something is wrong (1-based line and column), and what. */
export interface PolicyError {
  line: number;
  column: number;
  /** JSON path of the offending value ("acls[2].dst[0]"), "" for syntax errors. */
  path: string;
  message: string;
}

/**
 * What a query is about: a principal (all its nodes alike), or one node when its addresses
 * matter. Addresses matter only for rules that name addresses (`hosts` aliases, CIDRs): a rule
 * with dst "10.1.0.0/16:22" applies to the nodes with an address inside, and a src CIDR counts
 * for map visibility only when the source node's addresses are given. Policies that name no
 * addresses answer the same for every node of a principal; answers are memoized per principal
 * plus the set of address selectors a node's addresses fall in.
 */
export type PolicySubject = Principal | PolicyNode;

/** A compiled policy: pure, immutable, cheap to query. */
export interface CompiledPolicy {
  /** May nodes of `src` open anything at all on nodes of `dst`? (map visibility) */
  canReach(src: PolicySubject, dst: PolicySubject): boolean;
  /** Inbound filter of a node of `dst`: what it must accept (everything else is dropped). */
  filterFor(dst: PolicySubject): FilterRule[];
  /** SSH rules of a node of `dst`. */
  sshFor(dst: PolicySubject): SshRule[];
  /**
   * What the answers about `node` depend on, as a string: two nodes with equal keys get equal
   * answers from canReach (either side), filterFor and sshFor, so a caller may group nodes by
   * it and ask once per group. A node that no address rule concerns has the plain
   * `principalKey` of its principal; one whose addresses fall in prefixes the policy names has
   * that key plus those prefixes. The key depends on the document, not on the users:
   * `withUsers` keeps every node's key. Optional: a policy without it answers per principal.
   */
  subjectKey?(node: PolicyNode): string;
  /** Tags a user may put on nodes (tagOwners); admins and the owner may use every tag. */
  mayUseTag(userId: number, tag: string): boolean;
  /**
   * The same document compiled against another set of users (sign-ins, role or email changes):
   * only the user-dependent parts are redone; the document is not parsed or checked again, and
   * its `tests` are not run again (they are checked when the policy is set).
   */
  withUsers(users: readonly PolicyUser[]): CompiledPolicy;
}

/** Result of compiling a document. */
export type CompileResult =
  | { ok: true; policy: CompiledPolicy }
  | { ok: false; errors: PolicyError[] };

/**
 * A stable string for a principal: equal principals, equal keys ("u:7", "t:tag:a,tag:b",
 * "s:3" for the recipient node of share acceptance 3).
 */
export function principalKey(principal: Principal): string {
  switch (principal.kind) {
    case "user":
      return `u:${principal.userId}`;
    case "tags":
      return `t:${[...principal.tags].sort().join(",")}`;
    case "share":
      return `s:${principal.acceptanceId}`;
  }
}
