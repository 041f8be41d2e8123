// The cluster's change triggers and what surrounds them (issue 18, review of 4efa09e):
// - only one version's triggers are ever installed: a newer version drops the older ones (two
//   side by side would both fire, and with one shared once-per-transaction mark the first by
//   name would silence the other); a server of an older version keeps a newer version's;
// - a member whose start throws leaves no connection once its join is closed;
// - a server applying its own change's row again (a no-op) records no fan-out sample;
// - a server run alone (`cluster: false`) on a database with triggers trims their rows itself.

import pg from "pg";
import { describe, expect, it } from "vitest";
import { type ClusterSide, joinCluster } from "../../server/control/cluster/index.ts";
import { startLoneTrim } from "../../server/control/cluster/lone-trim.ts";
import {
  installTriggers,
  TRIGGER_VERSION,
  triggerStatements,
} from "../../server/control/cluster/triggers.ts";
import { startControl } from "../../server/control/index.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import { connectionsTo, expectNoConnection, postgresPrereq } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { initCrypto, seedDatabase, startMember, usePostgres } from "./cluster-harness.ts";

const pgNeed = postgresPrereq();
const RELAYS = [
  { id: "default", region: "", url: "ws://127.0.0.1:1/relay", key: `${"A".repeat(43)}=` },
];

/** Runs `fn` on a connection of its own to `url`. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The change triggers' and functions' names in `url`'s database, sorted. */
function installed(url: string): Promise<{ triggers: string[]; functions: string[] }> {
  return withClient(url, async (client) => {
    const triggers = await client.query<{ n: string }>(
      "SELECT tgname AS n FROM pg_trigger WHERE tgname LIKE 'corridor\\_cluster\\_v%' ORDER BY 1",
    );
    const functions = await client.query<{ n: string }>(
      "SELECT proname AS n FROM pg_proc WHERE proname LIKE 'corridor\\_cluster\\_change\\_v%' ORDER BY 1",
    );
    return { triggers: triggers.rows.map((r) => r.n), functions: functions.rows.map((r) => r.n) };
  });
}

/** The rows a rename of user `userId` writes (one transaction). */
function rowsOfOneChange(url: string, userId: number): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows: before } = await client.query<{ s: number }>(
      "SELECT coalesce(max(seq), 0)::int AS s FROM cluster_changes",
    );
    await client.query("UPDATE users SET name = name || '.' WHERE id = $1", [userId]);
    const { rows } = await client.query<{ kind: string }>(
      "SELECT kind FROM cluster_changes WHERE seq > $1 ORDER BY seq",
      [before[0]?.s ?? 0],
    );
    return rows.map((r) => r.kind);
  });
}

