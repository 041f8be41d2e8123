// A Program bound to the current users: emails become user ids, autogroups become roles, and the
// result answers the CompiledPolicy queries per principal. Binding is O(policy + users); each
// query is memoized per principal (plus, for policies that name addresses, the set of those
// prefixes a node's addresses fall in), so nodes of one principal share one answer and a node
// joining never changes anyone's filter.

import type {
  FilterRule,
  PortRange,
  SourceSelector,
  SshRule,
} from "../../../worker/control/types.ts";
import { parseAddress, prefixContains } from "./address.ts";
import type { Program, SelectorSet } from "./program.ts";
import {
  type CompiledPolicy,
  type PolicyNode,
  type PolicySubject,
  type PolicyUser,
  type Principal,
  principalKey,
} from "./types.ts";

/** A selector set with its emails turned into user ids. */
interface BoundSet {
  any: boolean;
  /** autogroup:member: every user. */
  allUsers: boolean;
  users: Set<number>;
  tags: Set<string>;
  self: boolean;
  prefixes: number[];
}

/** One acl destination entry, indexed by who it covers. */
interface Entry {
  rule: number;
  ports: PortRange[];
}

/** A subject reduced to what answers depend on. */
interface Resolved {
  principal: Principal;
  /** Indices of the policy's prefixes containing one of the node's addresses. */
  matched: Set<number>;
  key: string;
}

/** What a share principal gets from the document: nothing (frozen, shared). */
const NOTHING_FILTER: FilterRule[] = Object.freeze([]) as unknown as FilterRule[];
const NOTHING_SSH: SshRule[] = Object.freeze([]) as unknown as SshRule[];

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** The CompiledPolicy of `program` for `users`. */
export class BoundPolicy implements CompiledPolicy {
  private readonly usersById = new Map<number, PolicyUser>();
  private readonly idsByEmail = new Map<string, number[]>();
  private readonly allUserIds: number[];
  private readonly adminIds: number[];
  private readonly aclSrc: BoundSet[];
  private readonly sshRules: { src: BoundSet; dst: BoundSet; rule: Program["ssh"][number] }[];
  private readonly srcSelectors: ({ selector: SourceSelector; key: string } | undefined)[] = [];
  // acl destinations by what they cover
  private readonly anyDst: Entry[] = [];
  private readonly allUsersDst: Entry[] = [];
  private readonly selfDst: Entry[] = [];
  private readonly byUser = new Map<number, Entry[]>();
  private readonly byTag = new Map<string, Entry[]>();
  private readonly byPrefix = new Map<number, Entry[]>();
  // memos
  private readonly filters = new Map<string, FilterRule[]>();
  private readonly ssh = new Map<string, SshRule[]>();
  private readonly reachers = new Map<string, { rules: number[]; self: number[] }>();

  constructor(
    readonly program: Program,
    users: readonly PolicyUser[],
  ) {
    for (const user of users) {
      this.usersById.set(user.id, user);
      if (user.email !== "") push(this.idsByEmail, user.email.toLowerCase(), user.id);
    }
    this.allUserIds = [...this.usersById.keys()].sort((a, b) => a - b);
    this.adminIds = this.allUserIds.filter((id) => this.usersById.get(id)!.role !== "member");
    this.aclSrc = program.acls.map((rule) => this.bind(rule.src));
    program.acls.forEach((rule, r) => {
      for (const dst of rule.dsts) {
        const entry: Entry = { rule: r, ports: dst.ports };
        const target = this.bind(dst.target);
        if (target.any) this.anyDst.push(entry);
        if (target.allUsers) this.allUsersDst.push(entry);
        if (target.self) this.selfDst.push(entry);
        for (const id of target.users) push(this.byUser, id, entry);
        for (const tag of target.tags) push(this.byTag, tag, entry);
        for (const p of target.prefixes) push(this.byPrefix, p, entry);
      }
    });
    this.sshRules = program.ssh.map((rule) => ({
      src: this.bind(rule.src),
      dst: this.bind(rule.dst),
      rule,
    }));
  }

