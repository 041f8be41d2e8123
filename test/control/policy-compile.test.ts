// The policy compiled per principal: groups (nested), tags and tagOwners, hosts and CIDRs, ports
// and protocols, `*`, autogroup:member/admin/self; filters, SSH rules and map visibility
// (canReach, symmetric and not), recompiling for new users, memoized and frozen answers.

import { describe, expect, it } from "vitest";
import type { FilterRule } from "../../worker/control/types.ts";
import {
  ADA,
  ALICE,
  BOB,
  CAROL,
  compiled,
  node,
  OWNER,
  tags,
  USERS,
  user,
} from "./policy-helpers.ts";

const ALL = { proto: "*", first: 0, last: 65535 } as const;
const port = (p: number, proto = "*") => ({ proto, first: p, last: p });

const GROUPS = `{
  "groups": {
    "group:eng": ["alice@example.com", "bob@example.com"],
    "group:all": ["group:eng", "CAROL@example.com", "dave@example.com"],
  },
  "tagOwners": { "tag:server": ["group:eng"], "tag:db": [], "tag:ci": ["autogroup:member"] },
  "acls": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22"] },
    { "action": "accept", "src": ["group:all"], "dst": ["tag:db:5432"], "proto": "tcp" },
  ],
}`;

describe("groups", () => {
  const policy = compiled(GROUPS);

  it("a group's members (emails without case) are the filter's source users", () => {
    expect(policy.filterFor(tags("tag:server"))).toEqual([
      { src: { users: [3, 4] }, ports: [port(22)] },
    ]);
  });

  it("nested groups flatten; members who never signed in match nobody", () => {
    expect(policy.filterFor(tags("tag:db"))).toEqual([
      { src: { users: [3, 4, 5] }, ports: [port(5432, "tcp")] },
    ]);
  });

  it("a member who signs in later matches once compiled with the new users", () => {
    const dave = { id: 6, email: "dave@example.com", role: "member" as const };
    const later = policy.withUsers([...USERS, dave]);
    expect(later.filterFor(tags("tag:db"))[0]!.src).toEqual({ users: [3, 4, 5, 6] });
    expect(later.canReach(user(6), tags("tag:db"))).toBe(true);
    // The earlier compilation is unchanged.
    expect(policy.canReach(user(6), tags("tag:db"))).toBe(false);
  });

  it("canReach is directional: members reach the server, the server reaches nobody", () => {
    expect(policy.canReach(ALICE, tags("tag:server"))).toBe(true);
    expect(policy.canReach(tags("tag:server"), ALICE)).toBe(false);
    expect(policy.canReach(CAROL, tags("tag:server"))).toBe(false);
    expect(policy.canReach(CAROL, tags("tag:db"))).toBe(true);
    expect(policy.canReach(ALICE, BOB)).toBe(false);
  });

  it("a node with several tags gets the rules of each", () => {
    expect(policy.filterFor(tags("tag:db", "tag:server"))).toEqual([
      { src: { users: [3, 4] }, ports: [port(22)] },
      { src: { users: [3, 4, 5] }, ports: [port(5432, "tcp")] },
    ]);
  });
});

describe("tags and tagOwners", () => {
  const policy = compiled(`{
    "groups": { "group:ops": ["carol@example.com"] },
    "tagOwners": {
      "tag:ci": ["group:ops"],
      "tag:web": ["alice@example.com"],
      "tag:shared": ["autogroup:member"],
      "tag:admins-only": ["autogroup:admin"],
    },
    "acls": [
      { "action": "accept", "src": ["tag:ci"], "dst": ["tag:web:443"] },
      { "action": "accept", "src": ["tag:web"], "dst": ["tag:web:8080"] },
    ],
  }`);

  it("a tag source is a tag selector; tagged nodes reach each other both ways", () => {
    expect(policy.filterFor(tags("tag:web"))).toEqual([
      { src: { tags: ["tag:ci"] }, ports: [port(443)] },
      { src: { tags: ["tag:web"] }, ports: [port(8080)] },
    ]);
    expect(policy.canReach(tags("tag:ci"), tags("tag:web"))).toBe(true);
    expect(policy.canReach(tags("tag:web"), tags("tag:ci"))).toBe(false);
    expect(policy.canReach(tags("tag:web", "tag:x"), tags("tag:web"))).toBe(true);
    // A user's node is not a tagged node, whoever owns the tag.
    expect(policy.canReach(ALICE, tags("tag:web"))).toBe(false);
  });

  it("tagOwners decide who may tag nodes; admins and the owner may use every tag", () => {
    expect(policy.mayUseTag(5, "tag:ci")).toBe(true); // carol, through group:ops
    expect(policy.mayUseTag(3, "tag:ci")).toBe(false);
    expect(policy.mayUseTag(3, "tag:web")).toBe(true);
    expect(policy.mayUseTag(4, "tag:shared")).toBe(true);
    expect(policy.mayUseTag(4, "tag:admins-only")).toBe(false);
    expect(policy.mayUseTag(2, "tag:admins-only")).toBe(true);
    expect(policy.mayUseTag(1, "tag:not-declared")).toBe(true);
    expect(policy.mayUseTag(3, "tag:not-declared")).toBe(false);
    expect(policy.mayUseTag(77, "tag:shared")).toBe(false);
  });
});

