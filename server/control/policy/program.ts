// The checked document turned into a program that does not depend on who the users are:
// references resolved (groups flattened to emails with cycles refused, hosts to prefixes, tags
// checked against tagOwners), ports expanded per protocol. Binding it to users (bind.ts) is the
// cheap step redone when users change; this one runs once per document.

import type { PortRange } from "../../../worker/control/types.ts";
import { type Address, formatPrefix, type Prefix } from "./address.ts";
import { errorAt, type ParsedPolicy, type PathStep } from "./parse.ts";
import type { PolicyDocument } from "./schema.ts";
import type { Selector } from "./selectors.ts";
import type { PolicyError } from "./types.ts";

/** Largest total of group memberships expanded (nested groups multiply): bounds compile time. */
export const MAX_GROUP_EXPANSION = 2_000_000;

/** A set of selectors, resolved as far as possible without the users. */
export interface SelectorSet {
  any: boolean;
  /** Users named by email, directly or through groups (lower case). */
  emails: Set<string>;
  tags: Set<string>;
  /** autogroup:member: every user. */
  members: boolean;
  /** autogroup:admin: admins and the owner. */
  admins: boolean;
  /** autogroup:self (dst only): a user's own nodes, for sources of that user. */
  self: boolean;
  /** Indices into Program.prefixes. */
  prefixes: number[];
}

/** One acl destination: who it covers and what it opens there. */
export interface AclTarget {
  target: SelectorSet;
  ports: PortRange[];
}

/** One acl rule. */
export interface AclProgram {
  src: SelectorSet;
  dsts: AclTarget[];
}

/** One ssh rule. */
export interface SshProgram {
  src: SelectorSet;
  dst: SelectorSet;
  users: string[];
  action: "accept" | "check";
  checkPeriodMs?: number;
}

/** What a test's destination is. */
export type TestTarget =
  | { kind: "user"; email: string }
  | { kind: "tag"; name: string }
  | { kind: "address"; address: Address };

/** One assertion of a test: this source may (accept) or may not (deny) reach this port. */
export interface TestCheck {
  text: string;
  path: PathStep[];
  target: TestTarget;
  port: number;
}

/** One entry of `tests`. */
export interface TestProgram {
  index: number;
  line: number;
  /** The src as written, and the users or tag it stands for. */
  srcText: string;
  src: { kind: "users"; emails: string[] } | { kind: "tag"; name: string };
  proto: "tcp" | "udp" | "icmp";
  accept: TestCheck[];
  deny: TestCheck[];
}

/** Who owns a tag (tagOwners). */
export interface TagOwners {
  emails: Set<string>;
  members: boolean;
  admins: boolean;
}

/** The document, resolved except for the users. */
export interface Program {
  /** Every prefix the document names (src, dst, hosts used), deduplicated. */
  prefixes: { prefix: Prefix; text: string }[];
  acls: AclProgram[];
  ssh: SshProgram[];
  tagOwners: Map<string, TagOwners>;
  tests: TestProgram[];
}

type TestEntry = NonNullable<PolicyDocument["tests"]>[number];

function emptySet(): SelectorSet {
  return {
    any: false,
    emails: new Set(),
    tags: new Set(),
    members: false,
    admins: false,
    self: false,
    prefixes: [],
  };
}

