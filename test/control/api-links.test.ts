// Owner link, invitations, sessions: single use, expiry, roles, sign-out.

import type { IncomingMessage } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApi } from "../../server/control/api/app.ts";
import { createOwnerLink, OWNER_LINK_TTL_MS } from "../../server/control/auth/links.ts";
import { createSessionUser, SESSION_TTL_MS } from "../../server/control/auth/sessions.ts";
import { type Harness, startHarness } from "./api-harness.ts";

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

function tokenOf(url: string): string {
  return new URL(url).hash.slice(1);
}

describe("owner link", () => {
  it("has the token in the fragment, signs in the owner once, and stores only its hash", async () => {
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    expect(url).toMatch(new RegExp(`^${h.origin}/login/owner#[A-Za-z0-9_-]{43}$`));
    const first = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: h.origin,
    });
    expect(first.status).toBe(200);
    expect(first.json.user).toMatchObject({
      name: "owner",
      role: "owner",
      issuer: "corridor:local",
    });
    expect(first.json.kind).toBe("owner");
    const setCookie = first.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(
      /^corridor_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=604800; HttpOnly; SameSite=Lax$/,
    );
    expect(h.calls).toEqual([["userChanged", first.json.user.id]]);

    const again = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: h.origin,
    });
    expect(again.status).toBe(403);
    expect(again.json).toEqual({
      error: "link_refused",
      message: "this sign-in link is unknown, was used already, or has expired",
    });

    // A second owner link signs in the same owner (no second owner is made).
    const second = await h.signInOwner();
    expect(second.userId).toBe(first.json.user.id);
    expect((await h.store.listUsers()).filter((u) => u.role === "owner")).toHaveLength(1);
  });

  it("expires after 15 minutes", async () => {
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    h.clock.now += OWNER_LINK_TTL_MS;
    const late = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: h.origin,
    });
    expect(late.status).toBe(403);
    expect(late.json.error).toBe("link_refused");
    expect(await h.store.listUsers()).toEqual([]);
  });

  it("works one millisecond before expiry", async () => {
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    h.clock.now += OWNER_LINK_TTL_MS - 1;
    const ok = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: h.origin,
    });
    expect(ok.status).toBe(200);
  });

  it("is refused from another origin or with no origin, and the link stays usable", async () => {
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    const cross = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: "https://evil.example",
    });
    expect(cross.status).toBe(403);
    expect(cross.json).toEqual({
      error: "origin_refused",
      message: `cross-site request refused: Origin https://evil.example is not ${h.origin}`,
    });
    const none = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: null,
    });
    expect(none.json.error).toBe("origin_refused");
    const ok = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(url) },
      origin: h.origin,
    });
    expect(ok.status).toBe(200);
  });

  it("names the field when the token is malformed", async () => {
    const bad = await h.call("POST", "/api/v1/login/link", {
      body: { token: "short" },
      origin: h.origin,
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("invalid_body");
    expect(bad.json.issues).toEqual([
      { path: "token", message: "expected the token from the link's fragment (after #)" },
    ]);
  });
});

describe("sessions", () => {
  it("whoami gives the user and the CSRF token; the session ends after 7 days", async () => {
    const owner = await h.signInOwner();
    const who = await h.call("GET", "/api/v1/whoami", { cookie: owner.cookie });
    expect(who.status).toBe(200);
    expect(who.json).toMatchObject({ via: "session", csrf: owner.csrf, user: { role: "owner" } });
    expect(who.json.expiresAt).toBe(h.clock.now + SESSION_TTL_MS);
    h.clock.now += SESSION_TTL_MS;
    const late = await h.call("GET", "/api/v1/whoami", { cookie: owner.cookie });
    expect(late.status).toBe(401);
    expect(late.json).toEqual({
      error: "unauthenticated",
      message: "sign in, or send Authorization: Bearer <API key>",
    });
  });

  it("sign-out deletes the session, clears the cookie and tells the map side", async () => {
    const owner = await h.signInOwner();
    const other = await h.signInOwner();
    h.calls.length = 0;
    const out = await h.call("POST", "/api/v1/logout", { cookie: owner.cookie, csrf: owner.csrf });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toBe(
      "corridor_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
    );
    expect(h.calls).toEqual([["userSignedOut", owner.userId]]);
    expect((await h.call("GET", "/api/v1/whoami", { cookie: owner.cookie })).status).toBe(401);
    // Another browser of the same user keeps its own session.
    expect((await h.call("GET", "/api/v1/whoami", { cookie: other.cookie })).status).toBe(200);
  });

  it("a forged cookie value signs nobody in", async () => {
    const forged = await h.call("GET", "/api/v1/whoami", {
      cookie: `corridor_session=${"A".repeat(43)}`,
    });
    expect(forged.status).toBe(401);
  });
});

