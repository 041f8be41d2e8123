// The storage suite, audit log part (migration 4): entries appended and paged newest first by
// id, text kept byte for byte (hostile text included, NUL refused alike on both adapters), an
// entry written in a transaction that fails is gone with it, and a version-3 database gains the
// table. See store.suite.ts.

import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../server/control/store/schema.ts";
import type { NewAudit } from "../../server/control/store/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import type { SuiteContext } from "./store.suite.ts";

function entry(n: number, fields: Partial<NewAudit> = {}): NewAudit {
  return {
    at: 1_700_000_000_000 + n,
    actorId: n % 3 === 0 ? null : n,
    actor: `user${n}@example.com`,
    via: "session",
    action: "node.rename",
    target: `node ${n} web-${n}`,
    detail: `web-${n} -> db-${n}`,
    source: "127.0.0.1",
    ...fields,
  };
}

export function defineAuditTests(ctx: SuiteContext): void {
  describe("audit log", () => {
    it("appends entries and pages through them newest first", async () => {
      const { store } = await ctx.setup();
      const added = [];
      for (let n = 1; n <= 7; n++) added.push(await store.addAudit(entry(n)));
      for (const [i, a] of added.entries()) expect(a).toEqual({ id: a.id, ...entry(i + 1) });
      expect(added.map((a) => a.id)).toEqual([...added.map((a) => a.id)].sort((x, y) => x - y));
      const newest = [...added].reverse();
      expect(await store.listAudit(3)).toEqual(newest.slice(0, 3));
      expect(await store.listAudit(3, newest[2]!.id)).toEqual(newest.slice(3, 6));
      expect(await store.listAudit(3, newest[5]!.id)).toEqual(newest.slice(6));
      expect(await store.listAudit(3, added[0]!.id)).toEqual([]);
      expect(await store.listAudit(100)).toEqual(newest);
      expect(await store.listAudit(0)).toEqual([]);
    });

    it("keeps hostile text as written and refuses NUL on both adapters", async () => {
      const { store } = await ctx.setup();
      const rand = seededInts(4242);
      const alphabet = ["'", '"', "\\", "%", "_", ";--", "é", "🦊", "\u202e", "\r\n", "?", "$1"];
      for (let i = 0; i < 50; i++) {
        let text = "";
        for (let j = rand(12); j > 0; j--) text += alphabet[rand(alphabet.length)];
        const stored = await store.addAudit(entry(i, { target: text, detail: text, actor: text }));
        expect((await store.listAudit(1))[0]).toEqual(stored);
        expect(stored.target).toBe(text);
      }
      await expect(store.addAudit(entry(1, { detail: "a\u0000b" }))).rejects.toThrow(/NUL/);
    });

    it("an entry written in a failed transaction is gone with it", async () => {
      const { store } = await ctx.setup();
      await expect(
        store.transaction(async (tx) => {
          await tx.addAudit(entry(1));
          throw new Error("the change failed");
        }),
      ).rejects.toThrow("the change failed");
      expect(await store.listAudit(10)).toEqual([]);
      await store.transaction((tx) => tx.addAudit(entry(2)));
      expect((await store.listAudit(10)).map((e) => e.target)).toEqual(["node 2 web-2"]);
    });

    it("step 4 adds the table to a version-3 database, whose rows stay", async () => {
      const { db, store } = await ctx.setup({ migrations: MIGRATIONS.slice(0, 3) });
      const user = await store.createUser({
        issuer: "corridor:local",
        subject: "s",
        email: "a@example.com",
        name: "A",
        role: "owner",
        lastLoginAt: null,
      });
      await expect(db.query("SELECT * FROM audit_log")).rejects.toThrow();
      const migrated = await ctx.open(db);
      expect(await migrated.userById(user.id)).toEqual(user);
      const versions = await db.query("SELECT version FROM schema_migrations ORDER BY version");
      expect(versions.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      const added = await migrated.addAudit(entry(1, { actorId: user.id }));
      expect(await migrated.listAudit(5)).toEqual([added]);
    });
  });
}
