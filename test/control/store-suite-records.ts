// The storage suite, part 1: every record kind's methods, what they return, and the conflicts
// they raise (naming the field). See store.suite.ts.

import { describe, expect, it } from "vitest";
import { parseUlaPrefix } from "../../server/control/store/addresses.ts";
import { DEFAULT_DOMAIN, loadOrInitSettings } from "../../server/control/store/settings.ts";
import { StoreConflictError } from "../../server/control/store/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { nodeInput, type SuiteContext, userInput } from "./store.suite.ts";

/** Expects `promise` to reject with a StoreConflictError on `field` saying `message`. */
export async function expectConflict(promise: Promise<unknown>, field: string, message: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreConflictError);
  expect(error).toMatchObject({ field, message });
}

export function defineRecordTests(ctx: SuiteContext): void {
  describe("users", () => {
    it("creates, finds by id and by (issuer, subject), lists and updates", async () => {
      const { store } = await ctx.setup();
      const owner = await store.createUser(userInput(1, "owner"));
      expect(owner).toEqual({ id: owner.id, ...userInput(1, "owner"), createdAt: ctx.clock.now });
      const other = await store.createUser({ ...userInput(2), issuer: "corridor:local" });
      expect(await store.userById(owner.id)).toEqual(owner);
      expect(await store.userById(other.id + 100)).toBeNull();
      expect(await store.userByIdentity("https://idp.example", "subject-1")).toEqual(owner);
      expect(await store.userByIdentity("corridor:local", "subject-1")).toBeNull();
      await store.updateUser(other.id, { role: "admin", lastLoginAt: 5, email: "new@example.com" });
      await store.updateUser(other.id, {});
      expect(await store.listUsers()).toEqual([
        owner,
        { ...other, role: "admin", lastLoginAt: 5, email: "new@example.com" },
      ]);
    });

    it("refuses a second user with the same issuer and subject, naming identity", async () => {
      const { store } = await ctx.setup();
      await store.createUser(userInput(1));
      await expectConflict(
        store.createUser({ ...userInput(1), email: "other@example.com" }),
        "identity",
        "a user with this issuer and subject exists",
      );
      // The same subject at another issuer is another person.
      await store.createUser({ ...userInput(1), issuer: "https://other.example" });
      expect(await store.listUsers()).toHaveLength(2);
    });
  });

  describe("nodes", () => {
    it("creates a node with every field and reads it back by id, key and in the list", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const key = await store.createAuthKey(authKeyInput(user.id, "h1"));
      const input = nodeInput(1, user.id, {
        ephemeral: true,
        keyExpiry: 123,
        sshHostKeys: ["ssh-ed25519 AAAA", "ecdsa-sha2-nistp256 BBBB"],
        lastSeen: 77,
        authKeyId: key.id,
      });
      const node = await store.createNode(input);
      expect(node).toEqual({ id: node.id, ...input, createdAt: ctx.clock.now });
      const tagged = await store.createNode(nodeInput(2, null, { tags: ["tag:a", "tag:b"] }));
      expect(tagged.tags).toEqual(["tag:a", "tag:b"]);
      expect(await store.nodeById(node.id)).toEqual(node);
      expect(await store.nodeByKey("key-1")).toEqual(node);
      expect(await store.nodeByKey("key-9")).toBeNull();
      expect(await store.listNodes()).toEqual([node, tagged]);
    });

    it("stores addresses in canonical form and refuses text that is not an address", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const node = await store.createNode(nodeInput(1, user.id, { ipv6: "FD00:0001:0002:0:0::A" }));
      expect(node.ipv6).toBe("fd00:1:2::a");
      await expectConflict(
        store.createNode(nodeInput(2, user.id, { ipv6: "fd00:1:2:0::a" })),
        "ipv6",
        "a node with this IPv6 address exists",
      );
      await expect(store.createNode(nodeInput(3, user.id, { ipv4: "fd00::1" }))).rejects.toThrow(
        new TypeError("ipv4 'fd00::1': not an IPv4 address"),
      );
      await expect(store.createNode(nodeInput(3, user.id, { ipv6: "100.64.0.1" }))).rejects.toThrow(
        new TypeError("ipv6 '100.64.0.1': not an IPv6 address"),
      );
      expect(await store.listNodes()).toEqual([node]);
    });

    it("refuses a taken key, name, IPv4 or IPv6 address, naming the field", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      await store.createNode(nodeInput(1, user.id));
      const cases = [
        ["nodeKey", { nodeKey: "key-1" }, "a node with this key exists"],
        ["name", { name: "node-1" }, "a node with this name exists"],
        ["ipv4", { ipv4: "100.64.1.1" }, "a node with this IPv4 address exists"],
        ["ipv6", { ipv6: "fd00:1:2::6440:101" }, "a node with this IPv6 address exists"],
      ] as const;
      for (const [field, overrides, message] of cases) {
        await expectConflict(store.createNode(nodeInput(2, user.id, overrides)), field, message);
      }
      expect(await store.listNodes()).toHaveLength(1);
    });

    it("refuses a node owned by both a user and tags, or by neither, and unknown references", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const owner =
        "a node belongs to a user or to tags: exactly one of userId and tags must be set";
      await expectConflict(
        store.createNode(nodeInput(1, user.id, { tags: ["tag:x"] })),
        "tags",
        owner,
      );
      await expectConflict(store.createNode(nodeInput(1, null, { tags: [] })), "tags", owner);
      await expectConflict(store.createNode(nodeInput(1, user.id + 9)), "userId", "no such user");
      await expectConflict(
        store.createNode(nodeInput(1, user.id, { authKeyId: 999 })),
        "authKeyId",
        "no such auth key",
      );
      const node = await store.createNode(nodeInput(1, user.id));
      await expectConflict(store.updateNode(node.id, { tags: ["tag:x"] }), "tags", owner);
      await expectConflict(
        store.updateNode(node.id, { userId: user.id + 9 }),
        "userId",
        "no such user",
      );
      expect(await store.nodeById(node.id)).toEqual(node);
    });

    it("updates fields (rename, key rotation keeping the addresses, user to tags) and deletes", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const node = await store.createNode(nodeInput(1, user.id));
      const other = await store.createNode(nodeInput(2, user.id));
      await store.updateNode(node.id, {
        nodeKey: "rotated",
        name: "renamed",
        hostname: "h",
        os: "darwin",
        keyExpiry: 9,
        sshHostKeys: ["k"],
        lastSeen: 10,
      });
      await store.updateNode(node.id, { userId: null, tags: ["tag:server"] });
      await store.updateNode(node.id, {});
      expect(await store.nodeById(node.id)).toEqual({
        ...node,
        nodeKey: "rotated",
        name: "renamed",
        hostname: "h",
        os: "darwin",
        keyExpiry: 9,
        sshHostKeys: ["k"],
        lastSeen: 10,
        userId: null,
        tags: ["tag:server"],
      });
      expect(await store.nodeByKey("key-1")).toBeNull();
      await expectConflict(
        store.updateNode(other.id, { name: "renamed" }),
        "name",
        "a node with this name exists",
      );
      await expectConflict(
        store.updateNode(other.id, { nodeKey: "rotated" }),
        "nodeKey",
        "a node with this key exists",
      );
      await store.deleteNode(node.id);
      expect(await store.nodeById(node.id)).toBeNull();
      expect(await store.listNodes()).toEqual([other]);
      // Ids are never reused: the map side keys state by node id.
      const next = await store.createNode(nodeInput(3, user.id));
      expect(next.id).toBeGreaterThan(other.id);
    });
  });

  it("a row edited by hand into the wrong shape is an error naming the column", async () => {
    const { db, store } = await ctx.setup();
    await store.createNode(nodeInput(1, null));
    await db.query("UPDATE nodes SET tags = 'oops'");
    await expect(store.listNodes()).rejects.toThrow(
      new Error('store: column tags holds "oops", not what it should'),
    );
    await db.query(`UPDATE nodes SET tags = '["tag:a"]', ssh_host_keys = '[1]'`);
    await expect(store.nodeByKey("key-1")).rejects.toThrow(
      new Error('store: column ssh_host_keys holds "[1]", not what it should'),
    );
  });

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

  it("fuzz: hostile text round-trips unchanged, or is refused with a TypeError when it holds NUL", async () => {
    const { store } = await ctx.setup();
    const next = seededInts(0x5707e);
    const alphabet = [
      "a",
      "'",
      '"',
      "\\",
      "%",
      "_",
      "!",
      "?",
      "$1",
      ";",
      "--",
      "\u0000",
      "é",
      "𝄞",
      " ",
      "\n",
      "[]",
      "{",
    ];
    const text = () =>
      Array.from({ length: next(40) }, () => alphabet[next(alphabet.length)]).join("");
    let tried = 0;
    for (let i = 0; i < 300; i++) {
      const input = {
        issuer: text(),
        subject: `${i}${text()}`,
        email: text(),
        name: text(),
        role: "member" as const,
        lastLoginAt: next(2) ? null : next(1e9),
      };
      tried++;
      const hasNul = Object.values(input).some(
        (v) => typeof v === "string" && v.includes("\u0000"),
      );
      if (hasNul) {
        await expect(store.createUser(input)).rejects.toThrow(TypeError);
        continue;
      }
      const user = await store.createUser(input);
      expect(await store.userByIdentity(input.issuer, input.subject)).toEqual(user);
      expect(user).toMatchObject(input);
    }
    console.log(`store fuzz (${ctx.kind}): ${tried} hostile user records tried`);
  });
}

function authKeyInput(userId: number, hash: string) {
  return {
    prefix: "cak_3f9a",
    hash,
    userId,
    reusable: false,
    ephemeral: false,
    tags: [],
    expiresAt: 10_000,
  };
}
