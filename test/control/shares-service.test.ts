// The share service (server/control/shares/service.ts) on SQLite and on PostgreSQL: what the map
// side is told after each change (the share node added, share nodes removed with share_revoked
// / share_expired, the overlay re-read), concurrent accepts of a one-use share from two
// "servers" on one database (exactly one wins, nothing else created), the expiry job, and a
// removed device. The HTTP side is shares-api.test.ts.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MeshChanges, NodeRefusal } from "../../server/control/changes.ts";
import { ShareError } from "../../server/control/shares/errors.ts";
import { startShareExpiry } from "../../server/control/shares/expiry-job.ts";
import { type ShareActor, ShareService } from "../../server/control/shares/service.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { nodeInput, userInput } from "./store.suite.ts";
import { ManualClock } from "./stream-harness.ts";

type Call =
  | ["nodeChanged", number]
  | ["nodeRemoved", number, NodeRefusal | undefined]
  | ["sharesChanged"];

/** A MeshChanges that records. */
function recorder(calls: Call[]): MeshChanges {
  return {
    nodeChanged: async (id) => void calls.push(["nodeChanged", id]),
    nodeRemoved: async (id, refusal) => void calls.push(["nodeRemoved", id, refusal]),
    userChanged: async () => {},
    userSignedOut: async () => {},
    policyChanged: async () => {},
    sharesChanged: async () => void calls.push(["sharesChanged"]),
  };
}

const wgKey = (): string => randomBytes(32).toString("base64");

/** Fresh databases of one backend. */
interface Backend {
  fresh(): Promise<{ open(): Promise<Store> }>;
}