describe("hosts and addresses", () => {
  const policy = compiled(`{
    "hosts": { "office": "10.1.0.0/16", "db1": "100.64.0.9", "v6net": "fd7a:0:0::/48" },
    "acls": [
      { "action": "accept", "src": ["office", "192.168.1.7"], "dst": ["db1:5432"] },
      { "action": "accept", "src": ["alice@example.com"], "dst": ["100.64.0.0/24:80"] },
      { "action": "accept", "src": ["v6net"], "dst": ["[fd7a::5]:22"] },
    ],
  }`);

  it("source aliases and addresses become CIDRs of the filter", () => {
    const db = node(BOB, "100.64.0.9", "fd7a::9");
    expect(policy.filterFor(db)).toEqual([
      { src: { cidrs: ["10.1.0.0/16", "192.168.1.7/32"] }, ports: [port(5432)] },
      { src: { users: [3] }, ports: [port(80)] },
    ]);
  });

  it("an address destination applies to the nodes with an address inside, whoever owns them", () => {
    expect(policy.filterFor(node(BOB, "100.64.0.77"))).toEqual([
      { src: { users: [3] }, ports: [port(80)] },
    ]);
    expect(policy.filterFor(node(tags("tag:x"), "100.64.1.1"))).toEqual([]);
    // Without addresses, rules naming addresses do not apply.
    expect(policy.filterFor(BOB)).toEqual([]);
    expect(policy.filterFor(node(BOB, "fd7a::5"))).toEqual([
      { src: { cidrs: ["fd7a::/48"] }, ports: [port(22)] },
    ]);
  });

  it("canReach uses the source node's addresses for CIDR sources", () => {
    const officeBox = node(tags("tag:x"), "10.1.200.3");
    expect(policy.canReach(officeBox, node(BOB, "100.64.0.9"))).toBe(true);
    expect(policy.canReach(tags("tag:x"), node(BOB, "100.64.0.9"))).toBe(false);
    expect(policy.canReach(ALICE, node(CAROL, "100.64.0.200"))).toBe(true);
    expect(policy.canReach(ALICE, node(CAROL, "100.64.1.200"))).toBe(false);
  });
});

describe("ports, protocols, wildcards", () => {
  const policy = compiled(`{
    "acls": [
      { "action": "accept", "src": ["alice@example.com"], "dst": ["bob@example.com:80,443,8000-8100"] },
      { "action": "accept", "src": ["alice@example.com"], "dst": ["bob@example.com:53"], "proto": "udp" },
      { "action": "accept", "src": ["alice@example.com"], "dst": ["*:*"], "proto": "icmp" },
      { "action": "accept", "src": ["carol@example.com"], "dst": ["bob@example.com:443"] },
      { "action": "accept", "src": ["*"], "dst": ["carol@example.com:*"] },
    ],
  }`);

  it("lists and ranges, per protocol; one rule per source with ports merged", () => {
    const filter: FilterRule[] = policy.filterFor(BOB);
    expect(filter).toEqual([
      {
        src: { users: [3] },
        ports: [
          port(80),
          port(443),
          { proto: "*", first: 8000, last: 8100 },
          port(53, "udp"),
          { proto: "icmp", first: 0, last: 65535 },
        ],
      },
      { src: { users: [5] }, ports: [port(443)] },
    ]);
  });

  it("`*` as a source lets in every node; `*` as a destination covers users and tags", () => {
    expect(policy.filterFor(CAROL)).toEqual([
      { src: { users: [3] }, ports: [{ proto: "icmp", first: 0, last: 65535 }] },
      { src: { any: true }, ports: [ALL] },
    ]);
    expect(policy.canReach(tags("tag:anything"), CAROL)).toBe(true);
    expect(policy.canReach(ALICE, tags("tag:anything"))).toBe(true);
    expect(policy.canReach(BOB, ALICE)).toBe(false);
  });
});