// Flattens groups to emails; unknown members and cycles become errors.
function resolveGroups(
  document: PolicyDocument,
  parsed: ParsedPolicy,
  errors: PolicyError[],
): Map<string, Set<string>> {
  const defs = new Map<string, Selector[]>(Object.entries(document.groups ?? {}));
  for (const [name, members] of defs) {
    members.forEach((m, i) => {
      if (m.kind === "group" && !defs.has(m.name)) {
        errors.push(errorAt(parsed, ["groups", name, i], `unknown group "${m.name}"`));
      }
    });
  }
  // Depth-first without recursion (a hostile chain of groups must not exhaust the stack).
  const state = new Map<string, 1 | 2>();
  const resolved = new Map<string, Set<string>>();
  let budget = MAX_GROUP_EXPANSION;
  for (const root of defs.keys()) {
    if (state.has(root)) continue;
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const members = defs.get(top.name)!;
      if (top.next < members.length) {
        const i = top.next++;
        const m = members[i]!;
        if (m.kind !== "group" || !defs.has(m.name)) continue;
        const seen = state.get(m.name);
        if (seen === 1) {
          const chain = [
            ...stack.slice(stack.findIndex((f) => f.name === m.name)).map((f) => f.name),
            m.name,
          ];
          errors.push(
            errorAt(parsed, ["groups", top.name, i], `group cycle: ${chain.join(" → ")}`),
          );
        } else if (seen === undefined) {
          state.set(m.name, 1);
          stack.push({ name: m.name, next: 0 });
        }
        continue;
      }
      const set = new Set<string>();
      for (const m of members) {
        if (m.kind === "user") set.add(m.email);
        else if (m.kind === "group") {
          const inner = resolved.get(m.name);
          if (inner === undefined) continue;
          budget -= inner.size;
          for (const email of inner) set.add(email);
        }
      }
      budget -= members.length;
      resolved.set(top.name, set);
      state.set(top.name, 2);
      stack.pop();
    }
    if (budget < 0) {
      errors.push(
        errorAt(parsed, ["groups"], `groups expand to more than ${MAX_GROUP_EXPANSION} members`),
      );
      break;
    }
  }
  return resolved;
}

/** Resolves a checked document into a Program, or the reference errors it has. */
export function buildProgram(
  document: PolicyDocument,
  parsed: ParsedPolicy,
): { ok: true; program: Program } | { ok: false; errors: PolicyError[] } {
  const errors: PolicyError[] = [];
  const groups = resolveGroups(document, parsed, errors);
  const hosts = new Map<string, Prefix>(Object.entries(document.hosts ?? {}));
  const tagNames = new Set(Object.keys(document.tagOwners ?? {}));
  const prefixes: Program["prefixes"] = [];
  const prefixIndex = new Map<string, number>();
  const indexOf = (prefix: Prefix): number => {
    const text = formatPrefix(prefix);
    let i = prefixIndex.get(text);
    if (i === undefined) {
      i = prefixes.push({ prefix, text }) - 1;
      prefixIndex.set(text, i);
    }
    return i;
  };
  const unknown = (path: PathStep[], message: string) =>
    errors.push(errorAt(parsed, path, message));

  // Adds one selector to a set; reports references to things the document does not define.
  const add = (set: SelectorSet, s: Selector, path: PathStep[]): void => {
    switch (s.kind) {
      case "any":
        set.any = true;
        return;
      case "user":
        set.emails.add(s.email);
        return;
      case "group": {
        const members = groups.get(s.name);
        if (members === undefined) {
          if (!(document.groups && Object.hasOwn(document.groups, s.name))) {
            unknown(path, `unknown group "${s.name}" (not in groups)`);
          }
          return;
        }
        for (const email of members) set.emails.add(email);
        return;
      }
      case "tag":
        if (!tagNames.has(s.name)) unknown(path, `unknown tag "${s.name}" (not in tagOwners)`);
        set.tags.add(s.name);
        return;
      case "autogroup":
        if (s.name === "member") set.members = true;
        else if (s.name === "admin") set.admins = true;
        else set.self = true;
        return;
      case "prefix":
        set.prefixes.push(indexOf(s.prefix));
        return;
      case "host": {
        const prefix = hosts.get(s.name);
        if (prefix === undefined) unknown(path, `unknown host "${s.name}" (not in hosts)`);
        else set.prefixes.push(indexOf(prefix));
        return;
      }
    }
  };
  const setOf = (selectors: readonly Selector[], path: PathStep[]): SelectorSet => {
    const set = emptySet();
    selectors.forEach((s, i) => {
      add(set, s, [...path, i]);
    });
    return set;
  };

  const tagOwners = new Map<string, TagOwners>();
  for (const [tag, owners] of Object.entries(document.tagOwners ?? {})) {
    const set = setOf(owners, ["tagOwners", tag]);
    tagOwners.set(tag, { emails: set.emails, members: set.members, admins: set.admins });
  }

  const acls: AclProgram[] = (document.acls ?? []).map((rule, r) => {
    const proto = rule.proto ?? "*";
    const dsts = rule.dst.map((d, i): AclTarget => {
      const path = ["acls", r, "dst", i];
      const everyPort =
        d.ports.length === 1 && d.ports[0]!.first === 0 && d.ports[0]!.last === 65535;
      if (proto === "icmp" && !everyPort) unknown(path, `icmp has no ports: write ":*"`);
      const target = emptySet();
      add(target, d.target, path);
      return { target, ports: d.ports.map((p) => ({ proto, first: p.first, last: p.last })) };
    });
    return { src: setOf(rule.src, ["acls", r, "src"]), dsts };
  });

  const ssh: SshProgram[] = (document.ssh ?? []).map((rule, r) => {
    if (rule.checkPeriod !== undefined && rule.action !== "check") {
      unknown(["ssh", r, "checkPeriod"], `checkPeriod is only for action "check"`);
    }
    const out: SshProgram = {
      src: setOf(rule.src, ["ssh", r, "src"]),
      dst: setOf(rule.dst, ["ssh", r, "dst"]),
      users: [...new Set(rule.users.map((u) => u.name))],
      action: rule.action,
    };
    // Tailscale's default period: a sign-in within the last 12 hours.
    if (rule.action === "check") out.checkPeriodMs = rule.checkPeriod ?? 12 * 3600_000;
    return out;
  });

  const tests = (document.tests ?? []).map((test, t): TestProgram => {
    const base: PathStep[] = ["tests", t];
    if (test.accept === undefined && test.deny === undefined) {
      unknown(base, "a test needs accept or deny (or both)");
    }
    let src: TestProgram["src"];
    if (test.src.kind === "tag") {
      if (!tagNames.has(test.src.name)) {
        unknown([...base, "src"], `unknown tag "${test.src.name}" (not in tagOwners)`);
      }
      src = { kind: "tag", name: test.src.name };
    } else if (test.src.kind === "group") {
      const members = groups.get(test.src.name);
      if (members === undefined)
        unknown([...base, "src"], `unknown group "${test.src.name}" (not in groups)`);
      else if (members.size === 0)
        unknown([...base, "src"], `group "${test.src.name}" has no members to test`);
      src = { kind: "users", emails: [...(members ?? [])].sort() };
    } else {
      src = { kind: "users", emails: test.src.kind === "user" ? [test.src.email] : [] };
    }
    const checks = (entry: TestEntry, which: "accept" | "deny") =>
      (entry[which] ?? []).map((d, i): TestCheck => {
        const path = [...base, which, i];
        const target = testTarget(d.target, hosts, tagNames, (message) => unknown(path, message));
        return { text: nodeText(parsed, path), path, target, port: d.ports[0]!.first };
      });
    return {
      index: t,
      line: errorAt(parsed, base, "").line,
      srcText: nodeText(parsed, [...base, "src"]),
      src,
      proto: test.proto ?? "tcp",
      accept: checks(test, "accept"),
      deny: checks(test, "deny"),
    };
  });

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, program: { prefixes, acls, ssh, tagOwners, tests } };
}

