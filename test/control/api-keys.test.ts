// API keys and auth keys: shown once, stored hashed (the secret appears nowhere in the database
// files), listed by prefix, expiry, revocation; auth key tags checked against tagOwners.

import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { checkAuthKey } from "../../server/control/auth/authkeys.ts";
import { hashSecret } from "../../server/control/auth/secrets.ts";
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

/** Every byte the store has on disk (the database file and its write-ahead log). */
function databaseBytes(): string {
  let out = readFileSync(h.dbPath).toString("latin1");
  try {
    out += readFileSync(`${h.dbPath}-wal`).toString("latin1");
  } catch {
    // no WAL file: everything is in the main file
  }
  return out;
}

const post = (path: string, who: Browser, body: unknown) =>
  h.call("POST", path, { cookie: who.cookie, csrf: who.csrf, body });

async function member(): Promise<Browser> {
  const url = (await post("/api/v1/invites", owner, { role: "member" })).json.url;
  return h.acceptInvite(url);
}

describe("API keys", () => {
  it("are shown once, stored hashed, and sign calls in without cookie or CSRF", async () => {
    const made = await post("/api/v1/apikeys", owner, { expiry: "30d" });
    expect(made.status).toBe(201);
    const key: string = made.json.key;
    expect(key).toMatch(/^capi_[A-Za-z0-9_-]{43}$/);
    expect(made.json.apiKey.prefix).toBe(key.slice(0, 13));
    expect(made.json.apiKey.expiresAt).toBe(h.clock.now + 30 * 86_400_000);
    expect(made.json.apiKey).not.toHaveProperty("hash");

    const listed = await h.call("GET", "/api/v1/apikeys", { cookie: owner.cookie });
    expect(listed.text).not.toContain(key.slice(13));
    expect(listed.json.apiKeys).toHaveLength(1);
    expect(listed.json.apiKeys[0]).not.toHaveProperty("hash");

    // Hashed at rest: neither the key nor its secret part is anywhere in the files.
    const bytes = databaseBytes();
    expect(bytes).toContain(hashSecret(key)); // the search looks where the store writes
    expect(bytes).not.toContain(key);
    expect(bytes).not.toContain(key.slice(5));

    // A state-changing call with the key needs no Origin and no CSRF token.
    const viaKey = await h.call("POST", "/api/v1/apikeys", { bearer: key, body: {}, origin: null });
    expect(viaKey.status).toBe(201);
    const who = await h.call("GET", "/api/v1/whoami", { bearer: key });
    expect(who.json).toMatchObject({ via: "apikey", user: { role: "owner" } });
    expect(who.json).not.toHaveProperty("csrf");
  });

  it("stop working when revoked or expired, with the reason", async () => {
    const made = await post("/api/v1/apikeys", owner, { expiry: "1h" });
    const key: string = made.json.key;
    const other: string = (await post("/api/v1/apikeys", owner, {})).json.key;
    const revoke = await h.call("DELETE", `/api/v1/apikeys/${made.json.apiKey.id}`, {
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    expect(revoke.status).toBe(200);
    const refused = await h.call("GET", "/api/v1/whoami", { bearer: key });
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ error: "api_key_revoked", message: "this API key was revoked" });
    h.clock.now += 90 * 86_400_000;
    const expired = await h.call("GET", "/api/v1/whoami", { bearer: other });
    expect(expired.json).toEqual({ error: "api_key_expired", message: "this API key has expired" });
    const unknown = await h.call("GET", "/api/v1/whoami", { bearer: `capi_${"x".repeat(43)}` });
    expect(unknown.json).toEqual({ error: "invalid_api_key", message: "unknown API key" });
    const malformed = await h.call("GET", "/api/v1/whoami", {
      headers: { authorization: "Basic abc" },
    });
    expect(malformed.json).toEqual({
      error: "invalid_api_key",
      message: "Authorization must be: Bearer <API key>",
    });
  });

  it("record their last use to the minute", async () => {
    const made = await post("/api/v1/apikeys", owner, {});
    const key: string = made.json.key;
    expect(made.json.apiKey.lastUsedAt).toBeNull();
    const lastUsed = async () => (await h.store.listApiKeys())[0]!.lastUsedAt;
    const start = h.clock.now;
    await h.call("GET", "/api/v1/whoami", { bearer: key });
    expect(await lastUsed()).toBe(start);
    h.clock.now += 59_999;
    await h.call("GET", "/api/v1/whoami", { bearer: key });
    expect(await lastUsed()).toBe(start);
    h.clock.now += 1;
    await h.call("GET", "/api/v1/whoami", { bearer: key });
    expect(await lastUsed()).toBe(start + 60_000);
  });

  it("the local bootstrap makes a key for an existing user only", async () => {
    const { key } = await createApiKeyLocal(h.store, owner.userId, { now: h.clock.now });
    expect((await h.call("GET", "/api/v1/whoami", { bearer: key })).json.user.id).toBe(
      owner.userId,
    );
    await expect(createApiKeyLocal(h.store, 999)).rejects.toThrow("no user with id 999");
  });

  it("a member sees and revokes only their own keys", async () => {
    const mine = await post("/api/v1/apikeys", owner, {});
    const m = await member();
    await post("/api/v1/apikeys", m, {});
    const theirs = await h.call("GET", "/api/v1/apikeys", { cookie: m.cookie });
    expect(theirs.json.apiKeys).toHaveLength(1);
    expect(theirs.json.apiKeys[0].userId).toBe(m.userId);
    const steal = await h.call("DELETE", `/api/v1/apikeys/${mine.json.apiKey.id}`, {
      cookie: m.cookie,
      csrf: m.csrf,
    });
    expect(steal.status).toBe(404);
    expect(steal.json).toEqual({
      error: "not_found",
      message: `no API key with id ${mine.json.apiKey.id}`,
    });
    expect((await h.call("GET", "/api/v1/whoami", { bearer: mine.json.key })).status).toBe(200);
  });
});

