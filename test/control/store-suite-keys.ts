// The storage suite, part 2: auth keys, API keys, sessions, sign-in links (single use, also
// under concurrency), the policy's version guard and the first-start settings. See
// store.suite.ts.

import { describe, expect, it } from "vitest";
import { parseUlaPrefix } from "../../server/control/store/addresses.ts";
import { DEFAULT_DOMAIN, loadOrInitSettings } from "../../server/control/store/settings.ts";
import { authKeyInput, expectConflict, type SuiteContext, userInput } from "./store.suite.ts";

export function defineKeyTests(ctx: SuiteContext): void {
  describe("auth keys", () => {
    it("creates, finds by hash, lists, revokes once", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const key = await store.createAuthKey({ ...authKeyInput(user.id, "h1"), tags: ["tag:ci"] });
      expect(key).toEqual({
        id: key.id,
        ...authKeyInput(user.id, "h1"),
        tags: ["tag:ci"],
        revokedAt: null,
        usedCount: 0,
        createdAt: ctx.clock.now,
      });
      expect(await store.authKeyByHash("h1")).toEqual(key);
      expect(await store.authKeyByHash("h2")).toBeNull();
      await expectConflict(
        store.createAuthKey(authKeyInput(user.id, "h1")),
        "hash",
        "an auth key with this hash exists",
      );
      await expectConflict(
        store.createAuthKey(authKeyInput(user.id + 5, "h3")),
        "userId",
        "no such user",
      );
      expect(await store.revokeAuthKey(key.id, 50)).toBe(true);
      expect(await store.revokeAuthKey(key.id, 60)).toBe(false);
      expect(await store.revokeAuthKey(key.id + 100, 60)).toBe(false);
      expect(await store.listAuthKeys()).toEqual([{ ...key, revokedAt: 50 }]);
    });

    it("uses a one-off key once, a reusable one many times, a revoked one never", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const once = await store.createAuthKey(authKeyInput(user.id, "once"));
      const many = await store.createAuthKey({ ...authKeyInput(user.id, "many"), reusable: true });
      const revoked = await store.createAuthKey({
        ...authKeyInput(user.id, "rev"),
        reusable: true,
      });
      await store.revokeAuthKey(revoked.id, 1);
      expect(await store.useAuthKey(once.id)).toBe(true);
      expect(await store.useAuthKey(once.id)).toBe(false);
      for (let i = 0; i < 3; i++) expect(await store.useAuthKey(many.id)).toBe(true);
      expect(await store.useAuthKey(revoked.id)).toBe(false);
      expect(await store.useAuthKey(999)).toBe(false);
      expect((await store.authKeyByHash("once"))?.usedCount).toBe(1);
      expect((await store.authKeyByHash("many"))?.usedCount).toBe(3);
      expect((await store.authKeyByHash("rev"))?.usedCount).toBe(0);
    });

    it("lets exactly one of 12 concurrent uses of a one-off key through (3 servers)", async () => {
      const { db, store } = await ctx.setup();
      const stores = [store, await ctx.open(db), await ctx.open(db)];
      const user = await store.createUser(userInput(1));
      const key = await store.createAuthKey(authKeyInput(user.id, "once"));
      const uses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          i % 2 === 0
            ? stores[i % 3]!.useAuthKey(key.id)
            : stores[i % 3]!.transaction((tx) => tx.useAuthKey(key.id)),
        ),
      );
      expect(uses.filter((u) => u)).toHaveLength(1);
      expect((await store.authKeyByHash("once"))?.usedCount).toBe(1);
    });
  });

  describe("API keys and sessions", () => {
    it("creates, finds, lists, touches and revokes API keys", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const input = { prefix: "cap_1234", hash: "a1", userId: user.id, expiresAt: 999 };
      const key = await store.createApiKey(input);
      expect(key).toEqual({
        id: key.id,
        ...input,
        revokedAt: null,
        createdAt: ctx.clock.now,
        lastUsedAt: null,
      });
      await expectConflict(store.createApiKey(input), "hash", "an API key with this hash exists");
      await store.touchApiKey(key.id, 42);
      expect(await store.apiKeyByHash("a1")).toEqual({ ...key, lastUsedAt: 42 });
      expect(await store.apiKeyByHash("zz")).toBeNull();
      expect(await store.revokeApiKey(key.id, 43)).toBe(true);
      expect(await store.revokeApiKey(key.id, 44)).toBe(false);
      expect(await store.listApiKeys()).toEqual([{ ...key, lastUsedAt: 42, revokedAt: 43 }]);
    });

    it("creates, finds and deletes sessions: one, a user's all, the expired", async () => {
      const { store } = await ctx.setup();
      const a = await store.createUser(userInput(1));
      const b = await store.createUser(userInput(2));
      const session = (hash: string, userId: number, expiresAt: number) => ({
        hash,
        userId,
        csrf: `csrf-${hash}`,
        createdAt: 1,
        expiresAt,
      });
      for (const s of [
        session("s1", a.id, 100),
        session("s2", a.id, 200),
        session("s3", b.id, 300),
        session("s4", b.id, 400),
      ]) {
        await store.createSession(s);
      }
      await expectConflict(
        store.createSession(session("s1", b.id, 5)),
        "hash",
        "a session with this hash exists",
      );
      await expectConflict(store.createSession(session("s9", 999, 5)), "userId", "no such user");
      expect(await store.sessionByHash("s3")).toEqual(session("s3", b.id, 300));
      await store.deleteSession("s3");
      expect(await store.sessionByHash("s3")).toBeNull();
      await store.deleteUserSessions(a.id);
      expect(await store.sessionByHash("s1")).toBeNull();
      expect(await store.sessionByHash("s2")).toBeNull();
      await store.createSession(session("s5", b.id, 350));
      expect(await store.deleteExpiredSessions(350)).toBe(1);
      expect(await store.sessionByHash("s4")).toEqual(session("s4", b.id, 400));
      expect(await store.deleteExpiredSessions(350)).toBe(0);
    });
  });

  describe("sign-in links", () => {
    it("consumes a link once; an expired or unknown one never", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1, "owner"));
      const invite = {
        hash: "l1",
        kind: "invite" as const,
        role: "admin" as const,
        createdBy: user.id,
        email: "x@example.com",
        expiresAt: 1000,
        usedAt: null,
      };
      await store.createLink(invite);
      await store.createLink({
        ...invite,
        hash: "l2",
        kind: "owner",
        role: "member",
        createdBy: null,
        email: "",
      });
      await expectConflict(store.createLink(invite), "hash", "a link with this hash exists");
      await expectConflict(
        store.createLink({ ...invite, hash: "l3", createdBy: 77 }),
        "createdBy",
        "no such user",
      );
      expect(await store.consumeLink("l1", 999)).toEqual({ ...invite, usedAt: 999 });
      expect(await store.consumeLink("l1", 999)).toBeNull();
      expect(await store.consumeLink("l2", 1000)).toBeNull(); // expires at 1000: gone at 1000
      expect(await store.consumeLink("nope", 1)).toBeNull();
    });

    it("gives a link to exactly one of 10 concurrent consumers", async () => {
      const { db, store } = await ctx.setup();
      const second = await ctx.open(db);
      await store.createLink({
        hash: "l",
        kind: "owner",
        role: "member",
        createdBy: null,
        email: "",
        expiresAt: 10,
        usedAt: null,
      });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? store : second).consumeLink("l", 5)),
      );
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });
  });

  describe("policy and settings", () => {
    it("versions the policy and refuses a stale expected version", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1, "owner"));
      expect(await store.getPolicy()).toBeNull();
      expect(await store.setPolicy("// first\n{}", user.id, 0)).toEqual({
        text: "// first\n{}",
        version: 1,
        updatedBy: user.id,
        updatedAt: ctx.clock.now,
      });
      await expectConflict(
        store.setPolicy("{}", null, 0),
        "version",
        "the policy is at version 1, not 0: it changed since it was read",
      );
      ctx.clock.now += 5;
      expect(await store.setPolicy("{a}", null, 1)).toEqual({
        text: "{a}",
        version: 2,
        updatedBy: null,
        updatedAt: ctx.clock.now,
      });
      await expectConflict(
        store.setPolicy("{b}", user.id, 1),
        "version",
        "the policy is at version 2, not 1: it changed since it was read",
      );
      expect((await store.setPolicy("{c}", user.id)).version).toBe(3);
      await expectConflict(store.setPolicy("{d}", 999), "updatedBy", "no such user");
      expect(await store.getPolicy()).toMatchObject({ text: "{c}", version: 3 });
    });

    it("stores settings once; the first stored win, also between two servers", async () => {
      const { store } = await ctx.setup();
      expect(await store.getSettings()).toBeNull();
      const first = {
        ipv6Prefix: "fd11:2233:4455::/48",
        domain: "a.test",
        tokenSigningKey: "k1",
        helloKey: "h1",
      };
      expect(await store.initSettings(first)).toEqual(first);
      expect(await store.initSettings({ ...first, domain: "b.test" })).toEqual(first);
      expect(await store.getSettings()).toEqual(first);
      const fresh = await ctx.setup();
      const other = await ctx.open(fresh.db);
      const [x, y] = await Promise.all([
        loadOrInitSettings(fresh.store),
        loadOrInitSettings(other),
      ]);
      expect(x).toEqual(y);
      expect(x.domain).toBe(DEFAULT_DOMAIN);
      expect(parseUlaPrefix(x.ipv6Prefix)[0]).toBe(0xfd);
      expect(Buffer.from(x.tokenSigningKey, "base64")).toHaveLength(32);
      expect(x.helloKey).not.toBe(x.tokenSigningKey);
      expect(await loadOrInitSettings(fresh.store)).toEqual(x);
    });
  });
}
