// The storage suite, part 3: transactions (all or nothing, misuse refused), migrations
// (idempotent, versioned, refusing a newer schema, once under concurrent starts) and
// concurrent registrations (distinct names and addresses). See store.suite.ts.

import { describe, expect, it } from "vitest";
import { createNodeAllocated } from "../../server/control/store/allocate.ts";
import { uniqueName } from "../../server/control/store/names.ts";
import {
  MIGRATIONS,
  type Migration,
  SchemaTooNewError,
} from "../../server/control/store/schema.ts";
import type { NodeRecord } from "../../server/control/store/types.ts";
import { expectConflict, nodeInput, type SuiteContext, userInput } from "./store.suite.ts";

const PREFIX = "fd7a:115c:a1e0::/48";

export function defineTransactionTests(ctx: SuiteContext): void {
  describe("transactions", () => {
    it("commits everything work wrote and returns its result", async () => {
      const { store } = await ctx.setup();
      const result = await store.transaction(async (tx) => {
        const user = await tx.createUser(userInput(1));
        await tx.createNode(nodeInput(1, user.id));
        return user.id;
      });
      expect(await store.userById(result)).not.toBeNull();
      expect(await store.listNodes()).toHaveLength(1);
    });

    it("a throw in the middle leaves nothing written and rethrows the same error", async () => {
      const { store } = await ctx.setup();
      const kept = await store.createUser(userInput(9));
      const boom = new Error("boom");
      const error = await store
        .transaction(async (tx) => {
          const user = await tx.createUser(userInput(1));
          await tx.createNode(nodeInput(1, user.id));
          await tx.updateUser(kept.id, { name: "changed" });
          await tx.setPolicy("{}", null);
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(error).toBe(boom);
      expect(await store.listUsers()).toEqual([kept]);
      expect(await store.listNodes()).toEqual([]);
      expect(await store.getPolicy()).toBeNull();
    });

    it("a conflict inside a transaction fails only that write: the rest commits", async () => {
      const { store } = await ctx.setup();
      await store.transaction(async (tx) => {
        const user = await tx.createUser(userInput(1));
        await tx.createNode(nodeInput(1, user.id));
        await expectConflict(
          tx.createNode(nodeInput(2, user.id, { name: "node-1" })),
          "name",
          "a node with this name exists",
        );
        await tx.createNode(nodeInput(3, user.id));
      });
      expect((await store.listNodes()).map((n) => n.name)).toEqual(["node-1", "node-3"]);
    });

    it("a conflict left uncaught rolls the whole transaction back", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      await store.createNode(nodeInput(1, user.id));
      await expectConflict(
        store.transaction(async (tx) => {
          await tx.createNode(nodeInput(2, user.id));
          await tx.createNode(nodeInput(3, user.id, { nodeKey: "key-1" }));
        }),
        "nodeKey",
        "a node with this key exists",
      );
      expect(await store.listNodes()).toHaveLength(1);
    });

    it("refuses the Store inside its own transaction and a tx used after its end", async () => {
      const { store } = await ctx.setup();
      let leaked: Parameters<Parameters<typeof store.transaction>[0]>[0] | undefined;
      await expect(
        store.transaction(async (tx) => {
          leaked = tx;
          await store.listUsers();
        }),
      ).rejects.toThrow(
        new Error(
          "store: called on the Store from inside its own transaction(work): use the tx that work receives",
        ),
      );
      await expect(store.transaction(async () => store.transaction(async () => 1))).rejects.toThrow(
        "use the tx that work receives",
      );
      await expect(leaked!.listUsers()).rejects.toThrow(
        new Error("store: this transaction has ended; its tx can no longer be used"),
      );
      expect(await store.listUsers()).toEqual([]);
    });

    it("a read while a transaction runs never sees what that transaction then rolls back", async () => {
      const { store } = await ctx.setup();
      let wrote!: () => void;
      const written = new Promise<void>((resolve) => {
        wrote = resolve;
      });
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const running = store
        .transaction(async (tx) => {
          await tx.createUser(userInput(1));
          wrote();
          await gate;
          throw new Error("rolled back");
        })
        .catch((e: Error) => e.message);
      await written;
      const read = store.listUsers();
      finish();
      expect(await running).toBe("rolled back");
      expect(await read).toEqual([]);
    });

    it("texts with NUL are refused alike on both adapters", async () => {
      const { store } = await ctx.setup();
      await expect(store.createUser({ ...userInput(1), name: "a\u0000b" })).rejects.toThrow(
        new TypeError("store: text value 4 holds a NUL character, which cannot be stored"),
      );
    });
  });

  describe("migrations", () => {
    const extra: Migration = {
      version: MIGRATIONS.length + 1,
      name: "test step",
      statements: ["CREATE TABLE test_extra (id {id}, note TEXT NOT NULL)"],
    };

    it("opening again applies nothing, keeps the data, and records each step once", async () => {
      const { db, store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const again = await ctx.open(db);
      expect(await again.userById(user.id)).toEqual(user);
      const rows = await db.query("SELECT version, name FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    });

    it("applies a new step to an existing database, then an older Corridor refuses it", async () => {
      const { db, store } = await ctx.setup();
      await store.createUser(userInput(1));
      const newer = await ctx.open(db, { migrations: [...MIGRATIONS, extra] });
      expect(await newer.listUsers()).toHaveLength(1);
      await db.query("INSERT INTO test_extra (note) VALUES ('x')");
      const versions = await db.query("SELECT version FROM schema_migrations ORDER BY version");
      expect(versions.map((r) => Number(r.version))).toEqual([
        ...MIGRATIONS.map((m) => m.version),
        extra.version,
      ]);
      const error = await ctx.open(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaTooNewError);
      expect((error as Error).message).toBe(
        `the database's schema is version ${extra.version}, newer than this Corridor knows (${MIGRATIONS.length}): run the newer Corridor that migrated it, or restore a backup made before`,
      );
    });

    it("step 2 gives the nodes of a version-1 database ssh_users NULL (any user)", async () => {
      const { db, store } = await ctx.setup({ migrations: MIGRATIONS.slice(0, 1) });
      const user = await store.createUser(userInput(1));
      await db.query(
        `INSERT INTO nodes (node_key, user_id, tags, name, name_stem, name_n, hostname, os, ipv4,
           ipv4_int, ipv6, ephemeral, key_expiry, ssh_host_keys, created_at, last_seen, auth_key_id)
         VALUES ('key-1', ${user.id}, '[]', 'node-1', 'node-1', 1, 'h', 'linux', '100.64.0.1',
           1681915905, 'fd00::1', 0, NULL, '[]', 5, NULL, NULL)`,
      );
      const migrated = await ctx.open(db);
      const node = await migrated.nodeByKey("key-1");
      expect(node).toMatchObject({ name: "node-1", sshUsers: null });
      await migrated.updateNode(node!.id, { sshUsers: ["ada"] });
      expect((await migrated.nodeByKey("key-1"))?.sshUsers).toEqual(["ada"]);
    });

    it("a failing step leaves the database as it was (one transaction)", async () => {
      const { db } = await ctx.setup();
      const broken: Migration = {
        ...extra,
        statements: [
          "CREATE TABLE test_extra (id {id}, note TEXT NOT NULL)",
          "CREATE TABLE oops (x NOSUCHSYNTAX(",
        ],
      };
      await expect(ctx.open(db, { migrations: [...MIGRATIONS, broken] })).rejects.toThrow();
      const versions = await db.query("SELECT MAX(version) AS v FROM schema_migrations");
      expect(Number(versions[0]?.v)).toBe(MIGRATIONS.length);
      await expect(db.query("SELECT * FROM test_extra")).rejects.toThrow(/test_extra/);
      await ctx.open(db, { migrations: [...MIGRATIONS, extra] });
    });

    it("servers starting at once on a new database migrate it once", async () => {
      const { db } = await ctx.setup({ migrations: [] });
      const stores = await Promise.all(Array.from({ length: 4 }, () => ctx.open(db)));
      const rows = await db.query("SELECT version FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      await stores[0]!.createUser(userInput(1));
      expect(await stores[3]!.listUsers()).toHaveLength(1);
    });
  });

  describe("allocation", () => {
    const register = (
      store: Parameters<typeof createNodeAllocated>[0],
      n: number,
      userId: number,
      hostname: string,
    ) =>
      createNodeAllocated(
        store,
        {
          nodeKey: `k${n}`,
          userId,
          tags: [],
          hostname,
          os: "linux",
          ephemeral: true,
          keyExpiry: null,
          sshHostKeys: [],
          lastSeen: null,
          authKeyId: null,
        },
        PREFIX,
      );

    it("20 concurrent registrations on 2 servers get distinct names and the first 20 addresses", async () => {
      const { db, store } = await ctx.setup();
      const second = await ctx.open(db);
      const user = await store.createUser(userInput(1));
      const nodes: NodeRecord[] = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? store : second).transaction(async (tx) => {
            const node = await register(tx, i, user.id, "Web-01.example.com");
            await tx.updateUser(user.id, { lastLoginAt: i });
            return node;
          }),
        ),
      );
      const names = nodes.map((n) => n.name).sort();
      expect(names).toEqual(
        ["web-01", ...Array.from({ length: 19 }, (_, i) => `web-01-${i + 2}`)].sort(),
      );
      const ipv4s = new Set(nodes.map((n) => n.ipv4));
      expect(ipv4s).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `100.64.0.${i + 1}`)));
      for (const node of nodes) {
        expect(node.ipv6).toBe(
          `fd7a:115c:a1e0::6440:${(Number(node.ipv4.split(".")[3])).toString(16)}`,
        );
      }
      expect(await store.listNodes()).toHaveLength(20);
    });

    it("names: the label when free, else the lowest free label-N, holes first", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      let n = 0;
      const named = (name: string) =>
        store.createNode(
          nodeInput(++n, user.id, { name, ipv4: `100.64.2.${n}`, ipv6: `fd00::2:${n}` }),
        );
      expect(await store.nextNodeName("web")).toBe("web");
      const web = await named("web");
      expect(await store.nextNodeName("web")).toBe("web-2");
      for (const name of ["web-2", "web-3", "web-5", "web-x", "web-07", "webby"]) await named(name);
      expect(await store.nextNodeName("web")).toBe("web-4");
      await named("web-4");
      expect(await store.nextNodeName("web")).toBe("web-6");
      await store.deleteNode(web.id);
      expect(await store.nextNodeName("web")).toBe("web");
      // A hostname that already looks like a suffixed name gets its own suffix.
      expect(await store.nextNodeName("web-2")).toBe("web-2-2");
      // Renames move a node's name between stems.
      const other = await named("db");
      await store.updateNode(other.id, { name: "web-6" });
      expect(await store.nextNodeName("web-x")).toBe("web-x-2");
      expect(await store.nextNodeName("db")).toBe("db");
      await named("web");
      expect(await store.nextNodeName("web")).toBe("web-7");
      // A label too long for a suffix is cut: the result stays a DNS label.
      const long = "a".repeat(63);
      await named(long);
      expect(await uniqueName(store, long)).toBe("a".repeat(55));
    });

    it("hands out the address after the highest, and holes only once the range is used up", async () => {
      const { store } = await ctx.setup();
      const user = await store.createUser(userInput(1));
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await register(store, i, user.id, "h"));
      expect(made.map((n) => [n.name, n.ipv4])).toEqual([
        ["h", "100.64.0.1"],
        ["h-2", "100.64.0.2"],
        ["h-3", "100.64.0.3"],
      ]);
      await store.deleteNode(made[0]!.id);
      expect(await store.freeIpv4("100.64.0.1", "100.64.0.5")).toBe("100.64.0.4");
      expect(await store.freeIpv4("100.64.0.1", "100.64.0.3")).toBe("100.64.0.1");
      await store.deleteNode(made[1]!.id);
      await store.createNode(nodeInput(1, user.id, { ipv4: "100.64.0.1", ipv6: "fd00::1" }));
      expect(await store.freeIpv4("100.64.0.1", "100.64.0.3")).toBe("100.64.0.2");
      expect(await store.freeIpv4("100.64.0.3", "100.64.0.3")).toBeNull();
      // The freed name comes back first.
      expect((await register(store, 9, user.id, "h")).name).toBe("h");
    });
  });
}
