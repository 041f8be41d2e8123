// GET /api/v1/nodes/:id/ssh-users: which local users a signed-in caller may be on a node, for
// the page's SSH dialog. Accept and check rules (with the period), autogroup:nonroot kept when
// the node reported no users and expanded when it did, rules narrowed to a non-root agent's own
// user, a node hidden by the policy answering 404 as an unknown one, and a seeded fuzz of the
// path id.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NodeRecord } from "../../server/control/store/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";

const POLICY = `{
  "groups": { "group:eng": ["m@example.com"] },
  "tagOwners": { "tag:server": [], "tag:db": [], "tag:hidden": [] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22", "tag:db:22"] },
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
  ],
  "ssh": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server"], "users": ["deploy", "autogroup:nonroot"] },
    { "action": "check", "src": ["group:eng"], "dst": ["tag:server"], "users": ["root", "deploy"], "checkPeriod": "1h" },
    { "action": "check", "src": ["group:eng"], "dst": ["tag:db"], "users": ["postgres"] },
    { "action": "check", "src": ["group:eng"], "dst": ["tag:db"], "users": ["postgres"], "checkPeriod": "30m" },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"] },
  ],
}`;

let h: Harness;
let owner: Browser;
let member: Browser;
let other: Browser;
let count = 0;

const as = (who: Browser) => ({ cookie: who.cookie, csrf: who.csrf });

async function invite(email: string): Promise<Browser> {
  const body = { role: "member", email };
  const url = (await h.call("POST", "/api/v1/invites", { ...as(owner), body })).json.url;
  return h.acceptInvite(url);
}

async function node(
  owned: { userId: number } | { tags: string[] },
  sshUsers: string[] | null = null,
): Promise<NodeRecord> {
  count++;
  return h.store.createNode({
    nodeKey: Buffer.alloc(32, count).toString("base64"),
    userId: "userId" in owned ? owned.userId : null,
    tags: "tags" in owned ? owned.tags : [],
    name: `node-${count}`,
    hostname: `node-${count}`,
    os: "linux",
    ipv4: `100.64.0.${count}`,
    ipv6: `fd00:1:2::${count}`,
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    sshUsers,
    lastSeen: null,
    authKeyId: null,
  });
}

const users = (who: Browser, id: number | string) =>
  h.call("GET", `/api/v1/nodes/${id}/ssh-users`, { cookie: who.cookie });

beforeEach(async () => {
  h = await startHarness({ inMemory: true });
  owner = await h.signInOwner();
  member = await invite("m@example.com");
  other = await invite("o@example.com");
  const set = await h.call("PUT", "/api/v1/policy", { ...as(owner), body: { text: POLICY } });
  expect(set.status, set.text).toBe(200);
});
afterEach(async () => {
  await h.close();
});

describe("GET /api/v1/nodes/:id/ssh-users", () => {
  it("accept and check rules of a root agent: autogroup:nonroot kept, accept users first", async () => {
    const server = await node({ tags: ["tag:server"] });
    const reply = await users(member, server.id);
    expect(reply.status).toBe(200);
    // deploy is granted by an accept rule, so the check rule naming it too does not count.
    expect(reply.json).toEqual({
      users: ["deploy", "autogroup:nonroot", "root"],
      action: "check",
      checkPeriodMs: 3_600_000,
      checkUsers: ["root"],
    });
  });

  it("narrowed to the users the node reported: nonroot expanded, missing users dropped", async () => {
    const server = await node({ tags: ["tag:server"] }, ["deploy", "web", "root"]);
    expect((await users(member, server.id)).json).toEqual({
      users: ["deploy", "web", "root"],
      action: "check",
      checkPeriodMs: 3_600_000,
      checkUsers: ["root"],
    });
    // A non-root agent running as "web" can be nobody else: only the accept rule is left.
    const nonRoot = await node({ tags: ["tag:server"] }, ["web"]);
    expect((await users(member, nonRoot.id)).json).toEqual({
      users: ["web"],
      action: "accept",
      checkPeriodMs: null,
      checkUsers: [],
    });
    // An agent that reported no user at all: nothing to offer.
    const nobody = await node({ tags: ["tag:server"] }, []);
    expect((await users(member, nobody.id)).json).toEqual({
      users: [],
      action: null,
      checkPeriodMs: null,
      checkUsers: [],
    });
  });

  it("check only: the shortest period of the rules granting the user", async () => {
    const db = await node({ tags: ["tag:db"] });
    expect((await users(member, db.id)).json).toEqual({
      users: ["postgres"],
      action: "check",
      checkPeriodMs: 30 * 60_000,
      checkUsers: ["postgres"],
    });
  });

  it("the caller's own device: any user but root; another member's device is hidden", async () => {
    const mine = await node({ userId: member.userId });
    expect((await users(member, mine.id)).json).toEqual({
      users: ["autogroup:nonroot"],
      action: "accept",
      checkPeriodMs: null,
      checkUsers: [],
    });
    const reported = await node({ userId: member.userId }, ["root", "ada", "bob"]);
    expect((await users(member, reported.id)).json.users).toEqual(["ada", "bob"]);
    // o@example.com is not in group:eng, and m's device is not in o's map.
    const hidden = await users(other, mine.id);
    expect(hidden.status).toBe(404);
    expect(hidden.json).toEqual({ error: "not_found", message: `no node with id ${mine.id}` });
  });

  it("a node the policy hides answers 404 as an unknown id; an admin sees it with no users", async () => {
    const hidden = await node({ tags: ["tag:hidden"] });
    const byMember = await users(member, hidden.id);
    const unknown = await users(member, hidden.id + 1000);
    expect(byMember.status).toBe(404);
    expect(byMember.json).toEqual({ error: "not_found", message: `no node with id ${hidden.id}` });
    expect(unknown.json).toEqual({
      error: "not_found",
      message: `no node with id ${hidden.id + 1000}`,
    });
    const byOwner = await users(owner, hidden.id);
    expect(byOwner.status).toBe(200);
    expect(byOwner.json).toEqual({ users: [], action: null, checkPeriodMs: null, checkUsers: [] });
  });

  it("needs a caller; a bad id is named", async () => {
    const server = await node({ tags: ["tag:server"] });
    expect((await h.call("GET", `/api/v1/nodes/${server.id}/ssh-users`)).status).toBe(401);
    const bad = await users(member, "x1");
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      error: "invalid_path",
      message: "id must be a positive integer",
    });
  });

  it("fuzz: hostile path ids never fail with 500 nor leak a hidden node (1,000 inputs)", async () => {
    const server = await node({ tags: ["tag:server"] });
    const hidden = await node({ tags: ["tag:hidden"] });
    const rand = seededInts(15_004);
    const pieces = [
      "0",
      "1",
      "9",
      "-",
      "+",
      "%20",
      "%00",
      "..",
      "e",
      "x",
      ".",
      "%2F",
      "99999999999999999",
      String(server.id),
      String(hidden.id),
    ];
    const statuses = new Map<number, number>();
    const inputs = 1000;
    for (let i = 0; i < inputs; i++) {
      let id = "";
      for (let n = 1 + rand(4); n > 0; n--) id += pieces[rand(pieces.length)];
      const reply = await users(member, id);
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      expect([200, 400, 404], `${id}: ${reply.text}`).toContain(reply.status);
      if (reply.status === 200) expect(id).toBe(String(server.id));
    }
    console.log(`ssh-users fuzz: ${inputs} path ids, statuses ${JSON.stringify([...statuses])}`);
  });
});