  private bind(set: SelectorSet): BoundSet {
    const users = new Set<number>();
    for (const email of set.emails)
      for (const id of this.idsByEmail.get(email) ?? []) users.add(id);
    if (set.admins) for (const id of this.adminIds) users.add(id);
    return {
      any: set.any,
      allUsers: set.members,
      users,
      tags: set.tags,
      self: set.self,
      prefixes: set.prefixes,
    };
  }

  private resolve(subject: PolicySubject): Resolved {
    const isNode = "principal" in subject;
    const principal = isNode ? subject.principal : subject;
    const matched = new Set<number>();
    if (isNode && this.program.prefixes.length > 0) {
      for (const text of subject.addresses) {
        const address = parseAddress(text);
        if (address === null) continue;
        this.program.prefixes.forEach((p, i) => {
          if (prefixContains(p.prefix, address)) matched.add(i);
        });
      }
    }
    const key = principalKey(principal);
    // Sorted: a node's addresses may come in any order, its key must not depend on it.
    const indices = [...matched].sort((a, b) => a - b);
    return { principal, matched, key: matched.size === 0 ? key : `${key}@${indices.join(",")}` };
  }

  subjectKey(node: PolicyNode): string {
    return this.resolve(node).key;
  }

  /** Whether a source set lets in nodes of this subject. */
  private covers(set: BoundSet, s: Resolved): boolean {
    if (set.any) return true;
    const p = s.principal;
    if (p.kind === "user" && this.hasUser(set, p.userId)) return true;
    if (p.kind === "tags" && p.tags.some((t) => set.tags.has(t))) return true;
    return set.prefixes.some((i) => s.matched.has(i));
  }

  // autogroup:member is the users compiled with, as in the filters' user lists: a principal of a
  // user the policy was not compiled with is nobody's member (compile again with the users).
  private hasUser(set: BoundSet, userId: number): boolean {
    return set.users.has(userId) || (set.allUsers && this.usersById.has(userId));
  }

  // The acl entries whose destination covers `s` (autogroup:self aside), in rule order.
  private entriesFor(s: Resolved): Entry[] {
    const out: Entry[] = [...this.anyDst];
    const p = s.principal;
    if (p.kind === "user") {
      if (this.usersById.has(p.userId)) out.push(...this.allUsersDst);
      out.push(...(this.byUser.get(p.userId) ?? []));
    } else if (p.kind === "tags") {
      for (const tag of new Set(p.tags)) out.push(...(this.byTag.get(tag) ?? []));
    }
    for (const i of s.matched) out.push(...(this.byPrefix.get(i) ?? []));
    return out.sort((a, b) => a.rule - b.rule);
  }

  // autogroup:self entries that apply to a user's own nodes: the rule's src includes the user.
  private selfEntriesFor(s: Resolved): Entry[] {
    const p = s.principal;
    if (p.kind !== "user") return [];
    return this.selfDst.filter((e) => {
      const src = this.aclSrc[e.rule]!;
      return src.any || this.hasUser(src, p.userId);
    });
  }

  // The wire selector of an acl rule's src, and its key for merging rules with equal sources.
  private sourceSelector(rule: number): { selector: SourceSelector; key: string } {
    let out = this.srcSelectors[rule];
    if (out === undefined) {
      const selector = toSelector(this.aclSrc[rule]!, this.allUserIds, this.program);
      out = { selector, key: JSON.stringify(selector) };
      this.srcSelectors[rule] = out;
    }
    return out;
  }

  canReach(src: PolicySubject, dst: PolicySubject): boolean {
    const s = this.resolve(src);
    const d = this.resolve(dst);
    // A share's recipient is the share overlay's to answer (shares/overlay.ts); asked here
    // anyway, the document lets it reach nothing and be reached by nothing, not even by `*`.
    if (s.principal.kind === "share" || d.principal.kind === "share") return false;
    let reach = this.reachers.get(d.key);
    if (reach === undefined) {
      reach = {
        rules: [...new Set(this.entriesFor(d).map((e) => e.rule))],
        self: this.selfEntriesFor(d).map((e) => e.rule),
      };
      this.reachers.set(d.key, reach);
    }
    if (reach.rules.some((r) => this.covers(this.aclSrc[r]!, s))) return true;
    // autogroup:self: a user's nodes reach each other when the rule's src has that user.
    return (
      reach.self.length > 0 &&
      s.principal.kind === "user" &&
      d.principal.kind === "user" &&
      s.principal.userId === d.principal.userId
    );
  }

