// The policy's `tests` section: assertions that a source may (accept) or may not (deny) reach a
// port, checked against the compiled filters themselves (what the destination's engine will
// enforce), so a policy that would lock people out is refused before it is stored. People named
// in tests who never signed in are tested as members-to-be (their groups apply, no admin role).

import type { FilterRule, SourceSelector } from "../../../worker/control/types.ts";
import { formatAddress } from "./address.ts";
import { BoundPolicy } from "./bind.ts";
import { errorAt, type ParsedPolicy } from "./parse.ts";
import type { Program, TestCheck, TestProgram } from "./program.ts";
import type { CompiledPolicy, PolicySubject, PolicyUser, Principal } from "./types.ts";

// Ids for people named in tests who have no account yet: negative, never a store id.
function withTestUsers(program: Program, users: readonly PolicyUser[]): PolicyUser[] {
  const known = new Set(users.map((u) => u.email.toLowerCase()));
  const extra: PolicyUser[] = [];
  const need = (email: string) => {
    if (known.has(email)) return;
    known.add(email);
    extra.push({ id: -1 - extra.length, email, role: "member" });
  };
  for (const test of program.tests) {
    if (test.src.kind === "users") for (const email of test.src.emails) need(email);
    for (const check of [...test.accept, ...test.deny]) {
      if (check.target.kind === "user") need(check.target.email);
    }
  }
  return extra.length === 0 ? [...users] : [...users, ...extra];
}

function idsOf(users: readonly PolicyUser[], email: string): number[] {
  return users.filter((u) => u.email.toLowerCase() === email).map((u) => u.id);
}

function sourceMatches(selector: SourceSelector, src: Principal): boolean {
  if (selector.any) return true;
  if (src.kind === "user") return selector.users?.includes(src.userId) ?? false;
  // A share's recipient is never a test's source (tests name users, groups and tags).
  if (src.kind === "share") return false;
  return src.tags.some((t) => selector.tags?.includes(t) ?? false);
}

/** Whether `filter` lets `src` in on `port` of `proto` (ICMP has no ports). */
export function filterAccepts(
  filter: readonly FilterRule[],
  src: Principal,
  proto: "tcp" | "udp" | "icmp",
  port: number,
): boolean {
  return filter.some(
    (rule) =>
      sourceMatches(rule.src, src) &&
      rule.ports.some(
        (p) =>
          (p.proto === "*" || p.proto === proto) &&
          (proto === "icmp" || (p.first <= port && port <= p.last)),
      ),
  );
}

function destinations(check: TestCheck, users: readonly PolicyUser[]): PolicySubject[] {
  const t = check.target;
  if (t.kind === "user") return idsOf(users, t.email).map((userId) => ({ kind: "user", userId }));
  if (t.kind === "tag") return [{ kind: "tags", tags: [t.name] }];
  // An address alone belongs to no principal the test knows: only "*" and address rules count.
  return [
    {
      id: 0,
      principal: { kind: "tags", tags: [] },
      addresses: [formatAddress(t.address.family, t.address.value)],
    },
  ];
}

function sources(test: TestProgram, users: readonly PolicyUser[]): { who: string; p: Principal }[] {
  if (test.src.kind === "tag")
    return [{ who: test.srcText, p: { kind: "tags", tags: [test.src.name] } }];
  const group = test.srcText.startsWith("group:");
  return test.src.emails.flatMap((email) =>
    idsOf(users, email).map((userId) => ({
      who: group ? `${test.srcText} (member ${email})` : test.srcText,
      p: { kind: "user" as const, userId },
    })),
  );
}

/** Runs the document's tests; each failure is an error at the failing accept/deny entry. */
export function runPolicyTests(
  program: Program,
  policy: CompiledPolicy,
  users: readonly PolicyUser[],
  parsed: ParsedPolicy,
): ReturnType<typeof errorAt>[] {
  if (program.tests.length === 0) return [];
  const all = withTestUsers(program, users);
  const subject = all.length === users.length ? policy : new BoundPolicy(program, all);
  const errors: ReturnType<typeof errorAt>[] = [];
  for (const test of program.tests) {
    const srcs = sources(test, all);
    const run = (check: TestCheck, expect: boolean) => {
      for (const dst of destinations(check, all)) {
        const filter = subject.filterFor(dst);
        for (const src of srcs) {
          if (filterAccepts(filter, src.p, test.proto, check.port) === expect) continue;
          const what = expect
            ? `${src.who} cannot reach ${check.text} (${test.proto}), which accept expects`
            : `${src.who} can reach ${check.text} (${test.proto}), which deny forbids`;
          errors.push(
            errorAt(parsed, check.path, `test ${test.index} (line ${test.line}) failed: ${what}`),
          );
          return;
        }
      }
    };
    for (const check of test.accept) run(check, true);
    for (const check of test.deny) run(check, false);
  }
  return errors;
}