describe("sessions over https", () => {
  it("use the __Host- prefix with Secure, and the plain-http name is not accepted", async () => {
    const base = "https://corridor.example.com/";
    const app = createApi({
      store: h.store,
      meshChanges: {
        nodeChanged: async () => {},
        nodeRemoved: async () => {},
        userChanged: async () => {},
        userSignedOut: async () => {},
        policyChanged: async () => {},
      },
      approvals: h.approvals,
      policy: {
        compile: () => ({ ok: false, errors: [] }),
        current: () => {
          throw new Error("not used here");
        },
      },
      baseUrl: base,
      now: () => h.clock.now,
    });
    const url = await createOwnerLink(h.store, base, h.clock.now);
    expect(url.startsWith("https://corridor.example.com/login/owner#")).toBe(true);
    const res = await app.fetch(
      new Request("https://corridor.example.com/api/v1/login/link", {
        method: "POST",
        headers: { "content-type": "application/json", origin: "https://corridor.example.com" },
        body: JSON.stringify({ token: tokenOf(url) }),
      }),
    );
    expect(res.status).toBe(200);
    const setCookie = res.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(
      /^__Host-corridor_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=604800; HttpOnly; SameSite=Lax; Secure$/,
    );
    const value = setCookie.split(";")[0]!.split("=")[1]!;
    const whoami = (cookie: string) =>
      app.fetch(new Request("https://corridor.example.com/api/v1/whoami", { headers: { cookie } }));
    expect((await whoami(`__Host-corridor_session=${value}`)).status).toBe(200);
    expect((await whoami(`corridor_session=${value}`)).status).toBe(401);

    // The map stream's WebSocket upgrade finds the same user through sessionUser(req).
    const sessionUser = createSessionUser(h.store, { secure: true, now: () => h.clock.now });
    const upgrade = (cookie: string | undefined) => ({ headers: { cookie } }) as IncomingMessage;
    expect((await sessionUser(upgrade(`a=b; __Host-corridor_session=${value}`)))?.role).toBe(
      "owner",
    );
    expect(await sessionUser(upgrade(`corridor_session=${value}`))).toBeNull();
    expect(await sessionUser(upgrade(undefined))).toBeNull();
    h.clock.now += SESSION_TTL_MS;
    expect(await sessionUser(upgrade(`__Host-corridor_session=${value}`))).toBeNull();
  });
});

describe("invitations", () => {
  it("the owner invites an admin; the link makes the user once, with role, email and name", async () => {
    const owner = await h.signInOwner();
    const made = await h.call("POST", "/api/v1/invites", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      body: { role: "admin", email: "ada@example.com", expiry: "2d" },
    });
    expect(made.status).toBe(201);
    expect(made.json.url).toMatch(new RegExp(`^${h.origin}/login/invite#[A-Za-z0-9_-]{43}$`));
    expect(made.json.expiresAt).toBe(h.clock.now + 2 * 86_400_000);
    h.calls.length = 0;
    const ada = await h.acceptInvite(made.json.url, "Ada");
    const who = await h.call("GET", "/api/v1/whoami", { cookie: ada.cookie });
    expect(who.json.user).toMatchObject({
      name: "Ada",
      email: "ada@example.com",
      role: "admin",
      issuer: "corridor:local",
    });
    expect(h.calls).toEqual([["userChanged", ada.userId]]);
    const again = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(made.json.url) },
      origin: h.origin,
    });
    expect(again.json.error).toBe("link_refused");
    expect(await h.store.listUsers()).toHaveLength(2);
  });

  it("expires; admins may invite members only; members may not invite", async () => {
    const owner = await h.signInOwner();
    const invite = async (who: { cookie: string; csrf: string }, body: object) =>
      h.call("POST", "/api/v1/invites", { cookie: who.cookie, csrf: who.csrf, body });
    const adminUrl = (await invite(owner, { role: "admin" })).json.url;
    const memberUrl = (await invite(owner, { expiry: "1h" })).json.url;
    const admin = await h.acceptInvite(adminUrl);
    const byAdmin = await invite(admin, { role: "admin" });
    expect(byAdmin.status).toBe(403);
    expect(byAdmin.json).toEqual({
      error: "forbidden",
      message: "only the owner may invite admins",
    });
    expect((await invite(admin, { role: "member" })).status).toBe(201);

    h.clock.now += 3_600_000;
    const late = await h.call("POST", "/api/v1/login/link", {
      body: { token: tokenOf(memberUrl) },
      origin: h.origin,
    });
    expect(late.json.error).toBe("link_refused");

    const memberUrl2 = (await invite(owner, {})).json.url;
    const member = await h.acceptInvite(memberUrl2);
    const byMember = await invite(member, {});
    expect(byMember.status).toBe(403);
    expect(byMember.json).toEqual({ error: "forbidden", message: "this needs the admin role" });
  });

  it("refuses a too long expiry, naming the field", async () => {
    const owner = await h.signInOwner();
    const reply = await h.call("POST", "/api/v1/invites", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      body: { expiry: "31d" },
    });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: "invalid_body",
      message: "invalid body: expiry: at most 30 days",
      issues: [{ path: "expiry", message: "at most 30 days" }],
    });
  });
});
