// The policy's `tests` section: a document whose tests pass compiles; one whose tests fail is
// refused with the failing test named (index and line) and the pair that failed, placed at the
// failing accept/deny entry. People named in tests who never signed in are tested too.

import { describe, expect, it } from "vitest";
import { compiled, refused, USERS } from "./policy-helpers.ts";

const BASE = `{
  "groups": { "group:eng": ["alice@example.com", "dave@example.com"] },
  "tagOwners": { "tag:server": [], "tag:db": [] },
  "hosts": { "gw": "100.64.0.1" },
  "acls": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22"] },
    { "action": "accept", "src": ["tag:server"], "dst": ["tag:db:5432"], "proto": "tcp" },
    { "action": "accept", "src": ["bob@example.com"], "dst": ["gw:53"], "proto": "udp" },
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["autogroup:member:*"] },
  ],
  "tests": [
TESTS
  ],
}`;

const withTests = (...tests: string[]) => BASE.replace("TESTS", tests.join(",\n"));

/** The 1-based line of the first line of `text` containing `needle`. */
const lineOf = (text: string, needle: string) =>
  text.split("\n").findIndex((l) => l.includes(needle)) + 1;

describe("tests section", () => {
  it("passing tests: accept and deny, groups, tags, addresses, users not signed in yet", () => {
    compiled(
      withTests(
        `    { "src": "alice@example.com", "accept": ["tag:server:22"], "deny": ["tag:server:80", "tag:db:5432"] }`,
        `    { "src": "group:eng", "accept": ["tag:server:22"] }`,
        `    { "src": "dave@example.com", "accept": ["tag:server:22"], "deny": ["bob@example.com:22"] }`,
        `    { "src": "tag:server", "accept": ["tag:db:5432"], "deny": ["tag:db:22", "tag:server:22"] }`,
        `    { "src": "tag:server", "proto": "udp", "deny": ["tag:db:5432"] }`,
        `    { "src": "bob@example.com", "proto": "udp", "accept": ["100.64.0.1:53", "gw:53"] }`,
        `    { "src": "bob@example.com", "deny": ["gw:53"] }`,
        `    { "src": "ada@example.com", "accept": ["carol@example.com:5900"] }`,
      ),
    );
  });

  it("a failing accept names the test, its line, and the pair", () => {
    const text = withTests(
      `    { "src": "alice@example.com", "accept": ["tag:server:22"] }`,
      `    { "src": "carol@example.com", "accept": ["tag:server:22"] }`,
    );
    const line = lineOf(text, "carol@example.com");
    expect(refused(text)).toEqual([
      {
        line,
        column: 46,
        path: "tests[1].accept[0]",
        message: `test 1 (line ${line}) failed: carol@example.com cannot reach tag:server:22 (tcp), which accept expects`,
      },
    ]);
  });

  it("a failing deny, and a group's member who fails, are named", () => {
    const text = withTests(
      `    { "src": "alice@example.com", "deny": ["tag:db:5432", "tag:server:22"] }`,
      `    { "src": "group:eng", "accept": ["tag:db:5432"] }`,
    );
    const first = lineOf(text, `"deny": ["tag:db:5432"`);
    const second = lineOf(text, `"src": "group:eng"`);
    expect(refused(text)).toEqual([
      {
        line: first,
        column: 59,
        path: "tests[0].deny[1]",
        message: `test 0 (line ${first}) failed: alice@example.com can reach tag:server:22 (tcp), which deny forbids`,
      },
      {
        line: second,
        column: 38,
        path: "tests[1].accept[0]",
        message: `test 1 (line ${second}) failed: group:eng (member alice@example.com) cannot reach tag:db:5432 (tcp), which accept expects`,
      },
    ]);
  });

  it("a test's protocol matters: a tcp rule does not pass a udp test", () => {
    const errors = refused(
      withTests(`    { "src": "tag:server", "proto": "udp", "accept": ["tag:db:5432"] }`),
    );
    expect(errors.map((e) => e.message)).toEqual([
      `test 0 (line 12) failed: tag:server cannot reach tag:db:5432 (udp), which accept expects`,
    ]);
  });

  it("a role is the user's real one: a test that relies on it fails for a member", () => {
    const test = `    { "src": "carol@example.com", "accept": ["alice@example.com:22"] }`;
    expect(refused(withTests(test))[0]!.message).toBe(
      "test 0 (line 12) failed: carol@example.com cannot reach alice@example.com:22 (tcp), which accept expects",
    );
    const promoted = USERS.map((u) => (u.id === 5 ? { ...u, role: "admin" as const } : u));
    compiled(withTests(test), promoted);
  });

  it("test entries are checked like the rest: one port, known tags, one address", () => {
    const text = withTests(`    { "src": "tag:nope", "accept": ["tag:server:22"] }`);
    expect(refused(text).map((e) => [e.path, e.message])).toEqual([
      ["tests[0].src", 'unknown tag "tag:nope" (not in tagOwners)'],
    ]);
    expect(
      refused(
        withTests(
          `    { "src": "tag:server", "accept": ["tag:server:22-23", "tag:db:22,80", "10.0.0.0/8:22", "*:22"] }`,
        ),
      ).map((e) => [e.path, e.message]),
    ).toEqual([
      ["tests[0].accept[0]", 'a test names one port ("tag:server:22-23" names a range)'],
      ["tests[0].accept[1]", 'a test names one port ("tag:db:22,80" names several)'],
      ["tests[0].accept[2]", "a test's destination is one address, not a range"],
      [
        "tests[0].accept[3]",
        "a test's destination is an email, tag:NAME, a hosts name or an IP address",
      ],
    ]);
  });

  it("a hosts name that is a range, or unknown, is not a test destination", () => {
    const text = BASE.replace('"gw": "100.64.0.1"', '"gw": "100.64.0.0/24"').replace(
      "TESTS",
      `    { "src": "bob@example.com", "accept": ["gw:53", "nohost:53"] }`,
    );
    expect(refused(text).map((e) => [e.path, e.message])).toEqual([
      ["tests[0].accept[0]", `host "gw" is a range: a test's destination is one address`],
      ["tests[0].accept[1]", 'unknown host "nohost" (not in hosts)'],
    ]);
  });

  it("tests are checked when the policy is set, not again when users change", () => {
    const test = `    { "src": "carol@example.com", "accept": ["alice@example.com:22"] }`;
    const promoted = USERS.map((u) => (u.id === 5 ? { ...u, role: "admin" as const } : u));
    const policy = compiled(withTests(test), promoted);
    // Demoted again: the stored policy stays in force; carol simply no longer reaches alice.
    const later = policy.withUsers(USERS);
    expect(later.canReach({ kind: "user", userId: 5 }, { kind: "user", userId: 3 })).toBe(false);
  });
});
