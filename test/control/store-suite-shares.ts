// The storage suite, shares part (migration 5): shares and acceptances stored and read back,
// useShare counting atomically (of concurrent accepts of a one-use share exactly one wins), the
// share node (no user, no tags, tied to its acceptance), removing it ending the acceptance
// ("left"), and a version-4 database with nodes migrated (rows, ids, constraint names kept).
// See store.suite.ts.

import { describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../server/control/store/schema.ts";
import type { NewShare, Store } from "../../server/control/store/types.ts";
import { expectConflict, nodeInput, type SuiteContext, userInput } from "./store.suite.ts";

/** A share of `nodeId` by `createdBy`, id `s<n>` padded to 22 characters. */
export function shareInput(
  n: number,
  nodeId: number,
  createdBy: number,
  fields: Partial<NewShare> = {},
): NewShare {
  return {
    id: `s${n}`.padEnd(22, "x"),
    secretHash: `${n}`.padStart(64, "0"),
    nodeId,
    createdBy,
    sshUsers: ["ada"],
    ports: [80, 8080],
    audience: "anyone",
    emails: [],
    expiresAt: 1_700_000_000_000 + 3_600_000,
    maxUses: 1,
    note: "for the review",
    ...fields,
  };
}

async function deviceAndSharer(store: Store) {
  const user = await store.createUser(userInput(1, "admin"));
  const device = await store.createNode(nodeInput(1, user.id));
  return { user, device };
}

export function defineShareTests(ctx: SuiteContext): void {
  describe("shares", () => {
    it("stores a share and reads it back; lists newest first, by sharer; revokes once", async () => {
      const { store } = await ctx.setup();
      const { user, device } = await deviceAndSharer(store);
      const other = await store.createUser(userInput(2));
      const a = await store.createShare(shareInput(1, device.id, user.id));
      expect(a).toEqual({
        ...shareInput(1, device.id, user.id),
        uses: 0,
        createdAt: ctx.clock.now,
        revokedAt: null,
      });
      ctx.clock.now += 1;
      const b = await store.createShare(
        shareInput(2, device.id, other.id, {
          audience: "emails",
          emails: ["x@example.com"],
          maxUses: null,
          sshUsers: [],
          note: "é 🦊 ' \" ;--",
        }),
      );
      expect(await store.shareById(b.id)).toEqual(b);
      expect(await store.shareById("nope")).toBeNull();
      expect((await store.listShares()).map((s) => s.id)).toEqual([b.id, a.id]);
      expect(await store.listShares(user.id)).toEqual([a]);
      expect(await store.revokeShare(a.id, 5)).toBe(true);
      expect(await store.revokeShare(a.id, 6)).toBe(false);
      expect((await store.shareById(a.id))?.revokedAt).toBe(5);
      await expectConflict(
        store.createShare(shareInput(1, device.id, user.id)),
        "id",
        "a share with this id exists",
      );
      await expectConflict(
        store.createShare(shareInput(3, device.id, 999)),
        "createdBy",
        "no such user",
      );
    });

    it("useShare counts up to maxUses and refuses revoked, expired and unknown shares", async () => {
      const { store } = await ctx.setup();
      const { user, device } = await deviceAndSharer(store);
      const now = ctx.clock.now;
      const two = await store.createShare(shareInput(1, device.id, user.id, { maxUses: 2 }));
      expect(await store.useShare(two.id, now)).toBe(true);
      expect(await store.useShare(two.id, now)).toBe(true);
      expect(await store.useShare(two.id, now)).toBe(false);
      expect((await store.shareById(two.id))?.uses).toBe(2);
      const open = await store.createShare(shareInput(2, device.id, user.id, { maxUses: null }));
      for (let i = 0; i < 5; i++) expect(await store.useShare(open.id, now)).toBe(true);
      expect(await store.useShare(open.id, open.expiresAt)).toBe(false);
      await store.revokeShare(open.id, now);
      expect(await store.useShare(open.id, now)).toBe(false);
      expect(await store.useShare("unknown", now)).toBe(false);
    });

    it("of concurrent uses of a one-use share in transactions exactly one wins", async () => {
      const { db, store } = await ctx.setup();
      const { user, device } = await deviceAndSharer(store);
      const share = await store.createShare(shareInput(1, device.id, user.id));
      const second = await ctx.open(db);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 === 0 ? store : second).transaction(async (tx) => {
            if (!(await tx.useShare(share.id, ctx.clock.now))) return false;
            await tx.createAcceptance({
              shareId: share.id,
              userId: null,
              guestName: `Guest ${i}`,
              userAgent: "test",
              acceptedAt: ctx.clock.now,
            });
            return true;
          }),
        ),
      );
      expect(results.filter((won) => won)).toHaveLength(1);
      expect(await store.acceptancesOfShare(share.id)).toHaveLength(1);
      expect((await store.shareById(share.id))?.uses).toBe(1);
    });

    it("an acceptance, its share node, ending it; the node's removal ends it as 'left'", async () => {
      const { store } = await ctx.setup();
      const { user, device } = await deviceAndSharer(store);
      const share = await store.createShare(shareInput(1, device.id, user.id, { maxUses: 3 }));
      const input = {
        shareId: share.id,
        userId: null,
        guestName: "Guest 1",
        userAgent: "Mozilla/5.0",
        acceptedAt: 42,
      };
      const a = await store.createAcceptance(input);
      expect(a).toEqual({ id: a.id, nodeId: null, endedAt: null, endReason: null, ...input });
      const node = await store.createNode(
        nodeInput(2, null, { tags: [], ephemeral: true, shareAcceptanceId: a.id }),
      );
      expect(node.shareAcceptanceId).toBe(a.id);
      expect(node.userId).toBeNull();
      expect((await store.acceptanceById(a.id))?.nodeId).toBe(node.id);
      expect(await store.listOpenAcceptances()).toEqual([
        { acceptance: { ...a, nodeId: node.id }, share },
      ]);
      await expectConflict(
        store.createNode(nodeInput(3, null, { tags: [], shareAcceptanceId: a.id })),
        "shareAcceptanceId",
        "a node for this share acceptance exists",
      );
      await expectConflict(
        store.createNode(nodeInput(4, user.id, { shareAcceptanceId: a.id + 100 })),
        "tags",
        "a node belongs to a user or to tags: exactly one of userId and tags must be set",
      );
      await expectConflict(
        store.createNode(nodeInput(5, null, { tags: [], shareAcceptanceId: a.id + 100 })),
        "shareAcceptanceId",
        "no such share acceptance",
      );
      await expectConflict(
        store.createNode(nodeInput(6, null, { tags: [] })),
        "tags",
        "a node belongs to a user or to tags: exactly one of userId and tags must be set",
      );
      await expectConflict(
        store.createAcceptance({ ...input, shareId: "unknown" }),
        "shareId",
        "no such share",
      );

      ctx.clock.now += 10;
      await store.deleteNode(node.id);
      expect(await store.acceptanceById(a.id)).toEqual({
        ...a,
        endedAt: ctx.clock.now,
        endReason: "left",
      });
      expect(await store.listOpenAcceptances()).toEqual([]);

      const b = await store.createAcceptance({ ...input, userId: user.id, guestName: "User 1" });
      expect(await store.endAcceptance(b.id, 77, "revoked")).toBe(true);
      expect(await store.endAcceptance(b.id, 78, "expired")).toBe(false);
      const bNode = await store.createNode(
        nodeInput(7, null, { tags: [], ephemeral: true, shareAcceptanceId: b.id }),
      );
      await store.deleteNode(bNode.id);
      expect(await store.acceptanceById(b.id)).toMatchObject({
        nodeId: null,
        endedAt: 77,
        endReason: "revoked",
      });
      expect((await store.acceptancesOfShare(share.id)).map((x) => x.id)).toEqual([a.id, b.id]);
      expect(await store.acceptanceById(9999)).toBeNull();
    });

    it("step 5 migrates a version-4 database with nodes: rows, ids, names and checks kept", async () => {
      const { db, store } = await ctx.setup({ migrations: MIGRATIONS.slice(0, 4) });
      const user = await store.createUser(userInput(1));
      const mine = await store.createNode(
        nodeInput(1, user.id, { sshHostKeys: ["ssh-ed25519 A"] }),
      );
      await store.updateNode(mine.id, { sshUsers: ["ada"] });
      const tagged = await store.createNode(nodeInput(2, null));
      const gone = await store.createNode(nodeInput(3, user.id));
      // Raw SQL: this code's deleteNode speaks to the step-5 tables.
      await db.query(`DELETE FROM nodes WHERE id = ${gone.id}`);
      await expect(db.query("SELECT * FROM shares")).rejects.toThrow();

      const migrated = await ctx.open(db);
      expect(await migrated.nodeById(mine.id)).toEqual({
        ...mine,
        sshUsers: ["ada"],
        shareAcceptanceId: null,
      });
      expect(await migrated.nodeById(tagged.id)).toEqual({ ...tagged, shareAcceptanceId: null });
      // A removed node's id is never handed out again, across the table rebuild too.
      const next = await migrated.createNode(nodeInput(4, user.id));
      expect(next.id).toBeGreaterThan(gone.id);
      // The constraints and the name index kept their names and work.
      await expectConflict(
        migrated.createNode(nodeInput(5, user.id, { name: "node-1" })),
        "name",
        "a node with this name exists",
      );
      await expectConflict(
        migrated.createNode(nodeInput(6, user.id, { tags: ["tag:x"] })),
        "tags",
        "a node belongs to a user or to tags: exactly one of userId and tags must be set",
      );
      expect(await migrated.nextNodeName("node-1")).toBe("node-1-2");
      const share = await migrated.createShare(shareInput(1, mine.id, user.id));
      expect(await migrated.useShare(share.id, ctx.clock.now)).toBe(true);
    });
  });
}
