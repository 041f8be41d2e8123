// What an admin sees when a policy is refused: each error's line, column, JSON path and
// sentence, for syntax errors, unknown keys, bad selectors and ports, unknown groups, tags and
// hosts, group cycles, cross-field mistakes, and the size and nesting bounds.

import { describe, expect, it } from "vitest";
import { formatPolicyError, testPolicy } from "../../server/control/policy/compile.ts";
import { MAX_POLICY_BYTES } from "../../server/control/policy/parse.ts";
import { compiled, refused, USERS } from "./policy-helpers.ts";

const lines = (...l: string[]) => l.join("\n");

/** Line and column (1-based) of the `nth` occurrence of `needle` in `text`. */
function at(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1;
  for (let i = 0; i <= nth; i++) offset = text.indexOf(needle, offset + 1);
  if (offset < 0) throw new Error(`${needle} not in the text`);
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

describe("syntax", () => {
  it("a missing comma, at the token where it was expected", () => {
    const text = lines(
      "{",
      '  "acls": [',
      '    { "action": "accept" "src": ["*"], "dst": ["*:*"] },',
      "  ],",
      "}",
    );
    expect(refused(text)[0]).toEqual({
      line: 3,
      column: 26,
      path: "",
      message: "syntax error: expected ',' or the end of the object or array",
    });
  });

  it("comments and trailing commas are fine; an unclosed comment is not", () => {
    compiled(lines("// top", "{", '  /* none */ "acls": [', "  ],", "}"));
    const errors = refused(lines("{", '  "acls": [], /* open', "}"));
    expect(errors[0]).toEqual({
      line: 2,
      column: 15,
      path: "",
      message: "syntax error: comment not closed (missing */)",
    });
  });

  it("an unclosed string, CRLF line ends counted as one", () => {
    expect(refused('{\r\n  "acls": [\r\n    "oops\r\n  ]\r\n}')[0]).toMatchObject({
      line: 3,
      column: 5,
      message: 'syntax error: string not closed (missing ")',
    });
  });

  it("an empty document and a document that is not an object", () => {
    expect(refused("  ")).toEqual([
      { line: 1, column: 3, path: "", message: "syntax error: expected a value" },
    ]);
    expect(refused("\n[]")).toEqual([
      { line: 2, column: 1, path: "", message: "the policy must be an object" },
    ]);
    expect(refused('{"groups": [], "acls": [[]]}')).toEqual([
      { line: 1, column: 12, path: "groups", message: "groups must be an object" },
      { line: 1, column: 25, path: "acls[0]", message: "an acl rule must be an object" },
    ]);
  });

  it("a duplicate key, at its second occurrence", () => {
    expect(refused('{"acls": [], "acls": []}')).toEqual([
      { line: 1, column: 14, path: "", message: 'duplicate key "acls"' },
    ]);
  });

  it("documents over 1 MiB and nesting deeper than 32 levels are refused before parsing", () => {
    const big = `{"acls": []}${" ".repeat(MAX_POLICY_BYTES)}`;
    expect(refused(big)).toEqual([
      { line: 1, column: 1, path: "", message: "the policy is larger than 1048576 bytes (1 MiB)" },
    ]);
    // Multi-byte characters count as bytes, not characters.
    expect(refused(`{"acls": []}//${"é".repeat(MAX_POLICY_BYTES / 2)}`)[0]!.message).toBe(
      "the policy is larger than 1048576 bytes (1 MiB)",
    );
    expect(refused(`{"a":${"[".repeat(100_000)}`)).toEqual([
      { line: 1, column: 37, path: "", message: "nested deeper than 32 levels" },
    ]);
  });
});

describe("shape", () => {
  it("an unknown key is placed at the key and lists the allowed ones", () => {
    const text = lines("{", '  "acl": [],', "}");
    expect(refused(text)).toEqual([
      {
        line: 2,
        column: 3,
        path: "acl",
        message:
          'unknown key "acl" in the policy (allowed: groups, hosts, tagOwners, acls, ssh, tests)',
      },
    ]);
    const rule = lines(
      "{",
      '  "acls": [',
      '    { "action": "accept", "src": ["*"], "dst": ["*:*"], "port": 22 },',
      "  ],",
      "}",
    );
    expect(refused(rule)).toEqual([
      {
        ...at(rule, '"port"'),
        path: "acls[0].port",
        message: 'unknown key "port" in an acl rule (allowed: action, src, dst, proto)',
      },
    ]);
  });

  it("a missing key is placed at its object; a wrong type at the value", () => {
    const text = lines(
      "{",
      '  "acls": [',
      '    { "src": ["*"], "dst": ["*:*"] },',
      '    { "action": "accept", "src": "*", "dst": ["*:*"] },',
      "  ],",
      "}",
    );
    expect(refused(text)).toEqual([
      { line: 3, column: 5, path: "acls[0].action", message: 'an acl rule needs the key "action"' },
      { line: 4, column: 34, path: "acls[1].src", message: "src must be an array" },
    ]);
  });

  it("bad selectors, ports and names name the string at fault", () => {
    const text = lines(
      "{",
      '  "groups": { "eng": ["alice@example.com"], "group:ops": ["tag:x"] },',
      '  "hosts": { "office": "10.0.0.1/24", "9lives": "10.0.0.9" },',
      '  "acls": [',
      '    { "action": "accept", "src": ["autogroup:self", "autogroup:everyone", "bob@"],',
      '      "dst": ["tag:web:99999", "tag:web:8100-8000", "tag:web", "web:http"] },',
      "  ],",
      "}",
    );
    expect(refused(text)).toEqual([
      {
        ...at(text, '"eng"'),
        path: "groups.eng",
        message: 'a group\'s name is group:NAME (letters, digits, "-", "_", ".")',
      },
      {
        ...at(text, '"tag:x"'),
        path: 'groups["group:ops"][0]',
        message: "a group lists emails and other groups (group:NAME) only",
      },
      {
        ...at(text, '"10.0.0.1/24"'),
        path: "hosts.office",
        message: '"10.0.0.1/24" has bits set after the prefix length: did you mean 10.0.0.0/24?',
      },
      {
        ...at(text, '"9lives"'),
        path: 'hosts["9lives"]',
        message: 'a hosts name starts with a letter (letters, digits, "-", "_", ".")',
      },
      {
        ...at(text, '"autogroup:self"'),
        path: "acls[0].src[0]",
        message: "autogroup:self is only allowed in dst",
      },
      {
        ...at(text, '"autogroup:everyone"'),
        path: "acls[0].src[1]",
        message:
          'unknown autogroup "autogroup:everyone" (autogroup:member, autogroup:admin, autogroup:self)',
      },
      { ...at(text, '"bob@"'), path: "acls[0].src[2]", message: '"bob@" is not an email address' },
      {
        ...at(text, '"tag:web:99999"'),
        path: "acls[0].dst[0]",
        message: "port 99999 is over 65535",
      },
      {
        ...at(text, '"tag:web:8100-8000"'),
        path: "acls[0].dst[1]",
        message: "port range 8100-8000 ends before it starts",
      },
      {
        ...at(text, '"tag:web"'),
        path: "acls[0].dst[2]",
        message: '"tag:web" has no ports: write "tag:web:22" or "tag:web:*"',
      },
      {
        ...at(text, '"web:http"'),
        path: "acls[0].dst[3]",
        message: '"web:http" has no ports: write "web:http:22" or "web:http:*"',
      },
    ]);
  });

  it("ssh rules: action, users and check periods", () => {
    const text = lines(
      "{",
      '  "ssh": [',
      '    { "action": "allow", "src": ["*"], "dst": ["autogroup:self"], "users": ["root"] },',
      '    { "action": "check", "src": ["*"], "dst": ["autogroup:self"], "users": ["bad user"],',
      '      "checkPeriod": "2 hours" },',
      '    { "action": "check", "src": ["*"], "dst": ["autogroup:self"], "users": [], "checkPeriod": "30d" },',
      "  ],",
      "}",
    );
    expect(refused(text)).toEqual([
      {
        ...at(text, '"allow"'),
        path: "ssh[0].action",
        message: 'action must be "accept" or "check"',
      },
      {
        ...at(text, '"bad user"'),
        path: "ssh[1].users[0]",
        message: '"bad user" is not a local user name',
      },
      {
        ...at(text, '"2 hours"'),
        path: "ssh[1].checkPeriod",
        message: '"2 hours" is not a duration (like "12h", "30m", "1d12h")',
      },
      { ...at(text, "[]"), path: "ssh[2].users", message: "users must list at least one entry" },
      {
        ...at(text, '"30d"'),
        path: "ssh[2].checkPeriod",
        message: 'check period "30d" must be between 1m and 7d',
      },
    ]);
  });
});

describe("references", () => {
  it("unknown groups, tags and hosts, where they are used", () => {
    const text = lines(
      "{",
      '  "groups": { "group:eng": ["alice@example.com", "group:ops"] },',
      '  "tagOwners": { "tag:web": ["group:sec"] },',
      '  "acls": [',
      '    { "action": "accept", "src": ["group:eng"], "dst": ["tag:db:5432", "db1:22"] },',
      "  ],",
      "}",
    );
    expect(refused(text)).toEqual([
      {
        line: 2,
        column: 50,
        path: 'groups["group:eng"][1]',
        message: 'unknown group "group:ops"',
      },
      {
        ...at(text, '"group:sec"'),
        path: 'tagOwners["tag:web"][0]',
        message: 'unknown group "group:sec" (not in groups)',
      },
      {
        line: 5,
        column: 57,
        path: "acls[0].dst[0]",
        message: 'unknown tag "tag:db" (not in tagOwners)',
      },
      {
        ...at(text, '"db1:22"'),
        path: "acls[0].dst[1]",
        message: 'unknown host "db1" (not in hosts)',
      },
    ]);
  });

  it("a group cycle, at the member that closes it", () => {
    const text = lines(
      "{",
      '  "groups": {',
      '    "group:a": ["group:b"],',
      '    "group:b": ["alice@example.com", "group:c"],',
      '    "group:c": ["group:a"],',
      "  },",
      "}",
    );
    expect(refused(text)).toEqual([
      {
        line: 5,
        column: 17,
        path: 'groups["group:c"][0]',
        message: "group cycle: group:a → group:b → group:c → group:a",
      },
    ]);
    const self = '{"groups": {"group:a": ["group:a"]}}';
    expect(refused(self)[0]!.message).toBe("group cycle: group:a → group:a");
  });

  it("cross-field mistakes: icmp with ports, checkPeriod on accept, a test asserting nothing", () => {
    const text = lines(
      "{",
      '  "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:22"], "proto": "icmp" }],',
      '  "ssh": [{ "action": "accept", "src": ["*"], "dst": ["*"], "users": ["root"], "checkPeriod": "1h" }],',
      '  "tests": [{ "src": "alice@example.com" }],',
      "}",
    );
    expect(refused(text)).toEqual([
      { ...at(text, '"*:22"'), path: "acls[0].dst[0]", message: 'icmp has no ports: write ":*"' },
      {
        ...at(text, '"1h"'),
        path: "ssh[0].checkPeriod",
        message: 'checkPeriod is only for action "check"',
      },
      {
        line: 4,
        column: 13,
        path: "tests[0]",
        message: "a test needs accept or deny (or both)",
      },
    ]);
  });
});

describe("how errors read", () => {
  it("at most 50 errors, the first ones in document order", () => {
    const src = Array.from({ length: 80 }, (_, i) => `"bad${i}@"`).join(",\n");
    const errors = refused(`{"acls": [{"action": "accept", "dst": ["*:*"], "src": [\n${src}]}]}`);
    expect(errors).toHaveLength(50);
    expect(errors.map((e) => e.line)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(errors[49]).toEqual({
      line: 51,
      column: 1,
      path: "acls[0].src[49]",
      message: '"bad49@" is not an email address',
    });
  });

  it("formatPolicyError gives line, column, path and sentence; testPolicy gives compile's errors", () => {
    const text = '{\n  "acls": [{ "action": "accept", "src": ["group:x"], "dst": ["*:*"] }]\n}';
    const errors = testPolicy(text, USERS);
    expect(errors).toEqual(refused(text));
    expect(errors.map(formatPolicyError)).toEqual([
      'line 2, column 42: acls[0].src[0]: unknown group "group:x" (not in groups)',
    ]);
    expect(formatPolicyError(refused("{")[0]!)).toBe(
      "line 1, column 2: syntax error: expected '}'",
    );
    expect(testPolicy('{"acls": []}', USERS)).toEqual([]);
  });

  it("__proto__, constructor and prototype are refused by name, never skipped or assigned", () => {
    expect(refused('{"__proto__": {"acls": 1}}')).toEqual([
      {
        line: 1,
        column: 2,
        path: "__proto__",
        message:
          'unknown key "__proto__" in the policy (allowed: groups, hosts, tagOwners, acls, ssh, tests)',
      },
    ]);
    expect(refused('{"groups": {"__proto__": ["a@example.com"]}}')).toEqual([
      { line: 1, column: 13, path: "groups.__proto__", message: '"__proto__" is a reserved name' },
    ]);
    expect(refused('{"hosts": {\n "x": "1.2.3.4", "constructor": "1.2.3.4"}}')).toEqual([
      {
        line: 2,
        column: 18,
        path: "hosts.constructor",
        message: '"constructor" is a reserved name',
      },
    ]);
    expect(({} as Record<string, unknown>).acls).toBeUndefined();
  });
});