describeWithPrereq(pgNeed, "the cluster's change triggers", () => {
  const fixture = usePostgres();

  const connections = (url: string) => connectionsTo(fixture.pg, url);
  const expectNoneLeft = (url: string) => expectNoConnection(fixture.pg, url);

  describe("versions", () => {
    const next = TRIGGER_VERSION + 1;
    const names = (version: number) =>
      ["acceptances", "nodes_update", "nodes_write", "policy", "shares", "users"].map(
        (name) => `corridor_cluster_v${version}_${name}`,
      );

    it("a newer version replaces the older one; an older one keeps the newer", async () => {
      const { url, alice } = await seedDatabase(fixture.pg, "trig_versions");
      expect(await installTriggers(url)).toEqual({ outcome: "installed", dropped: [] });
      expect(await installTriggers(url)).toEqual({ outcome: "present" });
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user"]);

      // A fake next version (the same body under the next version's names) over this one.
      expect(await installTriggers(url, next)).toEqual({
        outcome: "installed",
        dropped: [TRIGGER_VERSION],
      });
      expect(await installed(url)).toEqual({
        triggers: names(next),
        functions: [`corridor_cluster_change_v${next}`],
      });
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user"]);

      // The reverse: this version's server starts on the newer version's triggers. It keeps
      // them (installTriggers, and a whole join, which logs it) and rows still come.
      expect(await installTriggers(url)).toEqual({ outcome: "newer", version: next });
      const join = await joinCluster({ connectionString: url, tag: "t" });
      await join.close();
      expect((await installed(url)).triggers).toEqual(names(next));
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user"]);
    }, 60_000);

    it("two versions side by side (put there by hand) each write; the newer install drops the older", async () => {
      const { url, alice } = await seedDatabase(fixture.pg, "trig_both");
      await installTriggers(url, next);
      // What a server from before the version rule did: its own triggers beside the newer ones.
      await withClient(url, async (client) => {
        for (const sql of triggerStatements(TRIGGER_VERSION)) await client.query(sql);
      });
      expect((await installed(url)).triggers).toEqual([...names(TRIGGER_VERSION), ...names(next)]);
      // Each version has its own once-per-transaction mark: a duplicate row, never a lost one.
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user", "user"]);

      expect(await installTriggers(url, next)).toEqual({
        outcome: "installed",
        dropped: [TRIGGER_VERSION],
      });
      expect(await installed(url)).toEqual({
        triggers: names(next),
        functions: [`corridor_cluster_change_v${next}`],
      });
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user"]);
    }, 60_000);
  });

  it("a member whose start throws leaves no connection once the join is closed", async () => {
    const { url } = await seedDatabase(fixture.pg, "trig_start_fail");
    const join = await joinCluster({ connectionString: url, tag: "t", heartbeatMs: 200 });
    expect(await connections(url)).toBeGreaterThan(0);
    const side = {
      localSeq: () => {
        throw new Error("the map side broke");
      },
    } as unknown as ClusterSide;
    expect(() => join.start(side)).toThrow("the map side broke");
    await join.close();
    await expectNoneLeft(url);
  }, 30_000);

  it("applying its own change's row again records no fan-out sample", async () => {
    const { url, alice } = await seedDatabase(fixture.pg, "trig_fanout");
    const metrics = new MetricsRegistry({ processMetrics: false });
    const member = await startMember(url, "server-a", await initCrypto(), metrics);
    fixture.cleanup.push(() => member.close());
    const { control, store } = member;
    const samples = () => metrics.value("corridor_control_fanout_seconds_count");
    await waitUntil(() => control.cluster!.follower.caughtUp, "caught up at the start");
    const before = await samples();

    for (const name of ["Alice One", "Alice Two", "Alice Three"]) {
      await store.updateUser(alice.id, { name });
      await control.meshChanges.userChanged(alice.id);
      expect(control.mapper.user(alice.id)?.name).toBe(name);
    }
    const newest = await withClient(url, async (client) => {
      const { rows } = await client.query<{ s: number }>(
        "SELECT max(seq)::int AS s FROM cluster_changes",
      );
      return rows[0]?.s ?? 0;
    });
    expect(await control.cluster!.follower.waitFor(newest, 10_000)).toBe(true);
    // The follower applied each row too (nothing new): three fan-outs, not six.
    expect((await samples()) - before).toBe(3);

    // A change this server did not make (written straight to the database) is a fan-out.
    await withClient(url, (client) =>
      client.query("UPDATE users SET name = 'Alice Four' WHERE id = $1", [alice.id]),
    );
    await waitUntil(
      () => control.mapper.user(alice.id)?.name === "Alice Four",
      "the row of a change made elsewhere",
    );
    expect((await samples()) - before).toBe(4);
  }, 60_000);

  describe("cluster off on a database with triggers", () => {
    it("the server trims cluster_changes itself, as the leader would", async () => {
      const { url, alice } = await seedDatabase(fixture.pg, "trig_lone");
      await installTriggers(url);
      // More rows than the leader keeps (200,000), as a server alone would pile up.
      await withClient(url, (client) =>
        client.query(
          `INSERT INTO cluster_changes (kind, user_id, origin, created_at)
             SELECT 'user', $1, '', 0 FROM generate_series(1, 200050)`,
          [alice.id],
        ),
      );
      const store = await openPostgresStore(url, { maxConnections: 2 });
      const control = await startControl({
        store,
        relays: RELAYS,
        baseUrl: "http://127.0.0.1:1/",
        cluster: false,
      });
      let count = -1;
      await waitUntil(() => count >= 0 && count <= 200_001, "the lone server's trim", {
        everyMs: 100,
        hangAfterMs: 10_000,
        poll: async () => {
          count = await withClient(url, async (client) => {
            const { rows } = await client.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM cluster_changes",
            );
            return rows[0]?.n ?? -1;
          });
        },
      });
      // Its own changes still write rows (a member may be alive): they are what it trims.
      expect(await rowsOfOneChange(url, alice.id)).toEqual(["user"]);
      await control.close();
      await store.close();
      await expectNoneLeft(url);
    }, 60_000);

    it("without triggers it holds no connection and trims nothing", async () => {
      const { url } = await seedDatabase(fixture.pg, "trig_lone_none");
      const trim = await startLoneTrim({ connectionString: url, periodMs: 50 });
      expect(trim.active).toBe(false);
      await expectNoneLeft(url);
      await trim.close();
    }, 30_000);
  });
});
