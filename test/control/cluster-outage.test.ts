// PostgreSQL away for 10 s under churn (issue 18), with two control servers on it: the streams
// stay up and keep their maps (peers, and endpoint updates between nodes of one server), API
// writes answer 503 database_unavailable, a new node's login is closed 4429 naming the
// database and the client gets in by itself once the database is back; a transaction cut
// midway leaves nothing; afterwards both servers listen and catch up again, a policy set
// through one reaches the other's nodes, presence is whole (latest endpoints across servers),
// and every node's final map matches the database. Real ControlClients over loopback.

import { expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { StoreUnavailableError } from "../../server/control/store/types.ts";
import { CONTROL_CLOSE } from "../../worker/control/messages.ts";
import { postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  type Balancer,
  initCrypto,
  type Member,
  onlineNames,
  peerNames,
  peerOf,
  seedDatabase,
  startBalancer,
  startMember,
  type TestNode,
  testNode,
  usePostgres,
} from "./cluster-harness.ts";

const pgNeed = postgresPrereq();
const OUTAGE_MS = 10_000;
const LONG = { hangAfterMs: 30_000 };

describeWithPrereq(pgNeed, "PostgreSQL away for 10 s under two control servers", () => {
  const fixture = usePostgres();
  const { cleanup } = fixture;
  type Node = TestNode;
  const peer = peerOf;
  const others = (all: Node[], n: Node) =>
    all
      .filter((o) => o !== n)
      .map((o) => o.name)
      .sort();

  it("keeps serving the last maps, refuses writes clearly, leaves nothing half-written and catches up", async () => {
    const core = await initCrypto();
    const { url, alice, key, apiKey } = await seedDatabase(fixture.pg, "cluster_outage");
    // Retries every second or two, so the test sees the return without waiting a minute.
    const node = (nodeUrl: string, authKey: string, name: string) =>
      testNode(
        { url: nodeUrl, authKey, name, core, backoffBaseMs: 500, backoffMaxMs: 2000 },
        cleanup,
      );

    const a: Member = await startMember(url, "server-a", core);
    cleanup.push(() => a.close());
    const b: Member = await startMember(url, "server-b", core);
    cleanup.push(() => b.close());
    const lb: Balancer = await startBalancer(a);
    cleanup.push(() => lb.close());

    const putPolicy = (m: Member, text: string) =>
      m.control.api.request("http://127.0.0.1/api/v1/policy", {
        method: "PUT",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ text }),
      });

    // a1, a2 on A; b1, b2 on B; the churner on A through the balancer, cut now and then.
    const a1 = node(a.url, key, "a1");
    const a2 = node(a.url, key, "a2");
    const b1 = node(b.url, key, "b1");
    const b2 = node(b.url, key, "b2");
    const churner = node(lb.url, key, "churner");
    const steady = [a1, a2, b1, b2];
    let all = [...steady, churner];
    for (const n of all) n.client.start();
    await waitUntil(
      () => all.every((n) => onlineNames(n).join() === others(all, n).join()),
      "every node sees the four others online",
      LONG,
    );

    // Churn: endpoint updates from every steady node, the churner's connection cut.
    let tick = 0;
    const update = (n: Node) => {
      n.endpoints = [`192.0.2.${steady.indexOf(n) + 1}:${40000 + tick}`];
      n.client.update({ endpoints: n.endpoints });
    };
    const churn = setInterval(() => {
      tick++;
      update(steady[tick % steady.length]!);
      if (tick % 8 === 0) lb.cut();
    }, 150);
    cleanup.push(() => clearInterval(churn));
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // The outage starts inside a transaction, after its first write: nothing of it may stay.
    const policyBefore = await a.store.getPolicy();
    const closesBefore = steady.map((n) => n.closes.length);
    const keepalivesBefore = steady.map((n) => n.client.stats.keepalives);
    const half = a.store.transaction(async (tx) => {
      await tx.setPolicy(JSON.stringify({ acls: [] }), alice.id);
      await fixture.pg.pause();
      await tx.createUser({
        issuer: "corridor:local",
        subject: "half",
        email: "half@example.com",
        name: "Half",
        role: "member",
        lastLoginAt: null,
      });
    });
    await expect(half).rejects.toBeInstanceOf(StoreUnavailableError);
    const outageStart = Date.now();

    // API writes: 503 database_unavailable with Retry-After, on either server.
    for (const m of [a, b]) {
      const reply = await putPolicy(m, DEFAULT_POLICY);
      expect(reply.status).toBe(503);
      expect(reply.headers.get("retry-after")).toBe("5");
      const body = (await reply.json()) as { error: string; message: string };
      expect(body.error).toBe("database_unavailable");
      expect(body.message).toMatch(/database/);
    }

    // A new node: closed 4429 naming the database, never refused for good.
    const fresh = node(b.url, key, "fresh");
    fresh.client.start();
    await waitUntil(
      () =>
        fresh.closes.some((c) => c.code === CONTROL_CLOSE.TOO_SLOW && /database/.test(c.reason)),
      "the new node's login closed 4429 naming the database",
      LONG,
    );

    // Endpoint updates still reach the peers on the same server.
    const sameServer: [Node, Node][] = [
      [a1, a2],
      [b1, b2],
    ];
    for (const [from, to] of sameServer) {
      const endpoints = [`198.51.100.${steady.indexOf(from) + 1}:1`];
      from.endpoints = endpoints;
      from.client.update({ endpoints });
      await waitUntil(
        () => peer(to, from.name)?.endpoints.join() === endpoints.join(),
        `${to.name} sees ${from.name}'s endpoint update during the outage`,
        LONG,
      );
    }

    // Hold the outage for its 10 s, checking the maps all along.
    while (Date.now() - outageStart < OUTAGE_MS) {
      for (const n of steady) {
        expect(peerNames(n)).toEqual(others(all, n));
        // Its own server's other steady node is online; so are the other server's (deaf
        // servers end nobody).
        for (const o of steady) if (o !== n) expect(peer(n, o.name)?.online).toBe(true);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Every stream stayed up, with keepalives flowing.
    expect(steady.map((n) => n.closes.length)).toEqual(closesBefore);
    steady.forEach((n, i) => {
      expect(n.client.stats.keepalives).toBeGreaterThan(keepalivesBefore[i]!);
    });
    expect(fresh.state).toBeUndefined();

    // The last endpoints were reported while the database was away: after its return they
    // must cross to the other server without any new update (resync on rejoining).
    clearInterval(churn);
    await new Promise((resolve) => setTimeout(resolve, 300));
    tick += 1000;
    for (const n of steady) update(n);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fixture.pg.resume();

    // Both servers listen and catch up again.
    await waitUntil(
      () =>
        a.control.cluster!.notReady().length === 0 &&
        b.control.cluster!.notReady().length === 0 &&
        a.control.cluster!.follower.caughtUp &&
        b.control.cluster!.follower.caughtUp,
      "both servers listening and caught up",
      LONG,
    );
    // The new node gets in by itself; the churner is back.
    all = [...all, fresh];
    await waitUntil(() => fresh.state !== undefined, "the new node registered", LONG);
    expect(fresh.refused).toBe(false);
    await waitUntil(() => b.control.hub.attachedCount === 3, "B holds b1, b2 and fresh", LONG);

    // Nothing half-written.
    expect((await a.store.getPolicy())?.version).toBe(policyBefore?.version);
    const users = await a.store.listUsers();
    expect(users.map((u) => u.email).sort()).toEqual(["alice@example.com", "bob@example.com"]);

    // A policy set on A after the return reaches B's nodes; and back, set on B.
    expect((await putPolicy(a, JSON.stringify({ acls: [] }))).status).toBe(200);
    await waitUntil(
      () => [b1, b2, fresh].every((n) => n.state!.peers.size === 0),
      "B's nodes got A's policy",
      LONG,
    );
    expect((await putPolicy(b, DEFAULT_POLICY)).status).toBe(200);

    // Presence whole again: everyone online, with the latest endpoints, across the servers.
    await waitUntil(
      () =>
        all.every(
          (n) =>
            onlineNames(n).join() === others(all, n).join() &&
            steady.every(
              (o) => o === n || peer(n, o.name)?.endpoints.join() === o.endpoints.join(),
            ),
        ),
      "every node sees every other online with its latest endpoints",
      LONG,
    );

    // No change lost: every node's map holds exactly the nodes in the database.
    const stored = (await b.store.listNodes()).map((n) => n.name).sort();
    expect(stored).toEqual(all.map((n) => n.name).sort());
    for (const n of all) {
      expect([...peerNames(n), n.state!.self.name].sort()).toEqual(stored);
    }
    expect(all.some((n) => n.refused)).toBe(false);
  }, 150_000);
});
