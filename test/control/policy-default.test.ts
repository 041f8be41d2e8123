// The policy in force while none is set: each user reaches their own nodes on every port and
// logs in to them as a non-root user; admins and the owner reach every node; tagged nodes reach
// nobody and take no SSH logins until a policy says so.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { ADA, ALICE, BOB, OWNER, tags, USERS } from "./policy-helpers.ts";

const result = compilePolicy(DEFAULT_POLICY, USERS);
if (!result.ok)
  throw new Error(`the default policy does not compile: ${JSON.stringify(result.errors)}`);
const policy = result.policy;
const EVERY_PORT = [{ proto: "*", first: 0, last: 65535 }];

describe("default policy", () => {
  it("a member reaches their own nodes, not another member's, not tagged nodes", () => {
    expect(policy.canReach(ALICE, ALICE)).toBe(true);
    expect(policy.canReach(ALICE, BOB)).toBe(false);
    expect(policy.canReach(BOB, ALICE)).toBe(false);
    expect(policy.canReach(ALICE, tags("tag:server"))).toBe(false);
    expect(policy.canReach(tags("tag:server"), ALICE)).toBe(false);
  });

  it("admins and the owner reach everyone, tagged nodes included; not the other way", () => {
    expect(policy.canReach(ADA, BOB)).toBe(true);
    expect(policy.canReach(OWNER, tags("tag:server"))).toBe(true);
    expect(policy.canReach(BOB, ADA)).toBe(false);
    expect(policy.canReach(ADA, OWNER)).toBe(true);
  });

  it("a member's filter: admins, and their own nodes, on every port", () => {
    expect(policy.filterFor(ALICE)).toEqual([
      { src: { users: [1, 2] }, ports: EVERY_PORT },
      { src: { users: [3] }, ports: EVERY_PORT },
    ]);
    expect(policy.filterFor(tags("tag:server"))).toEqual([
      { src: { users: [1, 2] }, ports: EVERY_PORT },
    ]);
  });

  it("SSH: users log in to their own nodes as non-root; tagged nodes take no logins", () => {
    expect(policy.sshFor(BOB)).toEqual([
      { src: { users: [4] }, users: ["autogroup:nonroot"], action: "accept" },
    ]);
    expect(policy.sshFor(tags("tag:server"))).toEqual([]);
  });

  it("tags: only admins and the owner may use them (no tagOwners)", () => {
    expect(policy.mayUseTag(2, "tag:server")).toBe(true);
    expect(policy.mayUseTag(3, "tag:server")).toBe(false);
  });
});

describe("docs/control.md", () => {
  it("the full example of the Policy section compiles, its tests included", () => {
    const doc = readFileSync(new URL("../../docs/control.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("## Policy"));
    const example = /```jsonc\n([\s\S]*?)```/.exec(section)?.[1];
    expect(example).toContain('"tests"');
    const compiledExample = compilePolicy(example!, USERS);
    expect(compiledExample.ok ? [] : compiledExample.errors).toEqual([]);
  });
});
