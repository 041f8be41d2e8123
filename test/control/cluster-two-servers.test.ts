// Two control servers on one PostgreSQL (issue 18): nodes on each see each other and each
// other's presence; a policy set through one reaches the nodes of the other; a server killed
// (no goodbye) loses its nodes to the other behind the balancer, where they resume with a
// delta (their cursor), not a full map; and every node's final map matches the database.
// Real ControlClients (the agent's and the page's map client) over loopback WebSockets.

import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { ControlClient } from "../../worker/control/client.ts";
import type { MapState } from "../../worker/control/map-state.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  type Balancer,
  initCrypto,
  type Member,
  seedUsers,
  startBalancer,
  startMember,
} from "./cluster-harness.ts";

const pgNeed = postgresPrereq();

describeWithPrereq(pgNeed, "two control servers on one PostgreSQL", () => {
  let pg: PgCluster;
  const cleanup: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
    await pg?.stop();
  });

  interface Node {
    client: ControlClient;
    state?: MapState;
    fullMaps(): number;
  }

  function node(url: string, authKey: string, hostname: string): Node {
    const result: Node = {
      client: new ControlClient({
        url,
        privateKey: generatePrivateKey(),
        core: coreRef!,
        x25519: nobleX25519,
        connect: nodeControlConnect(),
        hostinfo: { hostname, os: "linux" },
        authKey,
        clock: systemClock,
        onMap: (_diff, state) => {
          result.state = state;
        },
      }),
      fullMaps: () => result.client.stats.fullMaps,
    };
    cleanup.push(() => result.client.close());
    return result;
  }

  let coreRef: Awaited<ReturnType<typeof initCrypto>> | undefined;

  it("shares nodes, presence and policy across servers; a killed server's nodes resume elsewhere with a delta", async () => {
    coreRef = await initCrypto();
    const url = await pg.createDatabase("cluster_two");
    const seedStore = await openPostgresStore(url);
    const { alice, authKey } = await seedUsers(seedStore);
    const key = await authKey(alice.id);
    await seedStore.close();

    const a: Member = await startMember(url, "server-a", coreRef);
    cleanup.push(() => a.close());
    const b: Member = await startMember(url, "server-b", coreRef);
    cleanup.push(() => b.close());
    const lb: Balancer = await startBalancer(a);
    cleanup.push(() => lb.close());

    // n1 and n2 through the balancer (on A), n3 straight on B.
    const n1 = node(lb.url, key, "one");
    const n2 = node(lb.url, key, "two");
    const n3 = node(b.url, key, "three");
    for (const n of [n1, n2, n3]) n.client.start();
    const peersOnline = (n: Node) =>
      [...(n.state?.peers.values() ?? [])]
        .filter((p) => p.online)
        .map((p) => p.name)
        .sort();
    await waitUntil(() => peersOnline(n3).join() === "one,two", "n3 (on B) sees n1 and n2 online", {
      hangAfterMs: 20_000,
    });
    await waitUntil(() => peersOnline(n1).join() === "three,two", "n1 (on A) sees n3 online", {
      hangAfterMs: 20_000,
    });
    expect(a.control.hub.attachedCount).toBe(2);
    expect(b.control.hub.attachedCount).toBe(1);

    // An endpoint change on B reaches A's node as a patch.
    n3.client.update({ endpoints: ["192.0.2.3:41641"] });
    await waitUntil(
      () =>
        [...(n1.state?.peers.values() ?? [])].find((p) => p.name === "three")?.endpoints.join() ===
        "192.0.2.3:41641",
      "n1 sees n3's new endpoint",
      { hangAfterMs: 20_000 },
    );

    // A policy set through B's map side: n1 (on A) loses every peer.
    await b.store.setPolicy(JSON.stringify({ acls: [] }), alice.id);
    await b.control.meshChanges.policyChanged();
    await waitUntil(() => (n1.state?.peers.size ?? -1) === 0, "n1 (on A) got B's policy", {
      hangAfterMs: 20_000,
    });

    // Back to the default policy, through A this time.
    await a.store.setPolicy(DEFAULT_POLICY, alice.id);
    await a.control.meshChanges.policyChanged();
    await waitUntil(() => peersOnline(n3).join() === "one,two", "n3 (on B) sees them again", {
      hangAfterMs: 20_000,
    });

    // Kill A; the balancer sends reconnects to B. n1 and n2 resume there with deltas: a
    // keepalive (every 400 ms here, 50 s by default) brought their cursors past the policy
    // changes, whose rows were numbered after the deltas that carried them went out.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const fullBefore = [n1.fullMaps(), n2.fullMaps()];
    const resumedBefore = n1.client.stats.resumedWithDelta + n2.client.stats.resumedWithDelta;
    lb.target = b;
    await a.kill();
    await waitUntil(() => b.control.hub.attachedCount === 3, "n1 and n2 reconnected to B", {
      hangAfterMs: 30_000,
    });
    await waitUntil(
      () =>
        n1.client.stats.resumedWithDelta + n2.client.stats.resumedWithDelta >= resumedBefore + 2,
      "both resumed",
      { hangAfterMs: 20_000 },
    );
    expect([n1.fullMaps(), n2.fullMaps()]).toEqual(fullBefore);

    // No change lost: every node's map holds exactly the other nodes in the database, online.
    await waitUntil(
      () =>
        peersOnline(n1).join() === "three,two" &&
        peersOnline(n2).join() === "one,three" &&
        peersOnline(n3).join() === "one,two",
      "every node sees the two others online",
      { hangAfterMs: 20_000 },
    );
    const stored = (await b.store.listNodes()).map((n) => n.name).sort();
    expect(stored).toEqual(["one", "three", "two"]);
    for (const n of [n1, n2, n3]) {
      const names = [...n.state!.peers.values()].map((p) => p.name);
      expect([...names, n.state!.self.name].sort()).toEqual(stored);
    }
  }, 120_000);
});
