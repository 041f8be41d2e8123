// The storage suite, part 1: users and nodes (every method, what it returns, the conflicts
// they raise naming the field), hostile text and hand-edited rows. See store.suite.ts.

import { describe, expect, it } from "vitest";
import { seededInts } from "../helpers/seeded.ts";
import {
  authKeyInput,
  expectConflict,
  nodeInput,
  type SuiteContext,
  userInput,
} from "./store.suite.ts";

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
        sshUsers: ["ada", "deploy"],
        lastSeen: 77,
        authKeyId: key.id,
      });
      const node = await store.createNode(input);
      expect(node).toEqual({
        id: node.id,
        ...input,
        createdAt: ctx.clock.now,
        shareAcceptanceId: null,
      });
      const tagged = await store.createNode(nodeInput(2, null, { tags: ["tag:a", "tag:b"] }));
      expect(tagged.tags).toEqual(["tag:a", "tag:b"]);
      // No sshUsers given: any local user (null), not an empty list.
      expect(tagged.sshUsers).toBeNull();
      expect(await store.nodeById(node.id)).toEqual(node);
      expect(await store.nodeByKey("key-1")).toEqual(node);
      expect(await store.nodeByKey("key-9")).toBeNull();
      expect(await store.listNodes()).toEqual([node, tagged]);
    });

    it("reads several nodes by id at once: the ones that exist, each as nodeById reads it", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const a = await store.createNode(nodeInput(1, user.id, { sshUsers: ["ada"] }));
      const b = await store.createNode(nodeInput(2, null, { tags: ["tag:a"] }));
      expect(await store.nodesByIds([])).toEqual(new Map());
      const found = await store.nodesByIds([b.id, 999, a.id, b.id]);
      expect([...found.keys()].sort()).toEqual([a.id, b.id].sort());
      expect(found.get(a.id)).toEqual(await store.nodeById(a.id));
      expect(found.get(b.id)).toEqual(await store.nodeById(b.id));
      // More ids than one statement takes.
      const many = Array.from({ length: 1200 }, (_, i) => i + 1);
      expect([...(await store.nodesByIds(many)).keys()].sort()).toEqual([a.id, b.id].sort());
      // Inside a transaction too: it sees the transaction's own writes.
      await store.transaction(async (tx) => {
        await tx.updateNode(a.id, { name: "renamed" });
        expect((await tx.nodesByIds([a.id])).get(a.id)?.name).toBe("renamed");
      });
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
        sshUsers: ["ada"],
        lastSeen: 10,
      });
      expect((await store.nodeById(node.id))?.sshUsers).toEqual(["ada"]);
      await store.updateNode(node.id, { sshUsers: null });
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
