// The audit log through the API: an entry for every action that changes something (nodes,
// users, auth and API keys, invitations, policy, approvals) and for sign-ins and sign-outs, with
// actor, time and source address, written with the change (a refused change leaves none);
// GET /api/v1/audit pages newest first for admins only; a seeded fuzz of its query.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../server/control/store/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";
import { Browser as OidcBrowser, signIn, startOidcLab } from "./oidc-fixture.ts";

let h: Harness;
let owner: Browser;
beforeEach(async () => {
  h = await startHarness({ inMemory: true });
  owner = await h.signInOwner();
});
afterEach(async () => {
  await h.close();
});

const as = (who: Browser) => ({ cookie: who.cookie, csrf: who.csrf });

async function invite(role: "admin" | "member", email: string): Promise<Browser> {
  const url = (await h.call("POST", "/api/v1/invites", { ...as(owner), body: { role, email } }))
    .json.url;
  return h.acceptInvite(url);
}

/** The whole log, oldest first, as [action, actor, target, detail]. */
async function log(): Promise<string[][]> {
  const entries = (await h.store.listAudit(1000)).reverse();
  return entries.map((e) => [e.action, e.actor, e.target, e.detail]);
}

describe("audit entries", () => {
  it("one per change, with who, what, when and from where", async () => {
    const signedIn = h.clock.now;
    h.clock.now += 1000;
    const member = await invite("member", "m@example.com");
    const user = await h.call("PATCH", `/api/v1/users/${member.userId}`, {
      ...as(owner),
      body: { role: "admin" },
    });
    expect(user.status).toBe(200);
    const node = await h.store.createNode({
      nodeKey: Buffer.alloc(32, 1).toString("base64"),
      userId: member.userId,
      tags: [],
      name: "web-01",
      hostname: "web-01",
      os: "linux",
      ipv4: "100.64.0.1",
      ipv6: "fd00:1:2::1",
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: [],
      lastSeen: null,
      authKeyId: null,
    });
    const n = `/api/v1/nodes/${node.id}`;
    expect((await h.call("PATCH", n, { ...as(owner), body: { name: "db-01" } })).status).toBe(200);
    expect((await h.call("POST", `${n}/expire`, as(owner))).status).toBe(200);
    expect((await h.call("DELETE", n, as(owner))).status).toBe(200);
    const ak = await h.call("POST", "/api/v1/authkeys", {
      ...as(owner),
      body: { reusable: true, ephemeral: true, tags: ["tag:ci"], expiry: "1d" },
    });
    expect(ak.status).toBe(201);
    const akId = ak.json.authKey.id;
    expect((await h.call("DELETE", `/api/v1/authkeys/${akId}`, as(owner))).status).toBe(200);
    const api = await h.call("POST", "/api/v1/apikeys", { ...as(owner), body: { expiry: "1h" } });
    const apiId = api.json.apiKey.id;
    expect((await h.call("DELETE", `/api/v1/apikeys/${apiId}`, as(owner))).status).toBe(200);
    const text = '{ "tagOwners": { "tag:ci": [] }, "acls": [] }';
    expect((await h.call("PUT", "/api/v1/policy", { ...as(owner), body: { text } })).status).toBe(
      200,
    );
    h.approvals.pending.set("req1", {
      id: "req1",
      nodeKey: Buffer.alloc(32, 9).toString("base64"),
      hostname: "build-01",
      os: "linux",
      requestedTags: [],
      createdAt: h.clock.now,
      expiresAt: h.clock.now + 60_000,
    });
    h.approvals.pending.set("req2", { ...h.approvals.pending.get("req1")!, id: "req2" });
    const approve = (id: string, yes: boolean) =>
      h.call("POST", `/api/v1/approvals/${id}`, { ...as(member), body: { approve: yes } });
    expect((await approve("req1", true)).status).toBe(200);
    expect((await approve("req2", false)).status).toBe(200);
    expect((await h.call("POST", "/api/v1/logout", as(member))).status).toBe(200);

    const ak0 = ak.json.authKey.prefix;
    const api0 = api.json.apiKey.prefix;
    const expires = new Date(h.clock.now + 86_400_000).toISOString();
    // The owner made by the owner link has no email: its entries name it by its name.
    const O = "owner";
    expect(await log()).toEqual([
      ["login", O, "", "owner link"],
      ["invite.create", O, "m@example.com", expect.stringMatching(/^role member, expires /)],
      ["login", "m@example.com", "", "invite link"],
      ["user.role", O, `user ${member.userId} m@example.com`, "member -> admin"],
      ["node.rename", O, `node ${node.id} web-01`, "web-01 -> db-01"],
      ["node.expire", O, `node ${node.id} db-01`, ""],
      ["node.remove", O, `node ${node.id} db-01`, ""],
      [
        "authkey.create",
        O,
        `auth key ${akId} ${ak0}`,
        `reusable, ephemeral, tags tag:ci, expires ${expires}`,
      ],
      ["authkey.revoke", O, `auth key ${akId} ${ak0}`, ""],
      ["apikey.create", O, `API key ${apiId} ${api0}`, expect.stringMatching(/^expires /)],
      ["apikey.revoke", O, `API key ${apiId} ${api0}`, ""],
      ["policy.set", O, "policy version 1", `${text.length} characters`],
      ["approval.approve", "m@example.com", "approval req1 build-01", ""],
      ["approval.deny", "m@example.com", "approval req2 build-01", ""],
      ["logout", "m@example.com", "", ""],
    ]);
    // Every entry has the time, the source address and how the actor signed in.
    const all = await h.store.listAudit(1000);
    const ownerRecord = await h.store.userById(owner.userId);
    for (const e of all) {
      expect(e.source).toBe("127.0.0.1");
      expect(e.at).toBe(e.id === all.at(-1)!.id ? signedIn : h.clock.now);
      if (e.actorId === owner.userId) expect(e.actor).toBe(ownerRecord!.email || ownerRecord!.name);
    }
    const vias = all.map((e) => `${e.action}:${e.via}`);
    expect(vias).toContain("login:link");
    expect(vias).toContain("logout:session");
  });

  it("a refused change leaves no entry; an API key is named as the way in", async () => {
    const before = (await h.store.listAudit(1000)).length;
    const member = await invite("member", "x@example.com");
    const after = (await h.store.listAudit(1000)).length;
    expect(after).toBe(before + 2);
    // A member may not change roles, and a bad policy is refused: nothing recorded.
    await h.call("PATCH", `/api/v1/users/${owner.userId}`, {
      ...as(member),
      body: { role: "admin" },
    });
    const bad = await h.call("PUT", "/api/v1/policy", { ...as(owner), body: { text: "{ nope" } });
    expect(bad.status).toBe(400);
    expect((await h.store.listAudit(1000)).length).toBe(after);
    const key = (await h.call("POST", "/api/v1/apikeys", { ...as(owner), body: {} })).json.key;
    const ak = await h.call("POST", "/api/v1/authkeys", { bearer: key, body: {} });
    expect(ak.status).toBe(201);
    const [newest] = await h.store.listAudit(1);
    expect(newest).toMatchObject({
      action: "authkey.create",
      via: "apikey",
      actorId: owner.userId,
    });
  });
});

