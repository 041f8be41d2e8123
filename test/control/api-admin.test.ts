// Users, nodes, policy and approvals through the API: who may do what, what is stored, and the
// MeshChanges call after each committed change (and none after a refused one).

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NodeRecord } from "../../server/control/store/types.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";

let h: Harness;
let owner: Browser;
beforeEach(async () => {
  h = await startHarness();
  owner = await h.signInOwner();
});
afterEach(async () => {
  await h.close();
});

const as = (who: Browser) => ({ cookie: who.cookie, csrf: who.csrf });

async function invite(role: "admin" | "member", email = ""): Promise<Browser> {
  const body = email === "" ? { role } : { role, email };
  const url = (await h.call("POST", "/api/v1/invites", { ...as(owner), body })).json.url;
  return h.acceptInvite(url);
}

let nodeCount = 0;
async function node(userId: number | null, name: string, tags: string[] = []): Promise<NodeRecord> {
  nodeCount++;
  return h.store.createNode({
    nodeKey: Buffer.alloc(32, nodeCount).toString("base64"),
    userId,
    tags,
    name,
    hostname: name,
    os: "linux",
    ipv4: `100.64.0.${nodeCount}`,
    ipv6: `fd00:1:2::${nodeCount}`,
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    lastSeen: null,
    authKeyId: null,
  });
}

describe("users", () => {
  it("admins list users; only the owner changes roles; the owner's role is fixed", async () => {
    const admin = await invite("admin");
    const member = await invite("member", "m@example.com");
    const listed = await h.call("GET", "/api/v1/users", { cookie: admin.cookie });
    expect(listed.json.users.map((u: { role: string }) => u.role).sort()).toEqual([
      "admin",
      "member",
      "owner",
    ]);
    expect(listed.text).not.toMatch(/subject|hash/);
    const byMember = await h.call("GET", "/api/v1/users", { cookie: member.cookie });
    expect(byMember.json).toEqual({ error: "forbidden", message: "this needs the admin role" });

    const byAdmin = await h.call("PATCH", `/api/v1/users/${member.userId}`, {
      ...as(admin),
      body: { role: "admin" },
    });
    expect(byAdmin.json).toEqual({ error: "forbidden", message: "this needs the owner role" });
    h.calls.length = 0;
    const promote = await h.call("PATCH", `/api/v1/users/${member.userId}`, {
      ...as(owner),
      body: { role: "admin" },
    });
    expect(promote.status).toBe(200);
    expect(promote.json.user).toMatchObject({ id: member.userId, role: "admin" });
    expect((await h.store.userById(member.userId))?.role).toBe("admin");
    expect(h.calls).toEqual([["userChanged", member.userId]]);

    const demoteOwner = await h.call("PATCH", `/api/v1/users/${owner.userId}`, {
      ...as(owner),
      body: { role: "member" },
    });
    expect(demoteOwner.status).toBe(409);
    expect(demoteOwner.json).toEqual({
      error: "owner_role_fixed",
      message: "the owner's role cannot be changed",
    });
    const makeOwner = await h.call("PATCH", `/api/v1/users/${member.userId}`, {
      ...as(owner),
      body: { role: "owner" },
    });
    expect(makeOwner.json.issues).toEqual([
      { path: "role", message: 'expected "admin" or "member"' },
    ]);
    const missing = await h.call("PATCH", "/api/v1/users/999", {
      ...as(owner),
      body: { role: "admin" },
    });
    expect(missing.json).toEqual({ error: "not_found", message: "no user with id 999" });
    expect(h.calls).toEqual([["userChanged", member.userId]]);
  });
});

