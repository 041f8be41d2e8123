// The load rig on two control servers sharing one PostgreSQL (issue 18), shortened from
// `npm run bench:scale`: 60 simulated nodes from 2 worker processes, node i on server i mod 2.
// Every map holds exactly the peers the topology gives it; an endpoint change made on each
// server reaches exactly its viewers on both; a policy PUT through either server gives every
// node on both a new filter; then one server is stopped (its streams closed with 1012): its
// nodes come back on the other through the rig's URL list and resume with deltas (their
// cursors, carried by keepalives too), never a full map, and every final map is still right,
// a change made after the move included. No sequence gap or protocol error anywhere.

import { afterAll, beforeAll, expect, it } from "vitest";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { LoadRig } from "../load/rig.ts";
import { BASE_POLICY, CHANGED_POLICY, groupMembers, viewersOf } from "../load/topology.ts";

const TOTAL = 60;
const TAGGED = 4;
const GROUP = 8;

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

describeWithPrereq(postgresPrereq(), "load rig on two control servers (PostgreSQL)", () => {
  let pg: PgCluster | undefined;
  let rig: LoadRig | undefined;

  beforeAll(async () => {
    pg = await startPostgres();
    rig = await LoadRig.start({
      total: TOTAL,
      servers: TAGGED,
      groupSize: GROUP,
      workers: 2,
      hangAfterMs: 30_000,
      databaseUrl: await pg.createDatabase("load_cluster"),
      controlServers: 2,
      // Keepalives bring cursors past the last change before the stop (default 50 s).
      timers: { keepaliveMs: 500, heartbeatMs: 500, pollMs: 200 },
    });
  }, 120_000);

  afterAll(async () => {
    await rig?.stop();
    await pg?.stop();
  }, 60_000);

  const noErrors = async () => {
    const stats = await rig!.stats();
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
    return stats;
  };

  /** Waits until every map holds the topology's peers, all online (presence crosses servers). */
  const mapsRight = async (what: string) => {
    let wrong: string[] = ["not checked yet"];
    try {
      await waitUntil(() => wrong.length === 0, what, {
        everyMs: 100,
        hangAfterMs: 20_000,
        poll: async () => {
          wrong = await rig!.checkMaps();
        },
      });
    } finally {
      expect(wrong, what).toEqual([]);
    }
  };

  it("joins over both servers, changes made on each reach every viewer, a stopped server's nodes resume on the other", async () => {
    const r = rig!;
    const t = r.topology;
    const joined = await r.join(
      Array.from({ length: TOTAL }, (_, i) => i),
      8,
    );
    expect(joined).toHaveLength(TOTAL);
    expect(await r.settle()).toEqual([]);
    await mapsRight("every map right after joining");
    expect((await r.serverStats(0)).attached).toBe(TOTAL / 2);
    expect((await r.serverStats(1)).attached).toBe(TOTAL / 2);

    // A tagged node and a client on each server change their endpoints.
    const client = groupMembers(t, 1);
    for (const [index, endpoint] of [
      [0, "198.51.100.1:41641"],
      [1, "198.51.100.2:41641"],
      [client[0]!, "203.0.113.1:41641"],
      [client[1]!, "203.0.113.2:41641"],
    ] as const) {
      const o = await r.endpointChange(index, [endpoint]);
      expect(o.problems, `change of node ${index}`).toEqual([]);
      const got = sorted(o.receipts.map((x) => x.index));
      expect(got).toEqual(sorted(viewersOf(t, index)));
      // Viewers on both servers.
      expect(new Set(got.map((i) => r.serverOf(i))).size).toBe(2);
    }

    // A policy through each server reaches every node on both.
    for (const [text, via] of [
      [CHANGED_POLICY, 1],
      [BASE_POLICY, 0],
    ] as const) {
      const o = await r.policyChange(text, via);
      expect(o.problems).toEqual([]);
      expect(o.receipts).toHaveLength(TOTAL);
    }

    // Stop server 0 once keepalives have brought every cursor past the policy changes.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const before = await noErrors();
    const fullBefore = before.reduce((n, s) => n + s.fullMaps, 0);
    const deltasBefore = before.reduce((n, s) => n + s.deltaResumes, 0);
    expect(fullBefore).toBe(TOTAL);
    await r.stopServer(0);
    // Every moved node's first message (a delta or a full map) arrived, all on server 1.
    let firsts = 0;
    let attached = 0;
    await waitUntil(
      () => firsts === fullBefore + deltasBefore + TOTAL / 2 && attached === TOTAL,
      "server 0's nodes back on server 1",
      {
        everyMs: 100,
        hangAfterMs: 30_000,
        poll: async () => {
          firsts = (await r.stats()).reduce((n, s) => n + s.fullMaps + s.deltaResumes, 0);
          attached = (await r.serverStats(1)).attached;
        },
      },
    );
    const after = await noErrors();
    expect(after.reduce((n, s) => n + s.resumedAfterClose, 0)).toBe(TOTAL / 2);
    expect(after.reduce((n, s) => n + s.deltaResumes, 0) - deltasBefore).toBe(TOTAL / 2);
    expect(after.reduce((n, s) => n + s.fullMaps, 0)).toBe(fullBefore);
    expect(after.reduce((n, s) => n + s.onUrl[1]!, 0)).toBe(TOTAL);

    // Every map is still right, and a change after the move reaches every viewer.
    expect(await r.settle()).toEqual([]);
    await mapsRight("every map right after the move");
    const o = await r.endpointChange(2, ["198.51.100.3:41641"]);
    expect(o.problems).toEqual([]);
    expect(sorted(o.receipts.map((x) => x.index))).toEqual(sorted(viewersOf(t, 2)));
    await mapsRight("every map right at the end");
    await noErrors();
  }, 180_000);
});