describe("auth keys", () => {
  const policy = `{
    "tagOwners": { "tag:ci": ["alice@example.com"], "tag:server": [] },
    "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  }`;

  it("are printed once, hashed at rest, listed by prefix, and checkable by the map stream", async () => {
    const made = await post("/api/v1/authkeys", owner, {
      reusable: true,
      ephemeral: true,
      tags: ["tag:server"],
      expiry: "7d",
    });
    expect(made.status).toBe(201);
    const key: string = made.json.key;
    expect(key).toMatch(/^cak_[A-Za-z0-9_-]{43}$/);
    expect(made.json.authKey).toMatchObject({
      prefix: key.slice(0, 12),
      reusable: true,
      ephemeral: true,
      tags: ["tag:server"],
      expiresAt: h.clock.now + 7 * 86_400_000,
      revokedAt: null,
      usedCount: 0,
      userId: owner.userId,
    });
    expect(databaseBytes()).not.toContain(key.slice(4));
    const listed = await h.call("GET", "/api/v1/authkeys", { cookie: owner.cookie });
    expect(listed.text).not.toContain(key.slice(12));
    expect(listed.json.authKeys.map((k: { prefix: string }) => k.prefix)).toEqual([
      key.slice(0, 12),
    ]);

    const ok = await h.store.transaction((tx) => checkAuthKey(tx, key, h.clock.now));
    expect(ok.ok).toBe(true);
    await h.call("DELETE", `/api/v1/authkeys/${made.json.authKey.id}`, {
      cookie: owner.cookie,
      csrf: owner.csrf,
    });
    const revoked = await h.store.transaction((tx) => checkAuthKey(tx, key, h.clock.now));
    expect(revoked).toEqual({
      ok: false,
      code: "authkey_revoked",
      message: `auth key ${key.slice(0, 12)}… was revoked`,
    });
  });

  it("a one-off key is used once; an expired key is refused", async () => {
    const made = await post("/api/v1/authkeys", owner, { expiry: "1h" });
    const key: string = made.json.key;
    expect(made.json.authKey).toMatchObject({ reusable: false, ephemeral: false, tags: [] });
    await h.store.transaction(async (tx) =>
      expect(await tx.useAuthKey(made.json.authKey.id)).toBe(true),
    );
    const used = await h.store.transaction((tx) => checkAuthKey(tx, key, h.clock.now));
    expect(used).toMatchObject({ ok: false, code: "authkey_used" });
    const other: string = (await post("/api/v1/authkeys", owner, { expiry: "1h" })).json.key;
    const expired = await h.store.transaction((tx) =>
      checkAuthKey(tx, other, h.clock.now + 3_600_000),
    );
    expect(expired).toMatchObject({ ok: false, code: "authkey_expired" });
    const unknown = await h.store.transaction((tx) => checkAuthKey(tx, "cak_nope", h.clock.now));
    expect(unknown).toEqual({ ok: false, code: "authkey_invalid", message: "unknown auth key" });
  });

  it("tags follow tagOwners: a member may use only the tags the policy gives them", async () => {
    const alice = await h.acceptInvite(
      (await post("/api/v1/invites", owner, { email: "alice@example.com" })).json.url,
    );
    const bob = await member();
    const set = await h.call("PUT", "/api/v1/policy", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      body: { text: policy },
    });
    expect(set.status).toBe(200);
    expect((await post("/api/v1/authkeys", alice, { tags: ["tag:ci"] })).status).toBe(201);
    const refused = await post("/api/v1/authkeys", alice, { tags: ["tag:ci", "tag:server"] });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({
      error: "tag_not_allowed",
      message: "the policy does not let you use tag:server (tagOwners)",
      issues: [{ path: "tags[1]", message: "tag:server is not yours to use" }],
    });
    expect((await post("/api/v1/authkeys", bob, { tags: ["tag:ci"] })).json.error).toBe(
      "tag_not_allowed",
    );
    // The owner may use every tag.
    expect((await post("/api/v1/authkeys", owner, { tags: ["tag:server"] })).status).toBe(201);
    // Members list their own keys only.
    const bobs = await h.call("GET", "/api/v1/authkeys", { cookie: bob.cookie });
    expect(bobs.json.authKeys).toEqual([]);
  });

  it("names the field of a bad body", async () => {
    const long = await post("/api/v1/authkeys", owner, { expiry: "366d" });
    expect(long.json).toMatchObject({
      error: "invalid_body",
      issues: [{ path: "expiry", message: "at most 365 days" }],
    });
    const bad = await post("/api/v1/authkeys", owner, {
      tags: ["server"],
      reusable: "yes",
      extra: 1,
    });
    expect(bad.status).toBe(400);
    expect(bad.json.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "extra",
      "reusable",
      "tags[0]",
    ]);
  });
});
