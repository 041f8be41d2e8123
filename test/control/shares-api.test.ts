// Share links through the real HTTP API (api-harness.ts: a control API on loopback, a real
// SQLite store, a fake clock): create, offer, accept, list, revoke; every refusal of an accept
// (used up, expired, tampered secret, unknown id, revoked, audience) creates nothing (nodes and
// acceptances counted before and after); concurrent accepts of a one-use share; the audit
// entries; the public routes' Origin check and rate limit.

import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ShareService } from "../../server/control/shares/service.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { type Browser, type Harness, type Reply, startHarness } from "./api-harness.ts";

let h: Harness;
let owner: Browser;
let deviceId: number;

const wgKey = (): string => randomBytes(32).toString("base64");

async function setup(options: Parameters<typeof startHarness>[0] = {}) {
  h = await startHarness(options);
  await loadOrInitSettings(h.store);
  owner = await h.signInOwner();
  deviceId = (
    await h.store.createNode({
      nodeKey: wgKey(),
      userId: owner.userId,
      tags: [],
      name: "devbox",
      hostname: "devbox",
      os: "linux",
      ipv4: "100.64.0.9",
      ipv6: "fd00:9::9",
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: ["ssh-ed25519 AAAA"],
      sshUsers: ["ada", "bob"],
      lastSeen: null,
      authKeyId: null,
    })
  ).id;
}

afterEach(async () => {
  await h.close();
});

/** Creates a share as `who` (the owner by default); returns the reply. */
function create(body: Record<string, unknown>, who: Browser = owner): Promise<Reply> {
  return h.call("POST", "/api/v1/shares", {
    body: { nodeId: deviceId, ...body },
    cookie: who.cookie,
    csrf: who.csrf,
  });
}

/** The id and secret of a created share's URL. */
function linkOf(reply: Reply): { id: string; secret: string } {
  const parsed = parseShareLink(reply.json.url);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.link;
}

function accept(
  link: { id: string; secret: string },
  extra: { cookie?: string; nodeKey?: string; hostname?: string } = {},
): Promise<Reply> {
  return h.call("POST", `/api/v1/shares/${link.id}/accept`, {
    body: { secret: link.secret, nodeKey: extra.nodeKey ?? wgKey(), hostname: extra.hostname },
    origin: h.origin,
    ...(extra.cookie === undefined ? {} : { cookie: extra.cookie }),
    headers: { "user-agent": "TestBrowser/1.0" },
  });
}

/** How many nodes and acceptances exist. */
async function counts(): Promise<{ nodes: number; acceptances: number }> {
  let acceptances = 0;
  for (const share of await h.store.listShares()) {
    acceptances += (await h.store.acceptancesOfShare(share.id)).length;
  }
  return { nodes: (await h.store.listNodes()).length, acceptances };
}

/** Expects `reply` refused with `code` and nothing created since `before`. */
async function refusedCreatingNothing(
  reply: Reply,
  status: number,
  code: string,
  before: { nodes: number; acceptances: number },
) {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json.error).toBe(code);
  expect(typeof reply.json.message).toBe("string");
  expect(await counts()).toEqual(before);
}