describe("nodes", () => {
  it("members see and manage their own nodes only; admins all", async () => {
    const alice = await invite("member");
    const bob = await invite("member");
    const a1 = await node(alice.userId, "a1");
    const b1 = await node(bob.userId, "b1");
    const t1 = await node(null, "t1", ["tag:server"]);
    const names = async (who: Browser) =>
      (await h.call("GET", "/api/v1/nodes", { cookie: who.cookie })).json.nodes.map(
        (n: { name: string }) => n.name,
      );
    expect(await names(alice)).toEqual(["a1"]);
    expect(await names(owner)).toEqual(["a1", "b1", "t1"]);
    const view = (await h.call("GET", "/api/v1/nodes", { cookie: alice.cookie })).json.nodes[0];
    expect(view).toEqual({
      id: a1.id,
      key: a1.nodeKey,
      name: "a1",
      hostname: "a1",
      os: "linux",
      addresses: [a1.ipv4, a1.ipv6],
      userId: alice.userId,
      tags: [],
      ephemeral: false,
      keyExpiry: null,
      sshUsers: null,
      createdAt: h.clock.now,
      lastSeen: null,
      online: false,
    });
    h.calls.length = 0;
    for (const id of [b1.id, t1.id]) {
      const r = await h.call("PATCH", `/api/v1/nodes/${id}`, {
        ...as(alice),
        body: { name: "mine" },
      });
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ error: "not_found", message: `no node with id ${id}` });
      expect((await h.call("DELETE", `/api/v1/nodes/${id}`, as(alice))).status).toBe(404);
    }
    expect(h.calls).toEqual([]);
    expect((await h.store.nodeById(b1.id))?.name).toBe("b1");
  });

  it("rename, expire and remove write the store and then call MeshChanges", async () => {
    const alice = await invite("member");
    const a1 = await node(alice.userId, "a1");
    const a2 = await node(alice.userId, "a2");
    h.calls.length = 0;
    const renamed = await h.call("PATCH", `/api/v1/nodes/${a1.id}`, {
      ...as(alice),
      body: { name: "laptop" },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.json.node.name).toBe("laptop");
    expect((await h.store.nodeById(a1.id))?.name).toBe("laptop");
    expect(h.calls).toEqual([["nodeChanged", a1.id]]);

    const taken = await h.call("PATCH", `/api/v1/nodes/${a2.id}`, {
      ...as(alice),
      body: { name: "laptop" },
    });
    expect(taken.status).toBe(409);
    expect(taken.json).toEqual({
      error: "name_taken",
      message: "another node is already named laptop",
    });
    const badName = await h.call("PATCH", `/api/v1/nodes/${a2.id}`, {
      ...as(alice),
      body: { name: "Bad_Name" },
    });
    expect(badName.json.issues).toEqual([
      {
        path: "name",
        message: "expected a lowercase DNS label (a-z, 0-9, inner dashes, at most 63 characters)",
      },
    ]);
    expect((await h.store.nodeById(a2.id))?.name).toBe("a2");

    h.clock.now += 1000;
    const expired = await h.call("POST", `/api/v1/nodes/${a2.id}/expire`, as(alice));
    expect(expired.json.node.keyExpiry).toBe(h.clock.now);
    expect((await h.store.nodeById(a2.id))?.keyExpiry).toBe(h.clock.now);

    const removed = await h.call("DELETE", `/api/v1/nodes/${a1.id}`, as(owner));
    expect(removed.json).toEqual({ removed: a1.id });
    expect(await h.store.nodeById(a1.id)).toBeNull();
    expect(h.calls).toEqual([
      ["nodeChanged", a1.id],
      ["nodeChanged", a2.id],
      ["nodeRemoved", a1.id],
    ]);
  });
});