// What a test's destination names; a problem is reported (and a placeholder that matches no
// rule returned: the document is refused anyway).
function testTarget(
  s: Selector,
  hosts: ReadonlyMap<string, Prefix>,
  tagNames: ReadonlySet<string>,
  report: (message: string) => void,
): TestTarget {
  if (s.kind === "user") return { kind: "user", email: s.email };
  if (s.kind === "tag") {
    if (!tagNames.has(s.name)) report(`unknown tag "${s.name}" (not in tagOwners)`);
    return { kind: "tag", name: s.name };
  }
  // The schema lets only one address or a hosts name through to here.
  const prefix = s.kind === "prefix" ? s.prefix : s.kind === "host" ? hosts.get(s.name) : undefined;
  const name = s.kind === "host" ? s.name : "";
  if (prefix === undefined) report(`unknown host "${name}" (not in hosts)`);
  else if (prefix.bits !== (prefix.family === 4 ? 32 : 128)) {
    report(`host "${name}" is a range: a test's destination is one address`);
  } else return { kind: "address", address: { family: prefix.family, value: prefix.network } };
  return { kind: "tag", name: "" };
}

// The string as written at `path` (test messages quote the user's own words).
function nodeText(parsed: ParsedPolicy, path: PathStep[]): string {
  let value: unknown = parsed.value;
  for (const step of path) value = (value as Record<string | number, unknown>)[step];
  return String(value);
}
