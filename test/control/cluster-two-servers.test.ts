// Two control servers on one PostgreSQL (issue 18): nodes on each see each other and each
// other's presence; a policy set through one reaches the nodes of the other; a server killed
// (no goodbye) loses its nodes to the other behind the balancer, where they resume with a
// delta (their cursor), not a full map; and every node's final map matches the database.
// Real ControlClients (the agent's and the page's map client) over loopback WebSockets.

import { expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  type Balancer,
  initCrypto,
  type Member,
  onlineNames,
  peerOf,
  seedDatabase,
  startBalancer,
  startMember,
  testNode,
  usePostgres,
} from "./cluster-harness.ts";

const pgNeed = postgresPrereq();

describeWithPrereq(pgNeed, "two control servers on one PostgreSQL", () => {
  const fixture = usePostgres();
  const { cleanup } = fixture;

  it("shares nodes, presence and policy across servers; a killed server's nodes resume elsewhere with a delta", async () => {
    const core = await initCrypto();
    const { url, alice, key } = await seedDatabase(fixture.pg, "cluster_two");
    const node = (nodeUrl: string, name: string) =>
      testNode({ url: nodeUrl, authKey: key, name, core }, cleanup);

    const a: Member = await startMember(url, "server-a", core);
    cleanup.push(() => a.close());
    const b: Member = await startMember(url, "server-b", core);
    cleanup.push(() => b.close());
    const lb: Balancer = await startBalancer(a);
    cleanup.push(() => lb.close());

    // n1 and n2 through the balancer (on A), n3 straight on B.
    const n1 = node(lb.url, "one");
    const n2 = node(lb.url, "two");
    const n3 = node(b.url, "three");
    for (const n of [n1, n2, n3]) n.client.start();
    await waitUntil(() => onlineNames(n3).join() === "one,two", "n3 (on B) sees n1 and n2 online", {
      hangAfterMs: 20_000,
    });
    await waitUntil(() => onlineNames(n1).join() === "three,two", "n1 (on A) sees n3 online", {
      hangAfterMs: 20_000,
    });
    expect(a.control.hub.attachedCount).toBe(2);
    expect(b.control.hub.attachedCount).toBe(1);

    // An endpoint change on B reaches A's node as a patch.
    n3.client.update({ endpoints: ["192.0.2.3:41641"] });
    await waitUntil(
      () => peerOf(n1, "three")?.endpoints.join() === "192.0.2.3:41641",
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
    await waitUntil(() => onlineNames(n3).join() === "one,two", "n3 (on B) sees them again", {
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
        onlineNames(n1).join() === "three,two" &&
        onlineNames(n2).join() === "one,three" &&
        onlineNames(n3).join() === "one,two",
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