function defineServiceTests(backend: () => Backend): void {
  const opened: Store[] = [];
  const clock = { now: Date.UTC(2026, 0, 1) };
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  async function setup() {
    const db = await backend().fresh();
    const open = async () => {
      const s = await db.open();
      opened.push(s);
      return s;
    };
    const store = await open();
    await loadOrInitSettings(store);
    const owner = await store.createUser(userInput(1, "owner"));
    const member = await store.createUser(userInput(2));
    const device = await store.createNode(
      nodeInput(1, owner.id, { sshHostKeys: ["ssh-ed25519 AAAA"], sshUsers: ["ada", "bob"] }),
    );
    const calls: Call[] = [];
    const service = (s: Store = store) =>
      new ShareService({
        store: s,
        meshChanges: recorder(calls),
        baseUrl: "https://corridor.example.com/",
        now: () => clock.now,
      });
    const as = (user: UserRecord | null): ShareActor => ({
      user,
      via: user === null ? "share" : "session",
      source: "192.0.2.1",
    });
    return { store, open, owner, member, device, calls, service, as };
  }

  const spec = (nodeId: number, fields: Record<string, unknown> = {}) => ({
    nodeId,
    sshUsers: ["ada"],
    ports: [8080],
    audience: "anyone" as const,
    emails: [],
    expiryMs: 3_600_000,
    maxUses: 1 as number | null,
    note: "",
    ...fields,
  });

  it("accept adds the share node, then re-reads the overlay; revoke refuses it with share_revoked", async () => {
    const { store, owner, device, calls, service, as } = await setup();
    const made = await service().create(spec(device.id, { maxUses: 2 }), as(owner));
    const link = parseShareLink(made.url);
    if (!link.ok) throw new Error(link.message);
    expect(calls).toEqual([]);
    const accepted = await service().accept({
      id: link.link.id,
      secret: link.link.secret,
      nodeKey: wgKey(),
      hostname: "Ada's Laptop",
      userAgent: "x".repeat(400),
      actor: as(null),
    });
    expect(accepted.node.name).toBe("share-ada-s-laptop");
    expect(calls).toEqual([["nodeChanged", accepted.node.id], ["sharesChanged"]]);
    const node = await store.nodeById(accepted.node.id);
    expect(node).toMatchObject({
      userId: null,
      tags: [],
      ephemeral: true,
      shareAcceptanceId: accepted.acceptanceId,
    });
    const acceptance = await store.acceptanceById(accepted.acceptanceId);
    expect(acceptance).toMatchObject({ guestName: "Guest 1", nodeId: node!.id });
    expect(acceptance!.userAgent).toHaveLength(256);

    calls.length = 0;
    await service().revoke(link.link.id, as(owner));
    expect(calls).toEqual([
      [
        "nodeRemoved",
        node!.id,
        { code: "share_revoked", message: "the share this node belonged to was revoked" },
      ],
      ["sharesChanged"],
    ]);
    expect(await store.nodeById(node!.id)).toBeNull();
    expect(await store.acceptanceById(accepted.acceptanceId)).toMatchObject({
      nodeId: null,
      endedAt: clock.now,
      endReason: "revoked",
    });
  });

  it("of concurrent accepts of a one-use share on two servers exactly one wins", async () => {
    const { store, open, owner, device, service, as } = await setup();
    const second = await open();
    const made = await service().create(spec(device.id), as(owner));
    const link = parseShareLink(made.url);
    if (!link.ok) throw new Error(link.message);
    const nodesBefore = (await store.listNodes()).length;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        service(i % 2 === 0 ? store : second).accept({
          id: link.link.id,
          secret: link.link.secret,
          nodeKey: wgKey(),
          hostname: `guest-${i}`,
          userAgent: "test",
          actor: as(null),
        }),
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(won).toHaveLength(1);
    for (const reason of lost) {
      expect(reason).toBeInstanceOf(ShareError);
      expect((reason as ShareError).code).toBe("share_used_up");
    }
    expect((await store.listNodes()).length).toBe(nodesBefore + 1);
    expect(await store.acceptancesOfShare(link.link.id)).toHaveLength(1);
    expect((await store.shareById(link.link.id))?.uses).toBe(1);
  });

  it("the expiry job ends a past share's acceptances with share_expired, once, audited as system", async () => {
    const { store, owner, device, calls, service, as } = await setup();
    const made = await service().create(spec(device.id, { maxUses: null }), as(owner));
    const link = parseShareLink(made.url);
    if (!link.ok) throw new Error(link.message);
    const nodes: number[] = [];
    for (let i = 0; i < 2; i++) {
      const a = await service().accept({
        id: link.link.id,
        secret: link.link.secret,
        nodeKey: wgKey(),
        hostname: "guest",
        userAgent: "",
        actor: as(null),
      });
      nodes.push(a.node.id);
    }
    calls.length = 0;
    expect(await service().expireDue(clock.now + 3_599_999)).toBe(0);
    expect(calls).toEqual([]);
    calls.length = 0;
    expect(await service().expireDue(clock.now + 3_600_000)).toBe(2);
    const expired = {
      code: "share_expired",
      message: "the share this node belonged to has expired",
    };
    expect(calls).toEqual([
      ["nodeRemoved", nodes[0], expired],
      ["nodeRemoved", nodes[1], expired],
      ["sharesChanged"],
    ]);
    expect(await service().expireDue(clock.now + 3_600_000)).toBe(0);
    const entries = (await store.listAudit(10)).filter((e) => e.action === "share.expire");
    expect(entries).toEqual([
      expect.objectContaining({
        actor: "system",
        actorId: null,
        via: "system",
        target: `share ${link.link.id}`,
        detail: "2 acceptance(s) ended",
      }),
    ]);
    for (const a of await store.acceptancesOfShare(link.link.id)) {
      expect(a).toMatchObject({ endReason: "expired", nodeId: null });
    }
  });

  it("the expiry job runs at the earliest open share's expiry, then polls", async () => {
    const { store, owner, device, calls, as } = await setup();
    const manual = new ManualClock(clock.now);
    const service = new ShareService({
      store,
      meshChanges: recorder(calls),
      baseUrl: "https://corridor.example.com/",
      now: () => manual.now(),
    });
    const made = await service.create(spec(device.id, { expiryMs: 60_000 }), as(owner));
    const link = parseShareLink(made.url);
    if (!link.ok) throw new Error(link.message);
    const accepted = await service.accept({
      id: link.link.id,
      secret: link.link.secret,
      nodeKey: wgKey(),
      hostname: "guest",
      userAgent: "",
      actor: as(null),
    });
    const job = startShareExpiry(service, store, manual, { pollMs: 3_600_000 });
    try {
      // The poke's run finds the acceptance and arms the timer at its share's expiry.
      await job.poke();
      manual.advance(59_999);
      await job.poke();
      expect((await store.acceptanceById(accepted.acceptanceId))?.endedAt).toBeNull();
      manual.advance(1);
      await expect
        .poll(async () => (await store.acceptanceById(accepted.acceptanceId))?.endReason)
        .toBe("expired");
    } finally {
      job.stop();
    }
  });

  it("a removed device: its shares offer nothing and the job ends their acceptances", async () => {
    const { store, owner, device, service, as } = await setup();
    const made = await service().create(spec(device.id, { maxUses: 5 }), as(owner));
    const link = parseShareLink(made.url);
    if (!link.ok) throw new Error(link.message);
    const accept = () =>
      service().accept({
        id: link.link.id,
        secret: link.link.secret,
        nodeKey: wgKey(),
        hostname: "guest",
        userAgent: "",
        actor: as(null),
      });
    const a = await accept();
    await store.deleteNode(device.id);
    await expect(service().offer(link.link.id, link.link.secret)).rejects.toMatchObject({
      code: "share_revoked",
    });
    await expect(accept()).rejects.toMatchObject({ code: "share_revoked" });
    expect(await service().expireDue()).toBe(1);
    expect(await store.acceptanceById(a.acceptanceId)).toMatchObject({ endReason: "revoked" });
  });
}

describe("share service on SQLite", () => {
  const root = mkdtempSync(join(tmpdir(), "corridor-shares-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  defineServiceTests(() => ({
    async fresh() {
      const path = join(root, `db-${++n}`, "control.db");
      return { open: () => openSqliteStore(path) };
    },
  }));
});

describeWithPrereq(postgresPrereq(), "share service on PostgreSQL", () => {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  defineServiceTests(() => ({
    async fresh() {
      const url = await cluster!.createDatabase("shares");
      return { open: () => openPostgresStore(url) };
    },
  }));
});
