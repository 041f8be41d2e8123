// The control benchmark's rig (test/load/), shortened: 50 simulated nodes in 2 worker processes
// join a control server child over real loopback WebSockets (auth keys, the real proof, the
// codec and MapState). Every map holds exactly the peers the topology gives it; one server's
// endpoint change reaches exactly its viewers, as a delta far smaller than a full map; a
// client's change reaches its group and the servers and nobody else; a dropped node goes
// offline and a resumed one comes back online at every viewer; a policy PUT gives every node a
// new filter; nothing is lost (no sequence gap, no protocol error). The rig itself must notice
// a change that never comes and a node that should see a peer but does not hold it. Behaviour
// only: how fast is the benchmark's business.

import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { epochNow } from "../load/protocol.ts";
import { LoadRig } from "../load/rig.ts";
import {
  BASE_POLICY,
  CHANGED_POLICY,
  groupMembers,
  groupOf,
  peerCount,
  viewersOf,
} from "../load/topology.ts";

const TOTAL = 50;
const SERVERS = 4;
const GROUP = 10;
let rig: LoadRig;
let fullMaps: number[] = [];

beforeAll(async () => {
  rig = await LoadRig.start({
    total: TOTAL,
    servers: SERVERS,
    groupSize: GROUP,
    workers: 2,
    hangAfterMs: 30_000,
  });
}, 120_000);

afterAll(async () => {
  const dir = rig?.ready.dataDir;
  await rig?.stop();
  // The server child removes its SQLite folder when it exits.
  if (dir !== undefined) expect(existsSync(dir)).toBe(false);
}, 60_000);

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

describe("load rig", () => {
  it("joins every node, and each map holds exactly the peers the topology gives it", async () => {
    const t = rig.topology;
    const servers = await rig.join([0, 1, 2, 3], 4);
    const clients = await rig.join(
      Array.from({ length: t.clients }, (_, i) => SERVERS + i),
      8,
    );
    expect(servers.length + clients.length).toBe(TOTAL);
    expect(new Set([...rig.ids.values()]).size).toBe(TOTAL);
    fullMaps = [...servers, ...clients].map((j) => j.mapBytes);
    expect(await rig.settle()).toEqual([]);
    // 4 servers and 46 clients in groups 10, 10, 10, 10, 6.
    expect(peerCount(t, 0)).toBe(46);
    expect(peerCount(t, SERVERS)).toBe(SERVERS + GROUP - 1);
    expect(peerCount(t, TOTAL - 1)).toBe(SERVERS + 6 - 1);
    expect(rig.ready.userKeys).toHaveLength(5);
  });

  it("a server's endpoint change reaches exactly its viewers, as a small delta", async () => {
    const o = await rig.endpointChange(0, ["198.51.100.7:41641"]);
    expect(o.problems).toEqual([]);
    expect(sorted(o.receipts.map((r) => r.index))).toEqual(sorted(viewersOf(rig.topology, 0)));
    expect(o.receipts).toHaveLength(TOTAL - SERVERS);
    const smallestMap = Math.min(...fullMaps);
    for (const r of o.receipts) {
      expect(r.at).toBeGreaterThanOrEqual(o.t0);
      expect(r.bytes).toBeLessThan(smallestMap / 4);
    }
  });

  it("a client's change reaches its group and the servers, and no other node", async () => {
    const t = rig.topology;
    const client = SERVERS + GROUP + 3;
    const o = await rig.endpointChange(client, ["203.0.113.9:41641"]);
    expect(o.problems).toEqual([]);
    const group = groupMembers(t, groupOf(t, client)).filter((i) => i !== client);
    expect(sorted(o.receipts.map((r) => r.index))).toEqual(sorted([0, 1, 2, 3, ...group]));
    // Another group's member holds no such peer: the workers recorded no stray receipt.
    const stats = await rig.stats();
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
  });

  it("a dropped node goes offline, and a resumed one comes back online, at every viewer", async () => {
    const off = await rig.goOffline(1);
    expect(off.problems).toEqual([]);
    expect(off.receipts).toHaveLength(TOTAL - SERVERS);
    const on = await rig.comeOnline(1);
    expect(on.problems).toEqual([]);
    expect(on.receipts).toHaveLength(TOTAL - SERVERS);
  });

  it("a policy PUT gives every node a new filter, and putting the old one back again", async () => {
    for (const text of [CHANGED_POLICY, BASE_POLICY]) {
      const o = await rig.policyChange(text);
      expect(o.problems).toEqual([]);
      expect(o.receipts).toHaveLength(TOTAL);
    }
  });

  it("a resync without resume is a full map; nothing was lost on the way", async () => {
    const again = await rig.resync([0, SERVERS]);
    expect(again.map((a) => [a.index, a.kind, a.peers])).toEqual([
      [0, "map", TOTAL - SERVERS],
      [SERVERS, "map", SERVERS + GROUP - 1],
    ]);
    const stats = await rig.stats();
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
    expect(stats.reduce((n, s) => n + s.nodes, 0)).toBe(TOTAL);
    expect(stats.reduce((n, s) => n + s.resumedAfterClose, 0)).toBe(0);
  });

  it("the rig reports a change that never comes and a viewer that does not hold the peer", async () => {
    const t = rig.topology;
    const id = rig.ids.get(2)!;
    // Nothing sends these endpoints: every viewer must be reported missing.
    const never = await rig.observe(
      { kind: "endpoints", peerId: id, endpoints: ["192.0.2.99:9"] },
      [...viewersOf(t, 2), 3],
      async () => epochNow(),
      300,
    );
    expect(never.receipts).toEqual([]);
    expect(never.problems).toHaveLength(2);
    expect(never.problems[0]).toBe("1 nodes that must see it did not hold the peer (e.g. node 3)");
    expect(never.problems[1]).toMatch(
      new RegExp(
        `^${TOTAL - SERVERS} of ${TOTAL - SERVERS} nodes never got it within 300 ms \\(e\\.g\\. node \\d+\\)$`,
      ),
    );
    expect(viewersOf(t, 2)).not.toContain(3);
  });
});
