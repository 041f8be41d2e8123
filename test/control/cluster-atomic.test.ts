// A change's cluster_changes row commits with the change (issue 18, review finding 9): the
// other servers hear of a committed change even when the server that made it does nothing after
// the commit (it died there). Here the changes are written straight to one server's store and
// no MeshChanges call follows, which is exactly what a server killed after its COMMIT leaves.
// Also: what the triggers write (one row per thing per transaction, none for a rolled-back
// transaction or a last-seen-only update, a revoked share node's refusal).

import { randomBytes } from "node:crypto";
import pg from "pg";
import { beforeAll, expect, it } from "vitest";
import { createNodeAllocated } from "../../server/control/store/allocate.ts";
import type { NodeRecord, Store } from "../../server/control/store/types.ts";
import { postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  initCrypto,
  type Member,
  seedDatabase,
  startMember,
  usePostgres,
} from "./cluster-harness.ts";

const pgNeed = postgresPrereq();

describeWithPrereq(pgNeed, "a change's row commits with the change", () => {
  const fixture = usePostgres();
  let a: Member;
  let b: Member;
  let sql: pg.Client;
  let aliceId: number;

  beforeAll(async () => {
    const seeded = await seedDatabase(fixture.pg, "cluster_atomic");
    aliceId = seeded.alice.id;
    const core = await initCrypto();
    a = await startMember(seeded.url, "server-a", core);
    fixture.cleanup.push(() => a.close());
    b = await startMember(seeded.url, "server-b", core);
    fixture.cleanup.push(() => b.close());
    sql = new pg.Client({ connectionString: seeded.url });
    await sql.connect();
    fixture.cleanup.push(() => sql.end());
  }, 60_000);

  async function rowsAfter(seq: number): Promise<{ kind: string; node_id: string | null }[]> {
    const { rows } = await sql.query(
      "SELECT kind, node_id, refusal FROM cluster_changes WHERE seq > $1 ORDER BY seq",
      [seq],
    );
    return rows;
  }

  async function newest(): Promise<number> {
    const { rows } = await sql.query("SELECT coalesce(max(seq), 0)::int AS s FROM cluster_changes");
    return rows[0].s as number;
  }

  function addNode(store: Store, hostname: string): Promise<NodeRecord> {
    return store.transaction((tx) =>
      createNodeAllocated(
        tx,
        {
          nodeKey: randomBytes(32).toString("base64"),
          userId: aliceId,
          tags: [],
          hostname,
          os: "linux",
          ephemeral: false,
          keyExpiry: null,
          sshHostKeys: [],
          lastSeen: null,
          authKeyId: null,
        },
        b.control.settings.ipv6Prefix,
      ),
    );
  }

  it("a node registered and renamed on one server, which then said nothing, reaches both", async () => {
    // Committed on A, and nothing after it: no MeshChanges call, no row written by A's code.
    const node = await addNode(a.store, "quiet");
    await waitUntil(
      () => b.control.mapper.node(node.id) !== undefined,
      "B to learn the node from its row alone",
    );
    await waitUntil(() => a.control.mapper.node(node.id) !== undefined, "A's follower too");

    await a.store.transaction((tx) => tx.updateNode(node.id, { name: "renamed-quietly" }));
    await waitUntil(
      () => b.control.mapper.node(node.id)?.name === "renamed-quietly",
      "B to see the rename",
    );

    // The server that wrote it dies right after its commit: the row is in the database anyway.
    const before = await newest();
    await a.store.transaction((tx) => tx.updateNode(node.id, { hostname: "after-death" }));
    await a.kill();
    await waitUntil(
      () => b.control.mapper.node(node.id)?.hostname === "after-death",
      "B to see the change of a server killed right after its commit",
    );
    expect((await rowsAfter(before)).map((r) => r.kind)).toEqual(["node"]);
    await b.store.deleteNode(node.id);
    await waitUntil(() => b.control.mapper.node(node.id) === undefined, "B to drop the node");
  }, 60_000);

  it("writes one row per thing per transaction, none for a rollback or a last-seen update", async () => {
    const node = await addNode(b.store, "counted");
    let before = await newest();
    await b.store.transaction(async (tx) => {
      await tx.updateNode(node.id, { name: "counted-1" });
      await tx.updateNode(node.id, { name: "counted-2" });
      await tx.updateUser(aliceId, { name: "Alice A." });
    });
    expect((await rowsAfter(before)).map((r) => r.kind)).toEqual(["node", "user"]);

    before = await newest();
    await b.store.updateNode(node.id, { lastSeen: Date.now() });
    await expect(
      b.store.transaction(async (tx) => {
        await tx.updateNode(node.id, { name: "never" });
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    expect(await rowsAfter(before)).toEqual([]);
    await waitUntil(
      () => b.control.mapper.node(node.id)?.name === "counted-2",
      "B to apply its own row",
    );
  }, 30_000);

  it("a share node's removal row carries the refusal its acceptance's end says", async () => {
    const device = await addNode(b.store, "device");
    const share = await b.store.createShare({
      id: "s1".padEnd(22, "x"),
      secretHash: "1".padStart(64, "0"),
      nodeId: device.id,
      createdBy: aliceId,
      sshUsers: [],
      ports: [22],
      audience: "anyone",
      emails: [],
      expiresAt: Date.now() + 3600_000,
      maxUses: null,
      note: "",
    });
    const acceptanceId = (
      await b.store.createAcceptance({
        shareId: share.id,
        userId: null,
        guestName: "guest",
        userAgent: "test",
        acceptedAt: Date.now(),
      })
    ).id;
    const shareNode = await b.store.transaction((tx) =>
      createNodeAllocated(
        tx,
        {
          nodeKey: randomBytes(32).toString("base64"),
          userId: null,
          tags: [],
          hostname: "guest",
          os: "browser",
          ephemeral: true,
          keyExpiry: null,
          sshHostKeys: [],
          lastSeen: null,
          authKeyId: null,
          shareAcceptanceId: acceptanceId,
        },
        b.control.settings.ipv6Prefix,
      ),
    );
    const before = await newest();
    await b.store.transaction(async (tx) => {
      await tx.endAcceptance(acceptanceId, Date.now(), "revoked");
      await tx.deleteNode(shareNode.id);
      await tx.revokeShare(share.id, Date.now());
    });
    const after = (await rowsAfter(before)) as {
      kind: string;
      node_id: string | null;
      refusal: string | null;
    }[];
    expect(after.map((r) => r.kind)).toEqual(["shares", "removed"]);
    expect(JSON.parse(after[1]!.refusal!)).toEqual({
      code: "share_revoked",
      message: "the share this node belonged to was revoked",
    });
    await waitUntil(
      () => b.control.mapper.node(shareNode.id) === undefined,
      "B to drop the share node",
    );
  }, 30_000);
});