  filterFor(dst: PolicySubject): FilterRule[] {
    const d = this.resolve(dst);
    if (d.principal.kind === "share") return NOTHING_FILTER;
    const memo = this.filters.get(d.key);
    if (memo !== undefined) return memo;
    const bySource = new Map<string, FilterRule>();
    const add = (src: SourceSelector, key: string, ports: readonly PortRange[]) => {
      let rule = bySource.get(key);
      if (rule === undefined) {
        rule = { src, ports: [] };
        bySource.set(key, rule);
      }
      for (const p of ports) {
        if (
          !rule.ports.some((q) => q.proto === p.proto && q.first === p.first && q.last === p.last)
        ) {
          rule.ports.push(p);
        }
      }
    };
    for (const e of this.entriesFor(d)) {
      // A source that matches nobody yet (a group of people who never signed in) opens nothing.
      const { selector, key } = this.sourceSelector(e.rule);
      if (!isEmpty(selector)) add(selector, key, e.ports);
    }
    const p = d.principal;
    if (p.kind === "user")
      for (const e of this.selfEntriesFor(d))
        add({ users: [p.userId] }, `{"users":[${p.userId}]}`, e.ports);
    const out = deepFreeze([...bySource.values()]);
    this.filters.set(d.key, out);
    return out;
  }

  sshFor(dst: PolicySubject): SshRule[] {
    const d = this.resolve(dst);
    if (d.principal.kind === "share") return NOTHING_SSH;
    const memo = this.ssh.get(d.key);
    if (memo !== undefined) return memo;
    const out: SshRule[] = [];
    const p = d.principal;
    for (const { src, dst: target, rule } of this.sshRules) {
      const base = { users: rule.users, action: rule.action };
      const period = rule.checkPeriodMs === undefined ? {} : { checkPeriodMs: rule.checkPeriodMs };
      const selector = toSelector(src, this.allUserIds, this.program);
      if (this.covers(target, d) && !isEmpty(selector))
        out.push({ src: selector, ...base, ...period });
      if (target.self && p.kind === "user" && (src.any || this.hasUser(src, p.userId))) {
        out.push({ src: { users: [p.userId] }, ...base, ...period });
      }
    }
    deepFreeze(out);
    this.ssh.set(d.key, out);
    return out;
  }

  mayUseTag(userId: number, tag: string): boolean {
    const user = this.usersById.get(userId);
    if (user === undefined) return false;
    if (user.role !== "member") return true;
    const owners = this.program.tagOwners.get(tag);
    if (owners === undefined) return false;
    return owners.members || (user.email !== "" && owners.emails.has(user.email.toLowerCase()));
  }

  withUsers(users: readonly PolicyUser[]): CompiledPolicy {
    return new BoundPolicy(this.program, users);
  }
}

// The wire form of a source set: any, or the users, tags and CIDRs it lets in.
function toSelector(
  set: BoundSet,
  allUserIds: readonly number[],
  program: Program,
): SourceSelector {
  if (set.any) return { any: true };
  const out: SourceSelector = {};
  const users = set.allUsers ? [...allUserIds] : [...set.users].sort((a, b) => a - b);
  if (users.length > 0) out.users = users;
  if (set.tags.size > 0) out.tags = [...set.tags].sort();
  if (set.prefixes.length > 0) {
    out.cidrs = [...new Set(set.prefixes.map((i) => program.prefixes[i]!.text))];
  }
  return out;
}

function isEmpty(selector: SourceSelector): boolean {
  return !selector.any && !selector.users && !selector.tags && !selector.cidrs;
}

// Answers are shared between callers and memos: frozen, so no caller can change another's.
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