describe("policy", () => {
  it("shows the default policy until one is set", async () => {
    const got = await h.call("GET", "/api/v1/policy", { cookie: owner.cookie });
    expect(got.json).toMatchObject({ version: 0, default: true, updatedAt: null });
    expect(got.json.text).toContain("Corridor's default policy");
    expect(got.headers.get("etag")).toBe('"0"');
  });

  it("is refused with line, column and the failing test; nothing is stored", async () => {
    const failingTest = `{\n "acls": [],\n "tests": [\n  { "src": "m@example.com", "accept": ["owner-node:22"] },\n ],\n "hosts": { "owner-node": "100.64.0.1" },\n}`;
    await invite("member", "m@example.com");
    h.calls.length = 0;
    const put = await h.call("PUT", "/api/v1/policy", {
      ...as(owner),
      body: { text: failingTest },
    });
    expect(put.status).toBe(400);
    expect(put.json.error).toBe("invalid_policy");
    expect(put.json.errors).toHaveLength(1);
    expect(put.json.errors[0]).toMatchObject({ line: 4, column: 40, path: "tests[0].accept[0]" });
    expect(put.json.errors[0].message).toMatch(
      /^test 0 \(line 4\) failed: m@example.com cannot reach/,
    );
    expect(put.json.message).toBe(
      `the policy was refused: line 4, column 40: ${put.json.errors[0].message}`,
    );

    const syntax = await h.call("PUT", "/api/v1/policy", {
      ...as(owner),
      body: { text: '{ "acls": [ }' },
    });
    expect(syntax.json.errors[0]).toEqual({
      line: 1,
      column: 13,
      path: "",
      message: "syntax error: expected a value",
    });
    expect(await h.store.getPolicy()).toBeNull();
    expect(h.calls).toEqual([]);
  });

  it("is set with If-Match guarding against lost updates; test compiles without storing", async () => {
    const text = `// mine\n{ "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }], }`;
    const tested = await h.call("POST", "/api/v1/policy/test", { ...as(owner), body: { text } });
    expect(tested.json).toEqual({ ok: true, errors: [] });
    const badTest = await h.call("POST", "/api/v1/policy/test", {
      ...as(owner),
      body: { text: "{ acls }" },
    });
    expect(badTest.json.ok).toBe(false);
    expect(badTest.json.errors[0]).toMatchObject({ line: 1, column: 3 });
    expect(await h.store.getPolicy()).toBeNull();

    const put = await h.call("PUT", "/api/v1/policy", {
      ...as(owner),
      body: { text },
      headers: { "if-match": '"0"' },
    });
    expect(put.status).toBe(200);
    expect(put.json.version).toBe(1);
    expect(put.headers.get("etag")).toBe('"1"');
    expect(h.calls.at(-1)).toEqual(["policyChanged"]);
    const stale = await h.call("PUT", "/api/v1/policy", {
      ...as(owner),
      body: { text: `${text}\n` },
      headers: { "if-match": '"0"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.json).toEqual({
      error: "version_conflict",
      message: "the policy changed since you read it: get it again",
      version: 1,
    });
    const got = await h.call("GET", "/api/v1/policy", { cookie: owner.cookie });
    expect(got.json).toMatchObject({ text, version: 1, default: false, updatedBy: owner.userId });
    const badHeader = await h.call("PUT", "/api/v1/policy", {
      ...as(owner),
      body: { text },
      headers: { "if-match": "abc" },
    });
    expect(badHeader.json).toMatchObject({
      error: "invalid_header",
      issues: [{ path: "If-Match" }],
    });
  });

  it("is for admins only", async () => {
    const member = await invite("member");
    expect((await h.call("GET", "/api/v1/policy", { cookie: member.cookie })).json.error).toBe(
      "forbidden",
    );
    const put = await h.call("PUT", "/api/v1/policy", { ...as(member), body: { text: "{}" } });
    expect(put.json.error).toBe("forbidden");
    expect(await h.store.getPolicy()).toBeNull();
  });
});

describe("approvals", () => {
  const pending = (id: string, now: number) => ({
    id,
    nodeKey: Buffer.alloc(32, 9).toString("base64"),
    hostname: "build-01",
    os: "linux",
    requestedTags: [],
    createdAt: now,
    expiresAt: now + 600_000,
  });

  it("a signed-in user sees a waiting agent and approves it as theirs, or denies it", async () => {
    const member = await invite("member");
    h.approvals.pending.set("req1", pending("req1", h.clock.now));
    h.approvals.pending.set("req2", pending("req2", h.clock.now));
    const got = await h.call("GET", "/api/v1/approvals/req1", { cookie: member.cookie });
    expect(got.json.approval).toMatchObject({ id: "req1", hostname: "build-01" });
    const ok = await h.call("POST", "/api/v1/approvals/req1", {
      ...as(member),
      body: { approve: true },
    });
    expect(ok.json).toEqual({ approved: true });
    const no = await h.call("POST", "/api/v1/approvals/req2", {
      ...as(member),
      body: { approve: false },
    });
    expect(no.json).toEqual({ approved: false });
    expect(h.approvals.decided).toEqual([
      { id: "req1", approved: true, userId: member.userId },
      { id: "req2", approved: false },
    ]);
    const gone = await h.call("POST", "/api/v1/approvals/req1", {
      ...as(member),
      body: { approve: true },
    });
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({
      error: "approval_not_found",
      message: "no pending approval req1: it was decided, or it expired",
    });
  });

  it("tags need tagOwners; a member without them is refused and the agent keeps waiting", async () => {
    const member = await invite("member");
    h.approvals.pending.set("req3", pending("req3", h.clock.now));
    const refused = await h.call("POST", "/api/v1/approvals/req3", {
      ...as(member),
      body: { approve: true, tags: ["tag:server"] },
    });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({
      error: "tag_not_allowed",
      message: "the policy does not let you use tag:server (tagOwners)",
    });
    expect(h.approvals.pending.has("req3")).toBe(true);
    const byOwner = await h.call("POST", "/api/v1/approvals/req3", {
      ...as(owner),
      body: { approve: true, tags: ["tag:server"] },
    });
    expect(byOwner.json).toEqual({ approved: true });
    expect(h.approvals.decided).toEqual([
      { id: "req3", approved: true, userId: owner.userId, tags: ["tag:server"] },
    ]);
    const noBody = await h.call("POST", "/api/v1/approvals/req9", {
      ...as(owner),
      body: { tags: [] },
    });
    expect(noBody.json.issues).toEqual([{ path: "approve", message: "required field is missing" }]);
  });
});