describe("share API", () => {
  beforeEach(async () => {
    await setup();
  });

  it("creates a share (URL once, no secret kept), offers it, accepts it once, lists and audits it", async () => {
    const made = await create({
      sshUsers: ["ada"],
      ports: [8080, 80, 80],
      expiry: "2h",
      note: "hi",
    });
    expect(made.status, made.text).toBe(201);
    expect(made.json.url).toMatch(
      new RegExp(`^${h.origin}/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`),
    );
    const link = linkOf(made);
    expect(made.json.share).toMatchObject({
      id: link.id,
      nodeId: deviceId,
      nodeName: "devbox",
      sshUsers: ["ada"],
      ports: [80, 8080],
      audience: "anyone",
      emails: [],
      maxUses: 1,
      uses: 0,
      note: "hi",
      expiresAt: h.clock.now + 2 * 3_600_000,
      state: "active",
      acceptances: [],
    });
    expect(made.text).not.toContain("secretHash");
    expect(JSON.stringify(await h.store.listAudit(50))).not.toContain(link.secret);

    const offer = await h.call("POST", `/api/v1/shares/${link.id}/offer`, {
      body: { secret: link.secret },
      origin: h.origin,
    });
    expect(offer.status, offer.text).toBe(200);
    expect(offer.json.offer).toEqual({
      id: link.id,
      device: { name: "devbox", os: "linux" },
      sharedBy: "owner",
      sshUsers: ["ada"],
      ports: [80, 8080],
      audience: "anyone",
      expiresAt: h.clock.now + 2 * 3_600_000,
      usesLeft: 1,
      note: "hi",
    });

    const before = await counts();
    h.calls.length = 0;
    const nodeKey = wgKey();
    const ok = await accept(link, { nodeKey, hostname: "ada-laptop" });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.json).toMatchObject({ device: "devbox", node: { name: "share-ada-laptop" } });
    expect(ok.json.node.addresses).toHaveLength(2);
    expect(await counts()).toEqual({ nodes: before.nodes + 1, acceptances: 1 });
    expect(h.calls).toEqual([["nodeChanged", ok.json.node.id]]);
    const node = await h.store.nodeByKey(nodeKey);
    expect(node).toMatchObject({ userId: null, tags: [], ephemeral: true });

    const again = await accept(link);
    await refusedCreatingNothing(again, 403, "share_used_up", await counts());

    const list = await h.call("GET", "/api/v1/shares", { cookie: owner.cookie });
    expect(list.status).toBe(200);
    expect(list.json.shares).toHaveLength(1);
    expect(list.json.shares[0]).toMatchObject({ uses: 1, state: "used-up" });
    expect(list.json.shares[0].acceptances).toEqual([
      {
        id: ok.json.acceptanceId,
        nodeId: ok.json.node.id,
        nodeName: "share-ada-laptop",
        userId: null,
        name: "Guest 1",
        userAgent: "TestBrowser/1.0",
        acceptedAt: h.clock.now,
        endedAt: null,
        endReason: null,
        // Its node never streamed a map here (the recipient has not opened the share yet).
        online: false,
      },
    ]);

    const actions = (await h.store.listAudit(50)).map((e) => [e.action, e.actor, e.via]);
    expect(actions).toContainEqual(["share.create", "owner", "session"]);
    expect(actions).toContainEqual(["share.accept", "guest", "share"]);
  });

  it("refuses tampered secrets, unknown and malformed ids alike, expired links: nothing created", async () => {
    const link = linkOf(await create({ ports: [80], maxUses: null, expiry: "10m" }));
    const before = await counts();
    const flipped = `${link.secret.slice(0, 10)}${link.secret[10] === "A" ? "B" : "A"}${link.secret.slice(11)}`;
    const tampered = await accept({ id: link.id, secret: flipped });
    await refusedCreatingNothing(tampered, 404, "share_not_found", before);
    const unknown = await accept({ id: "A".repeat(22), secret: link.secret });
    await refusedCreatingNothing(unknown, 404, "share_not_found", before);
    // The caller cannot tell an unknown id from a wrong secret.
    expect(unknown.json).toEqual(tampered.json);
    const malformed = await accept({ id: "short", secret: link.secret });
    expect(malformed.json).toEqual(tampered.json);
    const offerWrong = await h.call("POST", `/api/v1/shares/${link.id}/offer`, {
      body: { secret: flipped },
      origin: h.origin,
    });
    expect(offerWrong.json).toEqual(tampered.json);

    h.clock.now += 10 * 60_000;
    await refusedCreatingNothing(await accept(link), 403, "share_expired", before);
    const offer = await h.call("POST", `/api/v1/shares/${link.id}/offer`, {
      body: { secret: link.secret },
      origin: h.origin,
    });
    expect(offer.json.error).toBe("share_expired");
  });

  it("revokes a share (its nodes removed, later accepts refused) and one acceptance", async () => {
    const link = linkOf(await create({ ports: [80], maxUses: 3 }));
    const a = await accept(link);
    const b = await accept(link);
    h.calls.length = 0;
    const one = await h.call(
      "DELETE",
      `/api/v1/shares/${link.id}/acceptances/${a.json.acceptanceId}`,
      { cookie: owner.cookie, csrf: owner.csrf },
    );
    expect(one.status, one.text).toBe(204);
    expect(h.calls).toEqual([["nodeRemoved", a.json.node.id]]);
    expect(await h.store.nodeById(a.json.node.id)).toBeNull();
    expect(await h.store.acceptanceById(a.json.acceptanceId)).toMatchObject({
      endReason: "revoked",
    });
    const missing = await h.call("DELETE", `/api/v1/shares/${link.id}/acceptances/999`, {
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    expect(missing.json.error).toBe("share_acceptance_not_found");

    h.calls.length = 0;
    const whole = await h.call("DELETE", `/api/v1/shares/${link.id}`, {
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    expect(whole.status, whole.text).toBe(204);
    expect(h.calls).toEqual([["nodeRemoved", b.json.node.id]]);
    await refusedCreatingNothing(await accept(link), 403, "share_revoked", await counts());
    const actions = (await h.store.listAudit(50)).map((e) => e.action);
    expect(actions).toContain("share.revoke");
    expect(actions).toContain("share.acceptance.revoke");
    const list = await h.call("GET", "/api/v1/shares", { cookie: owner.cookie });
    expect(list.json.shares[0].state).toBe("revoked");
  });

  it("checks what is shared: SSH needs the agent's SSH server, users, expiry, ports, CSRF", async () => {
    const bare = (
      await h.store.createNode({
        nodeKey: wgKey(),
        userId: owner.userId,
        tags: [],
        name: "plain",
        hostname: "plain",
        os: "linux",
        ipv4: "100.64.0.10",
        ipv6: "fd00:9::a",
        ephemeral: false,
        keyExpiry: null,
        sshHostKeys: [],
        lastSeen: null,
        authKeyId: null,
      })
    ).id;
    const noSsh = await create({ nodeId: bare, sshUsers: ["ada"] });
    expect(noSsh.status).toBe(409);
    expect(noSsh.json).toEqual({
      error: "share_ssh_unavailable",
      message: "sharing SSH needs the Corridor agent's SSH server on plain",
    });
    expect((await create({ nodeId: bare, ports: [3000] })).status).toBe(201);
    const nothing = await create({});
    expect(nothing.json).toMatchObject({
      error: "share_invalid",
      issues: [{ path: "body", message: "offer SSH users, ports, or both" }],
    });
    const wrongUser = await create({ sshUsers: ["root"] });
    expect(wrongUser.json.error).toBe("share_invalid");
    expect(wrongUser.json.issues[0].path).toBe("sshUsers[0]");
    expect((await create({ ports: [80], expiry: "30s" })).json.issues[0].path).toBe("expiry");
    expect((await create({ ports: [80], expiry: "31d" })).json.issues[0].path).toBe("expiry");
    expect((await create({ ports: [80], audience: "emails" })).json.issues[0].path).toBe("emails");
    expect((await create({ ports: [0] })).json.error).toBe("invalid_body");
    expect((await create({ ports: [80], note: "x".repeat(281) })).json.error).toBe("invalid_body");
    const emails = await create({
      ports: [80],
      audience: "emails",
      emails: ["Ada@Example.COM", "ada@example.com"],
    });
    expect(emails.json.share.emails).toEqual(["ada@example.com"]);
    const noCsrf = await h.call("POST", "/api/v1/shares", {
      body: { nodeId: deviceId, ports: [80] },
      cookie: owner.cookie,
    });
    expect(noCsrf.json.error).toBe("csrf_token_invalid");
    expect((await h.call("POST", "/api/v1/shares", { body: { ports: [80] } })).status).toBe(401);
  });

  it("audiences: signed-in needs a session, emails a listed email; members see and share their own", async () => {
    const invite = await h.call("POST", "/api/v1/invites", {
      body: { email: "bob@example.com" },
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    const bob = await h.acceptInvite(invite.json.url, "Bob");
    const before = await counts();
    const signedIn = linkOf(await create({ ports: [80], audience: "signed-in", maxUses: 5 }));
    await refusedCreatingNothing(await accept(signedIn), 401, "share_sign_in_required", before);
    const asBob = await accept(signedIn, { cookie: bob.cookie });
    expect(asBob.status, asBob.text).toBe(201);
    expect(await h.store.acceptanceById(asBob.json.acceptanceId)).toMatchObject({
      userId: bob.userId,
      guestName: "Bob",
    });

    const forAda = linkOf(
      await create({ ports: [80], audience: "emails", emails: ["ada@example.com"] }),
    );
    const mid = await counts();
    await refusedCreatingNothing(await accept(forAda), 401, "share_sign_in_required", mid);
    await refusedCreatingNothing(
      await accept(forAda, { cookie: bob.cookie }),
      403,
      "share_email_not_allowed",
      mid,
    );
    const forBob = linkOf(
      await create({ ports: [80], audience: "emails", emails: ["BOB@example.com"] }),
    );
    expect((await accept(forBob, { cookie: bob.cookie })).status).toBe(201);

    // Bob may not share the owner's device, sees none of the owner's shares, nor revoke them.
    expect((await create({ ports: [80] }, bob)).json.error).toBe("share_forbidden");
    const bobs = await h.call("GET", "/api/v1/shares", { cookie: bob.cookie });
    expect(bobs.json.shares).toEqual([]);
    const revoke = await h.call("DELETE", `/api/v1/shares/${forBob.id}`, {
      cookie: bob.cookie,
      csrf: bob.csrf,
    });
    expect(revoke.json.error).toBe("share_not_found");
  });

  it("of concurrent accepts of a one-use share exactly one wins", async () => {
    const link = linkOf(await create({ ports: [80] }));
    const before = await counts();
    const replies = await Promise.all(Array.from({ length: 12 }, () => accept(link)));
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of replies.filter((x) => x.status !== 201)) {
      expect(r.json.error).toBe("share_used_up");
    }
    expect(await counts()).toEqual({ nodes: before.nodes + 1, acceptances: 1 });
  });

  it("the expiry job ends acceptances as share.expire by the system", async () => {
    const link = linkOf(await create({ ports: [80], maxUses: 2, expiry: "5m" }));
    const a = await accept(link);
    h.clock.now += 5 * 60_000;
    const service = new ShareService({
      store: h.store,
      meshChanges: {
        nodeChanged: async () => {},
        nodeRemoved: async (id) => void h.calls.push(["nodeRemoved", id]),
        userChanged: async () => {},
        userSignedOut: async () => {},
        policyChanged: async () => {},
      },
      baseUrl: h.baseUrl,
      now: () => h.clock.now,
    });
    h.calls.length = 0;
    expect(await service.expireDue()).toBe(1);
    expect(h.calls).toEqual([["nodeRemoved", a.json.node.id]]);
    const entry = (await h.store.listAudit(1))[0];
    expect(entry).toMatchObject({ action: "share.expire", actor: "system", via: "system" });
  });

  it("the public routes want the server's own Origin", async () => {
    const link = linkOf(await create({ ports: [80] }));
    const foreign = await h.call("POST", `/api/v1/shares/${link.id}/accept`, {
      body: { secret: link.secret, nodeKey: wgKey() },
      origin: "https://evil.example",
    });
    expect(foreign.json.error).toBe("origin_refused");
    const none = await h.call("POST", `/api/v1/shares/${link.id}/offer`, {
      body: { secret: link.secret },
      origin: null,
    });
    expect(none.json.error).toBe("origin_refused");
  });
});

describe("share API rate limit", () => {
  it("limits the public routes per source address", async () => {
    await setup({ loginRateLimit: { burst: 3, perSecond: 0.001 } });
    const link = linkOf(await create({ ports: [80] }));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await h.call("POST", `/api/v1/shares/${link.id}/offer`, {
        body: { secret: link.secret },
        origin: h.origin,
      });
      statuses.push(r.status);
      if (r.status === 429) expect(r.headers.get("retry-after")).toMatch(/^[0-9]+$/);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});