describe("autogroups", () => {
  const policy = compiled(`{
    "groups": { "group:eng": ["alice@example.com", "bob@example.com"] },
    "tagOwners": { "tag:server": [] },
    "acls": [
      { "action": "accept", "src": ["group:eng"], "dst": ["autogroup:self:22"] },
      { "action": "accept", "src": ["autogroup:admin"], "dst": ["autogroup:member:*"] },
      { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:admin:443"] },
      { "action": "accept", "src": ["tag:server"], "dst": ["autogroup:self:*"] },
    ],
  }`);

  it("autogroup:self: a user's nodes, for sources of that same user", () => {
    expect(policy.filterFor(ALICE)).toEqual([
      { src: { users: [1, 2] }, ports: [ALL] },
      { src: { users: [3] }, ports: [port(22)] },
    ]);
    expect(policy.canReach(ALICE, ALICE)).toBe(true);
    expect(policy.canReach(ALICE, BOB)).toBe(false);
    // carol is not in group:eng: her own nodes do not reach each other.
    expect(policy.filterFor(CAROL)).toEqual([{ src: { users: [1, 2] }, ports: [ALL] }]);
    expect(policy.canReach(CAROL, CAROL)).toBe(false);
    // A tagged source never makes anyone's own nodes reachable.
    expect(policy.canReach(tags("tag:server"), ALICE)).toBe(false);
  });

  it("autogroup:admin is the admins and the owner; autogroup:member every user, no tags", () => {
    expect(policy.filterFor(ADA)).toEqual([
      { src: { users: [1, 2] }, ports: [ALL] },
      { src: { users: [1, 2, 3, 4, 5] }, ports: [port(443)] },
    ]);
    expect(policy.canReach(OWNER, CAROL)).toBe(true);
    expect(policy.canReach(CAROL, OWNER)).toBe(true);
    expect(policy.canReach(tags("tag:server"), OWNER)).toBe(false);
    expect(policy.canReach(OWNER, tags("tag:server"))).toBe(false);
  });

  it("a role change is seen after compiling with the changed users", () => {
    const promoted = policy.withUsers(
      USERS.map((u) => (u.id === 5 ? { ...u, role: "admin" as const } : u)),
    );
    expect(promoted.canReach(CAROL, BOB)).toBe(true);
    expect(policy.canReach(CAROL, BOB)).toBe(false);
  });
});

describe("ssh rules", () => {
  const policy = compiled(`{
    "groups": { "group:eng": ["alice@example.com", "bob@example.com"] },
    "tagOwners": { "tag:server": ["group:eng"] },
    "ssh": [
      { "action": "check", "src": ["group:eng"], "dst": ["tag:server"], "users": ["root", "deploy", "root"] },
      { "action": "check", "src": ["autogroup:admin"], "dst": ["tag:server"], "users": ["root"], "checkPeriod": "1h30m" },
      { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"] },
    ],
  }`);

  it("rules of a tagged destination, with the check period (12 h unless given)", () => {
    expect(policy.sshFor(tags("tag:server"))).toEqual([
      {
        src: { users: [3, 4] },
        users: ["root", "deploy"],
        action: "check",
        checkPeriodMs: 43_200_000,
      },
      { src: { users: [1, 2] }, users: ["root"], action: "check", checkPeriodMs: 5_400_000 },
    ]);
  });

  it("autogroup:self gives each user their own nodes as non-root", () => {
    expect(policy.sshFor(BOB)).toEqual([
      { src: { users: [4] }, users: ["autogroup:nonroot"], action: "accept" },
    ]);
    expect(policy.sshFor(tags("tag:other"))).toEqual([]);
  });
});

describe("answers", () => {
  const policy = compiled(GROUPS);

  it("are memoized per principal and frozen, so no caller can change another's", () => {
    const a = policy.filterFor(tags("tag:server"));
    const b = policy.filterFor(tags("tag:server"));
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a[0]!.src.users)).toBe(true);
    expect(() => a[0]!.src.users!.push(9)).toThrow(TypeError);
    // A node's addresses change nothing when the policy names no addresses.
    expect(policy.filterFor(node(tags("tag:server"), "100.64.0.1"))).toBe(a);
  });

  it("a tag set is the same principal whatever its order", () => {
    expect(policy.filterFor(tags("tag:server", "tag:db"))).toBe(
      policy.filterFor(tags("tag:db", "tag:server")),
    );
  });
});