describe("sign-ins through the identity provider", () => {
  it("are recorded as oidc, and a check rule's fresh sign-in says so", async () => {
    const lab = await startOidcLab();
    try {
      const journey = await signIn(lab.harness, new OidcBrowser(), "alice");
      expect(journey.final.status).toBe(302);
      const [entry] = await lab.harness.store.listAudit(1);
      expect(entry).toMatchObject({
        action: "login",
        via: "oidc",
        actor: "alice@example.com",
        detail: "identity provider",
        source: "127.0.0.1",
      });
      const fresh = await signIn(lab.harness, new OidcBrowser(), "alice", "/", "/login/check");
      expect(fresh.final.status).toBe(200);
      expect((await lab.harness.store.listAudit(1))[0]).toMatchObject({
        action: "login",
        via: "oidc",
        detail: "fresh sign-in (ssh check)",
      });
    } finally {
      await lab.close();
    }
  });
});

describe("GET /api/v1/audit", () => {
  async function fill(n: number): Promise<void> {
    await h.store.transaction(async (tx) => {
      for (let i = 0; i < n; i++) {
        await tx.addAudit({
          at: i,
          actorId: null,
          actor: "seed",
          via: "session",
          action: "node.rename",
          target: `node ${i}`,
          detail: "",
          source: "127.0.0.1",
        });
      }
    });
  }

  it("pages newest first with next as the cursor; 50 by default, at most 500", async () => {
    await fill(120);
    const all = await h.store.listAudit(1000);
    const first = await h.call("GET", "/api/v1/audit", { cookie: owner.cookie });
    expect(first.status).toBe(200);
    expect(first.json.entries).toEqual(all.slice(0, 50));
    expect(first.json.next).toBe(all[49]!.id);
    const seen: AuditRecord[] = [];
    let before: number | null = null;
    for (;;) {
      const q: string = before === null ? "?limit=37" : `?limit=37&before=${before}`;
      const page = await h.call("GET", `/api/v1/audit${q}`, { cookie: owner.cookie });
      seen.push(...page.json.entries);
      before = page.json.next;
      if (before === null) break;
    }
    expect(seen).toEqual(all);
    const max = await h.call("GET", "/api/v1/audit?limit=501", { cookie: owner.cookie });
    expect(max.status).toBe(400);
    expect(max.json).toMatchObject({
      error: "invalid_query",
      message: "invalid query: limit: at most 500",
      issues: [{ path: "limit", message: "at most 500" }],
    });
    const unknown = await h.call("GET", "/api/v1/audit?user=1", { cookie: owner.cookie });
    expect(unknown.json).toMatchObject({ error: "invalid_query", issues: [{ path: "user" }] });
  });

  it("admins only", async () => {
    const member = await invite("member", "m@example.com");
    const admin = await invite("admin", "a@example.com");
    const refused = await h.call("GET", "/api/v1/audit", { cookie: member.cookie });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ error: "forbidden", message: "this needs the admin role" });
    expect((await h.call("GET", "/api/v1/audit", { cookie: admin.cookie })).status).toBe(200);
    expect((await h.call("GET", "/api/v1/audit")).status).toBe(401);
  });

  it("fuzz: hostile queries answer 200 or 400 invalid_query, never 500 (1,500 inputs)", async () => {
    await fill(20);
    const rand = seededInts(15_006);
    const names = ["limit", "before", "LIMIT", "x", "", "limit[]", "before%00", "__proto__"];
    const values = [
      "1",
      "0",
      "-1",
      "500",
      "501",
      "1e3",
      "0x10",
      " 5",
      "%20",
      "abc",
      "",
      "9".repeat(20),
      "3.5",
      "%F0%9F%A6%8A",
      "10&limit=2",
    ];
    const inputs = 1500;
    const statuses = new Map<number, number>();
    for (let i = 0; i < inputs; i++) {
      const parts: string[] = [];
      for (let n = rand(4); n > 0; n--) {
        parts.push(`${names[rand(names.length)]}=${values[rand(values.length)]}`);
      }
      const reply = await h.call("GET", `/api/v1/audit?${parts.join("&")}`, {
        cookie: owner.cookie,
      });
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      expect([200, 400], `${parts.join("&")}: ${reply.text}`).toContain(reply.status);
      if (reply.status === 400) expect(reply.json.error).toBe("invalid_query");
      else expect(reply.json.entries.length).toBeLessThanOrEqual(500);
    }
    console.log(`audit query fuzz: ${inputs} queries, statuses ${JSON.stringify([...statuses])}`);
  });
});
